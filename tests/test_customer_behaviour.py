"""What customers do besides pursuing their goal (``behaviour:`` and ``goals.on_no_match``):
each rate on, off, and its default, on one customer driven act by act."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dialog_rl.acts import AFFIRM, BYE, HELLO, INFORM, NEGATE, REQUEST, THANK
from dialog_rl.domain import BehaviourParams
from simulators.customer_state import HANGUP_OUTCOME, ONGOING, SUCCESS, Goal
from tests.test_customer import _User


def _with(d, change=None, **behaviour):
    """The scenario ``d`` with these behaviour rates (and no change of mind mid-conversation)."""
    more = {} if change is None else {"change": change[0], "relax": change[1]}
    return dataclasses.replace(d, change_mind=0.0, behaviour=BehaviourParams(**behaviour), **more)


def _goal(d, requests=("phone",), **constraints):
    values = [-1] * d.n_inf
    for name, value in constraints.items():
        s = d.inf_names.index(name)
        values[s] = d.inf_values[s].index(value)
    return Goal(values, [d.req_names.index(r) for r in requests], -1, -1)


def _value(d, slot, value):
    return d.inf_values[d.inf_names.index(slot)].index(value)


def _matching(d, goal):
    """The entities that meet ``goal``'s constraints."""
    ok = np.ones(d.n_entities, dtype=bool)
    for s in d.kb_slots:
        if goal.constraints[s] >= 0:
            ok &= d.kb_values[:, s] == goal.constraints[s]
    return np.flatnonzero(ok).tolist()


def _slot(d, name):
    return d.inf_names.index(name)


def test_scenarios_without_the_section_compile_to_a_customer_without_behaviours(domains):
    written = [d for d in domains.values() if not d.bases]  # not the calibrated overlay
    assert len(written) >= 4
    for d in written:
        assert d.behaviour == BehaviourParams() and d.change == 0.0
    assert BehaviourParams().bye == 0.3  # the closing as it always was


# -- unprompted correction ---------------------------------------------------------------------


def test_a_wrong_belief_is_corrected_unprompted_when_correct_is_on(restaurant):
    d = restaurant
    goal = _goal(d, area="north", food="indian", pricerange="cheap")
    stated = list(goal.constraints)
    stated[_slot(d, "area")] = _value(d, "area", "south")  # the agent misheard the area
    for rate, expect in ((1.0, True), (0.0, False)):
        user = _User(_with(d, correct=rate, slots_per_turn=(0, 0, 1)), goal, 0, 1)
        assert (INFORM, _slot(d, "area"), goal.constraints[0]) in user.said()  # told it
        acts = user.respond(d.action_index("reqmore"), -1, -1, stated)
        corrected = (NEGATE, -1, -1) in acts and (INFORM, 0, goal.constraints[0]) in acts
        assert corrected == expect


def test_a_right_belief_or_an_untold_slot_is_not_corrected(restaurant):
    d = restaurant
    goal = _goal(d, area="north", food="indian")
    user = _User(_with(d, correct=1.0, slots_per_turn=(1,)), goal, 0, 1)
    told = {a[1] for a in user.said() if a[0] == INFORM}
    assert len(told) == 1  # one piece a turn: one slot told
    untold = next(s for s in (0, 1) if s not in told)
    stated = list(goal.constraints)
    stated[untold] = (goal.constraints[untold] + 1) % len(d.inf_values[untold])
    acts = user.respond(d.action_index("reqmore"), -1, -1, stated)
    assert (NEGATE, -1, -1) not in acts
    acts = user.respond(d.action_index("reqmore"), -1, -1, goal.constraints)
    assert (NEGATE, -1, -1) not in acts


# -- don't care ---------------------------------------------------------------------------------


def test_free_slots_are_said_to_be_any_unprompted_when_dontcare_is_on(restaurant):
    d = restaurant
    goal = _goal(d, food="indian")
    free = {(INFORM, _slot(d, s), d.dontcare(_slot(d, s))) for s in ("area", "pricerange")}
    on = _User(_with(d, dontcare=1.0, slots_per_turn=(0, 0, 1)), goal, 0, 3)
    assert free <= set(on.said())
    off = _User(_with(d, dontcare=0.0, slots_per_turn=(0, 0, 1)), goal, 0, 3)
    assert not free & set(off.said())


# -- several slots a turn --------------------------------------------------------------------------


