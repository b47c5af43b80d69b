"""Gymnasium ids for dialog-rl's environments, so ``gymnasium.make`` needs no glue code.

``dialog_rl/Dialogue-v0`` takes any scenario (a shipped name or a path) and the ``DialogueEnv``
options; each shipped scenario also has its own id (``dialog_rl/Restaurant-v0``). The lifetime
environment is ``dialog_rl/Lifetime-v0`` plus one id per shipped scenario with a ``lifetime``
section (``dialog_rl/ShoppingLifetime-v0``). ``gymnasium.make_vec`` on a conversation id builds a
``DialogueVectorEnv``; on a lifetime id, Gymnasium's sync or async vector env. The constructors
are in ``dialog_rl.env.registration``.

Registering is cheap and imports nothing but Gymnasium (entry points are strings; no scenario is
parsed until ``make``). It runs when ``dialog_rl.env`` is imported, when ``import dialog_rl``
finds Gymnasium already loaded, and, in an installed wheel, right after ``import gymnasium``
(``dialog_rl.gymnasium_hook``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import gymnasium as gym

from dialog_rl.shipped import shipped_scenarios

NAMESPACE = "dialog_rl"
_FACTORIES = "dialog_rl.env.registration"


def env_name(scenario: str) -> str:
    """``order_support`` -> ``OrderSupport``: the id a shipped scenario is registered under."""
    return "".join(part.capitalize() for part in re.split(r"[_\-\s]+", scenario) if part)


def _has_lifetime(path: Path) -> bool:
    # a top-level `lifetime:` key; read as text so registering never parses or validates YAML
    return re.search(r"^lifetime\s*:", path.read_text(encoding="utf-8"), re.MULTILINE) is not None


def _specs() -> list[tuple[str, str, str | None, dict[str, Any]]]:
    """(id, constructor, vector constructor, kwargs) of every id, in order."""
    out = [
        (f"{NAMESPACE}/Dialogue-v0", "make_dialogue_env", "make_dialogue_vector_env", {}),
        (f"{NAMESPACE}/Lifetime-v0", "make_lifetime_env", None, {}),
    ]
    for name, path in shipped_scenarios().items():
        kwargs = {"scenario": name}
        out.append(
            (
                f"{NAMESPACE}/{env_name(name)}-v0",
                "make_dialogue_env",
                "make_dialogue_vector_env",
                kwargs,
            )
        )
        if _has_lifetime(path):
            out.append(
                (f"{NAMESPACE}/{env_name(name)}Lifetime-v0", "make_lifetime_env", None, kwargs)
            )
    return out


def registered_ids() -> list[str]:
    """Every id ``register_envs`` registers, in order."""
    return [env_id for env_id, *_ in _specs()]


def register_envs() -> None:
    """Register the ids with Gymnasium (again is a no-op: ids already there are left alone)."""
    for env_id, entry, vector, kwargs in _specs():
        if env_id not in gym.envs.registry:
            gym.register(
                id=env_id,
                entry_point=f"{_FACTORIES}:{entry}",
                vector_entry_point=f"{_FACTORIES}:{vector}" if vector else None,
                kwargs=kwargs,
            )
