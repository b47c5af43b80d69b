"""Featurizer: belief state -> fixed-size observation vector and action mask.

The observation is a summary space in PyDial's sense: per slot "how sure am I", not "which value",
so the same learner works on any scenario of the same shape. ``ObservationSpec`` names every
feature, which lets rule policies and the TUI read it by name. ``featurize`` is compiled (numba)
and works on one row of ``dialog_rl.env.tracker.Beliefs``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from dialog_rl.acts import (
    N_USER_ACTS,
    SYS_BOOK,
    SYS_CONFIRM,
    SYS_GREET,
    SYS_INFORM,
    SYS_OFFER,
    SYS_PERFORM,
    SYS_REQUEST,
    USER_ACT_NAMES,
)
from dialog_rl.domain import Domain
from dialog_rl.env.tracker import (
    BOOK_FAILED,
    BOOK_MADE,
    OFFER_ACCEPTED,
    OFFER_REJECTED,
    Beliefs,
    asked_bits,
    n_matches,
    unknown_bits,
)
from dialog_rl.jit import njit
from dialog_rl.scenario.schema import ACT_KINDS
from simulators.customer import mismatch
from simulators.customer_state import Tables

SLOT_FEATURES = ("known", "conf", "confirmed", "dontcare", "asked")
MATCH_BUCKETS = ("matches_0", "matches_1", "matches_2_5", "matches_6_plus")
#: the active domain's booking (scenarios with booking only): the customer gave a parameter,
#: the agent booked, the entity had no room
BOOKING_FEATURES = ("booking.wanted", "booking.made", "booking.failed")


def _act_kinds(domain: Domain) -> tuple[str, ...]:
    """The act kinds the observation's ``last.*`` features name: ``book`` (the last kind) only
    in a scenario with booking, so other scenarios keep their observation."""
    return ACT_KINDS if domain.booking.on else ACT_KINDS[:SYS_BOOK]


@dataclass(frozen=True)
class ObservationSpec:
    """Names of the observation's features and the action catalog, for reading vectors by name."""

    names: tuple[str, ...]
    action_names: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def to_dict(self) -> dict:
        return {"features": list(self.names), "actions": list(self.action_names)}


def observation_spec(domain: Domain) -> ObservationSpec:
    names: list[str] = []
    for slot in domain.inf_names:
        names += [f"{slot}.{f}" for f in SLOT_FEATURES]
    for slot in domain.req_names:
        names += [f"{slot}.requested", f"{slot}.informed"]
    names += [f"task.is_{t}" for t in domain.task_names]
    names += [
        "offer.made",
        "offer.matches_belief",
        "offer.accepted",
        "offer.rejected",
        "offer.no_match",
    ]
    names += ["task.performed"]
    names += list(MATCH_BUCKETS)
    names += [f"user.{a}" for a in USER_ACT_NAMES]
    names += [f"last.{k}" for k in _act_kinds(domain)]
    if domain.domains.n > 1:  # which domain the conversation is in
        names += [f"domain.{name}" for name in domain.domains.names]
    if domain.booking.on:
        names += list(BOOKING_FEATURES)
    names += ["turn"]
    return ObservationSpec(tuple(names), domain.act_names)


