"""OPE estimators: exact answers on hand-computed cases and agreement with textbook loops."""

from __future__ import annotations

import numpy as np
import pytest

from dialog_rl.ope import bandit, trajectory
from dialog_rl.ope.bootstrap import Estimate, resample_counts
from dialog_rl.ope.diagnostics import effective_sample_size, support_report, weight_diagnostics
from dialog_rl.ope.magic import MAGIC, project_simplex, simplex_quadratic_min
from dialog_rl.ope.stationary import StationaryRatio

# Two episodes; the second is one decision long (its second column is padding).
#   episode 0: ratios 1.0/0.5 = 2, 0.5/0.25 = 2 -> weights 2, 4; rewards 1, 2
#   episode 1: ratio 0.25/0.5 = 0.5            -> weight 0.5;   reward 3
HAND = {
    "reward": np.array([[1.0, 2.0], [3.0, 99.0]]),
    "pscore": np.array([[0.5, 0.25], [0.5, 0.0]]),  # padding is never checked or used
    "target_prob": np.array([[1.0, 0.5], [0.25, 0.7]]),
    "valid": np.array([[True, True], [True, False]]),
    "q_hat": np.array([[1.0, 1.0], [2.0, 5.0]]),
    "v_hat": np.array([[2.0, 0.5], [1.0, 5.0]]),
}


@pytest.mark.parametrize(
    ("estimator", "expected"),
    [
        (trajectory.IS(), (4 * 3 + 0.5 * 3) / 2),  # 6.75
        (trajectory.WIS(), (4 * 3 + 0.5 * 3) / (4 + 0.5)),  # 3.0
        (trajectory.PDIS(), (2 * 1 + 4 * 2 + 0.5 * 3) / 2),  # 5.75
        (trajectory.PDIS(gamma=0.5), (2 * 1 + 0.5 * 4 * 2 + 0.5 * 3) / 2),  # 3.75
        # t=0: (2*1 + 0.5*3) / 2.5; t=1: (4*2) / (4 + 0.5), the ended episode keeps weight 0.5
        (trajectory.WPDIS(), 3.5 / 2.5 + 8 / 4.5),
        # episode 0: [2(1-1) + 2] + [4(2-1) + 2(0.5)] = 7; episode 1: 0.5(3-2) + 1 = 1.5
        (trajectory.DR(), (7 + 1.5) / 2),
        # t=0: 1.4 - 3/2.5 + 3/2; t=1: 8/4.5 - 4/4.5 + (2 * 0.5)/2.5
        (trajectory.WDR(), (1.4 - 1.2 + 1.5) + (8 / 4.5 - 4 / 4.5 + 0.4)),
    ],
    ids=lambda x: getattr(x, "name", ""),
)
def test_trajectory_estimators_give_hand_computed_values(estimator, expected):
    args = {k: v for k, v in HAND.items() if estimator.needs_model or k not in ("q_hat", "v_hat")}
    assert estimator.estimate_policy_value(**args) == pytest.approx(expected, rel=1e-12)


def test_magic_with_a_blend_on_the_model_end_is_the_direct_method():
    a = MAGIC()._prepare(**HAND)
    partials = trajectory.wdr_partials(a, np.ones((1, 2)))[0]
    assert partials[0] == pytest.approx(1.5)  # mean of v_hat at the first decision
    assert partials[-1] == pytest.approx(trajectory.WDR().estimate_policy_value(**HAND))
    value = MAGIC().estimate_policy_value(**HAND)
    assert min(partials) - 1e-9 <= value <= max(partials) + 1e-9


def test_simplex_solver_finds_the_minimum_variance_blend():
    # independent errors with variances 1 and 3: optimum weights 3/4, 1/4
    x = simplex_quadratic_min(np.diag([1.0, 3.0]))
    assert x == pytest.approx([0.75, 0.25], abs=1e-6)
    assert project_simplex(np.array([2.0, 0.0, -1.0])) == pytest.approx([1.0, 0.0, 0.0])


