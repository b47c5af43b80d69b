"""MAGIC (Thomas & Brunskill 2016): a blend of the model and weighted importance sampling.

MAGIC ("model and guided importance sampling combining") considers the off-policy j-step returns
``g^(j)``, j = -1 .. horizon-1: weighted importance-sampled rewards up to decision ``j`` and the
model's value after it (``g^(-1)`` is the direct method, ``g^(horizon-1)`` is WDR). It picks the
convex combination ``x`` that minimises an estimate of the mean squared error,
``x^T (Omega + b b^T) x``, where ``Omega`` is the bootstrap covariance of the ``g^(j)`` and ``b_j``
is how far ``g^(j)`` lies outside a bootstrap confidence interval of WDR (a conservative bias
estimate: WDR is taken as nearly unbiased). Where importance weights are tame it leans on WDR;
where they explode it leans on the model.

Its interval holds ``x`` fixed at the full-data choice and bootstraps ``x . g``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from dialog_rl.ope.bootstrap import bootstrap_replicates
from dialog_rl.ope.trajectory import TrajectoryArrays, TrajectoryEstimator, wdr_partials


@dataclass(frozen=True)
class MAGIC(TrajectoryEstimator):
    """Blend of the j-step returns between the direct method and WDR, by estimated MSE."""

    n_bootstrap_blend: int = 200
    """Bootstrap replicates used to estimate the covariance and the WDR interval."""
    bias_alpha: float = 0.1
    """One minus the coverage of the WDR interval used for the bias estimate (paper: 10%)."""
    seed: int = 0
    """Seed of the bootstrap that chooses the blend."""

    name: ClassVar[str] = "MAGIC"
    needs_model: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_bootstrap_blend < 2:
            raise ValueError(f"n_bootstrap_blend must be >= 2, got {self.n_bootstrap_blend}")
        if not 0.0 < self.bias_alpha < 1.0:
            raise ValueError(f"bias_alpha must be in (0, 1), got {self.bias_alpha}")

    def blend(self, a: TrajectoryArrays) -> np.ndarray:
        """The weights ``x`` over j = -1 .. horizon-1: float [horizon + 1], on the simplex."""
        n = a.reward.shape[0]
        g = wdr_partials(a, np.ones((1, n)))[0]
        reps = bootstrap_replicates(
            lambda c: wdr_partials(a, c), n, self.n_bootstrap_blend, self.seed
        )
        omega = np.cov(reps, rowvar=False)
        lo, hi = np.quantile(reps[:, -1], [self.bias_alpha / 2, 1 - self.bias_alpha / 2])
        bias = np.maximum(lo - g, 0.0) + np.maximum(g - hi, 0.0)
        return simplex_quadratic_min(omega + np.outer(bias, bias))

    def _estimator_for(self, arrays):
        x = self.blend(arrays)
        return lambda counts: wdr_partials(arrays, counts) @ x


def simplex_quadratic_min(m: np.ndarray, iterations: int = 5000) -> np.ndarray:
    """argmin_x x^T m x over the probability simplex (m symmetric PSD), by projected gradient."""
    k = m.shape[0]
    m = (m + m.T) / 2
    scale = max(float(np.abs(m).max()), 1e-300)
    m = m / scale
    step = 1.0 / max(float(np.linalg.eigvalsh(m)[-1]) * 2, 1e-12)
    x = np.full(k, 1.0 / k)
    for _ in range(iterations):
        x_new = project_simplex(x - step * 2 * (m @ x))
        if np.abs(x_new - x).max() < 1e-12:
            x = x_new
            break
        x = x_new
    return x


def project_simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean projection onto the probability simplex (Duchi et al. 2008)."""
    u = np.sort(v)[::-1]
    css = np.cumsum(u)
    idx = np.arange(1, len(v) + 1)
    r = np.flatnonzero(u * idx > css - 1)[-1]
    theta = (css[r] - 1) / (r + 1)
    return np.maximum(v - theta, 0.0)
