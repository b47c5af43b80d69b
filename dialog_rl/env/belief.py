"""The agent's side of a turn: belief tracking, the observation vector and the action mask.

The tracker keeps, per informable slot, the top hypothesis and its confidence (a focus tracker in
the spirit of PyDial's): repeated evidence for a value compounds, fresh conflicting evidence
replaces it when confident enough, an affirmed confirmation locks it in, a negated one knocks it
out. It sees only observed ``(type, slot, value, confidence)`` acts, never the customer's goal.

The observation is a summary space in PyDial's sense (per slot "how sure am I", not "which
value"), laid out as ``observation_spec`` names it; the mask allows the actions that make sense
now (``mask_reasons`` says why the others do not).

State is a struct of arrays (``Beliefs``, one row per conversation); the functions work on one
row and are compiled with numba, like ``simulators.customer``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from dialog_rl.acts import (
    AFFIRM,
    INFORM,
    N_USER_ACTS,
    NEGATE,
    REQUEST,
    SYS_CONFIRM,
    SYS_GREET,
    SYS_INFORM,
    SYS_OFFER,
    SYS_PERFORM,
    SYS_REQUEST,
)
from dialog_rl.env.featurizer import MATCH_BUCKETS, observation_spec
from dialog_rl.jit import njit
from dialog_rl.scenario import Domain
from dialog_rl.scenario.schema import ACT_KINDS
from simulators.customer import mismatch
from simulators.customer_state import Tables

OFFER_NONE, OFFER_PENDING, OFFER_ACCEPTED, OFFER_REJECTED = range(4)


class Beliefs(NamedTuple):
    """What the agent believes, one row per conversation."""

    values: np.ndarray  # int64 [n, n_inf]: top value per informable slot, -1 unknown
    conf: np.ndarray  # float64 [n, n_inf]
    confirmed: np.ndarray  # bool [n, n_inf]
    asked: np.ndarray  # int64 [n, n_inf]: times the agent asked for the slot
    requested: np.ndarray  # bool [n, n_req]: the customer asked for it
    informed: np.ndarray  # bool [n, n_req]: the agent told it
    offered: np.ndarray  # entity on offer, -1 none
    offer_state: np.ndarray
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
        no_match=flags(n),
        rejected=flags(n, d.n_entities),
        performed=ints(n),
        last_kind=ints(n),
        last_slot=ints(n),
        last_value=ints(n),
        bits=ints(n),
        turn=ints(n),
    )


class Layout(NamedTuple):
    """Where each group of features starts in the observation, and the mask's inputs."""

    req0: int
    task0: int
    n_tasks: int
    glob0: int
    match0: int
    user0: int
    last0: int
    turn: int
    max_turns: int
    act_requires: np.ndarray  # bool [n_actions, n_inf]