# Three decisions, two actions: weights 1, 4, 1.6.
BANDIT = {
    "reward": np.array([1.0, 0.0, 2.0]),
    "action": np.array([0, 1, 1]),
    "pscore": np.array([0.5, 0.25, 0.5]),
    "action_dist": np.array([[0.5, 0.5], [0.0, 1.0], [0.2, 0.8]]),
    "estimated_rewards": np.array([[0.0, 0.0], [0.5, 0.5], [1.0, 2.0]]),
}


@pytest.mark.parametrize(
    ("estimator", "expected"),
    [
        (bandit.IPS(), (1 * 1 + 4 * 0 + 1.6 * 2) / 3),
        (bandit.SNIPS(), 4.2 / (1 + 4 + 1.6)),
        (bandit.DM(), (0 + 0.5 + 1.8) / 3),
        (bandit.DecisionDR(), ((0 + 1) + (0.5 - 2) + (1.8 + 0)) / 3),
        (bandit.SwitchDR(tau=2.0), ((0 + 1) + 0.5 + (1.8 + 0)) / 3),  # weight 4 > 2: DM there
        (bandit.SwitchDR(), ((0 + 1) + (0.5 - 2) + (1.8 + 0)) / 3),  # tau = inf is DR
        (bandit.SwitchDR(tau=0.0), (0 + 0.5 + 1.8) / 3),  # tau = 0 is DM
    ],
    ids=lambda x: getattr(x, "name", ""),
)
def test_decision_estimators_give_hand_computed_values(estimator, expected):
    args = dict(BANDIT)
    if not estimator.needs_model:
        args.pop("estimated_rewards")
    assert estimator.estimate_policy_value(**args) == pytest.approx(expected, rel=1e-12)


def _random_logs(seed: int, n: int = 40, h: int = 6, k: int = 4):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, h + 1, size=n)
    valid = np.arange(h)[None, :] < lengths[:, None]
    mu = rng.dirichlet(np.ones(k), size=(n, h))
    pi = rng.dirichlet(np.ones(k), size=(n, h))
    action = np.array([[rng.choice(k, p=mu[i, t]) for t in range(h)] for i in range(n)])
    pick = lambda d: np.take_along_axis(d, action[..., None], 2)[..., 0]  # noqa: E731
    q = rng.normal(size=(n, h, k))
    return {
        "reward": rng.normal(size=(n, h)),
        "pscore": pick(mu),
        "target_prob": pick(pi),
        "valid": valid,
        "q_hat": pick(q),
        "v_hat": (q * pi).sum(2),
    }


def _textbook(name: str, d: dict, gamma: float) -> float:
    """The estimators written as loops over episodes and decisions, straight from the papers."""
    r, p, pi, valid, q, v = (
        d[k] for k in ("reward", "pscore", "target_prob", "valid", "q_hat", "v_hat")
    )
    n, h = r.shape
    lengths = valid.sum(1)
    rho = [[pi[i, t] / p[i, t] for t in range(lengths[i])] for i in range(n)]

    def w(i, t):  # cumulative weight, padded with ratio 1 after the end; w(i, -1) = 1
        return float(np.prod(rho[i][: t + 1]))

    if name == "IS":
        return np.mean(
            [w(i, h) * sum(gamma**t * r[i, t] for t in range(lengths[i])) for i in range(n)]
        )
    if name == "WIS":
        ws = [w(i, h) for i in range(n)]
        gs = [sum(gamma**t * r[i, t] for t in range(lengths[i])) for i in range(n)]
        return float(np.dot(ws, gs) / np.sum(ws))
    if name == "PDIS":
        return np.mean(
            [sum(gamma**t * w(i, t) * r[i, t] for t in range(lengths[i])) for i in range(n)]
        )
    if name == "WPDIS":
        total = 0.0
        for t in range(h):
            num = sum(w(i, t) * r[i, t] for i in range(n) if t < lengths[i])
            total += gamma**t * num / sum(w(i, t) for i in range(n))
        return total
    if name == "DR":  # the recursion of Jiang & Li (2016), from the last decision backwards
        values = []
        for i in range(n):
            v_dr = 0.0
            for t in reversed(range(lengths[i])):
                v_dr = v[i, t] + rho[i][t] * (r[i, t] + gamma * v_dr - q[i, t])
            values.append(v_dr)
        return float(np.mean(values))
    if name == "WDR":  # Thomas & Brunskill (2016), eq. for WDR with normalised weights
        total = 0.0
        for t in range(h):
            wt = np.array([w(i, t) for i in range(n)])
            wp = np.array([w(i, t - 1) for i in range(n)])
            live = np.array([t < lengths[i] for i in range(n)])
            wbar, wbar_prev = wt / wt.sum(), wp / wp.sum()
            rt, qt, vt = (np.where(live, x[:, t], 0.0) for x in (r, q, v))
            total += gamma**t * (np.sum(wbar * rt) - np.sum(wbar * qt - wbar_prev * vt))
        return total
    raise KeyError(name)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("gamma", [1.0, 0.9])
