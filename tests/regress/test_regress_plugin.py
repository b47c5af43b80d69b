"""The pytest plugin: registered by entry point, the `dialog_regression` fixture gates a test."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

pytest_plugins = ("pytester",)

SCENARIO = str(Path(__file__).resolve().parents[2] / "scenarios/restaurant.yaml")
SHOPPING = str(Path(__file__).resolve().parents[2] / "scenarios/shopping.yaml")


def test_plugin_is_registered_through_the_pytest11_entry_point():
    names = {e.value for e in entry_points(group="pytest11")}
    assert "dialog_rl.regress.plugin" in names


@pytest.mark.slow
def test_fixture_passes_an_equal_policy_and_fails_a_regression_with_the_report(pytester):
    pytester.makepyfile(
        f"""
        def test_same(dialog_regression):
            r = dialog_regression.assert_no_worse(
                "rule", "rule", scenario={SCENARIO!r}, episodes=200, health_episodes=0
            )
            assert r.verdict == "no worse"

        def test_degraded(dialog_regression):
            dialog_regression.assert_no_worse(
                "rule:early-handover", "rule", scenario={SCENARIO!r}, margin=0.02,
                episodes=1000, noise=0.15, health_episodes=0,
            )

        def test_lifetime(dialog_regression):
            r = dialog_regression.compare(
                "rule:early-handover", "rule", scenario={SHOPPING!r}, lifetime=True,
                margin=2.0, episodes=300, health_episodes=0,
            )
            # the default metric of a lifetime gate is the lifetime value, paired by customer
            assert r.config.metric == "value" and r.config.pairing == "episode"
            assert r.verdict == "worse"
        """
    )
    # a separate process, as a team would run it: the plugin comes in by entry point alone
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*rule:early-handover is worse than rule*",
            "*FAIL  WORSE: success*",
        ]
    )


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def test_loading_the_plugin_imports_nothing_heavy():
    # pytest loads it in every run of every project where dialog-rl is installed
    mods = _modules_after("import dialog_rl.regress.plugin")
    assert not {"numpy", "torch", "textual"} & mods


def test_the_gate_imports_neither_torch_nor_textual():
    mods = _modules_after("import dialog_rl.regress.gate, dialog_rl.regress.offline")
    assert not {"torch", "textual"} & mods