def layout(domain: Domain, max_turns: int) -> Layout:
    d = domain
    req0 = 5 * d.n_inf
    task0 = req0 + 2 * d.n_req
    glob0 = task0 + len(d.task_names)
    match0 = glob0 + 6
    user0 = match0 + len(MATCH_BUCKETS)
    last0 = user0 + N_USER_ACTS
    requires = np.zeros((d.n_actions, d.n_inf), dtype=np.bool_)
    for a, slots in enumerate(d.act_requires):
        if d.act_kind[a] in (SYS_PERFORM, SYS_OFFER):
            requires[a, list(slots)] = True
    turn = last0 + len(ACT_KINDS)
    assert turn + 1 == observation_spec(d).size
    return Layout(
        req0, task0, len(d.task_names), glob0, match0, user0, last0, turn, max_turns, requires
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
def n_matches(T: Tables, values: np.ndarray, rejected: np.ndarray, first: bool) -> int:
    """How many KB entities are consistent with ``values``; with ``first``, the first one not
    ``rejected`` instead (-1 if none). Unknown and dontcare values constrain nothing.

    Works on bit sets of entities (64 per word), so a 110-row KB costs two words per slot."""
    count = 0
    for w in range(len(T.all_bits)):
        word = T.all_bits[w]
        for s in T.kb_slots:
            v = values[s]
            if 0 <= v < T.n_vals[s]:
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
def system_act(T: Tables, B: Beliefs, i: int, action: int, value: int, entity: int) -> None:
    """Record the agent's act (and the entity or value it was about)."""
    kind = T.act_kind[action]
    slot = T.act_slot[action]
    B.last_kind[i], B.last_slot[i], B.last_value[i] = kind, slot, value
    B.no_match[i] = False
    if kind == SYS_REQUEST:
        B.asked[i, slot] += 1
    elif kind == SYS_OFFER:
        B.offered[i] = entity
        B.no_match[i] = entity < 0
        B.offer_state[i] = OFFER_PENDING if entity >= 0 else OFFER_NONE
    elif kind == SYS_INFORM and B.offered[i] >= 0:
        B.requested[i, slot] = False
        B.informed[i, slot] = True
    elif kind == SYS_PERFORM and B.offered[i] >= 0:
        B.performed[i] = T.act_task[action]


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
    for p in range(n_heard):
        act_type, slot, value, c = heard[p, 0], heard[p, 1], heard[p, 2], conf[p]
        bits |= 1 << act_type
        confirm = kind == SYS_CONFIRM and B.values[i, ls] == B.last_value[i]
        offer = kind == SYS_OFFER and B.offered[i] >= 0
        if act_type == INFORM:
            _inform(T, B, i, slot, value, c, correcting)
        elif act_type == REQUEST:
            B.requested[i, slot] = True
        elif act_type == AFFIRM:
            if confirm:
                B.conf[i, ls] = 1.0 - (1.0 - B.conf[i, ls]) * (1.0 - c)
                B.confirmed[i, ls] = c >= 0.5
            elif offer:
                B.offer_state[i] = OFFER_ACCEPTED
        elif act_type == NEGATE:
            correcting = kind in (SYS_CONFIRM, SYS_OFFER)
            if confirm:
                B.conf[i, ls] *= 1.0 - c
                B.confirmed[i, ls] = False
                if B.conf[i, ls] < 0.05:
                    B.values[i, ls] = -1
                    B.conf[i, ls] = 0.0
            elif offer:
                B.offer_state[i] = OFFER_REJECTED
                B.rejected[i, B.offered[i]] = True
            elif kind == SYS_PERFORM:
                B.performed[i] = -1
    B.bits[i] = bits


@njit(cache=True)
def _inform(T: Tables, B: Beliefs, i: int, slot: int, value: int, c: float, correcting: bool):
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
    e = B.offered[i]
    if e >= 0 and slot != T.task_slot:
        v = B.values[i, slot]
        if 0 <= v < T.n_vals[slot] and T.kb_values[e, slot] != v:
            B.offer_state[i] = OFFER_REJECTED


@njit(cache=True)
def featurize(T: Tables, L: Layout, B: Beliefs, i: int, obs: np.ndarray, mask: np.ndarray):
    """Row ``i``'s observation (in ``observation_spec`` order) and action mask, in place."""
    obs[:] = 0.0
    values = B.values[i]
    for s in range(len(values)):
        v = values[s]
        a = B.asked[i, s]
        o = 5 * s
        if v >= 0:
            obs[o] = 1.0
            obs[o + 1] = B.conf[i, s]
            obs[o + 3] = 1.0 if v == T.n_vals[s] else 0.0
        obs[o + 2] = 1.0 if B.confirmed[i, s] else 0.0
        obs[o + 4] = 1.0 if a >= 3 else a / 3.0
    for r in range(B.requested.shape[1]):
        obs[L.req0 + 2 * r] = 1.0 if B.requested[i, r] else 0.0
        obs[L.req0 + 2 * r + 1] = 1.0 if B.informed[i, r] else 0.0
    if L.n_tasks:
        t = values[T.task_slot]
        if 0 <= t < L.n_tasks:
            obs[L.task0 + t] = 1.0
    g = L.glob0
    e = B.offered[i]
    if e >= 0:
        obs[g] = 1.0
        obs[g + 1] = 1.0 if mismatch(T, e, values, True) < 0 else 0.0
        obs[g + 2] = 1.0 if B.offer_state[i] == OFFER_ACCEPTED else 0.0
        obs[g + 3] = 1.0 if B.offer_state[i] == OFFER_REJECTED else 0.0
    obs[g + 4] = 1.0 if B.no_match[i] else 0.0
    if T.task_slot >= 0 and B.performed[i] >= 0 and B.performed[i] == values[T.task_slot]:
        obs[g + 5] = 1.0
    n = n_matches(T, values, B.rejected[i], False)
    obs[L.match0 + (0 if n == 0 else 1 if n == 1 else 2 if n <= 5 else 3)] = 1.0
    for k in range(N_USER_ACTS):
        obs[L.user0 + k] = (B.bits[i] >> k) & 1
    if B.last_kind[i] >= 0:
        obs[L.last0 + B.last_kind[i]] = 1.0
    obs[L.turn] = min(B.turn[i] / L.max_turns, 1.0)
    # the mask: what makes sense now
    for a in range(len(mask)):
        kind = T.act_kind[a]
        s = T.act_slot[a]
        ok = True
        if kind == SYS_GREET:
            ok = B.turn[i] <= 1
        elif kind == SYS_REQUEST:
            ok = not B.confirmed[i, s]
        elif kind == SYS_CONFIRM:
            ok = not B.confirmed[i, s] and values[s] >= 0
        elif kind in (SYS_INFORM, SYS_PERFORM):
            ok = e >= 0
        if ok and (kind in (SYS_PERFORM, SYS_OFFER)):
            for t in range(len(values)):
                if L.act_requires[a, t] and values[t] < 0:
                    ok = False
        mask[a] = 1 if ok else 0


def mask_reasons(domain: Domain, B: Beliefs, i: int) -> list[str]:
    """Per action: why it is masked for row ``i`` now, or "" if it is allowed."""
    d = domain
    out = []
    turn, values, confirmed = int(B.turn[i]), B.values[i], B.confirmed[i]
    for a in range(d.n_actions):
        kind, slot = d.act_kind[a], d.act_slot[a]
        reason = ""
        if kind == SYS_GREET and turn > 1:
            reason = "greet only opens a conversation"
        elif kind == SYS_REQUEST and confirmed[slot]:
            reason = f"{d.inf_names[slot]} is already confirmed"
        elif kind == SYS_CONFIRM and values[slot] < 0:
            reason = f"nothing heard for {d.inf_names[slot]} yet"
        elif kind == SYS_CONFIRM and confirmed[slot]:
            reason = f"{d.inf_names[slot]} is already confirmed"
        elif kind in (SYS_INFORM, SYS_PERFORM) and B.offered[i] < 0:
            reason = "no entity offered yet"
        elif kind in (SYS_PERFORM, SYS_OFFER) and d.act_requires[a]:
            missing = [d.inf_names[s] for s in d.act_requires[a] if values[s] < 0]
            if missing:
                reason = "needs " + ", ".join(missing) + " first"
        out.append(reason)
    return out