@pytest.mark.parametrize("name", ["IS", "WIS", "PDIS", "WPDIS", "DR", "WDR"])
def test_trajectory_estimators_match_textbook_loops_on_random_arrays(name, gamma, seed):
    d = _random_logs(seed)
    cls = getattr(trajectory, name)
    got = (
        cls(gamma=gamma).estimate_policy_value(**d)
        if cls.needs_model
        else cls(gamma=gamma).estimate_policy_value(
            d["reward"], d["pscore"], d["target_prob"], d["valid"]
        )
    )
    assert got == pytest.approx(_textbook(name, d, gamma), rel=1e-10)


@pytest.mark.parametrize("seed", range(5))
def test_decision_estimators_match_textbook_formulas_on_random_arrays(seed):
    rng = np.random.default_rng(seed)
    n, k = 200, 5
    mu = rng.dirichlet(np.ones(k), size=n)
    pi = rng.dirichlet(np.ones(k), size=n)
    a = np.array([rng.choice(k, p=m) for m in mu])
    p = mu[np.arange(n), a]
    r = rng.normal(size=n)
    q = rng.normal(size=(n, k))
    w = pi[np.arange(n), a] / p
    dm = (pi * q).sum(1)
    corr = w * (r - q[np.arange(n), a])
    tau = float(np.median(w))
    assert bandit.IPS().estimate_policy_value(r, a, p, pi) == pytest.approx(np.mean(w * r))
    assert bandit.SNIPS().estimate_policy_value(r, a, p, pi) == pytest.approx(
        np.sum(w * r) / np.sum(w)
    )
    assert bandit.DM().estimate_policy_value(r, a, p, pi, q) == pytest.approx(np.mean(dm))
    assert bandit.DecisionDR().estimate_policy_value(r, a, p, pi, q) == pytest.approx(
        np.mean(dm + corr)
    )
    assert bandit.SwitchDR(tau=tau).estimate_policy_value(r, a, p, pi, q) == pytest.approx(
        np.mean(dm + np.where(w <= tau, corr, 0.0))
    )


# Four two-decision episodes from state 0 to state 1 or 2; ratios and rewards per decision.
SR_KEYS = np.array([[0, 1], [0, 1], [0, 2], [0, 2]])
SR_REWARD = np.array([[0.0, 1.0], [0.0, 3.0], [1.0, 2.0], [1.0, 0.0]])
SR_RHO = np.array([[2.0, 1.0], [0.0, 1.0], [1.0, 0.5], [1.0, 1.5]])
SR_PSCORE = np.full((4, 2), 0.4)


def test_stationary_ratio_gives_hand_computed_value():
    # The flow equations hold exactly with w = 1 everywhere (state 1 receives 2 + 0 = 2 = N(1),
    # state 2 receives 1 + 1 = 2 = N(2), the ends return 1 + 1 + 0.5 + 1.5 = 4 = n to the start),
    # so the value is [sum rho_0 r_0 + sum rho_1 r_1] / 4 = [2 + (1 + 3 + 1 + 0)] / 4.
    est = StationaryRatio(ridge=1e-9)
    args = (SR_KEYS, SR_REWARD, SR_PSCORE, SR_RHO * 0.4)
    assert est.estimate_policy_value(*args) == pytest.approx(7 / 4)
    assert est.state_ratio(*args) == pytest.approx(np.ones((4, 2)))
    # gamma = 0.5: d(1) = d(2) = 0.25 discounted visits per trajectory, w = 0.5 there
    est = StationaryRatio(gamma=0.5, ridge=1e-9)
    assert est.estimate_policy_value(*args) == pytest.approx((2 + 0.5 * 5) / 4)


