"""Policies: everything that acts. ``make_policy`` turns a command-line name into one."""

from __future__ import annotations

from pathlib import Path

from dialog_rl.domain import Domain
from dialog_rl.env.featurizer import ObservationSpec
from dialog_rl.policies.base import Decision, Learner, Policy, PolicyError
from dialog_rl.policies.rule import RandomPolicy, RulePolicy

__all__ = [
    "BUILTIN",
    "LEARNERS",
    "Decision",
    "Policy",
    "PolicyError",
    "RandomPolicy",
    "RulePolicy",
    "make_learner",
    "make_policy",
]

BUILTIN = ("random", "rule")

#: learning algorithms by name -> (module, class); imported only when asked for, so the deep
#: learners (and torch) load only when one is used.
LEARNERS = {
    "egreedy": ("dialog_rl.policies.bandits", "EpsilonGreedyLearner"),
    "linucb": ("dialog_rl.policies.bandits", "LinUCBLearner"),
    "thompson": ("dialog_rl.policies.bandits", "ThompsonLearner"),
    "dqn": ("dialog_rl.policies.dqn", "DQNLearner"),
    "ppo": ("dialog_rl.policies.ppo", "PPOLearner"),
}


def make_policy(name: str, domain: Domain, spec: ObservationSpec, epsilon: float = 0.0) -> Policy:
    """A built-in policy by name (``random``, ``rule``) or a trained one from a run directory."""
    if name == "random":
        return RandomPolicy(domain)
    if name == "rule":
        return RulePolicy(domain, spec, epsilon=epsilon)
    if not Path(name).exists():
        raise PolicyError(
            f"unknown policy {name!r}: use random, rule, or a run directory made by `dialog-rl train`"
        )
    from dialog_rl.policies.checkpoint import load_policy

    return load_policy(name, domain, spec)


def make_learner(
    algo: str, domain: Domain, spec: ObservationSpec, seed: int = 0, **hyperparameters
) -> Learner:
    """A fresh learner by algorithm name; bad names or hyperparameters raise ``PolicyError``."""
    import importlib
    import inspect

    if algo not in LEARNERS:
        raise PolicyError(f"unknown algorithm {algo!r}: use one of {', '.join(LEARNERS)}")
    module, cls_name = LEARNERS[algo]
    cls = getattr(importlib.import_module(module), cls_name)
    # Hyperparameters are keyword-only constructor arguments, possibly spread over base classes
    # that take the rest as ``**kwargs``; name an unknown one instead of a bare TypeError.
    known: list[str] = []
    for klass in cls.__mro__:
        if klass in (Learner, Policy) or "__init__" not in vars(klass):
            continue
        params = inspect.signature(klass.__init__).parameters.values()
        known += [p.name for p in params if p.kind is p.KEYWORD_ONLY]
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            unknown = sorted(set(hyperparameters) - set(known))
            if unknown:
                raise PolicyError(
                    f"{algo}: unknown hyperparameter {unknown[0]!r}; known: {', '.join(known)}"
                )
            break
    try:
        return cls(domain, spec, seed, **hyperparameters)
    except (TypeError, ValueError) as err:
        raise PolicyError(f"{algo}: {err}") from None
