"""Counter-based random numbers: the distributions the simulator draws, checked for quality."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from dialog_rl import counter_rng as R
from dialog_rl.jit import njit

N = 200_000


@njit(cache=True)
def _uniforms(n: int, seed: np.uint64, purpose: int, a: int) -> np.ndarray:
    out = np.empty(n)
    for i in range(n):
        out[i] = R.uniform(seed, purpose, a, i)
    return out


@njit(cache=True)
def _by_turn(n: int, seed: np.uint64) -> np.ndarray:
    """The first draw of turns 0..n-1 (keys that differ in ``a``, not ``b``)."""
    out = np.empty(n)
    for i in range(n):
        out[i] = R.uniform(seed, R.USER, i, 0)
    return out


@njit(cache=True)
def _by_episode(n: int) -> np.ndarray:
    """Draw (0, 0) of consecutive episode seeds: neighbouring seeds must look unrelated."""
    out = np.empty(n)
    for i in range(n):
        out[i] = R.uniform(np.uint64(i), R.CHANNEL, 0, 0)
    return out


@njit(cache=True)
def _betas(n: int, a: float, b: float) -> np.ndarray:
    out = np.empty(n)
    for i in range(n):
        out[i] = R.beta(a, b, np.uint64(77), R.CONFIDENCE, i, 0)
    return out


@njit(cache=True)
def _belows(n: int, k: int) -> np.ndarray:
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        out[i] = R.below(k, np.uint64(5), R.GOAL, 0, i)
    return out


@njit(cache=True)
def _categoricals(n: int, cdf: np.ndarray) -> np.ndarray:
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        out[i] = R.categorical(cdf, np.uint64(9), R.PERSONA, i, 0)
    return out


@pytest.mark.parametrize(
    "draws",
    [
        lambda: _uniforms(N, np.uint64(1), R.USER, 3),
        lambda: _by_turn(N, np.uint64(2)),
        lambda: _by_episode(N),
    ],
    ids=["counter", "turn", "episode"],
)
def test_uniforms_are_uniform_and_uncorrelated_along_every_key(draws):
    u = draws()
    assert ((u >= 0) & (u < 1)).all()
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    counts = np.histogram(u, bins=100, range=(0, 1))[0]
    assert stats.chisquare(counts).pvalue > 1e-3
    for lag in (1, 2, 7):  # neighbouring keys: no serial correlation
        r = np.corrcoef(u[:-lag], u[lag:])[0, 1]
        assert abs(r) < 4.5 / np.sqrt(N), (lag, r)
    # pairs of neighbours fill the unit square evenly (a 10x10 grid)
    grid = np.histogram2d(u[:-1], u[1:], bins=10, range=[[0, 1], [0, 1]])[0].ravel()
    assert stats.chisquare(grid).pvalue > 1e-3


def test_purposes_and_seeds_give_independent_numbers():
    a = _uniforms(N, np.uint64(1), R.USER, 3)
    for other in (
        _uniforms(N, np.uint64(1), R.CHANNEL, 3),
        _uniforms(N, np.uint64(2), R.USER, 3),
        _uniforms(N, np.uint64(1), R.USER, 4),
    ):
        assert abs(np.corrcoef(a, other)[0, 1]) < 4.5 / np.sqrt(N)
        assert (a != other).mean() > 0.999


@pytest.mark.parametrize("a,b", [(4.0, 1.5), (1.5, 4.0), (0.5, 0.7), (2.0, 2.0), (30.0, 2.0)])
def test_beta_draws_follow_the_beta_law(a, b):
    x = _betas(N, a, b)
    assert ((x > 0) & (x < 1)).all()
    assert stats.kstest(x, stats.beta(a, b).cdf).pvalue > 1e-3


@pytest.mark.parametrize("k", [1, 2, 3, 7, 81, 110])
def test_bounded_integers_are_uniform_on_their_range(k):
    x = _belows(N, k)
    assert x.min() >= 0 and x.max() < k
    if k > 1:
        assert stats.chisquare(np.bincount(x, minlength=k)).pvalue > 1e-3


def test_categorical_draws_match_their_probabilities():
    p = np.array([0.5, 0.3, 0.15, 0.05])
    x = _categoricals(N, np.cumsum(p))
    assert stats.chisquare(np.bincount(x, minlength=4), N * p).pvalue > 1e-3
    # weights that do not sum to one are normalised by their total
    x = _categoricals(N, np.cumsum(2 * p))
    assert stats.chisquare(np.bincount(x, minlength=4), N * p).pvalue > 1e-3


_PLAY = """
import json, warnings
import numpy as np
warnings.simplefilter("ignore")  # uint64 wrap-around is intended; numpy scalars warn about it
from dialog_rl.env.engine import Engine
from dialog_rl.domain import load_domain
d = load_domain("scenarios/{scenario}.yaml")
eng = Engine(d, 6, noise=0.3)
eng.start(np.arange(6), np.arange(100, 106, dtype=np.uint64))
rng = np.random.default_rng(0)
trace = []
for _ in range(12):
    acts = np.array([rng.choice(np.flatnonzero(m)) for m in eng.masks])
    r, te, tr = eng.step(acts)
    trace.append([eng.obs.tolist(), r.tolist(), te.tolist(), tr.tolist()])
print(json.dumps(trace))
"""


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["restaurant", "order_support", "shopping"])
def test_pure_python_mode_plays_the_same_conversations_as_compiled_code(scenario):
    """NUMBA_DISABLE_JIT=1 (for debugging with pdb and print) runs the very same numbers."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = _PLAY.format(scenario=scenario)
    runs = []
    for jit_off in ("0", "1"):
        env = {**os.environ, "NUMBA_DISABLE_JIT": jit_off}
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr[-2000:]
        runs.append(json.loads(out.stdout))
    assert runs[0] == runs[1]
