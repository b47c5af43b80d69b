"""The state-distribution-ratio estimator of Liu, Li, Tang & Zhou (NeurIPS 2018), for long horizons.

"Breaking the Curse of Horizon": instead of a product of per-decision ratios over the whole
trajectory, weight each decision by ``w(s) = d_pi(s) / d_mu(s)``, the ratio of how often the target
and the logger visit state ``s``, times the one-step ratio. ``w`` is a function of the state alone,
so its variance does not grow with the length of the trajectory. Liu et al. characterise ``w`` by
the flow (stationarity) equation ``E_mu[w(s) rho(s, a) f(s')] = E_mu[w(s') f(s')]`` for all test
functions ``f`` and fit it as a min-max problem with a neural ``w`` and an RKHS of test functions.

The version here is tabular, over a state key per decision (``dialogue_state_keys``), with every
state's indicator as a test function, so Liu et al.'s min-max loss becomes a sparse least-squares
problem solved by LSQR: no neural network, no tuning loop, deterministic, checkable by hand.
Why tabular: dialogue observations are almost discrete, and a tabular ``w`` cannot extrapolate
wrongly to states it has never seen. Unknowns are ``w(s)`` per state and ``w(R)`` for a restart
node: a trajectory's end leads to R, and R to the logged start states (a renewal: a conversation
ends, the next customer arrives). The flow residual of state ``s'`` is

    ``N(s') w(s') - sum_{t: s_t+1 = s'} rho_t w(s_t) - starts(s') w(R)``

(and ``n w(R) - sum_{t last} rho_t w(s_t)`` for R). Least squares plus a small pull of ``w``
towards 1 (``ridge``, weighted by visits, which fixes the scale and keeps rarely visited states
near "no shift") replaces Liu et al.'s normalisation. The value per trajectory is the
renewal-reward ratio

    ``sum_t w(s_t) rho_t r_t / sum_i w(s_i0)``,

the target's reward per decision over its trajectory starts per decision (measured at the start
states, whose ratio every flow into them pins down, rather than at R): it needs no notion of
where a conversation ends inside a trajectory, so chains of conversations work as they are, and
no product of ratios appears anywhere. With ``gamma < 1`` there is no renewal: ``w(R) = 1``, the
flow is discounted, ``d = d0 + gamma P^T d``, and the value is ``sum_t w(s_t) rho_t r_t / n``.

The price is bias: the state key is not exactly Markov (hidden user goals, merged confidences),
and the ridge pulls rare states towards the logger. ``benchmarks/ope_horizon.py`` measures it.

Where the target takes actions the logger never took, no ratio can speak for them; the support
warnings of ``dialog_rl.ope.diagnostics`` report it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dialog_rl.ope.bootstrap import Estimate, percentile_interval, resample_counts
from dialog_rl.ope.validation import (
    check_array,
    check_gamma,
    check_probabilities,
    check_pscore,
    check_same_shape,
    check_valid,
)


@dataclass(frozen=True)
class _Flat:
    """Valid decisions only, flattened."""

    state: np.ndarray  # int [N] dense state id
    next_state: np.ndarray  # int [N] next state id, -1 after a trajectory's last decision
    rho: np.ndarray  # float [N] target / logging probability of the logged action
    reward: np.ndarray  # float [N]
    discount: np.ndarray  # float [N] gamma ** t within the trajectory
    episode: np.ndarray  # int [N] trajectory index
    start: np.ndarray  # bool [N] first decision of its trajectory
    n: int  # trajectories
    n_states: int
    valid: np.ndarray  # bool [n, horizon]


@dataclass(frozen=True)
class StationaryRatio:
    """Value per trajectory from the estimated state-visitation ratio (tabular; see module doc)."""

    gamma: float = 1.0
    """Discount per decision; 1.0 uses the renewal form, which does not degrade with length."""
    ridge: float = 1e-3
    """Pull of ``w`` towards 1, relative to the flow residuals (visit-weighted)."""
    tol: float = 1e-8
    """LSQR tolerance."""

    def __post_init__(self) -> None:
        check_gamma(self.gamma)
        if not self.ridge > 0:
            raise ValueError(f"ridge must be > 0, got {self.ridge}")
        if not 0 < self.tol < 1:
            raise ValueError(f"tol must be in (0, 1), got {self.tol}")

    def estimate_policy_value(
        self,
        state_keys: np.ndarray,
        reward: np.ndarray,
        pscore: np.ndarray,
        target_prob: np.ndarray,
        valid: np.ndarray | None = None,
    ) -> float:
        """The target's estimated expected return per trajectory.

        Args:
            state_keys: int [n_episodes, horizon] state of each decision (equal keys, equal
                state); the next state of decision ``t`` is ``t + 1``.
            reward: float [n_episodes, horizon].
            pscore: float [n_episodes, horizon] logging probabilities of the logged actions.
            target_prob: float [n_episodes, horizon] target probabilities of the logged actions.
            valid: bool [n_episodes, horizon] real decisions (default: all).
        """
        p = self._prepare(state_keys, reward, pscore, target_prob, valid)
        return float(self._estimate(p, np.ones(p.n)))

    def state_ratio(
        self,
        state_keys: np.ndarray,
        reward: np.ndarray,
        pscore: np.ndarray,
        target_prob: np.ndarray,
        valid: np.ndarray | None = None,
    ) -> np.ndarray:
        """The estimated ``w(s_t)`` at every logged decision: float [n_episodes, horizon].

        With ``gamma = 1`` only ratios of ``w`` matter (its scale is set by the ridge); with
        ``gamma < 1`` it is discounted visits per trajectory over logged visits per trajectory.
        """
        p = self._prepare(state_keys, reward, pscore, target_prob, valid)
        w_state, _ = self._solve(p, np.ones(p.n))
        out = np.zeros(p.valid.shape)
        out[p.valid] = w_state[p.state]
        return out

    def estimate_interval(
        self,
        state_keys: np.ndarray,
        reward: np.ndarray,
        pscore: np.ndarray,
        target_prob: np.ndarray,
        valid: np.ndarray | None = None,
        *,
        n_bootstrap: int = 50,
        alpha: float = 0.05,
        seed: int = 0,
    ) -> Estimate:
        """The estimate and its percentile-bootstrap interval (``w`` re-solved per replicate, so
        replicates cost a solve each: the default is 50)."""
        p = self._prepare(state_keys, reward, pscore, target_prob, valid)
        value = float(self._estimate(p, np.ones(p.n)))
        reps = [
            self._estimate(p, c) for chunk in resample_counts(p.n, n_bootstrap, seed) for c in chunk
        ]
        return percentile_interval(value, np.asarray(reps), alpha)

    # -- private -------------------------------------------------------------------------------

    def _prepare(self, state_keys, reward, pscore, target_prob, valid) -> _Flat:
        reward = check_array("reward", reward, 2)
        keys = check_array("state_keys", state_keys, 2, "iu")
        if pscore is not None:
            pscore = check_array("pscore", pscore, 2)
        target_prob = check_array("target_prob", target_prob, 2)
        check_same_shape(state_keys=keys, reward=reward, pscore=pscore, target_prob=target_prob)
        valid = check_valid(valid, reward.shape)
        pscore = check_pscore(pscore, valid)
        target_prob = check_probabilities(target_prob, "target_prob", valid)
        n, h = reward.shape
        rows = np.flatnonzero(valid.reshape(-1))
        _, ids = np.unique(keys.reshape(-1)[rows], return_inverse=True)
        state = np.full(n * h, -1, dtype=np.int64)
        state[rows] = ids.reshape(-1)
        nxt_valid = np.concatenate([valid[:, 1:], np.zeros((n, 1), dtype=bool)], axis=1)
        has_next = nxt_valid.reshape(-1)[rows]
        next_state = np.where(has_next, state[np.minimum(rows + 1, n * h - 1)], -1)
        t = rows % h
        return _Flat(
            state=state[rows],
            next_state=next_state,
            rho=(target_prob.reshape(-1)[rows] / pscore.reshape(-1)[rows]).astype(np.float64),
            reward=reward.reshape(-1)[rows].astype(np.float64),
            discount=self.gamma ** t.astype(np.float64),
            episode=rows // h,
            start=t == 0,
            n=n,
            n_states=int(ids.max()) + 1 if len(ids) else 0,
            valid=valid,
        )

    def _solve(self, p: _Flat, counts: np.ndarray) -> tuple[np.ndarray, float]:
        """State ratios ``w`` [n_states] and the restart node's ``w(R)``."""
        from scipy import sparse
        from scipy.sparse.linalg import lsqr

        s = p.n_states
        restart = s
        c = counts[p.episode]
        n = float(counts.sum())
        visits = np.bincount(p.state, weights=c, minlength=s)
        starts = np.bincount(p.state[p.start], weights=c[p.start], minlength=s)
        go = p.next_state >= 0
        nxt = np.where(go, p.next_state, restart)
        st = np.flatnonzero(starts)
        renewal = self.gamma == 1.0
        # rows: residual of each state's flow equation (and of R's); columns: w(s), then w(R)
        flow = -self.gamma * c * p.rho
        rows = [np.arange(s), nxt, st]
        cols = [np.arange(s), p.state, np.full(len(st), restart)]
        vals = [visits, flow, -starts[st]]
        if renewal:
            rows.append([restart])
            cols.append([restart])
            vals.append([n])
        a = sparse.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(s + 1, s + 1),
        )
        if not renewal:
            # w(R) = 1 (one start per trajectory): its column moves to the right-hand side
            rhs0 = -a[:, restart].toarray().ravel()
            a = a[:s, :s]
            rhs0 = rhs0[:s]
        else:
            rhs0 = np.zeros(s + 1)
        size = a.shape[1]
        weight = np.concatenate([visits, [n]])[:size]
        # Solve in u = sqrt(N) w (column scaling helps LSQR); ridge pulls w towards 1.
        sq = np.sqrt(np.maximum(weight, 1e-300))
        lam = np.sqrt(self.ridge * weight.mean())
        big = sparse.vstack([a @ sparse.diags(1.0 / sq), lam * sparse.identity(size)]).tocsr()
        rhs = np.concatenate([rhs0, lam * sq])
        u = lsqr(big, rhs, atol=self.tol, btol=self.tol, iter_lim=50 * size)[0]
        w = np.clip(u / sq, 0.0, None)
        return w[:s], (float(w[restart]) if renewal else 1.0)

    def _estimate(self, p: _Flat, counts: np.ndarray) -> float:
        w, _ = self._solve(p, counts)
        c = counts[p.episode]
        num = float((c * w[p.state] * p.rho * p.reward).sum())
        if self.gamma < 1.0:
            return num / float(counts.sum())
        # Starts per decision under the target, measured where trajectories start: the w of
        # start states is pinned by every flow into them (in a chain, every conversation end),
        # while w(R) only by the few trajectory ends.
        den = float((c[p.start] * w[p.state[p.start]]).sum())
        return num / den if den > 0 else 0.0


