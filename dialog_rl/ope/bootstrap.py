"""Percentile bootstrap over episodes, done with resampling counts so it vectorises.

Resampling episodes with replacement is the same as giving episode ``i`` a multinomial count
``c_i``; every estimator here is a ratio of count-weighted sums over episodes, so a whole batch of
bootstrap replicates is one matrix product ``counts @ per_episode_terms``. Episodes, never single
decisions, are resampled: decisions within a conversation are dependent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

CHUNK = 256  # replicates per matrix product: bounds memory at CHUNK x n_episodes counts


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its percentile-bootstrap interval."""

    value: float
    """The estimate on all the data."""
    low: float
    """Lower end of the interval (``alpha / 2`` quantile of the bootstrap replicates)."""
    high: float
    """Upper end of the interval (``1 - alpha / 2`` quantile)."""
    alpha: float = 0.05
    """One minus the interval's nominal coverage."""

    def covers(self, value: float) -> bool:
        return self.low <= value <= self.high

    def to_dict(self) -> dict:
        return {"value": self.value, "ci": [self.low, self.high], "alpha": self.alpha}


def resample_counts(
    n: int, n_bootstrap: int, seed: int | np.random.Generator, chunk: int = CHUNK
) -> Iterator[np.ndarray]:
    """Multinomial resampling counts, float64 [<=chunk, n] per yield, ``n_bootstrap`` rows in all."""
    if n < 1:
        raise ValueError("need at least one episode to bootstrap")
    if n_bootstrap < 1:
        raise ValueError(f"n_bootstrap must be >= 1, got {n_bootstrap}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    p = np.full(n, 1.0 / n)
    done = 0
    while done < n_bootstrap:
        b = min(chunk, n_bootstrap - done)
        yield rng.multinomial(n, p, size=b).astype(np.float64)
        done += b


def bootstrap_replicates(
    fn: Callable[[np.ndarray], np.ndarray],
    n: int,
    n_bootstrap: int,
    seed: int | np.random.Generator,
) -> np.ndarray:
    """``fn(counts [B, n]) -> [B]`` evaluated on ``n_bootstrap`` resamples: float64 [n_bootstrap]."""
    return np.concatenate([fn(c) for c in resample_counts(n, n_bootstrap, seed)])


def percentile_interval(value: float, replicates: np.ndarray, alpha: float = 0.05) -> Estimate:
    """The percentile interval of the replicates around the full-data ``value``."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    lo, hi = np.quantile(replicates, [alpha / 2, 1 - alpha / 2])
    return Estimate(float(value), float(lo), float(hi), alpha)


def safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with 0 / 0 = 0: a weighted average over no weight contributes nothing."""
    out = np.zeros(np.broadcast(num, den).shape)
    np.divide(num, den, out=out, where=den != 0)
    return out
