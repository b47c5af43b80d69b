"""`logs export --format obp|scope-rl`: what the libraries take, and the same estimates from it.

The tests against the real libraries are skipped (with the reason) when Open Bandit Pipeline or
SCOPE-RL is not installed; they pin torch and gym versions the test extras do not, so run them in
a throwaway venv: `pip install obp==0.4.1 scope-rl==0.2.1 torch==2.13.0`.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from dialog_rl.logs.export import load_export
from dialog_rl.ope import bandit, trajectory
from dialog_rl.ope.command import target_distribution
from dialog_rl.ope.logged import load_logged


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    run = tmp / "run"
    cli = [sys.executable, "-m", "dialog_rl.cli"]
    sim = [*cli, "simulate", "--scenario", "restaurant", "--epsilon", "0.3", "--episodes", "300"]
    out = subprocess.run([*sim, "--out", str(run), "--no-progress"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for fmt in ("obp", "scope-rl"):
        out = subprocess.run(
            [
                *cli,
                "logs",
                "export",
                "--logs",
                str(run),
                "--policy",
                "rule",
                "--format",
                fmt,
                "--out",
                str(tmp / f"{fmt}.npz"),
            ],
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stderr
    logged = load_logged(run)
    dist = target_distribution(logged, "rule")
    return logged, dist, load_export(tmp / "obp.npz"), load_export(tmp / "scope-rl.npz")


def _ours(logged, dist):
    v = logged.valid
    target_prob = np.take_along_axis(dist, logged.action[..., None], 2)[..., 0]
    traj = {
        e.name: e().estimate_policy_value(logged.reward, logged.pscore, target_prob, v)
        for e in (trajectory.IS, trajectory.WIS, trajectory.PDIS, trajectory.WPDIS)
    }
    flat = (logged.reward[v], logged.action[v], logged.pscore[v], dist[v])
    dec = {e.name: e().estimate_policy_value(*flat) for e in (bandit.IPS, bandit.SNIPS)}
    return traj, dec


def test_obp_feedback_has_the_keys_and_shapes_obp_takes(exported):
    logged, dist, obp, _ = exported
    n = int(logged.valid.sum())
    assert obp["n_rounds"] == n and obp["n_actions"] == logged.n_actions
    assert obp["action"].shape == obp["reward"].shape == obp["pscore"].shape == (n,)
    assert obp["context"].shape == (n, logged.obs.shape[2])
    assert obp["action_dist"].shape == (n, logged.n_actions, 1)
    np.testing.assert_allclose(obp["action_dist"].sum(1), 1.0)
    _, dec = _ours(logged, dist)
    w = obp["action_dist"][np.arange(n), obp["action"], 0] / obp["pscore"]
    assert np.mean(w * obp["reward"]) == pytest.approx(dec["IPS"], abs=1e-12)


def test_scope_rl_dataset_pads_to_one_length_without_changing_any_estimate(exported):
    logged, dist, _, scope = exported
    n, h = logged.valid.shape
    assert (scope["n_trajectories"], scope["step_per_trajectory"], scope["size"]) == (n, h, n * h)
    assert scope["action_type"] == "discrete" and scope["action_dim"] is None
    for key in ("action", "reward", "done", "terminal", "pscore"):
        assert scope[key].shape == (n * h,), key
    assert scope["state"].shape == (n * h, logged.obs.shape[2])
    traj, _ = _ours(logged, dist)
    e = scope["evaluation_policy_action_dist"][np.arange(n * h), scope["action"]]
    ratio = (e / scope["pscore"]).reshape(n, h)
    reward = scope["reward"].reshape(n, h)
    w = np.cumprod(ratio, 1)
    assert np.mean(w[:, -1] * reward.sum(1)) == pytest.approx(traj["IS"], abs=1e-12)
    assert np.mean((w * reward).sum(1)) == pytest.approx(traj["PDIS"], abs=1e-12)


def test_obp_0_4_1_gives_dialog_rls_per_decision_estimates(exported):
    ope = pytest.importorskip("obp.ope", reason="Open Bandit Pipeline (obp) is not installed")
    logged, dist, obp, _ = exported
    _, dec = _ours(logged, dist)
    args = dict(
        reward=obp["reward"],
        action=obp["action"],
        pscore=obp["pscore"],
        action_dist=obp["action_dist"],
        position=obp["position"],
    )
    ipw = ope.InverseProbabilityWeighting().estimate_policy_value(**args)
    snipw = ope.SelfNormalizedInverseProbabilityWeighting().estimate_policy_value(**args)
    assert abs(ipw - dec["IPS"]) < 1e-9
    assert abs(snipw - dec["SNIPS"]) < 1e-9


def test_scope_rl_0_2_1_gives_dialog_rls_trajectory_estimates(exported):
    discrete = pytest.importorskip("scope_rl.ope.discrete", reason="SCOPE-RL is not installed")
    logged, dist, _, scope = exported
    traj, _ = _ours(logged, dist)
    args = dict(
        step_per_trajectory=scope["step_per_trajectory"],
        action=scope["action"],
        reward=scope["reward"],
        pscore=scope["pscore"],
        evaluation_policy_action_dist=scope["evaluation_policy_action_dist"],
        gamma=1.0,
    )
    pairs = {
        "IS": discrete.TrajectoryWiseImportanceSampling(),
        "WIS": discrete.SelfNormalizedTIS(),
        "PDIS": discrete.PerDecisionImportanceSampling(),
        "WPDIS": discrete.SelfNormalizedPDIS(),
    }
    for name, estimator in pairs.items():
        # relative: SCOPE-RL adds 1e-10 to its self-normalising denominators
        assert estimator.estimate_policy_value(**args) == pytest.approx(traj[name], rel=1e-9), name