class Layout(NamedTuple):
    """Where each group of features starts in the observation, and the mask's inputs."""

    req0: int
    task0: int
    n_tasks: int
    glob0: int
    match0: int
    user0: int
    last0: int
    dom0: int  # the active domain's one-hot (several domains only)
    n_dom: int
    book0: int  # BOOKING_FEATURES (scenarios with booking), or -1
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
        if d.act_kind[a] in (SYS_PERFORM, SYS_OFFER, SYS_BOOK):
            requires[a, list(slots)] = True
    dom0 = last0 + len(_act_kinds(d))
    n_dom = d.domains.n if d.domains.n > 1 else 0
    book0 = dom0 + n_dom if d.booking.on else -1
    turn = dom0 + n_dom + (len(BOOKING_FEATURES) if d.booking.on else 0)
    assert turn + 1 == observation_spec(d).size
    return Layout(
        req0,
        task0,
        len(d.task_names),
        glob0,
        match0,
        user0,
        last0,
        dom0,
        n_dom,
        book0,
        turn,
        max_turns,
        requires,
    )


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
    d = B.dom[i]
    n = n_matches(T, values, B.rejected[i], False, d)
    obs[L.match0 + (0 if n == 0 else 1 if n == 1 else 2 if n <= 5 else 3)] = 1.0
    for k in range(N_USER_ACTS):
        obs[L.user0 + k] = (B.bits[i] >> k) & 1
    if B.last_kind[i] >= 0:
        obs[L.last0 + B.last_kind[i]] = 1.0
    if L.n_dom:
        obs[L.dom0 + d] = 1.0
    if L.book0 >= 0:
        for s in range(T.dom_inf[d, 0], T.dom_inf[d, 1]):
            if T.is_book[s] and 0 <= values[s] < T.n_vals[s]:
                obs[L.book0] = 1.0
        obs[L.book0 + 1] = 1.0 if B.bookings[i, d] == BOOK_MADE else 0.0
        obs[L.book0 + 2] = 1.0 if B.bookings[i, d] == BOOK_FAILED else 0.0
    obs[L.turn] = min(B.turn[i] / L.max_turns, 1.0)
    # the mask: what makes sense now
    for a in range(len(mask)):
        kind = T.act_kind[a]
        s = T.act_slot[a]
        ok = True
        ad = T.act_dom[a]
        if kind == SYS_INFORM and ad >= 0:
            ok = B.offers[i, ad] >= 0  # answers about any domain's entity on offer
            if s < 0:  # answers everything asked about it: something must be
                ok = ok and asked_bits(T, B, i, ad) != 0
        elif ad >= 0 and ad != d:
            ok = False  # the other domains' requests, confirmations and offers wait
        elif kind == SYS_GREET:
            ok = B.turn[i] <= 1
        elif kind == SYS_REQUEST:  # (no slot: something to ask for)
            ok = not B.confirmed[i, s] if s >= 0 else unknown_bits(T, B, i, d) != 0
        elif kind == SYS_CONFIRM:
            ok = not B.confirmed[i, s] and values[s] >= 0
        elif kind in (SYS_PERFORM, SYS_BOOK) or (kind == SYS_INFORM and ad < 0):
            ok = e >= 0 and (kind != SYS_INFORM or s >= 0 or asked_bits(T, B, i, d) != 0)
        if ok and kind in (SYS_PERFORM, SYS_OFFER, SYS_BOOK):
            for t in range(len(values)):
                if L.act_requires[a, t] and values[t] < 0:
                    ok = False
        mask[a] = 1 if ok else 0


def mask_reasons(domain: Domain, B: Beliefs, i: int) -> list[str]:
    """Per action: why it is masked for row ``i`` now, or "" if it is allowed."""
    d = domain
    out = []
    turn, values, confirmed = int(B.turn[i]), B.values[i], B.confirmed[i]
    names = d.domains.names
    active = int(B.dom[i])
    for a in range(d.n_actions):
        kind, slot = d.act_kind[a], d.act_slot[a]
        ad = d.domains.act[a]
        reason = ""
        asked = kind == SYS_INFORM and slot < 0 and not _asked(d, B, i, active if ad < 0 else ad)
        if kind == SYS_INFORM and ad >= 0:
            if B.offers[i, ad] < 0:
                reason = f"no {names[ad]} offered yet"
            elif asked:
                reason = "nothing asked about it"
        elif ad >= 0 and ad != active:
            reason = f"the conversation is about the {names[active]}"
        elif kind == SYS_GREET and turn > 1:
            reason = "greet only opens a conversation"
        elif kind == SYS_REQUEST and slot < 0 and not _unknown(d, B, i, active):
            reason = "nothing left to ask for"
        elif kind == SYS_REQUEST and slot >= 0 and confirmed[slot]:
            reason = f"{d.inf_names[slot]} is already confirmed"
        elif kind == SYS_CONFIRM and values[slot] < 0:
            reason = f"nothing heard for {d.inf_names[slot]} yet"
        elif kind == SYS_CONFIRM and confirmed[slot]:
            reason = f"{d.inf_names[slot]} is already confirmed"
        elif kind in (SYS_INFORM, SYS_PERFORM, SYS_BOOK) and B.offered[i] < 0:
            reason = "no entity offered yet"
        elif asked:
            reason = "nothing asked about it"
        elif kind in (SYS_PERFORM, SYS_OFFER, SYS_BOOK) and d.act_requires[a]:
            missing = [d.inf_names[s] for s in d.act_requires[a] if values[s] < 0]
            if missing:
                reason = "needs " + ", ".join(missing) + " first"
        out.append(reason)
    return out


def _asked(domain: Domain, B: Beliefs, i: int, d: int) -> bool:
    """Whether row ``i``'s agent heard the customer ask about anything in domain ``d``."""
    return any(B.requested[i, r] and domain.domains.req[r] == d for r in range(domain.n_req))


def _unknown(domain: Domain, B: Beliefs, i: int, d: int) -> bool:
    """Whether a slot of domain ``d`` that narrows the search is unknown to row ``i``'s agent and
    not asked for twice (what a request without a slot asks for)."""
    D = domain.domains
    return any(
        D.slot[s] == d
        and domain.constraint_prob[s] > 0
        and B.values[i, s] < 0
        and B.asked[i, s] < 2
        for s in domain.kb_slots
    )