@pytest.mark.parametrize("weights, expect", [((1,), 1), ((0, 1), 2), ((0, 0, 1), 3)])
def test_slots_per_turn_sets_how_many_constraints_the_opening_holds(restaurant, weights, expect):
    d = restaurant
    goal = _goal(d, area="north", food="indian", pricerange="cheap")
    for seed in range(5):
        said = _User(_with(d, slots_per_turn=weights), goal, 0, seed).said()
        assert [a[0] for a in said] == [INFORM] * expect


def test_slots_per_turn_is_drawn_with_its_weights(restaurant):
    d = restaurant
    goal = _goal(d, area="north", food="indian", pricerange="cheap")
    counts = [
        len(_User(_with(d, slots_per_turn=(3, 1)), goal, 0, seed).said()) for seed in range(400)
    ]
    assert set(counts) == {1, 2}
    assert counts.count(1) / len(counts) == pytest.approx(0.75, abs=0.07)


def test_an_answer_counts_towards_the_pieces_of_a_turn(restaurant):
    d = restaurant
    goal = _goal(d, area="north", food="indian", pricerange="cheap")
    for weights, expect in (((0, 1), 2), ((1,), 1)):
        user = _User(_with(d, slots_per_turn=weights), goal, 0, 0)
        told = user.said()[0][1]
        acts = user.respond(d.action_index(f"request({d.inf_names[told]})"), -1, -1, [-1] * 3)
        assert acts[0] == (INFORM, told, goal.constraints[told])
        assert [a[0] for a in acts] == [INFORM] * expect


@pytest.mark.parametrize("rate", [0.0, 1.0])
def test_affirm_answer_sets_how_often_an_answer_opens_with_yes(restaurant, rate):
    d = restaurant
    goal = _goal(d, area="north", food="indian", pricerange="cheap")
    user = _User(_with(d, affirm_answer=rate, slots_per_turn=(0, 1)), goal, 0, 0)
    told = {a[1] for a in user.said()}  # two of the three constraints
    asked = next(s for s in range(3) if s not in told)
    acts = user.respond(d.action_index(f"request({d.inf_names[asked]})"), -1, -1, [-1] * 3)
    answer = (INFORM, asked, goal.constraints[asked])
    assert acts == ([(AFFIRM, -1, -1), answer] if rate else [answer])  # "yes, cheap"


def test_a_question_about_a_free_slot_gets_no_yes(restaurant):
    """The fit counts answers to questions the goal has a value for; "any area" is not one."""
    d = restaurant
    goal = _goal(d, food="indian")
    user = _User(_with(d, affirm_answer=1.0, slots_per_turn=(1,)), goal, 0, 0)
    user.said()
    area = _slot(d, "area")
    acts = user.respond(d.action_index("request(area)"), -1, -1, [-1] * 3)
    assert acts == [(INFORM, area, d.dontcare(area))]


# -- alternatives ------------------------------------------------------------------------------


def test_asking_for_an_alternative_turns_down_the_first_match_then_takes_another(restaurant):
    d = restaurant
    goal = _goal(d, food="indian")
    first, second = _matching(d, goal)[:2]
    user = _User(_with(d, alternative=1.0), goal, 0, 0)
    assert user.respond(d.action_index("offer"), -1, first, goal.constraints) == [(NEGATE, -1, -1)]
    acts = user.respond(d.action_index("offer"), -1, second, goal.constraints)
    assert acts[0] == (AFFIRM, -1, -1)  # once per domain


def test_no_alternative_is_asked_for_when_none_would_do(restaurant):
    d = restaurant
    only = next(
        e
        for e in range(d.n_entities)
        if len(_matching(d, _goal(d, **{n: d.kb_rows[e][n] for n in d.inf_names}))) == 1
    )
    goal = _goal(d, **{n: d.kb_rows[only][n] for n in d.inf_names})
    user = _User(_with(d, alternative=1.0), goal, 0, 0)
    acts = user.respond(d.action_index("offer"), -1, only, goal.constraints)
    assert acts[0] == (AFFIRM, -1, -1)


def test_accepting_without_a_yes_goes_straight_on_to_the_question(restaurant):
    d = restaurant
    goal = _goal(d, food="indian")
    entity = _matching(d, goal)[0]
    user = _User(_with(d, affirm_offer=0.0, slots_per_turn=(1,)), goal, 0, 0)
    acts = user.respond(d.action_index("offer"), -1, entity, goal.constraints)
    assert acts == [(REQUEST, d.req_names.index("phone"), -1)]
    user = _User(_with(d, affirm_offer=1.0, slots_per_turn=(1,)), goal, 0, 0)
    acts = user.respond(d.action_index("offer"), -1, entity, goal.constraints)
    assert acts[0] == (AFFIRM, -1, -1)


