"""Belief-state tracker: what the agent believes, built only from observed acts and its own acts.

For each informable slot it keeps the top hypothesis and its confidence (a focus tracker in the
spirit of PyDial's): repeated evidence for a value compounds, fresh conflicting evidence replaces
it when confident enough, an affirmed confirmation locks it in, a negated one knocks it out.
It never sees the user's goal, only ``(type, slot, value, confidence)`` acts.

State is a struct of arrays (``Beliefs``, one row per conversation); the functions work on one
row and are compiled with numba, like ``simulators.customer``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from dialog_rl.acts import (
    AFFIRM,
    INFORM,
    NEGATE,
    REQUEST,
    SYS_BOOK,
    SYS_CONFIRM,
    SYS_INFORM,
    SYS_OFFER,
    SYS_PERFORM,
    SYS_REQUEST,
)
from dialog_rl.domain import Domain
from dialog_rl.jit import njit
from simulators.customer_state import Tables, covers

OFFER_NONE, OFFER_PENDING, OFFER_ACCEPTED, OFFER_REJECTED = range(4)
BOOK_NONE, BOOK_FAILED, BOOK_MADE = range(3)


class Beliefs(NamedTuple):
    """What the agent believes, one row per conversation."""

    values: np.ndarray  # int64 [n, n_inf]: top value per informable slot, -1 unknown
    conf: np.ndarray  # float64 [n, n_inf]
    confirmed: np.ndarray  # bool [n, n_inf]
    asked: np.ndarray  # int64 [n, n_inf]: times the agent asked for the slot
    requested: np.ndarray  # bool [n, n_req]: the customer asked for it
    informed: np.ndarray  # bool [n, n_req]: the agent told it
    offered: np.ndarray  # entity on offer in the active domain, -1 none
    offer_state: np.ndarray  # its state (OFFER_NONE ...)
    offers: np.ndarray  # int64 [n, n_dom]: the entity on offer in each domain
    offer_states: np.ndarray  # int64 [n, n_dom]
    bookings: np.ndarray  # int64 [n, n_dom]: the booking of each domain's offer (BOOK_NONE ...)
    dom: np.ndarray  # the active domain: the one the customer last spoke of, or the agent's
    no_match: np.ndarray  # bool: the agent just said nothing matches
    rejected: np.ndarray  # bool [n, n_entities]: offers the customer turned down
    performed: np.ndarray  # task the agent performed and the customer did not reject, -1
    last_kind: np.ndarray  # the agent's last act: kind, slot and value
    last_slot: np.ndarray
    last_value: np.ndarray
    bits: np.ndarray  # bit mask of the user act types observed this turn
    turn: np.ndarray  # turns of observed acts, the opening one included


def beliefs(domain: Domain, n: int) -> Beliefs:
    """Room for ``n`` conversations' beliefs."""
    d = domain

    def ints(*shape: int) -> np.ndarray:
        return np.full(shape, -1, dtype=np.int64)

    def flags(*shape: int) -> np.ndarray:
        return np.zeros(shape, dtype=np.bool_)

    return Beliefs(
        values=ints(n, d.n_inf),
        conf=np.zeros((n, d.n_inf)),
        confirmed=flags(n, d.n_inf),
        asked=ints(n, d.n_inf),
        requested=flags(n, d.n_req),
        informed=flags(n, d.n_req),
        offered=ints(n),
        offer_state=ints(n),
        offers=ints(n, d.domains.n),
        offer_states=ints(n, d.domains.n),
        bookings=ints(n, d.domains.n),
        dom=ints(n),
        no_match=flags(n),
        rejected=flags(n, d.n_entities),
        performed=ints(n),
        last_kind=ints(n),
        last_slot=ints(n),
        last_value=ints(n),
        bits=ints(n),
        turn=ints(n),
    )


@njit(cache=True)
def reset(B: Beliefs, i: int) -> None:
    B.values[i, :] = -1
    B.conf[i, :] = 0.0
    B.confirmed[i, :] = False
    B.asked[i, :] = 0
    B.requested[i, :] = False
    B.informed[i, :] = False
    B.offered[i] = -1
    B.offer_state[i] = OFFER_NONE
    B.offers[i, :] = -1
    B.offer_states[i, :] = OFFER_NONE
    B.bookings[i, :] = BOOK_NONE
    B.dom[i] = 0
    B.no_match[i] = False
    B.rejected[i, :] = False
    B.performed[i] = -1
    B.last_kind[i] = -1
    B.last_slot[i] = -1
    B.last_value[i] = -1
    B.bits[i] = 0
    B.turn[i] = 0


