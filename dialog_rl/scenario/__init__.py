"""Scenario files: the schema, and the loader whose errors name the file, line and field.

The compiler that turns a loaded scenario into plain data is ``dialog_rl.domain.compiler``.
"""

from dialog_rl.scenario.loader import (
    LoadedScenario,
    ScenarioError,
    load_scenario,
    resolve_scenario,
    shipped_scenarios,
)

__all__ = [
    "LoadedScenario",
    "ScenarioError",
    "load_scenario",
    "resolve_scenario",
    "shipped_scenarios",
]
