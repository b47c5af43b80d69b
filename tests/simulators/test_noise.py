"""The act-level noise channel on its own: how often it corrupts, how, and the confidences it gives.

Statistical tests use fixed seeds and a tolerance of about five standard errors, so they pass
with these seeds and would fail if the rate or the distributions were off by a few percent.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from dialog_rl.acts import BYE, HANGUP, INFORM, REQUEST
from dialog_rl.env.engine import Engine

N = 4000
AREA, FOOD = 0, 1


def hear_all(domain, act: tuple[int, int, int], rate: float, n: int = N, first_seed: int = 0):
    """Every one of ``n`` rows says ``act`` once (each row its own seed); what the channel let
    through, and with what confidence."""
    engine = Engine(domain, n, noise=rate)
    c = engine.customers
    c.seed[:] = np.arange(first_seed, first_seed + n, dtype=np.uint64) * np.uint64(0x9E3779B9) + 1
    c.turn[:] = 1
    c.out[:, 0] = act
    c.out_n[:] = 1
    engine.hear(np.arange(n))
    return c.heard[:, 0].copy(), c.heard_conf[:, 0].copy(), c.heard_n.copy()


def tolerance(p: float, n: int) -> float:
    return 5 * math.sqrt(p * (1 - p) / n) + 1e-9


@pytest.mark.parametrize("rate", [0.15, 0.3, 0.6])
def test_acts_are_corrupted_at_the_configured_rate(restaurant, rate):
    act = (INFORM, FOOD, 4)
    heard, _, n = hear_all(restaurant, act, rate)
    assert (n == 1).all()
    corrupted = (heard != np.array(act)).any(axis=1).mean()
    assert abs(corrupted - rate) < tolerance(rate, N), corrupted


@pytest.mark.parametrize(
    "act", [(INFORM, FOOD, 4), (INFORM, AREA, 0), (REQUEST, 1, -1), (HANGUP, -1, -1)]
)
def test_rate_zero_never_corrupts(domains, act):
    for d in domains.values():
        heard, _, _ = hear_all(d, act, 0.0, n=500)
        assert (heard == np.array(act)).all(), d.name


@pytest.mark.parametrize("act", [(HANGUP, -1, -1), (BYE, -1, -1)])
def test_hangups_and_goodbyes_pass_intact_even_at_rate_one(restaurant, act):
    heard, _, _ = hear_all(restaurant, act, 1.0, n=500)
    assert (heard == np.array(act)).all()


def test_a_corrupted_act_is_confused_in_the_scenarios_proportions(restaurant):
    """At rate 1 every inform is confused: its type, its slot or its value, in the proportions of
    the scenario's ``noise.confusion`` (normalised: ``domain.confusion``)."""
    act = np.array((INFORM, FOOD, 4))
    heard, _, _ = hear_all(restaurant, tuple(act), 1.0)
    kind = heard[:, 0] != act[0]
    slot = ~kind & (heard[:, 1] != act[1])
    value = ~kind & ~slot & (heard[:, 2] != act[2])
    assert (kind | slot | value).all()  # a confusion always changes something
    for seen, p in zip((kind, slot, value), restaurant.confusion):
        assert abs(seen.mean() - p) < tolerance(p, N), (seen.mean(), p)
    # a confused value or slot stays within the scenario's values (dontcare included)
    informs = heard[heard[:, 0] == INFORM]
    n_vals = np.array([len(v) for v in restaurant.inf_values])
    assert ((informs[:, 1] >= 0) & (informs[:, 1] < restaurant.n_inf)).all()
    assert ((informs[:, 2] >= 0) & (informs[:, 2] <= n_vals[informs[:, 1]])).all()


def test_confidences_are_in_the_unit_interval_and_drawn_from_the_scenarios_betas(restaurant):
    act = (INFORM, FOOD, 4)
    heard, conf, _ = hear_all(restaurant, act, 0.5)
    assert ((conf >= 0) & (conf <= 1)).all()
    intact = (heard == np.array(act)).all(axis=1)
    for rows, (a, b) in ((intact, restaurant.conf_correct), (~intact, restaurant.conf_wrong)):
        assert rows.sum() > 1000
        result = stats.kstest(conf[rows], stats.beta(a, b).cdf)
        assert result.pvalue > 1e-4, (a, b, result)
    # informative but not a giveaway: intact acts sound surer on average
    assert conf[intact].mean() > conf[~intact].mean()


def test_the_same_seeds_hear_the_same_thing_and_other_seeds_do_not(restaurant):
    act = (INFORM, FOOD, 4)
    heard_a, conf_a, _ = hear_all(restaurant, act, 0.3, n=500)
    heard_b, conf_b, _ = hear_all(restaurant, act, 0.3, n=500)
    _, conf_c, _ = hear_all(restaurant, act, 0.3, n=500, first_seed=10_000)
    assert np.array_equal(heard_a, heard_b) and np.array_equal(conf_a, conf_b)
    assert not np.array_equal(conf_a, conf_c)