@njit(cache=True, inline="always")
def _popcount(x: np.uint64) -> int:
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return int((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@njit(cache=True)
def n_matches(T: Tables, values: np.ndarray, rejected: np.ndarray, first: bool, d: int) -> int:
    """How many entities of domain ``d`` are consistent with ``values``; with ``first``, the
    first one not ``rejected`` instead (-1 if none). Unknown and dontcare values constrain nothing.

    Works on bit sets of entities (64 per word), so a 110-row KB costs two words per slot."""
    count = 0
    for w in range(len(T.all_bits)):
        word = T.dom_bits[d, w]
        for s in T.kb_slots:
            v = values[s]
            if T.slot_dom[s] == d and 0 <= v < T.n_vals[s]:
                word &= T.eq_bits[s, v, w]
        if not first:
            count += _popcount(word)
            continue
        b = 0
        while word != 0:
            if word & np.uint64(1):
                e = 64 * w + b
                if not rejected[e]:
                    return e
            word >>= np.uint64(1)
            b += 1
    return -1 if first else count


@njit(cache=True)
def act_domain(T: Tables, B: Beliefs, i: int, action: int) -> int:
    """The domain ``action`` is about: its own, its slot's, or (shared acts) the active one."""
    if T.act_kind[action] == SYS_INFORM and T.act_slot[action] >= 0:
        return T.req_dom[T.act_slot[action]]
    d = T.act_dom[action]
    return B.dom[i] if d < 0 else d


@njit(cache=True)
def act_arguments(T: Tables, B: Beliefs, i: int, action: int) -> tuple[int, int]:
    """What the agent's ``action`` carries in row ``i``'s state: the value a confirmation asks
    about (for an inform without a slot, the requestable slots it answers as bits; for a request
    without one, the informable slots it asks for as bits; else -1) and
    the entity it is about: for an offer the first matching entity not rejected (-1: nothing
    matches), else the entity on offer in its domain."""
    kind = T.act_kind[action]
    slot = T.act_slot[action]
    d = act_domain(T, B, i, action)
    value, entity = -1, B.offers[i, d]
    if kind == SYS_OFFER:
        entity = n_matches(T, B.values[i], B.rejected[i], True, d)
    elif kind == SYS_CONFIRM:
        v = B.values[i, slot]
        value = v if v >= 0 else T.n_vals[slot]
    elif kind == SYS_INFORM and slot < 0:
        value = asked_bits(T, B, i, d)
    elif kind == SYS_REQUEST and slot < 0:
        value = unknown_bits(T, B, i, d)
    return value, entity


@njit(cache=True)
def unknown_bits(T: Tables, B: Beliefs, i: int, d: int) -> int:
    """The slots of domain ``d`` that narrow its search (customers may constrain them) which row
    ``i``'s agent has no value for and has not asked for twice yet, as bits."""
    bits = 0
    for s in T.kb_slots:
        asking = T.slot_dom[s] == d and T.constraint_prob[s] > 0
        if asking and B.values[i, s] < 0 and B.asked[i, s] < 2:
            bits |= 1 << s
    return bits


@njit(cache=True)
def asked_bits(T: Tables, B: Beliefs, i: int, d: int) -> int:
    """The requestable slots of domain ``d`` row ``i``'s agent heard asked about, as bits."""
    bits = 0
    for r in range(B.requested.shape[1]):
        if B.requested[i, r] and T.req_dom[r] == d:
            bits |= 1 << r
    return bits


@njit(cache=True)
def system_act(T: Tables, B: Beliefs, i: int, action: int, value: int, entity: int) -> None:
    """Record the agent's act (and the entity or value it was about)."""
    kind = T.act_kind[action]
    slot = T.act_slot[action]
    B.last_kind[i], B.last_slot[i], B.last_value[i] = kind, slot, value
    B.no_match[i] = False
    d = act_domain(T, B, i, action)
    if kind == SYS_REQUEST:  # one slot, or (no slot) those in the bits of ``value``
        for s in range(B.asked.shape[1]):
            if covers(s, slot, value):
                B.asked[i, s] += 1
    elif kind == SYS_OFFER:
        if entity != B.offers[i, d]:
            B.bookings[i, d] = BOOK_NONE
        B.offers[i, d] = entity
        B.no_match[i] = entity < 0
        B.offer_states[i, d] = OFFER_PENDING if entity >= 0 else OFFER_NONE
    elif kind == SYS_INFORM and B.offers[i, d] >= 0:
        for r in range(B.requested.shape[1]):
            if covers(r, slot, value):
                B.requested[i, r] = False
                B.informed[i, r] = True
    elif kind == SYS_PERFORM and B.offers[i, d] >= 0:
        B.performed[i] = T.act_task[action]
    elif kind == SYS_BOOK and entity >= 0:
        B.bookings[i, d] = BOOK_MADE if value == 1 else BOOK_FAILED
    if kind != SYS_INFORM:  # the agent moved the conversation to its act's domain
        B.dom[i] = d
    _sync(B, i)


@njit(cache=True, inline="always")
def _sync(B: Beliefs, i: int) -> None:
    """``offered`` and ``offer_state``: those of the active domain."""
    B.offered[i] = B.offers[i, B.dom[i]]
    B.offer_state[i] = B.offer_states[i, B.dom[i]]


@njit(cache=True)
def observe(
    T: Tables, B: Beliefs, i: int, heard: np.ndarray, conf: np.ndarray, n_heard: int
) -> None:
    """Update row ``i``'s belief with one turn of observed acts, in order."""
    B.turn[i] += 1
    bits = 0
    kind = B.last_kind[i]
    ls = B.last_slot[i]
    correcting = False  # "No, it's X": a value after a negation replaces what we had
    offered = B.offered[i]  # what the agent's act offered (before the customer moves on)
    d_offer = B.dom[i]
    for p in range(n_heard):
        act_type, slot, value, c = heard[p, 0], heard[p, 1], heard[p, 2], conf[p]
        bits |= 1 << act_type
        confirm = kind == SYS_CONFIRM and B.values[i, ls] == B.last_value[i]
        offer = kind == SYS_OFFER and offered >= 0
        if act_type == INFORM:
            _inform(T, B, i, slot, value, c, correcting)
            if slot != T.task_slot:
                B.dom[i] = T.slot_dom[slot]
        elif act_type == REQUEST:
            B.requested[i, slot] = True
            B.dom[i] = T.req_dom[slot]
        elif act_type == AFFIRM:
            if confirm:
                B.conf[i, ls] = 1.0 - (1.0 - B.conf[i, ls]) * (1.0 - c)
                B.confirmed[i, ls] = c >= 0.5
            elif offer:
                B.offer_states[i, d_offer] = OFFER_ACCEPTED
        elif act_type == NEGATE:
            correcting = kind in (SYS_CONFIRM, SYS_OFFER)
            if confirm:
                B.conf[i, ls] *= 1.0 - c
                B.confirmed[i, ls] = False
                if B.conf[i, ls] < 0.05:
                    B.values[i, ls] = -1
                    B.conf[i, ls] = 0.0
            elif offer:
                B.offer_states[i, d_offer] = OFFER_REJECTED
                B.rejected[i, offered] = True
            elif kind == SYS_PERFORM:
                B.performed[i] = -1
            elif kind == SYS_BOOK:  # "no, for 4 people": that booking is not theirs
                B.bookings[i, d_offer] = BOOK_NONE
    B.bits[i] = bits
    _sync(B, i)


@njit(cache=True)
def _inform(T: Tables, B: Beliefs, i: int, slot: int, value: int, c: float, correcting: bool):
    before = B.values[i, slot]
    if B.values[i, slot] == value:
        B.conf[i, slot] = 1.0 - (1.0 - B.conf[i, slot]) * (1.0 - c)
    elif correcting or c >= 0.5 * B.conf[i, slot]:
        # Newer evidence wins unless it is much weaker: customers do change their minds.
        B.values[i, slot] = value
        B.conf[i, slot] = c
        B.confirmed[i, slot] = False
    else:
        B.conf[i, slot] *= 1.0 - c
    # A changed constraint may invalidate the entity on offer and any task done on it.
    if slot == T.task_slot:
        return
    d = T.slot_dom[slot]
    if T.is_book[slot]:  # a booking's parameter changed: the booking made or refused is void
        if B.values[i, slot] != before:
            B.bookings[i, d] = BOOK_NONE
        return
    e = B.offers[i, d]
    if e >= 0:
        v = B.values[i, slot]
        if 0 <= v < T.n_vals[slot] and T.kb_values[e, slot] != v:
            B.offer_states[i, d] = OFFER_REJECTED
