"""Policies: everything that acts. ``make_policy`` turns a command-line name into one."""

from __future__ import annotations

from dialog_rl.env.featurizer import ObservationSpec
from dialog_rl.policies.base import Decision, Policy
from dialog_rl.policies.rule import RandomPolicy, RulePolicy
from dialog_rl.scenario import Domain

__all__ = ["BUILTIN", "Decision", "Policy", "RandomPolicy", "RulePolicy", "make_policy"]

BUILTIN = ("random", "rule")


def make_policy(name: str, domain: Domain, spec: ObservationSpec, epsilon: float = 0.0) -> Policy:
    """A built-in policy by name (``random``, ``rule``) or a trained one from a run directory."""
    if name == "random":
        return RandomPolicy(domain)
    if name == "rule":
        return RulePolicy(domain, spec, epsilon=epsilon)
    from dialog_rl.policies.checkpoint import load_policy

    return load_policy(name, domain, spec)