def test_stationary_ratio_is_exact_on_a_recurring_chain_where_is_weights_degenerate():
    # Trajectories alternate states 0, 1, 0, 1, ... for 40 decisions, reward 1 each, and the
    # target's ratio is random with mean 1 but does not change where the chain goes: the value
    # is 40 for any policy. The trajectory weights are a product of 40 ratios and degenerate;
    # the state ratio does not multiply along the trajectory, and the value stays close.
    rng = np.random.default_rng(0)
    n, h = 50, 40
    keys = np.tile([0, 1], (n, h // 2))
    rho = rng.choice([0.5, 1.5], size=(n, h))
    args = (keys, np.ones((n, h)), np.full((n, h), 0.5), rho * 0.5)
    sr = StationaryRatio().estimate_policy_value(*args)
    w = np.cumprod(rho, axis=1)
    assert w[:, -1].std() > w[:, -1].mean()  # the trajectory weights are degenerate
    assert abs(sr - 40.0) < 0.05 * 40
    assert abs(trajectory.PDIS().estimate_policy_value(*args[1:]) - 40.0) > 3 * abs(sr - 40.0)


def test_bootstrap_interval_contains_the_estimate_and_is_seeded():
    d = _random_logs(0, n=300)
    args = (d["reward"], d["pscore"], d["target_prob"], d["valid"])
    a = trajectory.WPDIS().estimate_interval(*args, n_bootstrap=300, seed=1)
    b = trajectory.WPDIS().estimate_interval(*args, n_bootstrap=300, seed=1)
    c = trajectory.WPDIS().estimate_interval(*args, n_bootstrap=300, seed=2)
    assert isinstance(a, Estimate)
    assert a == b
    assert a != c
    assert a.low < a.value < a.high


def test_bootstrap_counts_resample_whole_episodes():
    counts = np.concatenate(list(resample_counts(7, 600, seed=3)))
    assert counts.shape == (600, 7)
    assert (counts.sum(1) == 7).all()
    assert abs(counts.mean() - 1.0) < 0.05


def test_effective_sample_size_and_weight_diagnostics():
    assert effective_sample_size(np.ones(10)) == pytest.approx(10)
    assert effective_sample_size(np.array([1.0, 0, 0, 0])) == pytest.approx(1)
    assert effective_sample_size(np.zeros(3)) == 0.0
    diag = weight_diagnostics(HAND["pscore"], HAND["target_prob"], HAND["valid"])
    assert diag.max_weight == pytest.approx(4.0)
    assert diag.mean_weight == pytest.approx(2.25)
    assert diag.ess == pytest.approx(4.5**2 / (16 + 0.25))
    assert diag.max_ratio == pytest.approx(2.0)


def test_support_report_flags_target_mass_where_the_logger_had_none():
    target = np.array([[0.0, 1.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    action = np.array([0, 1, 0])
    mask = np.ones((3, 3), dtype=bool)
    # row 0: logger was deterministic on action 0 (propensity 1), target wants action 1
    rep = support_report(target, action, np.array([1.0, 0.5, 0.5]), mask)
    assert rep.unsupported_mass == pytest.approx(1 / 3)
    assert rep.decisions_affected == pytest.approx(1 / 3)
    assert rep.never_logged == (2,)
    assert not rep.logger_known
    assert len(rep.warnings(["a", "b", "c"])) == 2
    # with the logger's distribution known, the check is exact
    logger = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5]])
    rep = support_report(target, action, np.array([1.0, 0.5, 0.5]), mask, logger)
    assert rep.unsupported_mass == pytest.approx(1 / 3)
    assert rep.logger_known
    ok = support_report(logger, action, np.array([1.0, 0.5, 0.5]), mask, logger)
    assert ok.decisions_affected == 0
    assert ok.never_logged == (2,)  # the logger could take action 2, it just never did
