"""The state of many simulated customers, and a scenario's customer model, as plain arrays.

``Tables`` is what the compiled kernels read of a scenario (goal model, personas, channel);
``Customers`` holds one row per conversation (goal, persona, agenda, what was said and heard).
The kernels that change them are in ``simulators.customer`` and ``simulators.noise``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from numba import config, types
from numba.experimental import structref

from dialog_rl.acts import AFFIRM, INFORM, NEGATE, REQUEST
from dialog_rl.domain import BehaviourParams, Domain
from dialog_rl.jit import njit

# outcomes
ONGOING, SUCCESS, FAILURE, HANGUP_OUTCOME, HANDOVER_OUTCOME = range(5)
OUTCOME_NAMES = ("ongoing", "success", "failure", "hangup", "handover")
# how draws are keyed: by turn (a run), or by what they answer (two runs paired act by act)
TURN_KEYED, ACT_KEYED = 0, 1
CONFUSABLE = np.array([INFORM, REQUEST, AFFIRM, NEGATE], dtype=np.int64)


@dataclass
class Goal:
    """What one customer wants. Only the simulator ever sees it."""

    constraints: list[int]
    """Per informable slot: the wanted value index, or -1 when the customer has no preference."""
    requests: list[int]
    """Requestable slots the customer will ask about."""
    task: int
    """Task to get done (index into the domain's tasks), or -1 for information only."""
    entity: int
    """KB entity the constraints were drawn from, or -1 if they were drawn at random (several
    domains: the first domain's)."""
    domains: list[int] = field(default_factory=lambda: [0])
    """The domains the goal spans, in the order the customer takes them."""
    book: list[int] = field(default_factory=list)
    """The domains where the customer books (the booking's parameters are in ``constraints``)."""

    def describe(self, domain: Domain) -> dict:
        """The goal in words, for transcripts and the TUI."""
        more = {}
        if domain.domains.n > 1:
            more["domains"] = [domain.domains.names[d] for d in self.domains]
        booking = set(domain.booking.slots)
        if self.book:
            more["book"] = {
                domain.inf_names[s]: domain.value_name(s, v)
                for s, v in enumerate(self.constraints)
                if v >= 0 and s in booking and domain.domains.slot[s] in self.book
            }
        return more | {
            "constraints": {
                domain.inf_names[s]: domain.value_name(s, v)
                for s, v in enumerate(self.constraints)
                if v >= 0 and s != domain.task_slot and s not in booking
            },
            "requests": [domain.req_names[r] for r in self.requests],
            "task": domain.task_names[self.task] if self.task >= 0 else None,
        }


def write_goal(C: Customers, i: int, goal: Goal) -> None:
    """Give row ``i``'s customer ``goal`` (then ``start`` it without drawing one)."""
    C.cons[i] = goal.constraints
    C.req[i] = False
    C.req[i, list(goal.requests)] = True
    C.task[i], C.entity[i] = goal.task, goal.entity
    C.doms[i] = -1
    C.doms[i, : len(goal.domains)] = goal.domains
    C.n_doms[i] = len(goal.domains)
    C.book[i] = False
    C.book[i, list(goal.book)] = True


class Tables(NamedTuple):
    """A scenario's customer model and channel as plain arrays (what the kernels read)."""

    kb_slots: np.ndarray  # int64 [n_kb]
    n_vals: np.ndarray  # int64 [n_inf]: number of values (= the dontcare index)
    kb_values: np.ndarray  # int64 [n_entities, n_inf]
    eq: np.ndarray  # bool [n_inf, max_values + 1, n_entities]; the last row matches all
    eq_bits: np.ndarray  # uint64 [n_inf, max_values + 1, words]: ``eq`` as bit sets
    all_bits: np.ndarray  # uint64 [words]: every entity
    task_slot: int
    constraint_prob: np.ndarray
    min_constraints: int
    request_prob: np.ndarray
    task_cdf: np.ndarray  # running sums of the task probabilities (empty: no tasks)
    satisfiable: float
    change_mind: float
    relax: float
    persona_cdf: np.ndarray
    p_lo: np.ndarray
    p_hi: np.ndarray
    p_coop: np.ndarray
    p_multi: np.ndarray
    act_kind: np.ndarray
    act_slot: np.ndarray
    act_task: np.ndarray
    error_rate: float
    p_act: float
    p_slot: float
    conf: np.ndarray  # float64 [2, 2]: Beta (a, b) of corrupted (row 0) and intact (row 1) acts
    conf_calibrated: bool  # report P(intact | score) instead of the score
    choices: np.ndarray  # int64 [8, 4]: act types a confused act may become, per true type
    n_choices: np.ndarray
    n_req: int
    # domains (one-domain scenarios: one domain holding every slot, entity and action)
    slot_dom: np.ndarray  # int64 [n_inf]
    req_dom: np.ndarray  # int64 [n_req]
    ent_dom: np.ndarray  # int64 [n_entities]
    act_dom: np.ndarray  # int64 [n_actions]: -1 for the actions every domain shares
    dom_inf: np.ndarray  # int64 [n_dom, 2]: each domain's informable slots, first and end
    dom_req: np.ndarray  # int64 [n_dom, 2]: its requestable slots
    dom_bits: np.ndarray  # uint64 [n_dom, words]: its entities as a bit set
    dom_min: np.ndarray  # int64 [n_dom]: min_constraints
    dom_sat: np.ndarray  # float64 [n_dom]: satisfiable
    mix: np.ndarray  # int64 [n_mix, n_dom]: kinds of goal, their domains in order (-1 padded)
    mix_cdf: np.ndarray  # running sums of their probabilities
    carry_slots: np.ndarray  # int64 [n_carry, n_dom]
    carry_prob: np.ndarray
    # what customers do besides pursuing their goal (``schema.Behaviour``; defaults: nothing)
    change: float  # on no match: change a constraint (after ``relax``, before hanging up)
    correct: float
    dontcare: float
    turn_cdf: np.ndarray  # running sums of the weights of 1, 2, ... pieces a turn (empty: none)
    alternative: float
    affirm_offer: float
    affirm_answer: float
    restate_booking: float
    affirm_rebook: float
    book_early: float
    book_together: float
    hello: float
    bye: float
    closing_negate: float
    closing_again: float
    # booking (``domain.booking``; no booking: nothing is a booking slot and no one books)
    is_book: np.ndarray  # bool [n_inf]: a booking parameter, not a KB column
    book_rate: np.ndarray  # float64 [n_dom]: probability a customer books in the domain
    book_avail: np.ndarray  # float64 [n_dom]: probability the first choice has room
    book_avail2: np.ndarray  # float64 [n_dom]: the same for other parameters
    book_prob: np.ndarray  # float64 [n_inf]: probability a booking names the slot
    book_cdf: np.ndarray  # float64 [n_inf, max_values]: running sums of its values' probabilities
    book_fail: np.ndarray  # float64 [n_inf]: weight of changing it when a booking fails


def tables(domain: Domain, error_rate: float) -> Tables:
    """Compile ``domain``'s customer model and a channel of ``error_rate`` into ``Tables``."""
    d = domain
    n_vals = np.array([len(v) for v in d.inf_values], dtype=np.int64)
    width = int(n_vals.max(initial=0)) + 1
    eq = np.ones((d.n_inf, width, d.n_entities), dtype=np.bool_)
    for s in d.kb_slots:
        for v in range(n_vals[s]):
            eq[s, v] = d.kb_eq[s][v]
    choices = np.full((8, 4), -1, dtype=np.int64)
    n_choices = np.zeros(8, dtype=np.int64)
    for kind in range(8):
        ch = [k for k in CONFUSABLE.tolist() if k != kind and (k != REQUEST or d.n_req)]
        choices[kind, : len(ch)] = ch
        n_choices[kind] = len(ch)
    p = d.personas
    D = d.domains
    b = d.behaviour
    n_dom = D.n
    slot_dom = np.array(D.slot, dtype=np.int64)
    req_dom = np.array(D.req, dtype=np.int64)
    dom_inf = np.zeros((n_dom, 2), dtype=np.int64)
    dom_req = np.zeros((n_dom, 2), dtype=np.int64)
    if n_dom == 1:  # the task pseudo-slot too: the channel may confuse it with the others
        dom_inf[0] = 0, d.n_inf
        dom_req[0] = 0, d.n_req
    else:
        for k in range(n_dom):
            own = np.flatnonzero(slot_dom == k)
            dom_inf[k] = own[0], own[-1] + 1
            own = np.flatnonzero(req_dom == k)
            dom_req[k] = (own[0], own[-1] + 1) if len(own) else (0, 0)
    ent_dom = np.asarray(D.entity, dtype=np.int64)
    mix = np.full((len(D.mix), n_dom), -1, dtype=np.int64)
    for m, doms in enumerate(D.mix):
        mix[m, : len(doms)] = doms
    return Tables(
        kb_slots=np.array(d.kb_slots, dtype=np.int64),
        n_vals=n_vals,
        kb_values=np.asarray(d.kb_values, dtype=np.int64),
        eq=eq,
        eq_bits=_bits(eq),
        all_bits=_bits(np.ones((1, 1, d.n_entities), dtype=np.bool_))[0, 0],
        task_slot=int(d.task_slot),
        constraint_prob=np.array(d.constraint_prob, dtype=np.float64),
        min_constraints=int(d.min_constraints),
        request_prob=np.array(d.request_prob, dtype=np.float64),
        task_cdf=np.cumsum(np.array(d.task_prob, dtype=np.float64)),
        satisfiable=float(d.satisfiable),
        change_mind=float(d.change_mind),
        relax=float(d.relax),
        persona_cdf=np.cumsum(np.asarray(d.persona_weights, dtype=np.float64)),
        p_lo=np.array([x.patience[0] for x in p], dtype=np.int64),
        p_hi=np.array([x.patience[1] for x in p], dtype=np.int64),
        p_coop=np.array([x.cooperativeness for x in p], dtype=np.float64),
        p_multi=np.array([x.multi_slot for x in p], dtype=np.float64),
        act_kind=np.array(d.act_kind, dtype=np.int64),
        act_slot=np.array(d.act_slot, dtype=np.int64),
        act_task=np.array(d.act_task, dtype=np.int64),
        error_rate=float(error_rate),
        p_act=float(d.confusion[0]),
        p_slot=float(d.confusion[1]),
        conf=np.array([d.conf_wrong, d.conf_correct], dtype=np.float64),
        conf_calibrated=bool(d.conf_calibrated),
        choices=choices,
        n_choices=n_choices,
        n_req=int(d.n_req),
        slot_dom=slot_dom,
        req_dom=req_dom,
        ent_dom=ent_dom,
        act_dom=np.array(D.act, dtype=np.int64),
        dom_inf=dom_inf,
        dom_req=dom_req,
        dom_bits=_bits(ent_dom[None, None, :] == np.arange(n_dom)[:, None, None])[:, 0],
        dom_min=np.array(D.min_constraints, dtype=np.int64),
        dom_sat=np.array(D.satisfiable, dtype=np.float64),
        mix=mix,
        mix_cdf=np.cumsum(np.asarray(D.mix_weights, dtype=np.float64)),
        carry_slots=np.asarray(D.carry_slots, dtype=np.int64).reshape(-1, n_dom),
        carry_prob=np.array(D.carry_prob, dtype=np.float64),
        change=float(d.change),
        correct=float(b.correct),
        dontcare=float(b.dontcare),
        turn_cdf=np.cumsum(np.array(b.slots_per_turn, dtype=np.float64)),
        alternative=float(b.alternative),
        affirm_offer=float(b.affirm_offer),
        affirm_answer=float(b.affirm_answer),
        restate_booking=float(b.restate_booking),
        affirm_rebook=float(b.affirm_rebook),
        book_early=float(b.book_early),
        book_together=float(b.book_together),
        hello=float(b.hello),
        bye=float(b.bye),
        closing_negate=float(b.closing_negate),
        closing_again=float(b.closing_again),
        **_booking_tables(d, n_vals, width),
    )


def _booking_tables(d: Domain, n_vals: np.ndarray, width: int) -> dict[str, np.ndarray]:
    bk = d.booking
    is_book = np.zeros(d.n_inf, dtype=np.bool_)
    is_book[list(bk.slots)] = True
    prob = np.zeros(d.n_inf)
    fail = np.zeros(d.n_inf)
    cdf = np.zeros((d.n_inf, width))
    for s in bk.slots:
        prob[s], fail[s] = bk.prob[s], bk.on_fail[s]
        cdf[s, : n_vals[s]] = np.cumsum(bk.weights[s])
    n_dom = d.domains.n
    return {
        "is_book": is_book,
        "book_rate": np.resize(np.array(bk.rate, dtype=np.float64), n_dom),
        "book_avail": np.resize(np.array(bk.available, dtype=np.float64), n_dom),
        "book_avail2": np.resize(np.array(bk.available_after, dtype=np.float64), n_dom),
        "book_prob": prob,
        "book_cdf": cdf,
        "book_fail": fail,
    }


def _bits(flags: np.ndarray) -> np.ndarray:
    """Bool [..., n] as uint64 bit sets [..., ceil(n / 64)]: bit b of word w is entity 64w + b."""
    n = flags.shape[-1]
    words = max((n + 63) // 64, 1)
    padded = np.zeros((*flags.shape[:-1], words * 64), dtype=np.uint64)
    padded[..., :n] = flags
    weights = np.left_shift(np.uint64(1), np.arange(64, dtype=np.uint64))
    return (padded.reshape(*flags.shape[:-1], words, 64) * weights).sum(axis=-1, dtype=np.uint64)


class Customers(NamedTuple):
    """Goals, personas, agendas and what was said and heard, one row per conversation."""

    seed: np.ndarray  # uint64: the episode's seed, root of every draw
    useed: np.ndarray  # uint64: this turn's seed for the customer's draws
    ukey: np.ndarray  # int64: this turn's key for the customer's draws
    ctr: np.ndarray  # int64: draws taken this turn
    turn: np.ndarray  # int64: the channel's key (the conversation's turn)
    cons: np.ndarray  # int64 [n, n_inf]: wanted value per informable slot, -1 none
    fixed: np.ndarray  # int64 [n, n_inf]: values a returning customer keeps, -1 none
    req: np.ndarray  # bool [n, n_req]
    task: np.ndarray
    entity: np.ndarray  # KB entity the goal was drawn from (its first domain's), or -1
    doms: np.ndarray  # int64 [n, n_dom]: the goal's domains in order, -1 padded
    n_doms: np.ndarray
    cur: np.ndarray  # the domain the customer is on (the first of theirs not yet met)
    persona: np.ndarray
    patience: np.ndarray  # float64
    start_patience: np.ndarray
    coop: np.ndarray
    multi: np.ndarray
    accepted: np.ndarray  # int64 [n, n_dom]: the entity accepted in each domain, -1 none
    book: np.ndarray  # bool [n, n_dom]: the customer books in the domain
    booked: np.ndarray  # bool [n, n_dom]: the agent booked the accepted entity as they want
    book_key: np.ndarray  # int64 [n, n_dom]: the key of the first choice's parameters
    alt: np.ndarray  # bool [n, n_dom]: asked for an alternative to an offer in the domain
    sys_kind: np.ndarray  # int64: the kind of the agent's act being answered, -1 none yet
    thanked: np.ndarray  # bool: thanked once and waits to close again (``closing.again``)
    informed: np.ndarray  # bool [n, n_req]
    task_done: np.ndarray  # bool
    outcome: np.ndarray
    annoyances: np.ndarray
    asked: np.ndarray  # int64 [n, n_inf]
    told: np.ndarray  # bool [n, n_inf]: informed after the opening turn
    spoken: np.ndarray  # bool [n, n_inf]: informed in any turn, the opening one included
    agenda: np.ndarray  # int64 [n, width, 3]: (kind, slot, value), bottom first
    agenda_n: np.ndarray
    out: np.ndarray  # int64 [n, width + 6, 3]: what the customer said this turn
    out_n: np.ndarray
    prev: np.ndarray  # what they said the turn before (a "repeat" gets it again)
    prev_n: np.ndarray
    heard: np.ndarray  # int64 [n, width + 6, 3]: what the channel let through
    heard_conf: np.ndarray  # float64 [n, width + 6]
    heard_n: np.ndarray
    said_codes: np.ndarray  # int64 [n, history]: every act said (ACT_KEYED pairing only)
    said_n: np.ndarray
    action_count: np.ndarray  # int64 [n, n_actions]: times the agent took each action


def customers(domain: Domain, n: int, pairing: int = TURN_KEYED) -> Customers:
    """Room for ``n`` conversations of ``domain`` (nothing drawn yet)."""
    d = domain
    width = 1 + d.n_req + len(d.kb_slots) + len(d.booking.slots) + (1 if d.task_names else 0)
    # room for what the behaviours add to a turn (a greeting, a correction, "no, that's all"),
    # only when they are on: every array keeps its size for a scenario without them
    said = width + 6 + (0 if d.behaviour == BehaviourParams() else 4)
    history = (d.max_turns + 2) * said if pairing == ACT_KEYED else 1

    def ints(*shape: int, fill: int = 0) -> np.ndarray:
        return np.full(shape, fill, dtype=np.int64)

    return Customers(
        seed=np.zeros(n, dtype=np.uint64),
        useed=np.zeros(n, dtype=np.uint64),
        ukey=ints(n),
        ctr=ints(n),
        turn=ints(n),
        cons=ints(n, d.n_inf, fill=-1),
        fixed=ints(n, d.n_inf, fill=-1),
        req=np.zeros((n, d.n_req), dtype=np.bool_),
        task=ints(n, fill=-1),
        entity=ints(n, fill=-1),
        doms=ints(n, d.domains.n, fill=-1),
        n_doms=ints(n),
        cur=ints(n),
        persona=ints(n),
        patience=np.zeros(n),
        start_patience=np.zeros(n),
        coop=np.zeros(n),
        multi=np.zeros(n),
        accepted=ints(n, d.domains.n, fill=-1),
        book=np.zeros((n, d.domains.n), dtype=np.bool_),
        booked=np.zeros((n, d.domains.n), dtype=np.bool_),
        book_key=ints(n, d.domains.n, fill=-1),
        alt=np.zeros((n, d.domains.n), dtype=np.bool_),
        sys_kind=ints(n, fill=-1),
        thanked=np.zeros(n, dtype=np.bool_),
        informed=np.zeros((n, d.n_req), dtype=np.bool_),
        task_done=np.zeros(n, dtype=np.bool_),
        outcome=ints(n),
        annoyances=ints(n),
        asked=ints(n, d.n_inf),
        told=np.zeros((n, d.n_inf), dtype=np.bool_),
        spoken=np.zeros((n, d.n_inf), dtype=np.bool_),
        agenda=ints(n, width, 3, fill=-1),
        agenda_n=ints(n),
        out=ints(n, said, 3, fill=-1),
        out_n=ints(n),
        prev=ints(n, said, 3, fill=-1),
        prev_n=ints(n),
        heard=ints(n, said, 3, fill=-1),
        heard_conf=np.zeros((n, said)),
        heard_n=ints(n),
        said_codes=ints(n, history),
        said_n=ints(n),
        action_count=ints(n, d.n_actions),
    )


# The kernels take ``Tables`` and ``Customers`` as numba struct references over the same arrays
# (``as_struct``): numba types a struct in one step, a NamedTuple field by field on every call.


class ArrayStruct(types.StructRef):
    """A numba struct of arrays and numbers (literal types widened): the engine's state types."""

    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(t)) for name, t in fields)


