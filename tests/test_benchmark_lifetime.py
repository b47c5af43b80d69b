"""The lifetime comparison benchmark's arithmetic, and the conversation record it reads."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from dialog_rl.env import LifetimeEnv
from dialog_rl.policies import RandomPolicy
from simulators.lifetime import satisfaction

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_lifetime", ROOT / "benchmarks/lifetime.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(bench, rng: np.random.Generator, n: int) -> dict:
    visits = rng.integers(1, 6, n).astype(float)
    rows = {key: rng.random(n) * visits for _, key, *_ in bench.COLUMNS}
    rows["visits"] = visits
    return rows


def test_paired_difference_is_per_customer_or_ratio_of_sums(bench):
    rng = np.random.default_rng(0)
    a, b = _rows(bench, rng, 400), _rows(bench, rng, 400)
    diff = bench.paired_difference(a, b)
    assert diff["value"][0] == pytest.approx(np.mean(a["value"] - b["value"]))
    ratio = a["success"].sum() / a["visits"].sum() - b["success"].sum() / b["visits"].sum()
    assert diff["success"][0] == pytest.approx(ratio)
    assert all(half > 0 for _, half in diff.values())
    same = bench.paired_difference(a, a)
    assert all(mean == 0 and half == 0 for mean, half in same.values())


def test_pairing_narrows_the_interval_when_customers_drive_the_figure(bench):
    rng = np.random.default_rng(1)
    a = _rows(bench, rng, 400)
    b = {k: v.copy() for k, v in a.items()}
    b["value"] = a["value"] + rng.normal(0.0, 0.01, 400)  # the same customers, nearly the same
    paired = bench.paired_difference(a, b)["value"][1]
    unpaired = bench.Z95 * np.sqrt((a["value"].var(ddof=1) + b["value"].var(ddof=1)) / 400)
    assert paired < unpaired / 10


def test_dqn_explores_over_the_same_share_of_either_budget(bench):
    task = {"algo": "dqn", "hyperparameters": {"lr": 1}, "explore_fraction": 0.5}
    assert bench.explore_over(task, 3000) == {"lr": 1, "exploration_episodes": 1500}
    assert bench.explore_over(task, 9001) == {"lr": 1, "exploration_episodes": 4500}
    assert bench.explore_over({**task, "algo": "egreedy"}, 3000) == {"lr": 1}
    assert bench.explore_over({**task, "explore_fraction": None}, 3000) == {"lr": 1}


def test_conversation_record_has_the_annoyances_satisfaction_charged(domains):
    d = domains["shopping"]
    env = LifetimeEnv(d)
    policy = RandomPolicy(d)
    rng = np.random.default_rng(0)
    seen = 0
    for seed in range(10):
        obs, info = env.reset(seed=seed)
        done = False
        while not done:
            action = policy.act(obs, info["action_mask"], rng=rng).action
            obs, _, term, trunc, info = env.step(action)
            done = term or trunc
            conv = info.get("conversation")
            if conv is not None:
                assert conv["satisfaction"] == pytest.approx(
                    satisfaction(d.lifetime, conv, conv["annoyances"], env.persona)
                )
                seen += conv["annoyances"] > 0
    assert seen > 0


def test_one_comparison_reports_every_figure_for_every_policy(bench):
    task = {
        "scenario": str(ROOT / "scenarios/shopping.yaml"),
        "algo": "egreedy",
        "hyperparameters": {},
        "noise": None,
        "seed": 0,
        "customers": 4,
        "eval_customers": 5,
    }
    result = bench.run_one(task)
    keys = {key for _, key, *_ in bench.COLUMNS}
    assert set(result["figures"]) == set(bench.POLICIES)
    assert all(set(f) == keys for f in result["figures"].values())
    assert set(result["difference"]) == set(result["difference_vs_rule"]) == keys
    assert result["conversations"] >= 4
    text = bench.tables([result])
    assert (
        "| shopping | **lifetime** |" in text and "| shopping | per-conversation − rule |" in text
    )
    rule = result["decisions"]["rule"]  # shares of decisions: questions, prompts, offers, early
    assert rule[0] > 0.2 and rule[2] > 0.1 and 0 <= rule[3] <= rule[2] and sum(rule[:3]) <= 1
    assert "| shopping | rule | " + " | ".join(f"{100 * x:.1f}%" for x in rule) + " |" in text
    # results saved before the rule comparison or the decision shares existed still print
    del result["difference_vs_rule"], result["decisions"]
    text = bench.tables([result, result])
    assert "| shopping | per-conversation − rule |" in text and "early offers" not in text