# -- greeting and closing ----------------------------------------------------------------------


def test_hello_opens_the_conversation_when_on(restaurant):
    d = restaurant
    goal = _goal(d, area="north")
    assert _User(_with(d, hello=1.0), goal, 0, 0).said()[0] == (HELLO, -1, -1)
    assert (HELLO, -1, -1) not in _User(_with(d, hello=0.0), goal, 0, 0).said()


def _close(d, seed, **behaviour):
    """A customer whose goal is met after one offer; they answer the agent's reqmore."""
    goal = _goal(d, requests=(), food="indian")
    user = _User(_with(d, affirm_offer=1.0, slots_per_turn=(1,), **behaviour), goal, 0, seed)
    user.respond(d.action_index("offer"), -1, _matching(d, goal)[0], goal.constraints)
    if user.outcome == SUCCESS:
        return None  # closed in the same turn as the yes
    acts = user.respond(d.action_index("reqmore"), -1, -1, goal.constraints)
    assert user.outcome == SUCCESS
    return acts


@pytest.mark.parametrize("bye", [0.0, 1.0])
def test_closing_bye_sets_how_often_the_thanks_come_with_a_goodbye(restaurant, bye):
    closings = [c for c in (_close(restaurant, s, bye=bye) for s in range(20)) if c]
    assert closings
    assert all((BYE, -1, -1) in c for c in closings) == (bye == 1.0)
    assert any((BYE, -1, -1) in c for c in closings) == (bye != 0.0)
    assert all(THANK in [a[0] for a in c] for c in closings)


def test_closing_negate_answers_anything_else_with_no(restaurant):
    closings = [c for c in (_close(restaurant, s, closing_negate=1.0) for s in range(20)) if c]
    assert closings and all(c[:2] == [(NEGATE, -1, -1), (THANK, -1, -1)] for c in closings)
    closings = [c for c in (_close(restaurant, s) for s in range(20)) if c]
    assert closings and not any((NEGATE, -1, -1) in c for c in closings)


# -- no match -----------------------------------------------------------------------------------


def test_on_no_match_change_switches_a_constraint_to_a_value_that_matches(restaurant):
    d = restaurant
    goal = _goal(d, area="north", food="british", pricerange="cheap")
    assert not _matching(d, goal)
    user = _User(_with(d, change=(1.0, 0.0)), goal, 0, 0)
    acts = user.respond(d.action_index("offer"), -1, -1, goal.constraints)
    assert user.outcome == ONGOING and len(acts) >= 1
    kind, slot, value = acts[0]
    assert kind == INFORM and value < len(d.inf_values[slot])  # a value, not "any"
    assert value != goal.constraints[slot]
    now = list(goal.constraints)
    now[slot] = value
    assert _matching(d, Goal(now, [], -1, -1))


def test_on_no_match_relax_drops_and_hang_up_hangs_up(restaurant):
    d = restaurant
    goal = _goal(d, area="north", food="british", pricerange="cheap")
    user = _User(_with(d, change=(0.0, 1.0)), goal, 0, 0)
    kind, slot, value = user.respond(d.action_index("offer"), -1, -1, goal.constraints)[0]
    assert kind == INFORM and value == d.dontcare(slot)
    user = _User(_with(d, change=(0.0, 0.0)), goal, 0, 0)
    user.respond(d.action_index("offer"), -1, -1, goal.constraints)
    assert user.outcome == HANGUP_OUTCOME


def test_closing_again_thanks_then_closes_on_anything_else(restaurant):
    d = restaurant
    goal = _goal(d, requests=(), food="indian")
    for seed in range(10):
        user = _User(
            _with(d, affirm_offer=0.0, slots_per_turn=(1,), bye=0.0, closing_again=1.0),
            goal,
            0,
            seed,
        )
        acts = user.respond(d.action_index("offer"), -1, _matching(d, goal)[0], goal.constraints)
        assert acts == [(THANK, -1, -1)] and user.outcome == ONGOING  # waits for the reply
        acts = user.respond(d.action_index("reqmore"), -1, -1, goal.constraints)
        assert acts == [(THANK, -1, -1)] and user.outcome == SUCCESS
    user = _User(_with(d, affirm_offer=0.0, slots_per_turn=(1,), closing_again=1.0), goal, 0, 0)
    user.respond(d.action_index("offer"), -1, _matching(d, goal)[0], goal.constraints)
    user.respond(d.action_index("bye"), -1, -1, goal.constraints)
    assert user.outcome == SUCCESS  # the agent's good-bye ends it too
