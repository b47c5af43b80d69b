"""Belief-state tracker: what the agent believes, built only from observed acts and its own acts.

For each informable slot it keeps the top hypothesis and its confidence (a focus tracker in the
spirit of PyDial's): repeated evidence for a value compounds, fresh conflicting evidence replaces
it when confident enough, an affirmed confirmation locks it in, a negated one knocks it out.
It never sees the user's goal, only ``(type, slot, value, confidence)`` tuples.
"""

from __future__ import annotations

from dialog_rl.acts import (
    AFFIRM,
    INFORM,
    NEGATE,
    REQUEST,
    SYS_CONFIRM,
    SYS_INFORM,
    SYS_OFFER,
    SYS_PERFORM,
    SYS_REQUEST,
    ObservedAct,
)
from dialog_rl.scenario import Domain

OFFER_NONE, OFFER_PENDING, OFFER_ACCEPTED, OFFER_REJECTED = range(4)


class Tracker:
    """Tracks belief per informable slot, pending requests, the offered entity and the task."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self.reset()

    def reset(self) -> None:
        d = self.domain
        self.values = [-1] * d.n_inf
        self.conf = [0.0] * d.n_inf
        self.confirmed = [False] * d.n_inf
        self.asked = [0] * d.n_inf
        self.requested = [False] * d.n_req
        self.informed = [False] * d.n_req
        self.offered = -1
        self.offer_state = OFFER_NONE
        self.no_match = False
        self.rejected: tuple[int, ...] = ()
        self.performed = -1  # task the agent performed and the user did not reject
        self.last_kind = -1
        self.last_slot = -1
        self.last_value = -1
        self.last_user_types = 0  # bit mask of user act types observed this turn
        self.turn = 0

    def system_act(self, action: int, value: int, entity: int) -> None:
        """Record the agent's act (and the entity or value it was about)."""
        d = self.domain
        kind = d.act_kind[action]
        slot = d.act_slot[action]
        self.last_kind, self.last_slot, self.last_value = kind, slot, value
        self.no_match = False
        if kind == SYS_REQUEST:
            self.asked[slot] += 1
        elif kind == SYS_OFFER:
            self.offered = entity
            self.no_match = entity < 0
            self.offer_state = OFFER_PENDING if entity >= 0 else OFFER_NONE
        elif kind == SYS_INFORM and self.offered >= 0:
            self.requested[slot] = False
            self.informed[slot] = True
        elif kind == SYS_PERFORM and self.offered >= 0:
            self.performed = d.act_task[action]

    def observe(self, acts: list[ObservedAct]) -> None:
        """Update the belief with one turn of observed user acts."""
        self.turn += 1
        bits = 0
        kind = self.last_kind
        correcting = False  # "No, it's X": a value after a negation replaces what we had
        for act_type, slot, value, c in acts:
            bits |= 1 << act_type
            if act_type == INFORM:
                self._inform(slot, value, c, correcting)
            elif act_type == REQUEST:
                self.requested[slot] = True
            elif act_type == AFFIRM:
                if kind == SYS_CONFIRM and self.values[self.last_slot] == self.last_value:
                    s = self.last_slot
                    self.conf[s] = 1.0 - (1.0 - self.conf[s]) * (1.0 - c)
                    self.confirmed[s] = c >= 0.5
                elif kind == SYS_OFFER and self.offered >= 0:
                    self.offer_state = OFFER_ACCEPTED
            elif act_type == NEGATE:
                correcting = kind in (SYS_CONFIRM, SYS_OFFER)
                if kind == SYS_CONFIRM and self.values[self.last_slot] == self.last_value:
                    s = self.last_slot
                    self.conf[s] *= 1.0 - c
                    self.confirmed[s] = False
                    if self.conf[s] < 0.05:
                        self.values[s] = -1
                        self.conf[s] = 0.0
                elif kind == SYS_OFFER and self.offered >= 0:
                    self.offer_state = OFFER_REJECTED
                    self.rejected = (*self.rejected, self.offered)
                elif kind == SYS_PERFORM:
                    self.performed = -1
        self.last_user_types = bits

    def _inform(self, slot: int, value: int, c: float, correcting: bool = False) -> None:
        if self.values[slot] == value:
            self.conf[slot] = 1.0 - (1.0 - self.conf[slot]) * (1.0 - c)
        elif correcting or c >= 0.5 * self.conf[slot]:
            # Newer evidence wins unless it is much weaker: customers do change their minds.
            self.values[slot] = value
            self.conf[slot] = c
            self.confirmed[slot] = False
        else:
            self.conf[slot] *= 1.0 - c
        # A changed constraint may invalidate the entity on offer and any task done on it.
        if self.offered >= 0 and slot != self.domain.task_slot:
            v = self.values[slot]
            row_v = self.domain.kb_values[self.offered, slot]
            if 0 <= v < len(self.domain.inf_values[slot]) and row_v != v:
                self.offer_state = OFFER_REJECTED
