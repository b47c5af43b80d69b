"""Group-sequential boundaries: published values, exact error with a pass region, the decisions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dialog_rl.regress.sequential import LowerBoundary, SequentialTest, fixed_criticals, spent

FIVE = [0.2, 0.4, 0.6, 0.8, 1.0]


@pytest.mark.parametrize(
    ("spending", "expected"),
    [
        # Lan-DeMets boundaries for one-sided alpha = 0.025, five equally spaced looks
        # (Jennison & Turnbull 2000, table 7.6; gsDesign sfLDOF / sfLDPocock)
        ("obf", [4.877, 3.357, 2.680, 2.290, 2.031]),
        ("pocock", [2.438, 2.427, 2.410, 2.397, 2.386]),
    ],
)
def test_boundaries_match_published_lan_demets_values(spending, expected):
    got = fixed_criticals(FIVE, 0.025, spending)
    assert got == pytest.approx(expected, abs=2e-3)


def test_one_look_is_the_fixed_sample_z_test():
    assert fixed_criticals([1.0], 0.05)[0] == pytest.approx(1.6449, abs=1e-3)


def test_spending_function_spends_alpha_by_the_last_look():
    assert spent(1.0, 0.05) == pytest.approx(0.05)
    assert spent(0.2, 0.05) < 0.001 < spent(0.2, 0.05, "pocock")
    with pytest.raises(ValueError, match="spending"):
        spent(0.5, 0.05, "linear")


def test_error_stays_exact_when_a_pass_region_cuts_paths_off():
    # Brownian paths, a pass (futility) region at every look, and the fail boundary computed
    # knowing it: the chance of ever failing under no drift is alpha (checked by Monte Carlo).
    rng = np.random.default_rng(0)
    paths = 400_000
    fractions = np.array(FIVE)
    upper = [3.0, 1.5, 0.6, 0.0, -0.4]  # pass when Z >= upper
    steps = rng.standard_normal((paths, len(fractions))) * np.sqrt(np.diff(fractions, prepend=0))
    z = np.cumsum(steps, axis=1) / np.sqrt(fractions)
    boundary = LowerBoundary(0.05)
    alive = np.ones(paths, dtype=bool)
    failed = 0
    for k, t in enumerate(fractions):
        c = boundary.next_critical(float(t), upper[k])
        boundary.record(float(t), c, upper[k])
        fail = alive & (z[:, k] <= -c) & (z[:, k] < upper[k])
        failed += int(fail.sum())
        alive &= ~fail & (z[:, k] < upper[k])
    rate = failed / paths
    # the last look cannot spend everything (the pass region covers part of it): never above
    assert rate == pytest.approx(boundary.spent_so_far, abs=0.0015)
    assert rate <= 0.05 + 0.0015


def _run(test: SequentialTest, d: np.ndarray) -> str:
    for n in test.schedule:
        look = test.look(d[:n])
        if look.decision != "continue":
            return look.decision
    raise AssertionError("no decision")


def test_identical_differences_pass_at_the_first_look():
    test = SequentialTest([100, 200], margin=0.02, alpha=0.05)
    look = test.look(np.zeros(100))
    assert look.decision == "pass"
    assert look.se == 0.0 and look.lower == 0.0


def test_constant_loss_beyond_the_margin_fails():
    test = SequentialTest([100, 200], margin=0.02, alpha=0.05)
    assert test.look(np.full(100, -0.5)).decision == "fail"


def test_false_alarm_rate_on_synthetic_differences_is_alpha():
    # success differences in {-1, 0, 1} (most episodes identical), no true difference
    rng = np.random.default_rng(1)
    reps, fails = 400, 0
    for _ in range(reps):
        d = rng.choice([-1.0, 0.0, 1.0], size=300, p=[0.1, 0.8, 0.1])
        fails += _run(SequentialTest([100, 200, 300], 0.02, 0.05), d) == "fail"
    # binomial(400, 0.05): mean 20, sd 4.4
    assert 9 <= fails <= 31


def test_a_regression_of_the_margin_is_caught_when_the_sample_is_large_enough():
    rng = np.random.default_rng(2)
    fails = sum(
        _run(SequentialTest([1000, 2000, 3000], 0.05, 0.05), rng.normal(-0.05, 0.4, 3000)) == "fail"
        for _ in range(100)
    )
    assert fails >= 80  # design power is about 95%


def test_looks_must_follow_the_schedule():
    test = SequentialTest([100, 200], margin=0.02, alpha=0.05)
    with pytest.raises(ValueError, match="needs 100"):
        test.look(np.zeros(50))
    with pytest.raises(ValueError, match="increasing"):
        SequentialTest([200, 100], 0.02, 0.05)
    assert math.isfinite(fixed_criticals([0.5, 1.0], 0.05)[0])
