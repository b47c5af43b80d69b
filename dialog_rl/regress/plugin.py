"""pytest plugin: the ``dialog_regression`` fixture, a regression gate inside a team's test suite.

Registered through the ``pytest11`` entry point, so installing dialog-rl is enough::

    def test_new_policy_is_no_worse(dialog_regression):
        dialog_regression.assert_no_worse(
            "runs/new", "runs/prod", scenario="scenarios/restaurant.yaml", margin=0.02
        )

A regression fails the test with the gate's full report as the message; every verdict (pass or
fail) is also attached to the test's report (``user_properties`` and a report section), so it
shows up in ``-rA`` output and in pytest's own ``--junitxml``. This module imports nothing heavy
at import time: pytest loads it in every run of every project where dialog-rl is installed.
"""

from __future__ import annotations

from typing import Any

import pytest


class DialogRegression:
    """What the fixture returns: gate assertions bound to the running test."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._request = request
        self.results: list[Any] = []

    def compare(
        self,
        candidate: str,
        baseline: str,
        *,
        scenario: str,
        margin: float = 0.02,
        alpha: float = 0.05,
        episodes: int = 2000,
        seed: int = 0,
        noise: float | None = None,
        metric: str | None = None,
        **options: Any,
    ):
        """Run the gate and return its ``GateResult`` (no assertion).

        ``options`` go to ``dialog_rl.regress.gate.GateConfig`` (looks, pairing, spending,
        ``lifetime=True`` for whole customer lifetimes, ...). ``metric`` defaults to success, or
        to the lifetime value for a lifetime gate; ``margin`` is in the metric's units.
        """
        from dialog_rl.regress.gate import GateConfig, run_gate
        from dialog_rl.regress.report import text_report

        config = GateConfig(
            scenario=str(scenario),
            baseline=str(baseline),
            candidate=str(candidate),
            episodes=episodes,
            seed=seed,
            noise=noise,
            margin=margin,
            alpha=alpha,
            metric=metric,
            **options,
        )
        result = run_gate(config)
        self.results.append(result)
        node = self._request.node
        node.user_properties.append(("dialog_regression.verdict", result.verdict))
        node.user_properties.append(("dialog_regression.episodes", result.episodes))
        node.add_report_section("call", "dialog regression", text_report(result))
        return result

    def assert_no_worse(self, candidate: str, baseline: str, **kwargs: Any):
        """Fail the test unless ``candidate`` is no worse than ``baseline`` (see ``compare``).

        Returns the result, so a test can check more (e.g. ``result.metrics``).
        """
        from dialog_rl.regress.report import text_report

        result = self.compare(candidate, baseline, **kwargs)
        if not result.passed:
            pytest.fail(
                f"{candidate} is worse than {baseline}\n\n{text_report(result)}", pytrace=False
            )
        return result


@pytest.fixture
def dialog_regression(request: pytest.FixtureRequest) -> DialogRegression:
    """Statistical regression assertions for dialogue policies (``assert_no_worse``)."""
    return DialogRegression(request)
