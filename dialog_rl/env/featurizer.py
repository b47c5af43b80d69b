"""Featurizer: belief state -> fixed-size observation vector and action mask.

The observation is a summary space in PyDial's sense: per slot "how sure am I", not "which value",
so the same learner works on any scenario of the same shape. ``ObservationSpec`` names every
feature, which lets rule policies and the TUI read it by name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dialog_rl.acts import (
    N_USER_ACTS,
    SYS_CONFIRM,
    SYS_GREET,
    SYS_INFORM,
    SYS_OFFER,
    SYS_PERFORM,
    SYS_REQUEST,
    USER_ACT_NAMES,
)
from dialog_rl.domain import match_mask, mismatches
from dialog_rl.env.tracker import OFFER_ACCEPTED, OFFER_REJECTED, Tracker
from dialog_rl.scenario import Domain
from dialog_rl.scenario.schema import ACT_KINDS

SLOT_FEATURES = ("known", "conf", "confirmed", "dontcare", "asked")
MATCH_BUCKETS = ("matches_0", "matches_1", "matches_2_5", "matches_6_plus")
_BUCKETS = ((1.0, 0.0, 0.0, 0.0), (0.0, 1.0, 0.0, 0.0), (0.0, 0.0, 1.0, 0.0), (0.0, 0.0, 0.0, 1.0))


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
    names += [f"last.{k}" for k in ACT_KINDS]
    names += ["turn"]
    return ObservationSpec(tuple(names), domain.act_names)


class Featurizer:
    """Computes observation vectors and action masks from a Tracker."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self.spec = observation_spec(domain)
        d = domain
        self._slot0 = 0
        self._req0 = 5 * d.n_inf
        self._task0 = self._req0 + 2 * d.n_req
        self._glob0 = self._task0 + len(d.task_names)
        self._match0 = self._glob0 + 6
        self._user0 = self._match0 + len(MATCH_BUCKETS)
        self._last0 = self._user0 + N_USER_ACTS
        self._turn = self._last0 + len(ACT_KINDS)
        assert self._turn + 1 == self.spec.size
        self._dontcare = [len(v) for v in d.inf_values]
        self._n_tasks = len(d.task_names)
        self._match_key: tuple | None = None
        self._match_count = 0
        # Mask building blocks: actions always allowed, and the ones each condition gates.
        kinds = d.act_kind
        gated = (SYS_GREET, SYS_REQUEST, SYS_CONFIRM, SYS_INFORM, SYS_PERFORM)
        self._always = [int(k not in gated) for k in kinds]
        self._greet = [a for a, k in enumerate(kinds) if k == SYS_GREET]
        self._per_slot = [
            (
                s,
                [a for a, k in enumerate(kinds) if k == SYS_REQUEST and d.act_slot[a] == s],
                [a for a, k in enumerate(kinds) if k == SYS_CONFIRM and d.act_slot[a] == s],
            )
            for s in range(d.n_inf)
        ]
        self._needs_offer = [a for a, k in enumerate(kinds) if k in (SYS_INFORM, SYS_PERFORM)]
        self._needs_slots = [
            (a, d.act_requires[a])
            for a, k in enumerate(kinds)
            if k in (SYS_PERFORM, SYS_OFFER) and d.act_requires[a]
        ]

    def n_matches(self, tracker: Tracker) -> int:
        key = tuple(tracker.values)
        if key != self._match_key:  # the belief changes on a minority of turns: cache the count
            self._match_key = key
            self._match_count = int(np.count_nonzero(match_mask(self.domain, tracker.values)))
        return self._match_count

    def observe(self, tracker: Tracker) -> np.ndarray:
        """The observation vector (float32), in the order of ``spec.names``."""
        d = self.domain
        out: list[float] = []
        values, conf, confirmed, asked = (
            tracker.values,
            tracker.conf,
            tracker.confirmed,
            tracker.asked,
        )
        for s, dontcare in enumerate(self._dontcare):
            v = values[s]
            a = asked[s]
            a = 1.0 if a >= 3 else a / 3.0
            if v >= 0:
                out += (1.0, conf[s], float(confirmed[s]), float(v == dontcare), a)
            else:
                out += (0.0, 0.0, float(confirmed[s]), 0.0, a)
        for requested, informed in zip(tracker.requested, tracker.informed):
            out += (float(requested), float(informed))
        if self._n_tasks:
            tasks = [0.0] * self._n_tasks
            t = values[d.task_slot]
            if 0 <= t < self._n_tasks:
                tasks[t] = 1.0
            out += tasks
        offered = tracker.offered
        if offered >= 0:
            out += (
                1.0,
                float(not mismatches(d, offered, values)),
                float(tracker.offer_state == OFFER_ACCEPTED),
                float(tracker.offer_state == OFFER_REJECTED),
            )
        else:
            out += (0.0, 0.0, 0.0, 0.0)
        out.append(float(tracker.no_match))
        performed = d.task_slot >= 0 and tracker.performed >= 0
        out.append(float(performed and tracker.performed == values[d.task_slot]))
        n = self.n_matches(tracker)
        out += _BUCKETS[0 if n == 0 else 1 if n == 1 else 2 if n <= 5 else 3]
        bits = tracker.last_user_types
        out += [float(bits >> k & 1) for k in range(N_USER_ACTS)]
        last = [0.0] * len(ACT_KINDS)
        if tracker.last_kind >= 0:
            last[tracker.last_kind] = 1.0
        out += last
        out.append(min(tracker.turn / d.max_turns, 1.0))
        return np.array(out, dtype=np.float32)

    def mask(self, tracker: Tracker) -> np.ndarray:
        """1 for actions that make sense now, 0 for the rest (``mask_reasons`` says why)."""
        m = list(self._always)
        if tracker.turn <= 1:
            for a in self._greet:
                m[a] = 1
        values, confirmed = tracker.values, tracker.confirmed
        for s, requests, confirms in self._per_slot:
            if not confirmed[s]:
                for a in requests:
                    m[a] = 1
                if values[s] >= 0:
                    for a in confirms:
                        m[a] = 1
        if tracker.offered >= 0:
            for a in self._needs_offer:
                m[a] = 1
        for a, requires in self._needs_slots:
            if m[a] and any(values[s] < 0 for s in requires):
                m[a] = 0
        return np.array(m, dtype=np.int8)

    def mask_reasons(self, tracker: Tracker) -> list[str]:
        """Per action: why it is masked now, or "" if it is allowed."""
        d = self.domain
        out = []
        for a in range(d.n_actions):
            kind, slot = d.act_kind[a], d.act_slot[a]
            reason = ""
            if kind == SYS_GREET and tracker.turn > 1:
                reason = "greet only opens a conversation"
            elif kind == SYS_REQUEST and tracker.confirmed[slot]:
                reason = f"{d.inf_names[slot]} is already confirmed"
            elif kind == SYS_CONFIRM and tracker.values[slot] < 0:
                reason = f"nothing heard for {d.inf_names[slot]} yet"
            elif kind == SYS_CONFIRM and tracker.confirmed[slot]:
                reason = f"{d.inf_names[slot]} is already confirmed"
            elif kind in (SYS_INFORM, SYS_PERFORM) and tracker.offered < 0:
                reason = "no entity offered yet"
            elif kind in (SYS_PERFORM, SYS_OFFER) and d.act_requires[a]:
                missing = [d.inf_names[s] for s in d.act_requires[a] if tracker.values[s] < 0]
                if missing:
                    reason = "needs " + ", ".join(missing) + " first"
            out.append(reason)
        return out
