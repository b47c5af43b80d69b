"""Group-sequential boundaries: error spending (Lan & DeMets 1983) by numerical integration.

The gate looks at its paired differences ``K`` times (after ``n_1 < ... < n_K = N`` episodes). At
look ``k``, with ``Z_k`` the standardised mean difference and ``t_k = n_k / N`` the information
fraction, the statistics ``Z_k sqrt(t_k)`` form a Brownian motion sampled at ``t_k`` (Jennison &
Turnbull 2000, ch. 7), so the probability of stopping at each look is an iterated Gaussian integral.
We evaluate it on a grid (Armitage, McPherson & Rowe 1969; Jennison & Turnbull ch. 19) and solve
for the boundary that spends exactly the planned share of the error at that look.

Boundaries are computed one look at a time, as the data arrive, so a continuation region may depend
on what was seen at earlier looks (the non-inferiority stop uses the observed standard error); that
is the error-spending approach with unpredictable information, and the error stays exact.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

SPENDING = ("obf", "pocock")
_STD = NormalDist()
_GRID = 241  # points per look (odd, for Simpson); boundaries agree with published tables to 1e-3


def spent(t: float, alpha: float, kind: str = "obf") -> float:
    """Error spent by information fraction ``t`` in a one-sided test of size ``alpha``.

    ``obf``: the O'Brien-Fleming-like ``2 - 2 Phi(z_{1-alpha/2} / sqrt(t))`` (spends almost nothing
    early, so the last look is nearly a fixed-sample test); ``pocock``: ``alpha log(1 + (e-1) t)``.
    """
    if t <= 0:
        return 0.0
    t = min(t, 1.0)
    if kind == "obf":
        return 2.0 - 2.0 * _STD.cdf(_STD.inv_cdf(1.0 - alpha / 2.0) / math.sqrt(t))
    if kind == "pocock":
        return alpha * math.log(1.0 + (math.e - 1.0) * t)
    raise ValueError(f"spending must be one of {SPENDING}, got {kind!r}")


def _phi(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def _erfc(x: np.ndarray) -> np.ndarray:
    """Complementary error function, vectorised (Numerical Recipes' Chebyshev fit, relative
    error below 1.2e-7 everywhere); numpy has none and scipy is not a dependency."""
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = (
        -z * z
        - 1.26551223
        + t
        * (
            1.00002368
            + t
            * (
                0.37409196
                + t
                * (
                    0.09678418
                    + t
                    * (
                        -0.18628806
                        + t
                        * (
                            0.27886807
                            + t
                            * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))
                        )
                    )
                )
            )
        )
    )
    r = t * np.exp(poly)
    return np.where(x >= 0, r, 2.0 - r)


def _cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * _erfc(-np.asarray(x, dtype=np.float64) / math.sqrt(2.0))


class LowerBoundary:
    """A one-sided lower boundary, built look by look: reject at look ``k`` when ``Z_k <= -c_k``.

    Paths may also leave upward (a futility or "pass" stop) when ``Z_k >= f_k``; pass ``f_k = inf``
    for none. ``next_critical`` returns ``c_k`` such that the probability, under no drift, of
    rejecting first at look ``k`` is the error planned for it.
    """

    def __init__(self, alpha: float, spending: str = "obf") -> None:
        if not 0.0 < alpha < 0.5:
            raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
        spent(0.5, alpha, spending)  # validates the name
        self.alpha = alpha
        self.spending = spending
        self.t_prev = 0.0
        self.spent_so_far = 0.0
        # density of the score S = Z sqrt(t) on the continuation region, on a grid (None: look 0)
        self._grid: np.ndarray | None = None
        self._dens: np.ndarray | None = None
        self._w: np.ndarray | None = None
        self.criticals: list[float] = []

    def next_critical(self, t: float, upper: float = math.inf) -> float:
        """The critical value ``c`` at information fraction ``t`` (then record the look with
        ``record(t, c, upper)``). ``upper`` is the futility bound on ``Z`` at this look."""
        if not self.t_prev < t <= 1.0 + 1e-12:
            raise ValueError(f"information fractions must increase within (0, 1], got {t}")
        target = spent(t, self.alpha, self.spending) - self.spent_so_far
        if target <= 0 or upper == -math.inf:
            return math.inf
        st = math.sqrt(t)

        def crossing(c: float) -> float:
            # probability of continuing to here and then Z <= -c (and not in the pass region)
            lo = min(-c, upper) * st
            return float(self._mass_below(t, lo))

        c_min = -upper if math.isfinite(upper) else -40.0
        if crossing(c_min) <= target:
            return c_min  # cannot spend it all here: reject wherever the pass region does not
        # Illinois (modified regula falsi) on the decreasing function crossing(c) - target
        a, b = c_min, 40.0
        fa, fb = crossing(a) - target, crossing(b) - target
        side = 0
        for _ in range(100):
            c = (a * fb - b * fa) / (fb - fa)
            fc = crossing(c) - target
            if abs(fc) < 1e-13 or b - a < 1e-10:
                return c
            if fc > 0:
                a, fa = c, fc
                if side == -1:
                    fb /= 2
                side = -1
            else:
                b, fb = c, fc
                if side == 1:
                    fa /= 2
                side = 1
        return c

    def record(self, t: float, critical: float, upper: float = math.inf) -> None:
        """Advance past a look at ``t`` whose continuation region was ``-c < Z < upper``."""
        st = math.sqrt(t)
        lo = -critical * st
        if math.isfinite(upper):
            hi = upper * st
        else:
            hi = 12.0 * st + 12.0 if upper > 0 else -math.inf
        self.spent_so_far += self._mass_below(t, min(lo, hi))
        self.criticals.append(critical)
        if hi <= lo:
            grid = np.array([lo])
            dens = np.zeros(1)
            w = np.zeros(1)
        else:
            lo = max(lo, -12.0 * st - 12.0)
            grid = np.linspace(lo, hi, _GRID)
            w = _simpson_weights(grid)
            dens = self._density_at(t, grid)
        self._grid, self._dens, self._w = grid, dens, w
        self.t_prev = t

    # -- integration ---------------------------------------------------------------------------

    def _mass_below(self, t: float, x: float) -> float:
        """P(still running after the previous look, and S_t <= x)."""
        if self._grid is None:
            return float(_cdf(np.array(x / math.sqrt(t))))
        dt = t - self.t_prev
        vals = _cdf((x - self._grid) / math.sqrt(dt))
        return float(np.sum(self._w * self._dens * vals))

    def _density_at(self, t: float, points: np.ndarray) -> np.ndarray:
        if self._grid is None:
            st = math.sqrt(t)
            return _phi(points / st) / st
        dt = t - self.t_prev
        sd = math.sqrt(dt)
        kernel = _phi((points[:, None] - self._grid[None, :]) / sd) / sd
        return kernel @ (self._w * self._dens)


def _simpson_weights(grid: np.ndarray) -> np.ndarray:
    """Composite Simpson weights on an evenly spaced grid with an odd number of points."""
    n = len(grid)
    h = (grid[-1] - grid[0]) / (n - 1)
    w = np.ones(n)
    w[1:-1:2] = 4.0
    w[2:-1:2] = 2.0
    return w * h / 3.0


def fixed_criticals(fractions: list[float], alpha: float, spending: str = "obf") -> list[float]:
    """Critical values of a plain group-sequential one-sided test (no futility stop)."""
    return list(_fixed_criticals(tuple(fractions), alpha, spending))


@functools.lru_cache(maxsize=64)
def _fixed_criticals(fractions: tuple[float, ...], alpha: float, spending: str) -> tuple:
    b = LowerBoundary(alpha, spending)
    out = []
    for t in fractions:
        c = b.next_critical(t)
        b.record(t, c)
        out.append(c)
    return tuple(out)


@dataclass(frozen=True)
class Look:
    """One interim analysis of the primary metric (differences signed so that up is better)."""

    episodes: int
    mean: float
    se: float
    pass_critical: float
    """``b_k``: pass when ``mean - b_k se > -margin``."""
    fail_critical: float
    """``c_k``: fail when ``mean + c_k se < 0``."""
    decision: str
    """"continue", "pass", "fail", or "inconclusive" (the last look, neither rule met)."""

    @property
    def lower(self) -> float:
        """Repeated lower confidence bound of the difference at this look."""
        return self.mean - self.pass_critical * self.se

    @property
    def upper(self) -> float:
        """Repeated upper bound the fail rule compares with 0."""
        return self.mean + self.fail_critical * self.se


class SequentialTest:
    """The gate's decision rule on paired differences (see ``dialog_rl.regress.gate``).

    Call ``look(d)`` with all differences so far (``len(d)`` must follow ``schedule``); it returns
    the decision at that look. Fail when ``mean + c_k SE < 0`` (error-spending boundary at level
    ``alpha``, computed knowing the pass rule, so the false-alarm rate is exactly ``alpha`` under
    the normal approximation); pass when ``mean - b_k SE > -margin``; pass wins a tie.
    """

    def __init__(self, schedule: list[int], margin: float, alpha: float, spending: str = "obf"):
        if not schedule or any(b <= a for a, b in itertools.pairwise(schedule)):
            raise ValueError(f"schedule must be increasing episode counts, got {schedule}")
        self.schedule = list(schedule)
        self.margin = margin
        self.alpha = alpha
        self.fractions = [n / schedule[-1] for n in schedule]
        self.pass_critical = fixed_criticals(self.fractions, alpha, spending)
        self._fail = LowerBoundary(alpha, spending)
        self.k = 0

    def look(self, d: np.ndarray) -> Look:
        if self.k >= len(self.schedule):
            raise RuntimeError("every planned look has been taken")
        n = len(d)
        if n != self.schedule[self.k]:
            raise ValueError(
                f"look {self.k + 1} needs {self.schedule[self.k]} differences, got {n}"
            )
        mean = float(np.mean(d))
        se = float(np.std(d, ddof=1) / math.sqrt(n)) if n > 1 else math.inf
        b = self.pass_critical[self.k]
        t = self.fractions[self.k]
        if se == 0.0:
            # every difference is the same number (e.g. a deterministic policy against itself)
            upper = -math.inf if mean > -self.margin else math.inf
            z = 0.0 if mean == 0 else math.copysign(math.inf, mean)
        else:
            upper = b - self.margin / se  # the pass rule, on the scale of Z = mean / se
            z = mean / se
        c = self._fail.next_critical(t, upper)
        self._fail.record(t, c, upper)
        last = self.k == len(self.schedule) - 1
        self.k += 1
        if z >= upper:
            decision = "pass"
        elif z <= -c:
            decision = "fail"
        else:
            decision = "inconclusive" if last else "continue"
        return Look(n, mean, se, b, c, decision)
