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

    def n_matches(self, tracker: Tracker) -> int:
        return int(np.count_nonzero(match_mask(self.domain, tracker.values)))

    def observe(self, tracker: Tracker) -> np.ndarray:
        d = self.domain
        obs = np.zeros(self.spec.size, dtype=np.float32)
        values, conf = tracker.values, tracker.conf
        for s in range(d.n_inf):
            base = 5 * s
            v = values[s]
            if v >= 0:
                obs[base] = 1.0
                obs[base + 1] = conf[s]
                obs[base + 3] = v == len(d.inf_values[s])
            obs[base + 2] = tracker.confirmed[s]
            obs[base + 4] = min(tracker.asked[s], 3) / 3.0
        r0 = self._req0
        for r in range(d.n_req):
            obs[r0 + 2 * r] = tracker.requested[r]
            obs[r0 + 2 * r + 1] = tracker.informed[r]
        if (
            d.task_slot >= 0
            and values[d.task_slot] >= 0
            and values[d.task_slot] < len(d.task_names)
        ):
            obs[self._task0 + values[d.task_slot]] = 1.0
        g = self._glob0
        if tracker.offered >= 0:
            obs[g] = 1.0
            obs[g + 1] = not mismatches(d, tracker.offered, values)
            obs[g + 2] = tracker.offer_state == OFFER_ACCEPTED
            obs[g + 3] = tracker.offer_state == OFFER_REJECTED
        obs[g + 4] = tracker.no_match
        if d.task_slot >= 0:
            obs[g + 5] = tracker.performed >= 0 and tracker.performed == values[d.task_slot]
        n = self.n_matches(tracker)
        obs[self._match0 + (0 if n == 0 else 1 if n == 1 else 2 if n <= 5 else 3)] = 1.0
        bits = tracker.last_user_types
        for k in range(N_USER_ACTS):
            if bits >> k & 1:
                obs[self._user0 + k] = 1.0
        if tracker.last_kind >= 0:
            obs[self._last0 + tracker.last_kind] = 1.0
        obs[self._turn] = min(tracker.turn / d.max_turns, 1.0)
        return obs

    def mask(self, tracker: Tracker) -> np.ndarray:
        """1 for actions that make sense now, 0 for the rest (see ``mask_reasons``)."""
        return np.fromiter(
            (not r for r in self.mask_reasons(tracker)), dtype=np.int8, count=self.domain.n_actions
        )

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
