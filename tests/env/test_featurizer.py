"""The featurizer on its own: the observation's size and named features, and the action mask."""

from __future__ import annotations

import numpy as np
import pytest

from dialog_rl.acts import AFFIRM, INFORM, REQUEST, USER_ACT_NAMES
from dialog_rl.env import DialogueEnv, featurizer, tracker
from dialog_rl.env.engine import Engine
from dialog_rl.env.featurizer import (
    BOOKING_FEATURES,
    MATCH_BUCKETS,
    SLOT_FEATURES,
    observation_spec,
)
from dialog_rl.policies import RandomPolicy
from dialog_rl.scenario.schema import ACT_KINDS

AREA, FOOD = 0, 1
PHONE = 1


class Row:
    """One conversation's beliefs and the observation the featurizer makes of them."""

    def __init__(self, domain, max_turns: int | None = None):
        self.domain = domain
        engine = Engine(domain, 1, max_turns=max_turns)
        self.t, self.layout, _, self.b = engine.refs
        self.beliefs = engine.beliefs
        self.obs, self.mask = engine.obs[0], engine.masks[0]
        self.spec = engine.spec
        tracker.reset(self.b, 0)

    def hear(self, *acts: tuple) -> None:
        heard = np.array([a[:3] for a in acts], dtype=np.int64).reshape(-1, 3)
        conf = np.array([a[3] for a in acts], dtype=np.float64)
        tracker.observe(self.t, self.b, 0, heard, conf, len(acts))

    def say(self, name: str, value: int = -1, entity: int = -1) -> None:
        tracker.system_act(self.t, self.b, 0, self.domain.action_index(name), value, entity)

    def features(self) -> dict[str, float]:
        featurizer.featurize(self.t, self.layout, self.b, 0, self.obs, self.mask)
        return dict(zip(self.spec.names, self.obs.tolist()))

    def allowed(self) -> set[str]:
        self.features()
        return {n for n, m in zip(self.domain.act_names, self.mask) if m}


@pytest.fixture
def row(restaurant):
    return Row(restaurant)


def test_the_vector_has_the_specs_size_and_every_name_once(domains):
    for d in domains.values():
        spec = observation_spec(d)
        assert len(set(spec.names)) == spec.size
        assert spec.size == (
            len(SLOT_FEATURES) * d.n_inf
            + 2 * d.n_req
            + len(d.task_names)
            + 6
            + len(MATCH_BUCKETS)
            + len(USER_ACT_NAMES)
            + len(ACT_KINDS)
            - (0 if d.booking.on else 1)  # the agent's last act kind
            + (d.domains.n if d.domains.n > 1 else 0)  # the active domain
            + (len(BOOKING_FEATURES) if d.booking.on else 0)
            + 1  # turn
        )
        env = DialogueEnv(d)
        obs, _ = env.reset(seed=0)
        assert obs.shape == (spec.size,)
        assert env.observation_space.shape == (spec.size,)
        assert spec.action_names == d.act_names


def test_nothing_heard_means_no_slot_known_and_every_entity_matching(row, restaurant):
    f = row.features()
    for slot in restaurant.inf_names:
        assert f[f"{slot}.known"] == f[f"{slot}.conf"] == f[f"{slot}.confirmed"] == 0
    bucket = "matches_6_plus" if restaurant.n_entities > 5 else "matches_2_5"
    assert [b for b in MATCH_BUCKETS if f[b] == 1] == [bucket]


def test_slot_features_say_known_confidence_dontcare_and_confirmed(row, restaurant):
    row.hear((INFORM, AREA, 2, 0.75), (INFORM, FOOD, restaurant.dontcare(FOOD), 0.5))
    f = row.features()
    assert f["area.known"] == 1 and f["area.conf"] == pytest.approx(0.75)
    assert f["area.dontcare"] == 0 and f["area.confirmed"] == 0
    assert f["food.known"] == 1 and f["food.dontcare"] == 1
    assert f["pricerange.known"] == 0
    row.say("confirm(area)", value=2)
    row.hear((AFFIRM, -1, -1, 0.9))
    assert row.features()["area.confirmed"] == 1


def test_asked_counts_up_to_three_times(row):
    seen = []
    for _ in range(5):
        row.say("request(food)")
        seen.append(row.features()["food.asked"])
    assert seen == pytest.approx([1 / 3, 2 / 3, 1, 1, 1])


def test_requested_informed_and_offer_features(row, restaurant):
    row.hear((REQUEST, PHONE, -1, 0.9))
    assert row.features()["phone.requested"] == 1
    entity = 5
    for s in restaurant.kb_slots:
        row.hear((INFORM, s, int(restaurant.kb_values[entity, s]), 0.9))
    row.say("offer", entity=entity)
    f = row.features()
    assert f["offer.made"] == 1 and f["offer.matches_belief"] == 1
    assert f["offer.accepted"] == f["offer.rejected"] == 0
    row.say("inform(phone)")
    f = row.features()
    assert f["phone.requested"] == 0 and f["phone.informed"] == 1
    assert f["last.inform"] == 1 and f["last.offer"] == 0


def test_the_match_bucket_follows_how_many_entities_fit(row, restaurant):
    entity = 5
    for s in restaurant.kb_slots:
        row.hear((INFORM, s, int(restaurant.kb_values[entity, s]), 0.9))
    n = int(
        (restaurant.kb_values[:, list(restaurant.kb_slots)] == restaurant.kb_values[entity])
        .all(1)
        .sum()
    )
    expected = "matches_1" if n == 1 else "matches_2_5" if n <= 5 else "matches_6_plus"
    f = row.features()
    assert [b for b in MATCH_BUCKETS if f[b] == 1] == [expected]


def test_user_features_are_this_turns_act_types(row):
    row.hear((INFORM, AREA, 1, 0.8), (REQUEST, PHONE, -1, 0.8))
    f = row.features()
    assert {a for a in USER_ACT_NAMES if f[f"user.{a}"] == 1} == {"inform", "request"}


def test_turn_is_the_fraction_of_the_turn_limit_capped_at_one(restaurant):
    row = Row(restaurant, max_turns=4)
    seen = []
    for _ in range(6):
        row.hear((INFORM, AREA, 1, 0.8))
        seen.append(row.features()["turn"])
    assert seen == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0])


def test_the_mask_forbids_what_an_empty_belief_cannot_support(row):
    row.hear((INFORM, AREA, 1, 0.8))  # the opening turn
    allowed = row.allowed()
    assert "greet" in allowed
    assert "confirm(area)" in allowed and "confirm(food)" not in allowed
    assert "inform(phone)" not in allowed  # nothing offered yet
    row.hear((INFORM, FOOD, 1, 0.8))
    assert "greet" not in row.allowed()  # greet only opens a conversation


@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_the_mask_allows_exactly_what_mask_reasons_has_no_reason_against(domains, noise):
    for d in domains.values():
        env = DialogueEnv(d, noise=noise)
        policy = RandomPolicy(d)
        for seed in range(8):
            obs, info = env.reset(seed=seed)
            rng = np.random.default_rng(seed)
            done = False
            while not done:
                reasons = env.mask_reasons()
                assert [r == "" for r in reasons] == info["action_mask"].astype(bool).tolist()
                assert all(r == "" or r[0].isalpha() for r in reasons)
                action = policy.act(obs, info["action_mask"], rng=rng).action
                obs, _, term, trunc, info = env.step(action)
                done = term or trunc
