"""Registers dialog-rl's Gymnasium ids the moment Gymnasium is imported, in an installed wheel.

Gymnasium 0.26-0.29 loaded the ``gymnasium.envs`` entry points of installed packages on import;
1.x dropped that, so ``import gymnasium; gymnasium.make("dialog_rl/Restaurant-v0")`` would fail
until something imported ``dialog_rl.env``. A wheel of dialog-rl therefore ships
``dialog_rl_gymnasium.pth`` (see ``setup.py``), one line that Python's ``site`` module runs at
start-up: ``install()`` puts a one-shot finder at the front of ``sys.meta_path``, which does
nothing until ``gymnasium`` itself is imported; then it lets that import run as usual and
registers the ids right after (``dialog_rl.gymnasium_ids``: strings only, no scenario parsed).

Cost at start-up: importing this small module (and ``dialog_rl/__init__``). Editable installs
and ``python -S`` do without it: import ``dialog_rl.env`` or use the id prefix
``gymnasium.make("dialog_rl:dialog_rl/Restaurant-v0")``.
"""

from __future__ import annotations

import sys


class _RegisterAfterGymnasium:
    """A meta-path finder that only wraps the loading of ``gymnasium``, once."""

    def find_spec(self, name, path=None, target=None):
        if name != "gymnasium":
            return None
        uninstall()  # one shot; and the real finders are asked below
        from importlib.util import find_spec

        spec = find_spec(name)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module

        def exec_module(module):
            run(module)
            register()

        loader.exec_module = exec_module
        return spec


def install() -> None:
    """Register once Gymnasium is imported (now, if it already is)."""
    if "gymnasium" in sys.modules:
        register()
    elif not any(isinstance(f, _RegisterAfterGymnasium) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterGymnasium())


def uninstall() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _RegisterAfterGymnasium)]


def register() -> None:
    try:
        from dialog_rl.gymnasium_ids import register_envs

        register_envs()
    except Exception as err:  # never break `import gymnasium` for everyone in the venv
        import warnings

        warnings.warn(
            f"dialog-rl could not register its Gymnasium ids ({type(err).__name__}: {err}); "
            "import dialog_rl.env to register them",
            stacklevel=2,
        )
