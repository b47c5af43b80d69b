"""The lifetime OPE benchmark's targets: rule policies, or trained runs acting as deployed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from dialog_rl.cli import main
from dialog_rl.env import LifetimeEnv
from dialog_rl.policies.rule import RulePolicy

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench():
    path = ROOT / "benchmarks/ope_lifetime.py"
    spec = importlib.util.spec_from_file_location("bench_ope_lifetime", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_default_targets_are_the_greedy_and_the_exploring_rule_policy(bench, domains):
    d = domains["order_support"]
    targets = bench.make_targets(bench.TARGETS, d, LifetimeEnv(d).spec_obs)
    assert [(label, explore) for label, _, explore in targets] == [
        ("greedy rule", False),
        ("rule eps 0.1", True),
    ]
    assert all(isinstance(policy, RulePolicy) for _, policy, _ in targets)
    assert targets[1][1].epsilon == 0.1


def test_a_trained_run_is_a_greedy_target_named_after_its_directory(bench, domains, tmp_path):
    args = ["train", "--scenario", "scenarios/order_support.yaml", "--algo", "egreedy"]
    args += ["--dialogues", "5", "--eval-episodes", "2", "--no-progress", "--lifetime"]
    assert main([*args, "--out", str(tmp_path / "life")]) == 0
    d = domains["order_support"]
    env = LifetimeEnv(d)
    [(label, policy, explore)] = bench.make_targets(str(tmp_path / "life"), d, env.spec_obs)
    assert (label, explore) == ("life (greedy)", False)
    obs, info = env.reset(seed=0)
    assert policy.probabilities(obs, info["action_mask"], False).sum() == pytest.approx(1.0)
