"""Unbiasedness over many seeds on a tiny MDP whose true value is known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from dialog_rl.ope import bandit, trajectory
from dialog_rl.ope.stationary import StationaryRatio

# Start state 0; action a earns R0[a] (+ noise) and ends the episode with probability END[a],
# otherwise moves to state 1 or 2 (state 2 with probability P2[a]); there action b earns R1[s, b]
# (+ noise) and the episode ends.
R0 = np.array([1.0, 0.0, 2.0])
END = np.array([0.2, 0.0, 0.5])
P2 = np.array([0.3, 0.8, 0.5])
R1 = np.array([[0.0, 0.0, 0.0], [3.0, 0.0, 1.0], [0.0, 5.0, 2.0]])
MU = np.array([[0.5, 0.3, 0.2], [0.2, 0.5, 0.3], [0.4, 0.2, 0.4]])  # logger, per state
PI = np.array([[0.1, 0.2, 0.7], [0.8, 0.1, 0.1], [0.1, 0.8, 0.1]])  # target, per state
NOISE = 0.5


def true_value() -> float:
    later = [(1 - END[a]) * ((1 - P2[a]) * PI[1] @ R1[1] + P2[a] * PI[2] @ R1[2]) for a in range(3)]
    return float(PI[0] @ (R0 + np.array(later)))


def simulate(n: int, seed: int) -> dict:
    """n logged episodes as padded [n, 2] arrays (plus the states, for the tabular estimator)."""
    rng = np.random.default_rng(seed)
    a0 = (rng.random(n)[:, None] > np.cumsum(MU[0])[None, :]).sum(1)
    ends = rng.random(n) < END[a0]
    s1 = np.where(rng.random(n) < P2[a0], 2, 1)
    a1 = (rng.random(n)[:, None] > np.cumsum(MU[s1], axis=1)).sum(1)
    reward = np.stack([R0[a0], R1[s1, a1]], axis=1) + NOISE * rng.normal(size=(n, 2))
    valid = np.stack([np.ones(n, dtype=bool), ~ends], axis=1)
    state = np.stack([np.zeros(n, dtype=int), s1], axis=1)
    action = np.stack([a0, a1], axis=1)
    return {
        "reward": np.where(valid, reward, 0.0),
        "pscore": MU[state, action],
        "target_prob": PI[state, action],
        "valid": valid,
        "state": state,
        "action": action,
    }


def per_dataset(estimator, d: dict, datasets: int, **model) -> np.ndarray:
    """The estimate on each of ``datasets`` equal blocks of episodes, in one call."""
    n = d["reward"].shape[0]
    counts = np.kron(np.eye(datasets), np.ones(n // datasets))
    args = (d["reward"], d["pscore"], d["target_prob"], d["valid"], model.get("q"), model.get("v"))
    return estimator._estimate(estimator._prepare(*args), counts)


@pytest.mark.parametrize(
    "estimator",
    [trajectory.IS(), trajectory.PDIS(), trajectory.DR()],
    ids=lambda e: e.name,
)
def test_unweighted_estimators_are_unbiased_over_many_small_datasets(estimator):
    datasets, size = 2000, 10
    d = simulate(datasets * size, seed=0)
    model = {}
    if estimator.needs_model:  # a deliberately wrong model: DR must stay unbiased
        q = np.full((3, 3), 1.5)
        model = {"q": q[d["state"], d["action"]], "v": (PI * q).sum(1)[d["state"]]}
    est = per_dataset(estimator, d, datasets, **model)
    se = est.std(ddof=1) / np.sqrt(datasets)
    assert abs(est.mean() - true_value()) < 4 * se


def test_dr_with_the_true_model_has_less_variance_than_pdis():
    datasets, size = 1000, 10
    d = simulate(datasets * size, seed=1)
    later = [(1 - END[a]) * ((1 - P2[a]) * PI[1] @ R1[1] + P2[a] * PI[2] @ R1[2]) for a in range(3)]
    q = np.stack([R0 + np.array(later), R1[1], R1[2]])  # the target's true action values
    model = {"q": q[d["state"], d["action"]], "v": (PI * q).sum(1)[d["state"]]}
    dr = per_dataset(trajectory.DR(), d, datasets, **model)
    pdis = per_dataset(trajectory.PDIS(), d, datasets)
    assert dr.std() < 0.5 * pdis.std()
    assert abs(dr.mean() - true_value()) < 4 * dr.std(ddof=1) / np.sqrt(datasets)


def test_weighted_and_stationary_estimators_are_consistent_on_much_data():
    d = simulate(200_000, seed=2)
    args = (d["reward"], d["pscore"], d["target_prob"], d["valid"])
    v = true_value()
    for est in (trajectory.WIS(), trajectory.WPDIS()):
        assert est.estimate_policy_value(*args) == pytest.approx(v, abs=0.05)
    assert StationaryRatio(ridge=1e-9).estimate_policy_value(d["state"], *args) == pytest.approx(
        v, abs=0.05
    )


def test_ips_is_unbiased_on_the_first_decision():
    datasets, size = 2000, 10
    d = simulate(datasets * size, seed=3)
    first = (
        d["reward"][:, 0],
        d["action"][:, 0],
        d["pscore"][:, 0],
        np.tile(PI[0], (datasets * size, 1)),
    )
    est = np.array(
        [
            bandit.IPS().estimate_policy_value(*(x[i * size : (i + 1) * size] for x in first))
            for i in range(datasets)
        ]
    )
    assert abs(est.mean() - PI[0] @ R0) < 4 * est.std(ddof=1) / np.sqrt(datasets)


def test_fqe_recovers_the_true_value_and_is_deterministic():
    from dialog_rl.ope.fqe import FQE

    d = simulate(4_000, seed=4)
    obs = np.eye(3, dtype=np.float32)[d["state"]]
    dist = PI[d["state"]]
    fqe = FQE(hidden=(32,), epochs=8, learning_rate=1e-2, batch_size=256, n_folds=1, seed=0)
    q = fqe.fit_predict(obs, d["action"], d["reward"], dist, d["valid"])
    value = float((q[:, 0] * dist[:, 0]).sum(1).mean())
    assert value == pytest.approx(true_value(), abs=0.15)
    again = fqe.fit_predict(obs, d["action"], d["reward"], dist, d["valid"])
    assert np.array_equal(q, again)
