"""The belief tracker on its own: one row of beliefs fed observed acts and the agent's own acts."""

from __future__ import annotations

import numpy as np
import pytest

from dialog_rl.acts import AFFIRM, BYE, INFORM, NEGATE, REQUEST
from dialog_rl.env import tracker
from dialog_rl.env.engine import Engine
from dialog_rl.env.tracker import OFFER_ACCEPTED, OFFER_NONE, OFFER_PENDING, OFFER_REJECTED

AREA, FOOD = 0, 1  # restaurant's first two informable slots
PHONE = 1  # restaurant's requestable slots: address, phone, postcode


class Row:
    """One conversation's beliefs, driven through the tracker's kernels as the engine drives them."""

    def __init__(self, domain):
        self.domain = domain
        engine = Engine(domain, 1)
        self.t, _, _, self.b = engine.refs
        self.beliefs = engine.beliefs  # the same arrays, read as numpy
        tracker.reset(self.b, 0)

    def hear(self, *acts: tuple) -> None:
        """One customer turn: ``(type, slot, value, confidence)`` acts, in order."""
        heard = np.array([a[:3] for a in acts], dtype=np.int64).reshape(-1, 3)
        conf = np.array([a[3] for a in acts], dtype=np.float64)
        tracker.observe(self.t, self.b, 0, heard, conf, len(acts))

    def say(self, name: str, value: int = -1, entity: int = -1) -> None:
        """The agent's act, by catalog name."""
        tracker.system_act(self.t, self.b, 0, self.domain.action_index(name), value, entity)

    def value(self, slot: int) -> int:
        return int(self.beliefs.values[0, slot])

    def conf(self, slot: int) -> float:
        return float(self.beliefs.conf[0, slot])


@pytest.fixture
def row(restaurant):
    return Row(restaurant)


def test_a_fresh_row_believes_nothing(row, restaurant):
    assert (row.beliefs.values[0] == -1).all()
    assert (row.beliefs.conf[0] == 0).all()
    assert not row.beliefs.confirmed[0].any()
    assert (row.beliefs.asked[0] == 0).all()
    assert row.beliefs.offered[0] == -1
    assert row.beliefs.offer_state[0] == OFFER_NONE


def test_an_inform_sets_the_value_with_its_confidence(row):
    row.hear((INFORM, FOOD, 4, 0.7))
    assert row.value(FOOD) == 4
    assert row.conf(FOOD) == pytest.approx(0.7)
    assert row.value(AREA) == -1


def test_repeated_evidence_for_a_value_raises_its_confidence_below_one(row):
    row.hear((INFORM, FOOD, 4, 0.6))
    row.hear((INFORM, FOOD, 4, 0.6))
    assert row.value(FOOD) == 4
    assert row.conf(FOOD) == pytest.approx(1 - 0.4 * 0.4)
    for _ in range(20):
        row.hear((INFORM, FOOD, 4, 0.6))
    assert 0.99 < row.conf(FOOD) <= 1.0


def test_much_weaker_conflicting_evidence_lowers_confidence_but_keeps_the_value(row):
    row.hear((INFORM, FOOD, 4, 0.9))
    row.hear((INFORM, FOOD, 7, 0.3))  # under half the held confidence
    assert row.value(FOOD) == 4
    assert row.conf(FOOD) == pytest.approx(0.9 * 0.7)


def test_confident_conflicting_evidence_replaces_the_value(row):
    row.hear((INFORM, FOOD, 4, 0.6))
    row.hear((INFORM, FOOD, 7, 0.3))  # at least half the held confidence: a change of mind
    assert row.value(FOOD) == 7
    assert row.conf(FOOD) == pytest.approx(0.3)


def test_an_affirmed_confirmation_confirms_the_value_when_confident(row):
    row.hear((INFORM, AREA, 2, 0.6))
    row.say("confirm(area)", value=2)
    row.hear((AFFIRM, -1, -1, 0.8))
    assert row.beliefs.confirmed[0, AREA]
    assert row.conf(AREA) == pytest.approx(1 - 0.4 * 0.2)


def test_a_faint_affirm_raises_confidence_but_does_not_confirm(row):
    row.hear((INFORM, AREA, 2, 0.6))
    row.say("confirm(area)", value=2)
    row.hear((AFFIRM, -1, -1, 0.3))  # the confirmation threshold is 0.5
    assert not row.beliefs.confirmed[0, AREA]
    assert row.conf(AREA) > 0.6


def test_a_negated_confirmation_lowers_the_value_and_knocks_it_out_when_sure(row):
    row.hear((INFORM, AREA, 2, 0.9))
    row.say("confirm(area)", value=2)
    row.hear((NEGATE, -1, -1, 0.5))
    assert row.value(AREA) == 2
    assert row.conf(AREA) == pytest.approx(0.45)
    row.say("confirm(area)", value=2)
    row.hear((NEGATE, -1, -1, 0.99))
    assert row.value(AREA) == -1
    assert row.conf(AREA) == 0.0
    assert not row.beliefs.confirmed[0, AREA]


