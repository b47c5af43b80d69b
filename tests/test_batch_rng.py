"""BatchPCG64 draws what numpy.random.Generator draws, stream by stream, method by method."""

from __future__ import annotations

import numpy as np
import pytest

from dialog_rl import batch_rng
from dialog_rl.batch_rng import BatchPCG64, _RawPCG64

N = 400


@pytest.fixture
def pair():
    seeds = np.random.default_rng(1).integers(0, 1 << 63, N, dtype=np.uint64)
    seeds[:4] = [0, 1, (1 << 32) - 1, 1 << 32]  # one and two 32-bit words of entropy
    batch = BatchPCG64(N)
    batch.seed_from(np.arange(N), seeds)
    gens = [np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(s)))) for s in seeds]
    return batch, gens


def _same(batch, gens, vec, one):
    got = vec(np.arange(N))
    want = np.array([one(g) for g in gens])
    np.testing.assert_array_equal(got, want)
    for i, g in enumerate(gens):  # and every stream is left where numpy leaves it
        assert batch.state_of(i) == g.bit_generator.state, i


def test_seeding_matches_pcg64_of_a_seed_sequence(pair):
    batch, gens = pair
    for i, g in enumerate(gens):
        assert batch.state_of(i) == g.bit_generator.state


def test_raw_and_uniform_draws_match(pair):
    batch, gens = pair
    _same(batch, gens, batch.next64, lambda g: g.bit_generator.random_raw())
    _same(batch, gens, batch.random, lambda g: g.random())
    _same(batch, gens, lambda idx: batch.randoms(idx, 3).T, lambda g: g.random(3))


@pytest.mark.parametrize(("low", "high"), [(0, 1), (0, 2), (0, 7), (0, 110), (3, 9), (0, 3 << 30)])
def test_bounded_integers_match_including_the_buffered_half(pair, low, high):
    batch, gens = pair
    for _ in range(3):  # odd counts leave a buffered 32-bit half for the next draw
        _same(
            batch,
            gens,
            lambda idx: batch.integers(idx, high, low=low),
            lambda g: int(g.integers(low, high)),
        )
    _same(batch, gens, batch.random, lambda g: g.random())


@pytest.mark.parametrize("length", [2, 3, 6])
def test_interval_draws_shuffle_like_generator_shuffle(pair, length):
    batch, gens = pair
    idx = np.arange(N)
    items = np.tile(np.arange(length), (N, 1))
    for i in range(length - 1, 0, -1):
        j = batch.random_interval(idx, np.full(N, i))
        a = items[idx, i].copy()
        items[idx, i] = items[idx, j]
        items[idx, j] = a
    for k, g in enumerate(gens):
        x = list(range(length))
        g.shuffle(x)
        assert items[k].tolist() == x
        assert batch.state_of(k) == g.bit_generator.state


@pytest.mark.parametrize("few", [0, batch_rng._FEW], ids=["array-retries", "numpy-retries"])
def test_normal_gamma_and_beta_draws_match(pair, monkeypatch, few):
    """Rows off the common path retry on arrays, or (when few) in numpy: the same draws."""
    monkeypatch.setattr(batch_rng, "_FEW", few)
    batch, gens = pair
    for _ in range(4):
        _same(batch, gens, batch.standard_normal, lambda g: g.standard_normal())
    for a, b in [(6.0, 1.5), (2.0, 2.5), (1.2, 30.0)]:
        for _ in range(4):
            _same(
                batch,
                gens,
                lambda idx, a=a, b=b: batch.beta(idx, a, b),
                lambda g, a=a, b=b: g.beta(a, b),
            )

    # one call, parameters per row (the channel draws intact and corrupted acts' confidences)
    a = np.where(np.arange(N) % 3 == 0, 6.0, 2.0)
    b = np.where(np.arange(N) % 3 == 0, 1.5, 2.5)
    for _ in range(4):
        got = batch.beta(np.arange(N), a, b)
        np.testing.assert_array_equal(got, [g.beta(a[i], b[i]) for i, g in enumerate(gens)])
    for i, g in enumerate(gens):
        assert batch.state_of(i) == g.bit_generator.state, i


@pytest.mark.parametrize("raw", [True, False])
def test_numpy_fallback_draws_the_same_through_its_struct_or_its_state_dict(pair, raw):
    """with_numpy writes slot states into numpy's C struct, or (layout unknown) its state dict."""
    batch, gens = pair
    assert _RawPCG64.make()  # this platform's layout is the one the fast path expects
    if not raw:
        batch._raw = _RawPCG64(None, np.zeros(4, np.uint64), np.zeros(2, np.uint32))
    idx = np.arange(N)
    batch.integers(idx, 7)  # odd 32-bit draws: a buffered half rides through numpy and back
    for g in gens:
        g.integers(0, 7)
    got = batch.with_numpy(idx, lambda g: (g.standard_normal(), g.integers(0, 5)))
    assert got == [(g.standard_normal(), g.integers(0, 5)) for g in gens]
    for i, g in enumerate(gens):
        assert batch.state_of(i) == g.bit_generator.state, i
