"""Booking (scenarios/restaurant_booking.yaml): goals with a booking, the customer's answers to a
`book` act (made, wrong parameters, no room), the tracker and mask, the rule policy, ConvLab's
book rate, and bad booking sections."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_refused_at

from dialog_rl.acts import AFFIRM, INFORM, NEGATE, THANK
from dialog_rl.domain import BehaviourParams, load_domain, system_text
from dialog_rl.env import DialogueEnv
from dialog_rl.env.engine import Engine
from dialog_rl.env.featurizer import mask_reasons
from dialog_rl.policies import RulePolicy
from dialog_rl.rollout.metrics import summarize
from dialog_rl.rollout.runner import run_episode
from simulators import customer
from simulators.customer_state import SUCCESS, Goal, write_goal

ROOT = Path(__file__).resolve().parents[2]
BOOKING = (ROOT / "scenarios" / "restaurant_booking.yaml").read_text()


@pytest.fixture(scope="module")
def booking(domains):
    return domains["restaurant_booking"]


def _index(d, slot, value):
    s = d.inf_names.index(slot)
    return s, d.inf_values[s].index(value)


def test_booking_slots_are_informable_but_not_kb_columns(booking):
    d = booking
    day, time, people = (d.inf_names.index(n) for n in ("day", "time", "people"))
    assert d.booking.slots == (day, time, people)
    assert day not in d.kb_slots and set(d.kb_slots) == {0, 1, 2}
    assert (d.kb_values[:, [day, time, people]] == -1).all()
    book = d.action_index("book")
    assert set(d.act_requires[book]) == {day, time, people}
    # the overlay added to restaurant.yaml's catalog instead of replacing it
    base = load_domain(str(ROOT / "scenarios" / "restaurant.yaml"))
    assert d.act_names[: base.n_actions] == base.act_names


def test_goals_book_at_the_scenarios_rate_with_every_parameter(booking):
    d = booking
    n = 20_000
    engine = Engine(d, n)
    engine.start(np.arange(n), np.arange(n, dtype=np.uint64) * 7919 + 3)
    c = engine.customers
    share = c.book[:, 0].mean()
    p = d.booking.rate[0]
    assert abs(share - p) < 4 * np.sqrt(p * (1 - p) / n)
    params = c.cons[:, list(d.booking.slots)]
    assert (params[c.book[:, 0]] >= 0).all() and (params[~c.book[:, 0]] == -1).all()
    # uniform values: every day drawn, about a seventh each
    days = np.bincount(params[c.book[:, 0], 0], minlength=7) / c.book[:, 0].sum()
    assert np.abs(days - 1 / 7).max() < 0.02


def test_room_is_a_fixed_draw_for_the_first_choice_and_there_for_a_changed_one(booking):
    d = booking
    n = 400
    engine = Engine(d, n)
    engine.start(np.arange(n), np.arange(n, dtype=np.uint64) + 11)
    t, _, c, _ = engine.refs
    cons = engine.customers.cons
    first, changed = [], []
    for i in np.flatnonzero(engine.customers.book[:, 0]):
        wanted = cons[i].copy()
        for e in range(0, 100, 7):
            a = customer.room(t, c, int(i), e, wanted, 0)
            assert a == customer.room(t, c, int(i), e, wanted, 0)  # the same answer again
            first.append(a)
        other = wanted.copy()
        other[d.booking.slots[1]] = (wanted[d.booking.slots[1]] + 1) % 45  # another time
        changed.append(customer.room(t, c, int(i), 0, other, 0))
    p = d.booking.available[0]
    assert abs(np.mean(first) - p) < 4 * np.sqrt(p * (1 - p) / len(first))
    assert all(changed)  # available_after_change: 1, as in MultiWOZ


class _Customer:
    """One booking customer on a one-row engine, driven act by act."""

    def __init__(self, d, available=1.0, requests=()):
        d = dataclasses.replace(
            d,
            change_mind=0.0,
            booking=dataclasses.replace(d.booking, available=(available,)),
        )
        self.d = d
        self.engine = Engine(d, 1, noise=0.0)
        self.c = self.engine.customers
        self.t, _, self.ref, _ = self.engine.refs
        entity = 0
        values = [int(v) for v in d.kb_values[entity]]
        for s, v in zip(d.booking.slots, (_index(d, "day", "friday")[1], 36, 3)):
            values[s] = v  # friday, 19:00, 4 people
        self.goal = values
        write_goal(self.c, 0, Goal(values, list(requests), -1, entity, [0], [0]))
        customer.start(self.t, self.ref, 0, np.uint64(1), False, 0, 1.0, 0.0)
        self.turn = 0

    def respond(self, action, value, entity, stated):
        self.turn += 1
        self.c.ukey[0], self.c.ctr[0] = self.turn, 0
        customer.respond(
            self.t, self.ref, 0, action, value, entity, np.asarray(stated, dtype=np.int64)
        )
        return [tuple(a) for a in self.c.out[0, : self.c.out_n[0]].tolist()]


def test_a_booking_with_the_wanted_parameters_meets_the_goal(booking):
    user = _Customer(booking)
    d = user.d
    acts = user.respond(d.action_index("offer"), -1, 0, user.goal)
    assert acts[0][0] == AFFIRM
    assert not customer.satisfied(user.t, user.ref, 0)  # chosen, not yet booked
    acts = user.respond(d.action_index("book"), 1, 0, user.goal)
    assert NEGATE not in [a[0] for a in acts]
    assert customer.satisfied(user.t, user.ref, 0)
    user.respond(d.action_index("bye"), -1, -1, user.goal)
    assert user.c.outcome[0] == SUCCESS


def test_a_booking_with_wrong_parameters_is_corrected(booking):
    user = _Customer(booking)
    d = user.d
    user.respond(d.action_index("offer"), -1, 0, user.goal)
    people = d.inf_names.index("people")
    wrong = list(user.goal)
    wrong[people] = 0
    acts = user.respond(d.action_index("book"), 1, 0, wrong)
    assert acts[0][0] == NEGATE and (INFORM, people, user.goal[people]) in acts
    assert not customer.satisfied(user.t, user.ref, 0)


def test_no_room_makes_the_customer_change_a_parameter(booking):
    user = _Customer(booking, available=0.0)
    d = user.d
    user.respond(d.action_index("offer"), -1, 0, user.goal)
    before = user.c.cons[0].copy()
    acts = user.respond(d.action_index("book"), 0, 0, user.goal)
    changed = [s for s in range(d.n_inf) if user.c.cons[0, s] != before[s]]
    assert len(changed) == 1 and changed[0] in d.booking.slots  # mostly the time (28 of 29)
    s = changed[0]
    assert acts == [(INFORM, s, int(user.c.cons[0, s]))]
    assert not customer.satisfied(user.t, user.ref, 0)


def test_book_waits_for_an_offer_and_its_parameters(booking):
    env = DialogueEnv(booking, noise=0.0)
    env.reset(seed=0)
    book = booking.action_index("book")
    reasons = mask_reasons(booking, env.engine.beliefs, 0)
    assert env.action_masks()[book] == 0 and reasons[book] == "no entity offered yet"


def test_the_agent_says_a_reference_number_or_that_there_is_no_room(booking):
    d = booking
    beliefs = [-1] * d.n_inf
    for slot, value in (("day", "friday"), ("time", "19:00"), ("people", "4")):
        s, v = _index(d, slot, value)
        beliefs[s] = v
    made = system_text(d, d.action_index("book"), 1, 0, 0, beliefs)
    assert "friday" in made and "19:00" in made
    ref = made.rsplit(" ", 1)[-1].rstrip(".")
    assert len(ref) == 8 and ref.isalnum() and ref == ref.upper()
    refused = system_text(d, d.action_index("book"), 0, 0, 0, beliefs)
    assert "no table" in refused and "reference" not in refused


def test_the_rule_policy_books_and_convlab_counts_the_book_rate(booking):
    env = DialogueEnv(booking, noise=0.0)
    policy = RulePolicy(booking, env.spec_obs)
    outcomes = [run_episode(env, policy, k, 11, explore=False).outcome for k in range(200)]
    metrics = summarize(outcomes)
    assert metrics["success"]["mean"] >= 0.93
    convlab = metrics["convlab"]
    assert convlab["dialogues_with_bookings"] > 80
    assert convlab["book_rate"]["mean"] >= 0.93
    # success needs the booking: a policy that never books fails every booking customer
    never = RulePolicy(booking, env.spec_obs)
    args = never._kernel_args
    never._kernel_args = (*args[:6], np.zeros(0, dtype=np.int64), *args[7:])
    ends = [run_episode(env, never, k, 11, explore=False).outcome for k in range(60)]
    booked_goals = [o for o in ends if o["book_domains"]]
    assert booked_goals and not any(o["success"] for o in booked_goals)


def _bad(tmp_path, old, new):
    assert old in BOOKING
    text = BOOKING.replace(old, new)
    path = tmp_path / "restaurant_booking.yaml"
    path.write_text(text)
    (tmp_path / "restaurant.yaml").write_text((ROOT / "scenarios" / "restaurant.yaml").read_text())
    (tmp_path / "restaurant_kb.csv").write_text(
        (ROOT / "scenarios" / "restaurant_kb.csv").read_text()
    )
    return path, text


BAD = [
    (
        "booking slot without values",
        '      values: ["1", "2", "3", "4", "5", "6", "7", "8"]\n',
        "",
        "slots.booking[2].values",
        "needs `values`",
        "    - name: people",
    ),
    (
        "undeclared booking slot in the goal",
        "on_fail: {time: 28, day: 1}",
        "on_fail: {time: 28, nights: 1}",
        "goals.book.on_fail.nights",
        "'nights' is not a declared booking slot",
        "on_fail: {time: 28, nights: 1}",
    ),
    (
        "book requires an undeclared slot",
        "requires: [day, time, people]",
        "requires: [day, time, guests]",
        "actions[23].requires[2]",
        "'guests' is not a declared informable slot",
        "requires: [day, time, guests]",
    ),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_a_bad_booking_section_is_one_line_naming_file_line_and_field(tmp_path, capsys, case):
    _, old, new, field, message, needle = case
    path, text = _bad(tmp_path, old, new)
    assert_refused_at(capsys, path, text, needle, field, message)


# -- answering every question at once, and not restating a booking ----------------------------


def test_an_inform_without_a_slot_answers_every_question_asked_in_one_turn(booking):
    d = booking
    answer = d.action_index("inform")
    phone, postcode = d.req_names.index("phone"), d.req_names.index("postcode")
    assert d.act_slot[answer] == -1
    for bits, told in (((1 << phone) | (1 << postcode), {phone, postcode}), (1 << phone, {phone})):
        user = _Customer(d, requests=[phone, postcode])
        user.respond(d.action_index("offer"), -1, 0, user.goal)
        user.respond(answer, bits, 0, user.goal)
        assert {r for r in range(d.n_req) if user.c.informed[0, r]} == told  # only what was said
    text = system_text(d, answer, (1 << phone) | (1 << postcode), 0, 0, [-1] * d.n_inf)
    row = d.kb_rows[0]
    assert f"the phone is {row['phone']} and the postcode is {row['postcode']}" in text


def test_an_inform_without_a_slot_waits_for_an_offer_and_a_question(booking):
    d = booking
    env = DialogueEnv(d, noise=0.0)
    answer = d.action_index("inform")
    seen = set()
    for seed in range(40):
        env.reset(seed=seed)
        assert mask_reasons(d, env.engine.beliefs, 0)[answer] == "no entity offered yet"
        env.step(d.action_index("offer"))
        asked = bool(env.engine.beliefs.requested[0].any()) and env.engine.beliefs.offered[0] >= 0
        assert env.action_masks()[answer] == asked
        if not asked and env.engine.beliefs.offered[0] >= 0:
            assert mask_reasons(d, env.engine.beliefs, 0)[answer] == "nothing asked about it"
        seen.add(asked)
    assert seen == {True, False}  # both cases met


def test_the_rule_policy_answers_all_questions_at_once(booking):
    env = DialogueEnv(booking, noise=0.0)
    policy = RulePolicy(booking, env.spec_obs)
    answer = booking.action_index("inform")
    answers = 0
    for k in range(100):
        obs, info = env.reset(seed=k)
        while True:
            a = policy.act(obs, info["action_mask"], explore=False).action
            assert booking.act_kind[a] != booking.act_kind[answer] or a == answer
            answers += a == answer
            obs, _, terminated, truncated, info = env.step(a)
            if terminated or truncated:
                break
    assert answers > 0


@pytest.mark.parametrize("rate", [0.0, 1.0])
def test_restate_booking_sets_whether_a_told_booking_is_said_again(booking, rate):
    d = dataclasses.replace(booking, behaviour=BehaviourParams(restate_booking=rate))
    user = _Customer(d)
    params = {(INFORM, s, user.goal[s]) for s in d.booking.slots}
    said = set(user.respond(d.action_index("offer"), -1, 0, user.goal))
    while not params <= said:  # the booking told, a piece or two a turn
        said |= set(user.respond(d.action_index("reqmore"), -1, -1, user.goal))
    again = user.respond(d.action_index("inform"), 0, 0, user.goal)
    assert set(again) == ({(THANK, -1, -1)} if rate == 0 else params)  # thanks for the answer
    acts = user.respond(d.action_index("reqmore"), -1, -1, user.goal)
    assert set(acts) == params  # the agent went on without booking: said again at any rate


def test_an_inform_without_a_slot_is_refused_past_62_requestable_slots(tmp_path, capsys):
    extra = "".join(
        f'    - name: fact{k}\n      user_templates: ["Fact {k}?"]\n' for k in range(60)
    )
    base = (ROOT / "scenarios" / "restaurant.yaml").read_text()
    base = base.replace("  requestable:\n", "  requestable:\n" + extra, 1)
    (tmp_path / "restaurant.yaml").write_text(base)
    path = tmp_path / "restaurant_booking.yaml"
    text = BOOKING
    path.write_text(text)
    needle = "  - act: inform  # no slot"
    assert_refused_at(capsys, path, text, needle, "actions[15].slot", "answers up to 62")


def test_a_request_without_a_slot_asks_for_every_unknown_search_slot_in_one_turn(booking):
    d = booking
    ask = d.action_index("request")
    area, food, price = (d.inf_names.index(s) for s in ("area", "food", "pricerange"))
    assert d.act_slot[ask] == -1
    user = _Customer(d)
    acts = user.respond(ask, (1 << area) | (1 << price), -1, [-1] * d.n_inf)
    assert {(INFORM, area, user.goal[area]), (INFORM, price, user.goal[price])} <= set(acts)
    assert user.c.asked[0, area] == user.c.asked[0, price] == 1 and user.c.asked[0, food] == 0
    text = system_text(d, ask, (1 << area) | (1 << food) | (1 << price), -1, 0, [-1] * d.n_inf)
    assert text == "What area, food and pricerange would you like?"


def test_a_request_without_a_slot_is_allowed_while_a_search_slot_is_unknown(booking):
    d = booking
    env = DialogueEnv(d, noise=0.0)
    ask = d.action_index("request")
    for seed in range(50):
        env.reset(seed=seed)
        B = env.engine.beliefs
        unknown = [s for s in d.kb_slots if B.values[0, s] < 0]
        assert env.action_masks()[ask] == bool(unknown)
        if not unknown:
            assert mask_reasons(d, B, 0)[ask] == "nothing left to ask for"
            return
    raise AssertionError("no opening told every search slot")


def test_the_rule_policy_asks_for_two_or_more_unknown_slots_at_once(booking):
    env = DialogueEnv(booking, noise=0.0)
    policy = RulePolicy(booking, env.spec_obs)
    ask = booking.action_index("request")
    asked = 0
    for k in range(100):
        obs, info = env.reset(seed=k)
        unknown = sum(env.engine.beliefs.values[0, s] < 0 for s in booking.kb_slots)
        a = policy.act(obs, info["action_mask"], explore=False).action
        if unknown >= 2 and booking.act_kind[a] == booking.act_kind[ask]:
            assert a == ask  # not one request(slot) after another
            asked += 1
    assert asked > 0


@pytest.mark.parametrize("early", [0.0, 1.0])
def test_book_early_sets_whether_the_booking_waits_for_an_offer(booking, early):
    two = BehaviourParams(book_early=early, book_together=1.0, slots_per_turn=(0.0, 1.0))
    d = dataclasses.replace(booking, behaviour=two)  # two pieces a turn: "yes" and the booking
    user = _Customer(d)
    params = {(INFORM, s, user.goal[s]) for s in d.booking.slots}
    said = {tuple(a) for a in user.c.out[0, : user.c.out_n[0]].tolist()}  # the opening turn
    for _ in range(4):  # the agent keeps asking if there is more, without offering
        said |= set(user.respond(d.action_index("reqmore"), -1, -1, user.goal))
    assert (params <= said) if early else not (params & said)
    acts = user.respond(d.action_index("offer"), -1, 0, user.goal)
    if not early:  # taking the offer: yes, and the whole booking in one breath
        assert acts[0] == (AFFIRM, -1, -1) and params <= set(acts)


def test_book_together_says_the_rest_of_the_booking_as_one_piece(booking):
    one = dataclasses.replace(booking, behaviour=BehaviourParams(slots_per_turn=(1.0,)))
    both = dataclasses.replace(
        one, behaviour=BehaviourParams(slots_per_turn=(1.0,), book_together=1.0)
    )
    for d, together in ((one, False), (both, True)):
        user = _Customer(d)
        turns = [user.respond(d.action_index("reqmore"), -1, -1, user.goal) for _ in range(6)]
        booking_turns = [t for t in turns if any(a[1] in d.booking.slots for a in t)]
        assert len(booking_turns) == (1 if together else 3)
        assert all(len(t) == (3 if together else 1) for t in booking_turns)


@pytest.mark.parametrize("rate", [0.0, 1.0])
def test_affirm_rebook_opens_the_changed_booking_with_a_yes(booking, rate):
    d = dataclasses.replace(booking, behaviour=BehaviourParams(affirm_rebook=rate))
    user = _Customer(d, available=0.0)
    user.respond(d.action_index("offer"), -1, 0, user.goal)
    acts = user.respond(d.action_index("book"), 0, 0, user.goal)
    assert [a[0] for a in acts] == ([AFFIRM, INFORM] if rate else [INFORM])