def lifetime_state_keys(
    keys: np.ndarray, visit: np.ndarray, max_visits: int, valid: np.ndarray | None = None
) -> np.ndarray:
    """State keys of lifetimes cut after ``max_visits`` visits: int64 [n_episodes, horizon].

    ``keys`` (``dialogue_state_keys``) plus one flag: "this is the last visit the cap allows".
    Why: after that visit the customer is gone whatever happened, while after an earlier one
    they may come back, so without the flag the end of a conversation would not say where the
    flow goes next (``benchmarks/ope_lifetime.py``).
    """
    keys = np.asarray(keys, dtype=np.int64)
    last = (np.asarray(visit) >= max_visits - 1).astype(np.int64)
    _, ids = np.unique(np.stack([keys.ravel(), last.ravel()], 1), axis=0, return_inverse=True)
    out = ids.reshape(keys.shape).astype(np.int64)
    return out if valid is None else np.where(valid, out, -1)


#: features that count time rather than describe the state (see ``dialogue_state_keys``)
CLOCKS = ("turn", "life.visit", "life.day")


def dialogue_state_keys(
    obs: np.ndarray,
    feature_names: tuple[str, ...] | list[str],
    valid: np.ndarray | None = None,
    confident: float = 0.6,
) -> np.ndarray:
    """Tabular state ids for dialogue observations: int64 [n_episodes, horizon].

    Why this featurisation: the belief-state summary is already almost discrete (flags, counts in
    thirds); only the slot confidences are continuous, and a policy reads them as "heard" and
    "heard with confidence" (the rule policy confirms below 0.6). So each ``*.conf`` becomes
    three levels (not heard, below ``confident``, at least ``confident``) and the rest is kept
    at a resolution of thirds. The ``turn`` feature is dropped: it makes every decision of a long
    trajectory a new state, and the start states of conversations, which recur, are what lets
    the ratio reset between conversations. For the same reason the lifetime's clocks are dropped
    on lifetime logs (``life.visit``, ``life.day``; the last visit's outcome stays): measured on
    order-support lifetimes they split the states further and pulled SR towards the logger. States then repeat often enough for a tabular ratio
    (measured in ``benchmarks/ope_horizon.py``); the price is that the key is not exactly Markov,
    a bias of a few percent.
    """
    names = list(feature_names)
    o = np.asarray(obs, dtype=np.float64).copy()
    conf = [i for i, n in enumerate(names) if n.endswith(".conf")]
    o[..., conf] = (o[..., conf] > 0).astype(np.float64) + (o[..., conf] >= confident)
    keep = [i for i, n in enumerate(names) if n not in CLOCKS]
    grid = np.round(o[..., keep] * 3).astype(np.int64)
    flat = grid.reshape(-1, grid.shape[-1])
    _, ids = np.unique(flat, axis=0, return_inverse=True)
    keys = ids.reshape(grid.shape[:-1]).astype(np.int64)
    if valid is not None:
        keys = np.where(valid, keys, -1)
    return keys
