"""Per-decision (contextual-bandit) estimators of a target policy's expected reward per decision.

Each row is one decision: context ``x_i``, logged action ``a_i`` drawn with probability
``pscore_i``, reward ``r_i``, the target's distribution ``pi(. | x_i)`` and optionally a reward
model ``q(x_i, .)``. With ``w_i = pi(a_i | x_i) / pscore_i``:

- IPS        ``mean_i w_i r_i``                                  (Horvitz & Thompson 1952)
- SNIPS      ``sum_i w_i r_i / sum_i w_i``                       (Swaminathan & Joachims 2015)
- DM         ``mean_i sum_a pi(a | x_i) q(x_i, a)``
- DR         ``DM + mean_i w_i (r_i - q(x_i, a_i))``              (Dudik et al. 2011)
- Switch-DR  DR that drops the correction where ``w_i > tau``    (Wang et al. 2017)

On dialogue logs these estimate the target's immediate reward at the logger's states: the
one-decision view, blind to what a choice does to later turns (use ``dialog_rl.ope.trajectory``
for the value of a whole conversation). Bootstrap intervals resample groups (episodes) of rows.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import numpy as np

from dialog_rl.ope.bootstrap import Estimate, bootstrap_replicates, percentile_interval
from dialog_rl.ope.validation import (
    OPEInputError,
    check_action_dist,
    check_array,
    check_pscore,
)


class DecisionArrays(NamedTuple):
    """Per-group sums of the per-row terms an estimator needs: float64 [n_groups, n_terms]."""

    sums: np.ndarray
    n_groups: int


@dataclass(frozen=True)
class DecisionEstimator(ABC):
    """Base class: validates rows, computes per-row terms, sums them per group, bootstraps groups.

    Subclasses implement ``_terms(...) -> [N, k]`` (per-row terms) and ``_combine(sums [B, k]) ->
    [B]`` (the estimate from count-weighted sums of those terms).
    """

    name: ClassVar[str] = "base"
    needs_model: ClassVar[bool] = False

    def estimate_policy_value(
        self,
        reward: np.ndarray,
        action: np.ndarray,
        pscore: np.ndarray,
        action_dist: np.ndarray,
        estimated_rewards: np.ndarray | None = None,
    ) -> float:
        """The target's estimated expected reward per decision.

        Args:
            reward: float [N] observed rewards.
            action: int [N] logged actions.
            pscore: float [N] logging probabilities of the logged actions.
            action_dist: float [N, n_actions] the target policy's distribution per row.
            estimated_rewards: float [N, n_actions] reward model ``q(x_i, a)`` (DM, DR, Switch-DR).
        """
        arrays = self._prepare(reward, action, pscore, action_dist, estimated_rewards, None)
        return float(self._combine(arrays.sums.sum(0, keepdims=True))[0])

    def estimate_interval(
        self,
        reward: np.ndarray,
        action: np.ndarray,
        pscore: np.ndarray,
        action_dist: np.ndarray,
        estimated_rewards: np.ndarray | None = None,
        groups: np.ndarray | None = None,
        *,
        n_bootstrap: int = 1000,
        alpha: float = 0.05,
        seed: int = 0,
    ) -> Estimate:
        """The estimate and its percentile-bootstrap interval.

        Args:
            groups: int [N] group (episode) of each row; groups are resampled whole, because
                decisions of one conversation are not independent. Default: each row alone.
        """
        arrays = self._prepare(reward, action, pscore, action_dist, estimated_rewards, groups)
        value = float(self._combine(arrays.sums.sum(0, keepdims=True))[0])
        reps = bootstrap_replicates(
            lambda c: self._combine(c @ arrays.sums), arrays.n_groups, n_bootstrap, seed
        )
        return percentile_interval(value, reps, alpha)

    def _prepare(self, reward, action, pscore, action_dist, estimated_rewards, groups):
        if pscore is None:
            check_pscore(None)
        reward = check_array("reward", reward, 1).astype(np.float64)
        action = check_array("action", action, 1, "iu")
        dist = check_action_dist(check_array("action_dist", action_dist, 2))
        n = reward.shape[0]
        if action.shape[0] != n or dist.shape[0] != n or np.shape(pscore)[:1] != (n,):
            raise OPEInputError(
                f"reward, action, pscore and action_dist need one row per decision: got "
                f"{n}, {action.shape[0]}, {np.shape(pscore)[:1]}, {dist.shape[0]}"
            )
        p = check_pscore(check_array("pscore", pscore, 1))
        if ((action < 0) | (action >= dist.shape[1])).any():
            raise OPEInputError(f"action must index the {dist.shape[1]} columns of action_dist")
        if np.isnan(reward).any():
            raise OPEInputError("reward has missing values (NaN)")
        q = None
        if self.needs_model:
            if estimated_rewards is None:
                raise OPEInputError(f"{self.name} needs estimated_rewards from a reward model")
            q = check_array("estimated_rewards", estimated_rewards, 2).astype(np.float64)
            if q.shape != dist.shape:
                raise OPEInputError(
                    f"estimated_rewards must have shape {dist.shape}, got {q.shape}"
                )
        w = dist[np.arange(n), action] / p
        terms = self._terms(reward, action, w, dist, q)
        if groups is None:
            return DecisionArrays(terms, n)
        groups = check_array("groups", groups, 1, "iu")
        if groups.shape[0] != n:
            raise OPEInputError(f"groups must have {n} rows, got {groups.shape[0]}")
        _, inverse = np.unique(groups, return_inverse=True)
        n_groups = int(inverse.max()) + 1
        sums = np.stack(
            [
                np.bincount(inverse, weights=terms[:, k], minlength=n_groups)
                for k in range(terms.shape[1])
            ],
            axis=1,
        )
        return DecisionArrays(sums, n_groups)

    @abstractmethod
    def _terms(self, reward, action, w, dist, q) -> np.ndarray:
        """Implemented by each estimator."""

    @abstractmethod
    def _combine(self, sums: np.ndarray) -> np.ndarray:
        """Implemented by each estimator."""


def _mean(sums: np.ndarray) -> np.ndarray:
    return sums[:, 0] / sums[:, 1]


@dataclass(frozen=True)
class IPS(DecisionEstimator):
    """Inverse propensity scoring: unbiased, high variance when weights are large."""

    name: ClassVar[str] = "IPS"

    def _terms(self, reward, action, w, dist, q):
        return np.stack([w * reward, np.ones_like(w)], axis=1)

    def _combine(self, sums):
        return _mean(sums)


@dataclass(frozen=True)
class SNIPS(DecisionEstimator):
    """Self-normalised IPS: divides by the sum of the weights instead of the number of rows."""

    name: ClassVar[str] = "SNIPS"

    def _terms(self, reward, action, w, dist, q):
        return np.stack([w * reward, w], axis=1)

    def _combine(self, sums):
        out = np.zeros(sums.shape[0])
        np.divide(sums[:, 0], sums[:, 1], out=out, where=sums[:, 1] != 0)
        return out


@dataclass(frozen=True)
class DM(DecisionEstimator):
    """Direct method: the reward model's prediction under the target; as good as the model."""

    name: ClassVar[str] = "DM"
    needs_model: ClassVar[bool] = True

    def _terms(self, reward, action, w, dist, q):
        return np.stack([(dist * q).sum(1), np.ones_like(w)], axis=1)

    def _combine(self, sums):
        return _mean(sums)


