"""The agenda-based customer: reactions to system acts, patience, and the end of a conversation.

The customer's compiled kernels (``simulators.customer``) are driven directly on a one-row state.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dialog_rl.acts import AFFIRM, BYE, HANGUP, INFORM, NEGATE, REQUEST, THANK
from dialog_rl.env import DialogueEnv
from dialog_rl.env.engine import Engine
from simulators import customer
from simulators.customer_state import HANGUP_OUTCOME, SUCCESS, Goal, write_goal


class _User:
    """One customer, answering system acts as ``AgendaUser.respond`` did (acts as tuples)."""

    def __init__(self, d, goal, persona, seed):
        self.d = d
        engine = Engine(d, 1, noise=0.0)
        self.c = c = engine.customers  # the arrays, read here
        self.t, _, self.ref, _ = engine.refs  # the same arrays, as the kernels take them
        write_goal(c, 0, goal)
        customer.start(self.t, self.ref, 0, np.uint64(seed), False, persona, 1.0, 0.0)
        self.turn = 0

    def said(self):
        return [tuple(a) for a in self.c.out[0, : self.c.out_n[0]].tolist()]

    def respond(self, action, value, entity, stated):
        self.turn += 1
        self.c.ukey[0], self.c.ctr[0] = self.turn, 0
        stated = np.asarray(stated, dtype=np.int64)
        customer.respond(self.t, self.ref, 0, action, value, entity, stated)
        return self.said()

    @property
    def outcome(self):
        return int(self.c.outcome[0])

    @property
    def start_patience(self):
        return float(self.c.start_patience[0])


def _user(d, goal, persona=0, seed=0):
    user = _User(dataclasses.replace(d, change_mind=0.0), goal, persona, seed)  # goal stays
    return user, user.said()


def _goal(d, **constraints):
    values = [-1] * d.n_inf
    for name, value in constraints.items():
        s = d.inf_names.index(name)
        values[s] = d.inf_values[s].index(value)
    return Goal(values, [d.req_names.index("phone")], -1, -1)


def test_opening_turn_states_constraints_only(restaurant):
    _, opening = _user(restaurant, _goal(restaurant, area="north", food="indian"))
    assert opening and all(a[0] == INFORM for a in opening)


def test_confirm_right_value_is_affirmed_and_wrong_value_corrected(restaurant):
    d = restaurant
    user, _ = _user(d, _goal(d, area="north", food="indian"))
    area = d.inf_names.index("area")
    acts = user.respond(
        d.action_index("confirm(area)"), d.inf_values[area].index("north"), -1, [-1] * 3
    )
    assert acts[0][0] == AFFIRM
    acts = user.respond(
        d.action_index("confirm(area)"), d.inf_values[area].index("south"), -1, [-1] * 3
    )
    assert acts[0][0] == NEGATE
    assert (INFORM, area, d.inf_values[area].index("north")) in acts


def test_unconstrained_slot_is_answered_with_dontcare(restaurant):
    d = restaurant
    user, _ = _user(d, _goal(d, food="indian"), persona=0)
    price = d.inf_names.index("pricerange")
    answers = [
        user.respond(d.action_index("request(pricerange)"), -1, -1, [-1] * 3) for _ in range(5)
    ]
    assert any((INFORM, price, d.dontcare(price)) in a for a in answers)


def test_offer_of_matching_entity_is_accepted_then_questions_then_thanks(restaurant):
    d = restaurant
    goal = _goal(d, area="north", food="indian")
    user, _ = _user(d, goal)
    entity = next(
        e
        for e in range(d.n_entities)
        if d.kb_values[e, 0] == goal.constraints[0] and d.kb_values[e, 1] == goal.constraints[1]
    )
    acts = user.respond(d.action_index("offer"), -1, entity, goal.constraints)
    assert acts[0][0] == AFFIRM
    asked = acts
    for _ in range(3):
        if (REQUEST, d.req_names.index("phone"), -1) in asked:
            break
        asked = user.respond(d.action_index("reqmore"), -1, entity, goal.constraints)
    assert (REQUEST, d.req_names.index("phone"), -1) in asked
    acts = user.respond(d.action_index("inform(phone)"), -1, entity, goal.constraints)
    assert (THANK, -1, -1) in acts and acts[-1] in ((THANK, -1, -1), (BYE, -1, -1))
    assert user.outcome == SUCCESS


def test_offer_of_wrong_entity_is_rejected_with_a_correction(restaurant):
    d = restaurant
    goal = _goal(d, area="north")
    user, _ = _user(d, goal)
    wrong = int(np.flatnonzero(d.kb_values[:, 0] != goal.constraints[0])[0])
    acts = user.respond(d.action_index("offer"), -1, wrong, [-1] * 3)
    assert acts[0][0] == NEGATE and acts[1][:2] == (INFORM, 0)


def test_repeated_questions_drain_patience_until_hang_up(restaurant):
    d = restaurant
    user, _ = _user(d, _goal(d, area="north"), persona=1)  # the hurried persona
    turns = 0
    while user.outcome != HANGUP_OUTCOME and turns < 30:
        acts = user.respond(d.action_index("request(area)"), -1, -1, [-1] * 3)
        turns += 1
    assert acts == [(HANGUP, -1, -1)]
    assert turns < user.start_patience


def test_goals_are_drawn_with_at_least_one_constraint_and_vary(restaurant):
    env = DialogueEnv(restaurant)
    goals = []
    for seed in range(200):
        env.reset(seed=seed)
        goals.append(env.user.goal)
    assert all(sum(v >= 0 for v in g.constraints) >= 1 for g in goals)
    assert len({tuple(g.constraints) for g in goals}) > 50