def test_a_value_after_a_negation_corrects_even_when_faint(row):
    """ "No, it's X": the correction wins although it is much weaker than what was held."""
    row.hear((INFORM, AREA, 2, 0.9))
    row.say("confirm(area)", value=2)
    row.hear((NEGATE, -1, -1, 0.2), (INFORM, AREA, 3, 0.1))
    assert row.value(AREA) == 3
    assert row.conf(AREA) == pytest.approx(0.1)


def test_the_agent_asking_for_a_slot_is_counted(row):
    for n in range(1, 4):
        row.say("request(food)")
        assert row.beliefs.asked[0, FOOD] == n
    assert row.beliefs.asked[0, AREA] == 0


def test_a_customer_request_is_pending_until_the_agent_informs_it_about_an_offer(row):
    row.hear((REQUEST, PHONE, -1, 0.9))
    assert row.beliefs.requested[0, PHONE]
    row.say("inform(phone)")  # nothing on offer: nothing to tell
    assert row.beliefs.requested[0, PHONE] and not row.beliefs.informed[0, PHONE]
    row.say("offer", entity=5)
    row.say("inform(phone)")
    assert not row.beliefs.requested[0, PHONE]
    assert row.beliefs.informed[0, PHONE]


def test_an_offer_is_pending_then_accepted_or_rejected(restaurant):
    accepted, rejected = Row(restaurant), Row(restaurant)
    for r in (accepted, rejected):
        r.say("offer", entity=5)
        assert r.beliefs.offered[0] == 5
        assert r.beliefs.offer_state[0] == OFFER_PENDING
    accepted.hear((AFFIRM, -1, -1, 0.9))
    rejected.hear((NEGATE, -1, -1, 0.9))
    assert accepted.beliefs.offer_state[0] == OFFER_ACCEPTED
    assert not accepted.beliefs.rejected[0].any()
    assert rejected.beliefs.offer_state[0] == OFFER_REJECTED
    assert np.flatnonzero(rejected.beliefs.rejected[0]).tolist() == [5]


def test_an_offer_of_nothing_is_a_no_match(row):
    row.say("offer", entity=-1)
    assert row.beliefs.no_match[0]
    assert row.beliefs.offer_state[0] == OFFER_NONE
    row.say("request(area)")
    assert not row.beliefs.no_match[0]  # only the agent's last act counts


def test_a_changed_constraint_rejects_an_offer_that_no_longer_fits(row, restaurant):
    entity = 5
    food = int(restaurant.kb_values[entity, FOOD])
    row.hear((INFORM, FOOD, food, 0.9))
    row.say("offer", entity=entity)
    row.hear((INFORM, FOOD, food, 0.9))  # the same again: the offer still fits
    assert row.beliefs.offer_state[0] == OFFER_PENDING
    other = (food + 1) % len(restaurant.inf_values[FOOD])
    row.hear((INFORM, FOOD, other, 0.95))
    assert row.beliefs.offer_state[0] == OFFER_REJECTED


def test_turns_are_counted_and_the_last_turns_act_types_kept(row):
    row.hear((INFORM, AREA, 1, 0.8), (REQUEST, PHONE, -1, 0.8))
    assert row.beliefs.turn[0] == 1
    assert row.beliefs.bits[0] == (1 << INFORM) | (1 << REQUEST)
    row.hear((BYE, -1, -1, 0.9))
    assert row.beliefs.turn[0] == 2
    assert row.beliefs.bits[0] == 1 << BYE


def test_n_matches_counts_consistent_entities_and_finds_the_first_not_rejected(restaurant):
    row = Row(restaurant)
    values = np.full(restaurant.n_inf, -1, dtype=np.int64)
    rejected = np.zeros(restaurant.n_entities, dtype=np.bool_)
    assert tracker.n_matches(row.t, values, rejected, False, 0) == restaurant.n_entities
    foods = restaurant.kb_values[:, FOOD]
    values[FOOD] = int(np.bincount(foods[foods >= 0]).argmax())  # the commonest food
    expected = np.flatnonzero(restaurant.kb_values[:, FOOD] == values[FOOD])
    assert tracker.n_matches(row.t, values, rejected, False, 0) == len(expected) > 1
    assert tracker.n_matches(row.t, values, rejected, True, 0) == expected[0]
    rejected[expected[0]] = True
    assert tracker.n_matches(row.t, values, rejected, True, 0) == expected[1]
    values[FOOD] = restaurant.dontcare(FOOD)  # dontcare constrains nothing
    assert tracker.n_matches(row.t, values, rejected, False, 0) == restaurant.n_entities
