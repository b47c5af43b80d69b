"""Gymnasium ids for dialog-rl's environments, so ``gymnasium.make`` needs no glue code.

``dialog_rl/Dialogue-v0`` takes any scenario (a shipped name or a path) and the ``DialogueEnv``
options; each shipped scenario also has its own id (``dialog_rl/Restaurant-v0``). The lifetime
environment is ``dialog_rl/Lifetime-v0`` plus one id per shipped scenario with a ``lifetime``
section (``dialog_rl/ShoppingLifetime-v0``). ``gymnasium.make_vec`` on a conversation id builds a
``DialogueVectorEnv`` (array engine when it can); on a lifetime id, Gymnasium's sync or async
vector env.

Registering is cheap (entry points are strings; no scenario is loaded until ``make``), so it runs
whenever ``dialog_rl.env`` is imported, and from ``import dialog_rl`` once Gymnasium is loaded.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import gymnasium as gym

from dialog_rl.scenario.loader import shipped_scenarios

NAMESPACE = "dialog_rl"
_HERE = "dialog_rl.env.registration"


def env_name(scenario: str) -> str:
    """``order_support`` -> ``OrderSupport``: the id a shipped scenario is registered under."""
    return "".join(part.capitalize() for part in re.split(r"[_\-\s]+", scenario) if part)


def _has_lifetime(path: Path) -> bool:
    # a top-level `lifetime:` key; read as text so registering never parses or validates YAML
    return re.search(r"^lifetime\s*:", path.read_text(encoding="utf-8"), re.MULTILINE) is not None


def registered_ids() -> list[str]:
    """Every id ``register_envs`` registers, in order."""
    ids = [f"{NAMESPACE}/Dialogue-v0", f"{NAMESPACE}/Lifetime-v0"]
    for name, path in shipped_scenarios().items():
        ids.append(f"{NAMESPACE}/{env_name(name)}-v0")
        if _has_lifetime(path):
            ids.append(f"{NAMESPACE}/{env_name(name)}Lifetime-v0")
    return ids


def register_envs() -> None:
    """Register the ids with Gymnasium (again is a no-op: ids already there are left alone)."""
    registry = gym.envs.registry

    def add(env_id: str, entry: str, vector: str | None, kwargs: dict[str, Any]) -> None:
        if env_id not in registry:
            gym.register(
                id=env_id,
                entry_point=f"{_HERE}:{entry}",
                vector_entry_point=f"{_HERE}:{vector}" if vector else None,
                kwargs=kwargs,
            )

    add(f"{NAMESPACE}/Dialogue-v0", "make_dialogue_env", "make_dialogue_vector_env", {})
    add(f"{NAMESPACE}/Lifetime-v0", "make_lifetime_env", None, {})
    for name, path in shipped_scenarios().items():
        kwargs = {"scenario": name}
        add(
            f"{NAMESPACE}/{env_name(name)}-v0",
            "make_dialogue_env",
            "make_dialogue_vector_env",
            kwargs,
        )
        if _has_lifetime(path):
            add(f"{NAMESPACE}/{env_name(name)}Lifetime-v0", "make_lifetime_env", None, kwargs)


def _domain(scenario: Any):
    from dialog_rl.scenario import Domain, load_domain

    if scenario is None:
        names = ", ".join(shipped_scenarios())
        raise ValueError(f"pass scenario= (a shipped name: {names}; or a path to a YAML file)")
    return scenario if isinstance(scenario, Domain) else load_domain(str(scenario))


def make_dialogue_env(scenario: Any = None, **env_args: Any):
    """A ``DialogueEnv`` for ``scenario`` (shipped name, path or compiled ``Domain``).

    ``env_args`` are ``DialogueEnv``'s: ``noise``, ``channel``, ``text``, ``max_turns``,
    ``render_mode``.
    """
    from dialog_rl.env.dialogue_env import DialogueEnv

    return DialogueEnv(_domain(scenario), **env_args)


def make_lifetime_env(scenario: Any = None, **env_args: Any):
    """A ``LifetimeEnv`` (returning customers) for a scenario with a ``lifetime`` section."""
    from dialog_rl.env.lifetime_env import LifetimeEnv

    return LifetimeEnv(_domain(scenario), **env_args)


def make_dialogue_vector_env(num_envs: int = 1, scenario: Any = None, **env_args: Any):
    """A ``DialogueVectorEnv`` of ``num_envs`` conversations (``gymnasium.make_vec``).

    ``env_args``: ``noise``, ``max_turns``, ``channel``, ``engine``; ``render_mode`` must be None
    (the vector env renders nothing).
    """
    from dialog_rl.env.vector import DialogueVectorEnv

    if env_args.pop("render_mode", None) is not None:
        raise ValueError("the vector environment has no render mode; make single envs to render")
    return DialogueVectorEnv(_domain(scenario), num_envs, **env_args)
