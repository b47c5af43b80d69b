"""Scenario files: schema, loader with located errors, and the compiler to plain data."""

from dialog_rl.scenario.compiler import Domain, compile_scenario
from dialog_rl.scenario.loader import LoadedScenario, ScenarioError, load_scenario

__all__ = [
    "Domain",
    "LoadedScenario",
    "ScenarioError",
    "compile_scenario",
    "load_domain",
    "load_scenario",
]


def load_domain(path: str) -> Domain:
    """Load, validate and compile a scenario file in one call."""
    return compile_scenario(load_scenario(path))