@dataclass(frozen=True)
class DecisionDR(DecisionEstimator):
    """Doubly robust: DM plus an importance-weighted correction of the model's error."""

    name: ClassVar[str] = "DR"
    needs_model: ClassVar[bool] = True

    def _terms(self, reward, action, w, dist, q):
        n = len(w)
        dm = (dist * q).sum(1)
        return np.stack([dm + w * (reward - q[np.arange(n), action]), np.ones_like(w)], axis=1)

    def _combine(self, sums):
        return _mean(sums)


@dataclass(frozen=True)
class SwitchDR(DecisionEstimator):
    """Switch doubly robust: DR's correction only where the importance weight is at most ``tau``.

    Large weights are where DR's variance comes from; there it trusts the model alone (DM).
    ``tau = inf`` is DR, ``tau = 0`` is DM.
    """

    tau: float = float("inf")
    """Importance-weight threshold above which the correction term is dropped."""

    name: ClassVar[str] = "Switch-DR"
    needs_model: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if not (self.tau >= 0):
            raise ValueError(f"tau must be >= 0, got {self.tau}")

    def _terms(self, reward, action, w, dist, q):
        n = len(w)
        dm = (dist * q).sum(1)
        keep = w <= self.tau
        corr = np.where(keep, w * (reward - q[np.arange(n), action]), 0.0)
        return np.stack([dm + corr, np.ones_like(w)], axis=1)

    def _combine(self, sums):
        return _mean(sums)