@structref.register
class _TablesStruct(ArrayStruct):
    pass


@structref.register
class _CustomersStruct(ArrayStruct):
    pass


class _TablesRef(structref.StructRefProxy):
    pass


class _CustomersRef(structref.StructRefProxy):
    pass


structref.define_proxy(_TablesRef, _TablesStruct, list(Tables._fields))
structref.define_proxy(_CustomersRef, _CustomersStruct, list(Customers._fields))


# Built by cached kernels: a proxy class's own constructor compiles anew in every process (about
# a second per struct type, at the start of every command).
@njit
def _new_tables(*fields):
    return _TablesRef(*fields)


@njit
def _new_customers(*fields):
    return _CustomersRef(*fields)


def as_struct(state: Tables | Customers) -> structref.StructRefProxy:
    """The kernels' handle on ``state``: a numba struct whose fields are the same arrays (the
    NamedTuple itself when numba runs as plain Python, ``NUMBA_DISABLE_JIT=1``)."""
    if config.DISABLE_JIT:
        return state
    return (_new_tables if isinstance(state, Tables) else _new_customers)(*state)


@njit(cache=True, inline="always")
def covers(k: int, slot: int, bits: int) -> bool:
    """Whether an act about ``slot`` (or, -1: about every slot in the bits of ``bits``, as an
    inform or a request without a slot is) is about slot ``k``."""
    return k == slot or (slot < 0 and (bits >> k) & 1 == 1)
