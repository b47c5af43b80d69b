"""Agenda-based user simulator (Schatzmann et al. 2007), as in PyDial and ConvLab.

The customer holds a hidden goal and a persona. Their agenda is a stack of acts they still mean
to say: constraints and task on top, questions beneath, ``bye`` at the bottom. Each system act
may push reactive acts (answers, corrections, acceptances); each turn the customer says those and
pops more from the agenda, depending on the persona. Annoyances (repeated questions, wrong offers,
wrong actions) drain patience faster than turns do; at zero the customer hangs up.

Everything runs on ints (see ``dialog_rl.acts``); only the simulator sees the goal.
"""

from __future__ import annotations

import numpy as np

from dialog_rl.acts import (
    AFFIRM,
    BYE,
    HANGUP,
    INFORM,
    NEGATE,
    REQUEST,
    SYS_BYE,
    SYS_CONFIRM,
    SYS_GREET,
    SYS_HANDOVER,
    SYS_INFORM,
    SYS_OFFER,
    SYS_PERFORM,
    SYS_REPEAT,
    SYS_REQUEST,
    THANK,
    UserAct,
)
from dialog_rl.domain import match_mask, mismatches
from dialog_rl.scenario import Domain
from dialog_rl.scenario.compiler import PersonaParams
from simulators.goal import Goal, sample_goal

# outcomes
ONGOING, SUCCESS, FAILURE, HANGUP_OUTCOME, HANDOVER_OUTCOME = range(5)
OUTCOME_NAMES = ("ongoing", "success", "failure", "hangup", "handover")


