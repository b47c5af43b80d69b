"""Per-trajectory estimators of a target policy's expected (discounted) return per episode.

All take padded [n_episodes, horizon] arrays: episode ``i`` has decisions ``0 .. T_i - 1`` where
``valid[i]`` is True. Padding follows the absorbing-state convention (Thomas 2015): after its end an
episode earns reward 0 and both policies agree (ratio 1), so it keeps its final weight in the
normalisers of the weighted estimators. With ``rho_t = target_prob_t / pscore_t`` and the cumulative
weight ``w_t = rho_0 ... rho_t`` (``w_{-1} = 1``):

- IS     ``mean_i w_{i,T-1} G_i``                     (Precup et al. 2000)
- WIS    ``sum_i w_{i,T-1} G_i / sum_i w_{i,T-1}``
- PDIS   ``mean_i sum_t g^t w_it r_it``
- WPDIS  ``sum_t g^t sum_i w_it r_it / sum_i w_it``
- DR     ``mean_i sum_t g^t [w_it (r_it - q_it) + w_i,t-1 v_it]``     (Jiang & Li 2016)
- WDR    DR with each ``w_t`` normalised over episodes              (Thomas & Brunskill 2016)

where ``q_it = q(s_it, a_it)`` and ``v_it = sum_a pi(a | s_it) q(s_it, a)`` come from a model of the
target's action values (FQE in ``dialog_rl.ope.fqe``). Weighted estimators use 0 / 0 = 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import numpy as np

from dialog_rl.ope.bootstrap import Estimate, bootstrap_replicates, percentile_interval, safe_divide
from dialog_rl.ope.validation import (
    OPEInputError,
    check_array,
    check_gamma,
    check_probabilities,
    check_pscore,
    check_same_shape,
    check_valid,
)


class TrajectoryArrays(NamedTuple):
    """Validated inputs, padding neutralised; all float64 [n_episodes, horizon]."""

    reward: np.ndarray
    ratio: np.ndarray
    """``rho_t``: target over logging probability of the logged action (1 on padding)."""
    weight: np.ndarray
    """``w_t``: cumulative product of ``ratio`` up to and including ``t``."""
    prev_weight: np.ndarray
    """``w_{t-1}`` (1 at ``t = 0``)."""
    discount: np.ndarray
    """``gamma ** t``, [horizon]."""
    q_hat: np.ndarray | None
    v_hat: np.ndarray | None


@dataclass(frozen=True)
class TrajectoryEstimator:
    """Base class: validates arrays, computes the estimate and its bootstrap interval.

    Subclasses implement ``_estimate(arrays, counts [B, n]) -> [B]``: the estimate on the data
    with episode ``i`` counted ``counts[b, i]`` times (all ones for the plain estimate). Bootstrap
    intervals resample whole episodes.
    """

    gamma: float = 1.0
    """Discount per decision; 1.0 gives the plain sum of rewards (episodes are finite)."""

    name: ClassVar[str] = "base"
    needs_model: ClassVar[bool] = False

    def __post_init__(self) -> None:
        check_gamma(self.gamma)

    def estimate_policy_value(
        self,
        reward: np.ndarray,
        pscore: np.ndarray,
        target_prob: np.ndarray,
        valid: np.ndarray | None = None,
        q_hat: np.ndarray | None = None,
        v_hat: np.ndarray | None = None,
    ) -> float:
        """The estimated expected return per episode of the target policy.

        Args:
            reward: float [n_episodes, horizon] reward after each decision.
            pscore: float [n_episodes, horizon] logging policy's probability of the logged action.
            target_prob: float [n_episodes, horizon] target policy's probability of that action.
            valid: bool [n_episodes, horizon], True on real decisions (default: all).
            q_hat: float [n_episodes, horizon] model's value of the logged action (DR family).
            v_hat: float [n_episodes, horizon] model's value of the state under the target.
        """
        arrays = self._prepare(reward, pscore, target_prob, valid, q_hat, v_hat)
        return float(self._estimator_for(arrays)(np.ones((1, arrays.reward.shape[0])))[0])

    def estimate_interval(
        self,
        reward: np.ndarray,
        pscore: np.ndarray,
        target_prob: np.ndarray,
        valid: np.ndarray | None = None,
        q_hat: np.ndarray | None = None,
        v_hat: np.ndarray | None = None,
        *,
        n_bootstrap: int = 1000,
        alpha: float = 0.05,
        seed: int = 0,
    ) -> Estimate:
        """The estimate and its percentile-bootstrap interval, resampling whole episodes."""
        arrays = self._prepare(reward, pscore, target_prob, valid, q_hat, v_hat)
        n = arrays.reward.shape[0]
        fn = self._estimator_for(arrays)
        value = float(fn(np.ones((1, n)))[0])
        return percentile_interval(value, bootstrap_replicates(fn, n, n_bootstrap, seed), alpha)

    def _estimator_for(self, arrays: TrajectoryArrays):
        """``counts [B, n] -> [B]`` on these arrays (a hook for estimators that fit something
        once on the full data, like MAGIC's blend, and reuse it in bootstrap replicates)."""
        return lambda counts: self._estimate(arrays, counts)

    def _prepare(self, reward, pscore, target_prob, valid, q_hat, v_hat) -> TrajectoryArrays:
        reward = check_array("reward", reward, 2)
        pscore = check_array("pscore", pscore, 2) if pscore is not None else None
        target_prob = check_array("target_prob", target_prob, 2)
        check_same_shape(reward=reward, pscore=pscore, target_prob=target_prob)
        valid = check_valid(valid, reward.shape)
        pscore = check_pscore(pscore, valid)
        target_prob = check_probabilities(target_prob, "target_prob", valid)
        if np.isnan(reward[valid]).any():
            raise OPEInputError("reward has missing values (NaN)")
        if self.needs_model:
            if q_hat is None or v_hat is None:
                raise OPEInputError(f"{self.name} needs q_hat and v_hat from a value model")
            q_hat = check_array("q_hat", q_hat, 2)
            v_hat = check_array("v_hat", v_hat, 2)
            check_same_shape(reward=reward, q_hat=q_hat, v_hat=v_hat)
            q_hat = np.where(valid, q_hat, 0.0).astype(np.float64)
            v_hat = np.where(valid, v_hat, 0.0).astype(np.float64)
        ratio = np.where(valid, target_prob / np.where(valid, pscore, 1.0), 1.0)
        weight = np.cumprod(ratio, axis=1)
        prev = np.concatenate([np.ones((weight.shape[0], 1)), weight[:, :-1]], axis=1)
        discount = self.gamma ** np.arange(reward.shape[1], dtype=np.float64)
        reward = np.where(valid, reward, 0.0).astype(np.float64)
        return TrajectoryArrays(reward, ratio, weight, prev, discount, q_hat, v_hat)

    def _estimate(self, a: TrajectoryArrays, counts: np.ndarray) -> np.ndarray:
        raise NotImplementedError


@dataclass(frozen=True)
class IS(TrajectoryEstimator):
    """Trajectory-wise importance sampling: unbiased; variance grows exponentially with length."""

    name: ClassVar[str] = "IS"

    def _estimate(self, a, counts):
        ret = (a.reward * a.discount).sum(1)
        return counts @ (a.weight[:, -1] * ret) / counts.sum(1)


@dataclass(frozen=True)
class WIS(TrajectoryEstimator):
    """Weighted (self-normalised) IS: biased but consistent; bounded by the observed returns."""

    name: ClassVar[str] = "WIS"

    def _estimate(self, a, counts):
        ret = (a.reward * a.discount).sum(1)
        w = a.weight[:, -1]
        return safe_divide(counts @ (w * ret), counts @ w)


@dataclass(frozen=True)
class PDIS(TrajectoryEstimator):
    """Per-decision IS: each reward weighted by the ratios of the decisions before it only."""

    name: ClassVar[str] = "PDIS"

    def _estimate(self, a, counts):
        per_episode = (a.weight * a.reward * a.discount).sum(1)
        return counts @ per_episode / counts.sum(1)


@dataclass(frozen=True)
class WPDIS(TrajectoryEstimator):
    """Weighted per-decision IS: PDIS with each step's weights normalised over episodes."""

    name: ClassVar[str] = "WPDIS"

    def _estimate(self, a, counts):
        num = counts @ (a.weight * a.reward)
        den = counts @ a.weight
        return safe_divide(num, den) @ a.discount


@dataclass(frozen=True)
class DR(TrajectoryEstimator):
    """Sequential doubly robust (Jiang & Li 2016): PDIS with the model's values as control variate.

    Unbiased for any model when propensities are right; exact when the model is.
    """

    name: ClassVar[str] = "DR"
    needs_model: ClassVar[bool] = True

    def _estimate(self, a, counts):
        terms = a.weight * (a.reward - a.q_hat) + a.prev_weight * a.v_hat
        return counts @ (terms @ a.discount) / counts.sum(1)


@dataclass(frozen=True)
class WDR(TrajectoryEstimator):
    """Weighted doubly robust (Thomas & Brunskill 2016): DR with per-step normalised weights."""

    name: ClassVar[str] = "WDR"
    needs_model: ClassVar[bool] = True

    def _estimate(self, a, counts):
        return wdr_partials(a, counts)[:, -1]


def wdr_partials(a: TrajectoryArrays, counts: np.ndarray) -> np.ndarray:
    """MAGIC's off-policy j-step returns ``g^(j)``, j = -1 .. horizon-1: float [B, horizon + 1].

    ``g^(j)`` uses the weighted importance-sampled rewards up to step ``j`` and the model after it:
    ``g^(-1)`` is the direct method, ``g^(horizon-1)`` is WDR.
    """
    den = counts @ a.weight
    den_prev = counts @ a.prev_weight
    r = safe_divide(counts @ (a.weight * a.reward), den)
    q = safe_divide(counts @ (a.weight * a.q_hat), den)
    v = safe_divide(counts @ (a.prev_weight * a.v_hat), den_prev)
    step = (r - q + v) * a.discount
    cum = np.cumsum(step, axis=1)
    # g^(j) = sum_{t<=j} step_t + g^{j+1} v_{j+1}: the model's value where IS stops
    tail = np.concatenate([v[:, 1:] * a.discount[1:], np.zeros((v.shape[0], 1))], axis=1)
    return np.concatenate([v[:, :1], cum + tail], axis=1)
