"""Counter-based random numbers: every draw is a pure function of what it is for.

A draw is ``mix(mix(episode_seed ^ purpose·γ) + (a << 32 | b))``, where ``mix`` is SplitMix64's
finaliser (Stafford's "Mix13", a bijection of 64-bit words with full avalanche), ``purpose`` says
which part of the simulator draws (goal, customer, channel, ...) and ``(a, b)`` is the key inside
it: the turn and a counter within the turn, or the act being answered. Nothing is a stream: a
conversation's numbers do not depend on which other conversations share its batch, how many
workers play them, or in what order they finish, and two policies meeting one customer can share
any draw by giving it the same key (``dialog_rl.regress`` pairs runs that way).

This is the keyed 64-bit mix that SplitMix64 itself is built on, chained twice; the statistical
checks of the distributions the simulator uses (uniform, integers below n, Beta, categorical)
are in ``tests/test_counter_rng.py``. Functions are numba-compiled on first call (``cache=True``,
so a warm cache costs nothing); ``NUMBA_DISABLE_JIT=1`` runs the same code as plain Python.
"""

from __future__ import annotations

import math

import numpy as np

from dialog_rl.jit import njit

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S32, _S11 = (np.uint64(k) for k in (30, 27, 31, 32, 11))
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53

# purposes: one per kind of draw, so no two parts of the simulator ever share a number
(GOAL, PERSONA, PATIENCE, AGENDA, USER, CHANNEL, CONFIDENCE, TEXT, POLICY, LIFETIME, DOMAINS) = (
    range(1, 12)
)
BOOKING = 12  # an entity's room for a booking: keyed by the entity and the booking's parameters
HOLD = 13  # whether a customer holds a booking's parameters until an offer: keyed by the domain


@njit(cache=True, inline="always")
def mix64(x: np.uint64) -> np.uint64:
    """SplitMix64's finaliser: a bijection on 64-bit words with full avalanche."""
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


@njit(cache=True, inline="always")
def key64(seed: np.uint64, purpose: int, a: int, b: int) -> np.uint64:
    """The 64 random bits of draw ``(a, b)`` of ``purpose`` in the episode seeded ``seed``."""
    h = mix64(seed ^ (np.uint64(purpose) * _GAMMA))
    return mix64(h + ((np.uint64(a) << _S32) | np.uint64(b & 0xFFFFFFFF)) * _GAMMA)


@njit(cache=True, inline="always")
def uniform(seed: np.uint64, purpose: int, a: int, b: int) -> float:
    """A float in [0, 1) with 53 random bits."""
    return float(key64(seed, purpose, a, b) >> _S11) * _TO_UNIT


@njit(cache=True, inline="always")
def below(n: int, seed: np.uint64, purpose: int, a: int, b: int) -> int:
    """An int in [0, n), n >= 1 (bias below 2**-40 for any n the simulator uses)."""
    return min(int(uniform(seed, purpose, a, b) * n), n - 1)


@njit(cache=True, inline="always")
def normal(seed: np.uint64, purpose: int, a: int, b: int) -> float:
    """A standard normal from two uniforms (Box-Muller), keys ``b`` and ``b + 1``."""
    u1 = 1.0 - uniform(seed, purpose, a, b)  # (0, 1]: the log stays finite
    u2 = uniform(seed, purpose, a, b + 1)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


@njit(cache=True)
def gamma(shape: float, seed: np.uint64, purpose: int, a: int, b: int) -> float:
    """Gamma(shape, 1) by Marsaglia and Tsang (2000); uses keys ``b .. b + 4·attempts``.

    Shape below 1 is boosted: Gamma(k) = Gamma(k + 1) · U^(1/k).
    """
    boost = 1.0
    k = shape
    if k < 1.0:
        boost = uniform(seed, purpose, a, b) ** (1.0 / k)
        k += 1.0
    d = k - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    j = b + 1
    while True:
        x = normal(seed, purpose, a, j)
        u = uniform(seed, purpose, a, j + 2)
        j += 3
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        if u < 1.0 - 0.0331 * x**4 or math.log(u) < 0.5 * x * x + d * (1.0 - v + math.log(v)):
            return d * v * boost


@njit(cache=True)
def beta(alpha: float, beta_: float, seed: np.uint64, purpose: int, a: int, b: int) -> float:
    """Beta(alpha, beta_) as X / (X + Y) of two Gammas; keys ``b`` and ``b + 2**20``."""
    x = gamma(alpha, seed, purpose, a, b)
    y = gamma(beta_, seed, purpose, a, b + (1 << 20))
    return x / (x + y)


@njit(cache=True)
def categorical(cdf: np.ndarray, seed: np.uint64, purpose: int, a: int, b: int) -> int:
    """An index drawn with cumulative probabilities ``cdf`` (the last entry is the total)."""
    u = uniform(seed, purpose, a, b) * cdf[-1]
    for i in range(len(cdf)):
        if u < cdf[i]:
            return i
    return len(cdf) - 1


@njit(cache=True)
def stream_draws(
    seeds: np.ndarray, counts: np.ndarray, rows: np.ndarray, purpose: int
) -> np.ndarray:
    """The next number of each row's stream, counted: ``uniform(seeds[i], purpose, 0, counts[i])``
    for each ``i`` of ``rows`` (distinct), then ``counts[i] += 1``."""
    out = np.empty(len(rows), dtype=np.float64)
    for k in range(len(rows)):
        i = rows[k]
        out[k] = uniform(seeds[i], purpose, 0, counts[i])
        counts[i] += 1
    return out


@njit(cache=True)
def normals(seed: np.uint64, purpose: int, a: int, first: int, n: int) -> np.ndarray:
    """``n`` standard normals, draws ``first .. first + n - 1`` of key ``a``."""
    out = np.empty(n)
    for i in range(n):
        out[i] = normal(seed, purpose, a, 2 * (first + i))
    return out


class KeyedStream:
    """A policy's exploration stream for one episode, keyed by the episode's seed: its n-th
    ``random()`` is ``uniform(seed, POLICY, 0, n)``, the n-th normal comes from key ``a = 1``.

    The batched rollouts' ``RowStreams`` draw the same numbers for a row, so a conversation
    explores the same way whether it is played alone or in a batch of thousands.
    """

    def __init__(self, seed: int) -> None:
        self.reseed(seed)

    def reseed(self, seed: int) -> KeyedStream:
        self.seed = np.uint64(seed)
        self.count = 0
        self.normal_count = 0
        return self

    def random(self) -> float:
        u = uniform(self.seed, POLICY, 0, self.count)
        self.count += 1
        return u

    def standard_normal(self, size: int | tuple[int, ...]) -> np.ndarray:
        shape = (size,) if isinstance(size, int) else tuple(size)
        n = int(np.prod(shape))
        z = normals(self.seed, POLICY, 1, self.normal_count, n)
        self.normal_count += n
        return z.reshape(shape)