class AgendaUser:
    """A simulated customer for one domain; ``reset`` starts a new customer."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self.goal: Goal | None = None
        self.persona: PersonaParams | None = None
        self.persona_index = -1
        self.agenda: list[UserAct] = []
        self.outcome = ONGOING

    # -- lifecycle -----------------------------------------------------------------------------

    def reset(
        self,
        rng: np.random.Generator,
        goal: Goal | None = None,
        persona: int | None = None,
        patience_scale: float = 1.0,
        cooperativeness_shift: float = 0.0,
    ) -> list[UserAct]:
        """Start a new customer (sampled unless given) and return their opening acts.

        ``patience_scale`` and ``cooperativeness_shift`` adjust the persona for a returning
        customer whose past visits went well or badly (see ``simulators.lifetime``).
        """
        d = self.domain
        self.rng = rng
        self.goal = goal if goal is not None else sample_goal(d, rng)
        if persona is None:
            persona = int(rng.choice(len(d.personas), p=d.persona_weights))
        self.persona_index = persona
        self.persona = p = d.personas[persona]
        self.patience = float(rng.integers(p.patience[0], p.patience[1] + 1)) * patience_scale
        self.cooperativeness = min(max(p.cooperativeness + cooperativeness_shift, 0.0), 1.0)
        self.start_patience = self.patience
        self.accepted = -1
        self.informed: set[int] = set()
        self.task_done = False
        self.outcome = ONGOING
        self.annoyances = 0
        self.asked = [0] * d.n_inf
        self.told = [False] * d.n_inf
        g = self.goal
        agenda: list[UserAct] = [(BYE, -1, -1)]
        requests = list(g.requests)
        rng.shuffle(requests)
        agenda.extend((REQUEST, r, -1) for r in requests)
        constrained = [s for s in d.kb_slots if g.constraints[s] >= 0]
        rng.shuffle(constrained)
        agenda.extend((INFORM, s, g.constraints[s]) for s in constrained)
        if g.task >= 0:
            agenda.append((INFORM, d.task_slot, g.task))
        self.agenda = agenda
        self.last_acts = self._finish([])
        return self.last_acts

    @property
    def satisfied(self) -> bool:
        """Whether the agent has met the goal: a matching entity, every answer, the task done."""
        g = self.goal
        return (
            self.accepted >= 0
            and all(r in self.informed for r in g.requests)
            and (g.task < 0 or self.task_done)
        )

    # -- one turn ------------------------------------------------------------------------------

    def respond(self, action: int, value: int, entity: int, stated: list[int]) -> list[UserAct]:
        """React to system ``action``; returns the acts the customer says.

        ``value`` is the value a confirm asks about, ``entity`` the entity an offer, inform or
        perform is about (-1: none / no match), ``stated`` the agent's belief per informable slot
        (used when it reports that nothing matches).
        """
        d = self.domain
        g = self.goal
        rng = self.rng
        kind = d.act_kind[action]
        slot = d.act_slot[action]
        react: list[UserAct] = []
        self.patience -= 1.0

        if kind == SYS_HANDOVER:
            self.outcome = HANDOVER_OUTCOME
            return self._said([])
        if kind == SYS_BYE:
            self.outcome = SUCCESS if self.satisfied else FAILURE
            return self._said([(BYE, -1, -1)])
        if kind == SYS_REQUEST:
            self.asked[slot] += 1
            if self.asked[slot] > 1 and self.told[slot]:
                self._annoy(1.0)
            if rng.random() < self.cooperativeness:
                react.append((INFORM, slot, self._wanted(slot)))
                self._drop(INFORM, slot)
        elif kind == SYS_CONFIRM:
            wanted = self._wanted(slot)
            if value == wanted:
                react.append((AFFIRM, -1, -1))
            else:
                react.append((NEGATE, -1, -1))
                react.append((INFORM, slot, wanted))
                self._drop(INFORM, slot)
        elif kind == SYS_OFFER:
            self._on_offer(entity, stated, react)
        elif kind == SYS_INFORM:
            if entity >= 0 and entity == self.accepted and slot in g.requests:
                self.informed.add(slot)
                self._drop(REQUEST, slot)
        elif kind == SYS_PERFORM:
            task = d.act_task[action]
            if task == g.task and entity >= 0 and entity == self.accepted:
                self.task_done = True
            else:
                self._annoy(2.0)
                react.append((NEGATE, -1, -1))
                if g.task >= 0:
                    react.append((INFORM, d.task_slot, g.task))
        elif kind == SYS_REPEAT:
            self._annoy(0.5)
            return self._said(list(self.last_acts))
        elif kind == SYS_GREET and sum(self.asked) + len(self.informed) > 0:
            self._annoy(0.5)

        if self.outcome != ONGOING:
            return self._said(react)
        if not self.task_done and d.change_mind > 0 and rng.random() < d.change_mind:
            self._change_mind(react)
        # Out of patience hangs up, unless the agent has just met the goal: then they finish.
        if self.patience <= 0 and not self.satisfied:
            self.outcome = HANGUP_OUTCOME
            return self._said([(HANGUP, -1, -1)])
        return self._said(self._finish(react))

    # -- pieces --------------------------------------------------------------------------------

    def _wanted(self, slot: int) -> int:
        v = self.goal.constraints[slot]
        return v if v >= 0 else self.domain.dontcare(slot)

    def _said(self, acts: list[UserAct]) -> list[UserAct]:
        for kind, slot, _ in acts:
            if kind == INFORM:
                self.told[slot] = True
        self.last_acts = acts
        return acts

    def _annoy(self, cost: float) -> None:
        self.annoyances += 1
        self.patience -= cost

    def _drop(self, kind: int, slot: int) -> None:
        self.agenda = [a for a in self.agenda if not (a[0] == kind and a[1] == slot)]

    def _on_offer(self, entity: int, stated: list[int], react: list[UserAct]) -> None:
        d = self.domain
        g = self.goal
        if entity < 0:
            # "Nothing matches": first check the agent understood; if it did, relax or give up.
            wrong = [
                s
                for s in d.kb_slots
                if 0 <= stated[s] < len(d.inf_values[s]) and stated[s] != g.constraints[s]
            ]
            if wrong:
                self._annoy(1.0)
                react.append((NEGATE, -1, -1))
                for s in wrong[:2]:
                    react.append((INFORM, s, self._wanted(s)))
                    self._drop(INFORM, s)
                return
            if self.rng.random() < d.relax:
                self._relax(react)
            else:
                self.outcome = HANGUP_OUTCOME
                react.append((HANGUP, -1, -1))
            return
        bad = mismatches(d, entity, g.constraints)
        if bad:
            self._annoy(1.0)
            self.accepted = -1
            react.append((NEGATE, -1, -1))
            s = bad[0]
            react.append((INFORM, s, self._wanted(s)))
            self._drop(INFORM, s)
        else:
            if entity != self.accepted:
                self.informed = set()
                self.task_done = False
            self.accepted = entity
            react.append((AFFIRM, -1, -1))

    def _relax(self, react: list[UserAct]) -> None:
        """Drop one constraint (say "any") and carry on."""
        g = self.goal
        constrained = [s for s in self.domain.kb_slots if g.constraints[s] >= 0]
        if not constrained:
            self.outcome = HANGUP_OUTCOME
            react.append((HANGUP, -1, -1))
            return
        s = constrained[int(self.rng.integers(len(constrained)))]
        g.constraints[s] = -1
        react.append((INFORM, s, self.domain.dontcare(s)))
        self._drop(INFORM, s)

    def _change_mind(self, react: list[UserAct]) -> None:
        """Switch one constraint to a value some other entity has with the rest of the goal."""
        d = self.domain
        g = self.goal
        constrained = [s for s in d.kb_slots if g.constraints[s] >= 0]
        if not constrained:
            return
        s = constrained[int(self.rng.integers(len(constrained)))]
        others = list(g.constraints)
        others[s] = -1
        pool = np.unique(d.kb_values[match_mask(d, others), s])
        pool = [int(v) for v in pool if v >= 0 and v != g.constraints[s]]
        if not pool:
            return
        g.constraints[s] = pool[int(self.rng.integers(len(pool)))]
        self._drop(INFORM, s)
        react.append((INFORM, s, g.constraints[s]))
        if self.accepted >= 0 and mismatches(d, self.accepted, g.constraints):
            self.accepted = -1
            self.informed = set()

    def _finish(self, react: list[UserAct]) -> list[UserAct]:
        """Add agenda items to the reactive acts, as the persona's talkativeness allows."""
        out = list(react)
        multi = self.persona.multi_slot
        rng = self.rng
        want_more = not out or rng.random() < multi
        while want_more and self.agenda:
            top = self.agenda[-1]
            if top[0] == REQUEST and self.accepted < 0:
                break  # questions wait until there is something to ask about
            if top[0] == BYE:
                if self.satisfied:
                    # Real customers mostly close with thanks alone ("that is all I need"):
                    # in MultiWOZ's restaurant dialogues an explicit good-bye is rare.
                    self.agenda.pop()
                    out.append((THANK, -1, -1))
                    if rng.random() < 0.3:
                        out.append(top)
                    self.outcome = SUCCESS
                break
            out.append(self.agenda.pop())
            want_more = rng.random() < multi
        if not out:
            out.append(self._nudge())
        return out

    def _nudge(self) -> UserAct:
        """Nothing left to volunteer: restate what the agent still has to act on."""
        d = self.domain
        g = self.goal
        if self.accepted >= 0:
            unanswered = [r for r in g.requests if r not in self.informed]
            if unanswered:
                return (REQUEST, unanswered[0], -1)
            if g.task >= 0 and not self.task_done:
                return (INFORM, d.task_slot, g.task)
        constrained = [s for s in d.kb_slots if g.constraints[s] >= 0]
        if constrained:
            s = constrained[int(self.rng.integers(len(constrained)))]
            return (INFORM, s, g.constraints[s])
        s = d.kb_slots[int(self.rng.integers(len(d.kb_slots)))]
        return (INFORM, s, d.dontcare(s))
