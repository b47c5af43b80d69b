"""The offline gate: paired off-policy estimates with a high-confidence lower bound."""

from __future__ import annotations

import numpy as np
import pytest

from dialog_rl.cli import main
from dialog_rl.ope.logged import load_logged
from dialog_rl.ope.trajectory import IS, PDIS, WIS, WPDIS
from dialog_rl.regress.offline import OfflineConfig, estimate, run_offline

SCENARIO = "scenarios/restaurant.yaml"


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    out = tmp_path_factory.mktemp("offline") / "run"
    args = ["simulate", "--scenario", SCENARIO, "--episodes", "1500", "--epsilon", "0.3"]
    assert main([*args, "--noise", "0.15", "--seed", "5", "--out", str(out), "--no-progress"]) == 0
    return out


def offline(logs, candidate, **kw):
    kw.setdefault("n_bootstrap", 400)
    return run_offline(OfflineConfig(SCENARIO, "rule", candidate, str(logs), explore=False, **kw))


def test_same_policy_on_logs_is_no_worse_with_an_exact_zero_difference(logs):
    result = offline(logs, "rule")
    assert result.verdict == "no worse" and result.passed
    assert result.primary.diff == 0.0 and result.primary.lower_bound == 0.0


def test_a_policy_that_hands_over_too_early_is_not_certified(logs):
    result = offline(logs, "rule:early-handover")
    assert result.verdict == "worse" and not result.passed
    assert result.primary.lower_bound < -0.02 and result.primary.ci95[1] < 0


def test_estimates_agree_with_the_ope_package(logs):
    logged = load_logged(logs)
    rng = np.random.default_rng(0)
    target = np.where(logged.valid, rng.uniform(0.2, 1.0, logged.valid.shape), 1.0)
    ratio = np.where(logged.valid, target / logged.pscore, 1.0)
    weight = np.cumprod(ratio, axis=1)
    reward = np.where(logged.valid, logged.reward, 0.0)
    ones = np.ones((1, logged.n_episodes))
    for name, est in (("IS", IS()), ("WIS", WIS()), ("PDIS", PDIS()), ("WPDIS", WPDIS())):
        ours = estimate(name, reward, weight, ones)[0]
        theirs = est.estimate_policy_value(logged.reward, logged.pscore, target, logged.valid)
        assert ours == pytest.approx(theirs, rel=1e-9), name


def test_cli_offline_mode_exits_1_for_a_regression_and_2_for_another_scenario(logs, capsys):
    base = ["regress", "--baseline", "rule", "--candidate", "rule:early-handover", "--greedy"]
    assert main([*base, "--scenario", SCENARIO, "--logs", str(logs), "--bootstrap", "200"]) == 1
    out = capsys.readouterr().out
    assert "NOT CERTIFIED" in out and "effective sample size" in out
    assert main([*base, "--scenario", "scenarios/shopping.yaml", "--logs", str(logs)]) == 2
    assert "logged on another scenario" in capsys.readouterr().err
