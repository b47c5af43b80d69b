"""The constructors behind dialog-rl's Gymnasium ids (the ids: ``dialog_rl.gymnasium_ids``)."""

from __future__ import annotations

from typing import Any

from dialog_rl.gymnasium_ids import NAMESPACE, env_name, register_envs, registered_ids
from dialog_rl.shipped import shipped_scenarios

__all__ = [
    "NAMESPACE",
    "env_name",
    "make_dialogue_env",
    "make_dialogue_vector_env",
    "make_lifetime_env",
    "register_envs",
    "registered_ids",
]


def _domain(scenario: Any):
    from dialog_rl.domain import Domain, load_domain

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
