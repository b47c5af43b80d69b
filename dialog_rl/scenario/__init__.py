"""Scenario files: schema, loader with located errors, and the compiler to plain data."""

from collections.abc import Sequence
from pathlib import Path

from dialog_rl.scenario.compiler import Domain, compile_scenario
from dialog_rl.scenario.loader import (
    LoadedScenario,
    ScenarioError,
    load_scenario,
    resolve_scenario,
    shipped_scenarios,
)

__all__ = [
    "Domain",
    "LoadedScenario",
    "ScenarioError",
    "compile_scenario",
    "load_domain",
    "load_scenario",
    "resolve_scenario",
    "shipped_scenarios",
]


def load_domain(path: str, kb_roots: Sequence[str | Path] = ()) -> Domain:
    """Load, validate and compile a scenario file (or a shipped scenario's name) in one call
    (``kb_roots``: see ``load_scenario``)."""
    return compile_scenario(load_scenario(path, kb_roots))
