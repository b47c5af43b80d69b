"""The agenda-based customer and the noise channel for many conversations at once, on arrays.

This is ``simulators.goal``, ``simulators.agenda`` and ``simulators.channel`` rewritten as numpy
operations across conversation slots, for the vector env's array engine. It is a second copy of
the same behaviour, kept honest by a test that plays conversations both ways and compares every
observation: a change to the scalar simulator must be mirrored here (the test says where).

Each method takes ``rows``, the int array of slots it acts on. Every slot draws from its own
streams (``BatchPCG64``) in the same order as the scalar code, so the draws are numpy's exactly.
Acts are ``(kind, slot, value)`` triples stored column-wise in ``ActBuffer``s.
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
)
from dialog_rl.batch_rng import BatchPCG64
from dialog_rl.scenario import Domain
from simulators.agenda import FAILURE, HANDOVER_OUTCOME, HANGUP_OUTCOME, ONGOING, SUCCESS

_CONFUSABLE = (INFORM, REQUEST, AFFIRM, NEGATE)


def nth_true(mask: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Column of the ``j``-th (0-based) True of each row of ``mask``."""
    return np.argmax(np.cumsum(mask, axis=1) > j[:, None], axis=1)


class ActBuffer:
    """A list of acts per slot: [n, width] columns of kinds, slots and values, and counts."""

    def __init__(self, n: int, width: int) -> None:
        self.kind = np.full((n, width), -1, dtype=np.int64)
        self.slot = np.full((n, width), -1, dtype=np.int64)
        self.value = np.full((n, width), -1, dtype=np.int64)
        self.n = np.zeros(n, dtype=np.int64)

    def push(self, rows: np.ndarray, kind, slot, value) -> None:
        p = self.n[rows]
        self.kind[rows, p] = kind
        self.slot[rows, p] = slot
        self.value[rows, p] = value
        self.n[rows] = p + 1

    def copy_rows(self, rows: np.ndarray, other: ActBuffer) -> None:
        self.kind[rows] = other.kind[rows]
        self.slot[rows] = other.slot[rows]
        self.value[rows] = other.value[rows]
        self.n[rows] = other.n[rows]


class BatchCustomers:
    """Goals, personas and agendas of ``n`` customers; ``respond`` plays one turn for many.

    ``out`` holds what each customer said on its last turn (``last_acts`` of the scalar user).
    """

    def __init__(self, domain: Domain, n: int, goal_rng: BatchPCG64, user_rng: BatchPCG64):
        d = domain
        self.d = d
        self.goal_rng, self.rng = goal_rng, user_rng
        self.kb = np.array(d.kb_slots, dtype=np.int64)
        self.n_vals = np.array([len(v) for v in d.inf_values], dtype=np.int64)  # = dontcare
        self.task_slot = d.task_slot
        self.has_tasks = bool(d.task_names)
        # eq[s]: [n_values + 1, n_entities]; the extra row (unknown / dontcare) matches all
        self.eq = {
            s: np.vstack(
                [np.stack(d.kb_eq[s][: len(d.inf_values[s])]), np.ones(d.n_entities, dtype=bool)]
            )
            for s in d.kb_slots
        }
        self.kb_values = np.asarray(d.kb_values, dtype=np.int64)
        self.max_value = int(self.n_vals.max()) + 1
        width = 1 + d.n_req + len(d.kb_slots) + (1 if self.has_tasks else 0)
        self.agenda = ActBuffer(n, width)
        self.out = ActBuffer(n, width + 6)
        self.constraints = np.full((n, d.n_inf), -1, dtype=np.int64)
        self.requests = np.zeros((n, d.n_req), dtype=bool)
        self.task = np.full(n, -1, dtype=np.int64)
        self.persona = np.zeros(n, dtype=np.int64)
        self.patience = np.zeros(n, dtype=np.float64)
        self.coop = np.zeros(n, dtype=np.float64)
        self.multi = np.zeros(n, dtype=np.float64)
        self.accepted = np.full(n, -1, dtype=np.int64)
        self.informed = np.zeros((n, d.n_req), dtype=bool)
        self.task_done = np.zeros(n, dtype=bool)
        self.outcome = np.zeros(n, dtype=np.int64)
        self.annoyances = np.zeros(n, dtype=np.int64)
        self.asked = np.zeros((n, d.n_inf), dtype=np.int64)
        self.told = np.zeros((n, d.n_inf), dtype=bool)
        p = d.personas
        self._p_lo = np.array([x.patience[0] for x in p], dtype=np.int64)
        self._p_hi = np.array([x.patience[1] for x in p], dtype=np.int64)
        self._p_coop = np.array([min(max(x.cooperativeness, 0.0), 1.0) for x in p])
        self._p_multi = np.array([x.multi_slot for x in p])
        self._persona_cdf = np.cumsum(d.persona_weights)
        acc, self._task_acc = 0.0, []
        for q in d.task_prob:  # the scalar loop's running float sums, exactly
            acc += q
            self._task_acc.append(acc)

    # -- goals (simulators.goal.sample_goal) and persona ---------------------------------------

    def sample_goals(self, rows: np.ndarray) -> None:
        d, g = self.d, self.goal_rng
        m = len(rows)
        nk = len(self.kb)
        chosen = np.full((m, nk), -1, dtype=np.int64)
        n_chosen = np.zeros(m, dtype=np.int64)
        ar = np.arange(m)
        u = g.randoms(rows, nk)  # one draw per KB slot, in order, for every row
        for j, s in enumerate(d.kb_slots):
            hit = ar[u[j] < d.constraint_prob[s]]
            chosen[hit, n_chosen[hit]] = s
            n_chosen[hit] += 1
        cand = np.full((m, nk), -1, dtype=np.int64)
        n_cand = np.zeros(m, dtype=np.int64)
        for s in d.kb_slots:
            if d.constraint_prob[s] > 0:
                r = ar[~(chosen == s).any(axis=1)]
                cand[r, n_cand[r]] = s
                n_cand[r] += 1
        cols = np.arange(nk)
        while True:
            r = ar[(n_chosen < d.min_constraints) & (n_cand > 0)]
            if not len(r):
                break
            j = g.integers(rows[r], n_cand[r])
            picked = cand[r, j]
            src = np.where(cols[None, :] >= j[:, None], np.minimum(cols + 1, nk - 1), cols)
            cand[r] = np.take_along_axis(cand[r], src, axis=1)
            n_cand[r] -= 1
            chosen[r, n_chosen[r]] = picked
            n_chosen[r] += 1
        cons = np.full((m, d.n_inf), -1, dtype=np.int64)
        sat = g.random(rows) < d.satisfiable
        sr, ur = ar[sat], ar[~sat]
        entity = g.integers(rows[sr], d.n_entities)
        for p in range(nk):
            k = n_chosen[sr] > p
            r, s = sr[k], chosen[sr[k], p]
            cons[r, s] = self.kb_values[entity[k], s]
            r = ur[n_chosen[ur] > p]
            s = chosen[r, p]
            cons[r, s] = g.integers(rows[r], self.n_vals[s])
        # the rest of the goal draws the same number of uniforms for every row: in one go
        n_req = len(d.request_prob)
        u = g.randoms(rows, n_req + (1 if self.has_tasks else 0) + 1)
        req = np.zeros((m, d.n_req), dtype=bool)
        for r, q in enumerate(d.request_prob):
            req[:, r] = u[r] < q
        task = np.full(m, -1, dtype=np.int64)
        if self.has_tasks:
            ut = u[n_req]
            for t in range(len(self._task_acc) - 1, -1, -1):  # the first t with u < acc wins
                task[ut < self._task_acc[t]] = t
            cons[:, self.task_slot] = task
        persona = np.searchsorted(self._persona_cdf, u[-1], side="right")
        self.persona[rows] = np.minimum(persona, len(self._persona_cdf) - 1)
        self.constraints[rows] = cons
        self.requests[rows] = req
        self.task[rows] = task

    # -- lifecycle (AgendaUser.reset) ----------------------------------------------------------

    def reset(self, rows: np.ndarray) -> None:
        """New customers in ``rows``: goal, persona, agenda, opening acts (into ``out``)."""
        self.sample_goals(rows)
        rng = self.rng
        p = self.persona[rows]
        self.patience[rows] = rng.integers(rows, self._p_hi[p] + 1, low=self._p_lo[p])
        self.coop[rows] = self._p_coop[p]
        self.multi[rows] = self._p_multi[p]
        self.accepted[rows] = -1
        self.informed[rows] = False
        self.task_done[rows] = False
        self.outcome[rows] = ONGOING
        self.annoyances[rows] = 0
        self.asked[rows] = 0
        self.told[rows] = False
        ag = self.agenda
        ag.n[rows] = 0
        ag.push(rows, BYE, -1, -1)
        reqs = self._shuffled(rows, self.requests[rows])
        for j in range(reqs.shape[1]):
            r = rows[reqs[:, j] >= 0]
            ag.push(r, REQUEST, reqs[reqs[:, j] >= 0, j], -1)
        cons = self.constraints[rows]
        slots = self._shuffled(rows, cons[:, self.kb] >= 0, self.kb)
        for j in range(slots.shape[1]):
            k = slots[:, j] >= 0
            s = slots[k, j]
            ag.push(rows[k], INFORM, s, cons[k, s])
        if self.has_tasks:
            k = self.task[rows] >= 0
            ag.push(rows[k], INFORM, self.task_slot, self.task[rows[k]])
        self.out.n[rows] = 0
        self._finish(rows)  # the opening acts (the scalar reset does not mark them told)

    def _shuffled(self, rows: np.ndarray, mask: np.ndarray, labels=None) -> np.ndarray:
        """Each row's True columns (or their ``labels``), in order, then ``rng.shuffle``d; -1 pads."""
        m, w = mask.shape
        labels = np.arange(w) if labels is None else labels
        order = np.argsort(~mask, axis=1, kind="stable")
        items = np.where(np.take_along_axis(mask, order, 1), labels[order], -1)
        count = mask.sum(axis=1)
        ar = np.arange(m)
        for i in range(w - 1, 0, -1):  # Fisher-Yates, as Generator.shuffle on a list
            r = ar[count > i]
            if not len(r):
                continue
            j = self.rng.random_interval(rows[r], np.full(len(r), i))
            a, b = items[r, i].copy(), items[r, j]
            items[r, i] = b
            items[r, j] = a
        return items

    def satisfied(self, rows: np.ndarray) -> np.ndarray:
        return (
            (self.accepted[rows] >= 0)
            & ~(self.requests[rows] & ~self.informed[rows]).any(axis=1)
            & ((self.task[rows] < 0) | self.task_done[rows])
        )

    # -- one turn (AgendaUser.respond) ---------------------------------------------------------

    def respond(
        self,
        rows: np.ndarray,
        action: np.ndarray,
        value: np.ndarray,
        entity: np.ndarray,
        stated: np.ndarray,
    ) -> None:
        """React to each row's system act; the customers' acts land in ``out``.

        ``value``, ``entity`` and ``stated`` ([m, n_inf] beliefs) are per row of ``rows``.
        """
        d = self.d
        kind = np.asarray(d.act_kind)[action]
        slot = np.asarray(d.act_slot)[action]
        out = self.out
        self.patience[rows] -= 1.0
        prev = ActBuffer(0, 0)
        repeat = kind == SYS_REPEAT
        if repeat.any():
            prev = ActBuffer(len(self.out.n), self.out.kind.shape[1])
            prev.copy_rows(rows[repeat], out)
        out.n[rows] = 0
        early = np.zeros(len(rows), dtype=bool)

        k = kind == SYS_HANDOVER
        self.outcome[rows[k]] = HANDOVER_OUTCOME
        early |= k
        k = kind == SYS_BYE
        r = rows[k]
        self.outcome[r] = np.where(self.satisfied(r), SUCCESS, FAILURE)
        out.push(r, BYE, -1, -1)
        early |= k

        k = np.flatnonzero(kind == SYS_REQUEST)
        if len(k):
            r, s = rows[k], slot[k]
            self.asked[r, s] += 1
            self._annoy(r[(self.asked[r, s] > 1) & self.told[r, s]], 1.0)
            yes = self.rng.random(r) < self.coop[r]
            r, s = r[yes], s[yes]
            out.push(r, INFORM, s, self._wanted(r, s))
            self._drop(r, INFORM, s)

        k = np.flatnonzero(kind == SYS_CONFIRM)
        if len(k):
            r, s = rows[k], slot[k]
            wanted = self._wanted(r, s)
            same = value[k] == wanted
            out.push(r[same], AFFIRM, -1, -1)
            r, s, wanted = r[~same], s[~same], wanted[~same]
            out.push(r, NEGATE, -1, -1)
            out.push(r, INFORM, s, wanted)
            self._drop(r, INFORM, s)

        k = np.flatnonzero(kind == SYS_OFFER)
        if len(k):
            self._on_offer(rows[k], entity[k], stated[k])

        k = np.flatnonzero(kind == SYS_INFORM)
        if len(k):
            r, s, e = rows[k], slot[k], entity[k]
            ok = (e >= 0) & (e == self.accepted[r]) & self.requests[r, s]
            r, s = r[ok], s[ok]
            self.informed[r, s] = True
            self._drop(r, REQUEST, s)

        k = np.flatnonzero(kind == SYS_PERFORM)
        if len(k):
            r, e = rows[k], entity[k]
            task = np.asarray(d.act_task)[action[k]]
            done = (task == self.task[r]) & (e >= 0) & (e == self.accepted[r])
            self.task_done[r[done]] = True
            r = r[~done]
            self._annoy(r, 2.0)
            out.push(r, NEGATE, -1, -1)
            r = r[self.task[r] >= 0]
            out.push(r, INFORM, self.task_slot, self.task[r])

        k = np.flatnonzero(repeat)
        if len(k):
            r = rows[k]
            self._annoy(r, 0.5)
            out.copy_rows(r, prev)
            early[k] = True

        k = np.flatnonzero(kind == SYS_GREET)
        if len(k):
            r = rows[k]
            r = r[self.asked[r].sum(axis=1) + self.informed[r].sum(axis=1) > 0]
            self._annoy(r, 0.5)

        r = rows[~early]
        r = r[self.outcome[r] == ONGOING]
        if d.change_mind > 0:
            c = r[~self.task_done[r]]
            c = c[self.rng.random(c) < d.change_mind]
            if len(c):
                self._change_mind(c)
        hang = (self.patience[r] <= 0) & ~self.satisfied(r)  # as AgendaUser.respond
        h = r[hang]
        self.outcome[h] = HANGUP_OUTCOME
        out.n[h] = 0
        out.push(h, HANGUP, -1, -1)
        self._finish(r[~hang])
        self._said(rows)

    # -- pieces --------------------------------------------------------------------------------

    def _wanted(self, rows: np.ndarray, slots: np.ndarray) -> np.ndarray:
        v = self.constraints[rows, slots]
        return np.where(v >= 0, v, self.n_vals[slots])

    def _said(self, rows: np.ndarray) -> None:
        out = self.out
        for p in range(int(out.n[rows].max(initial=0))):
            r = rows[out.n[rows] > p]
            r = r[out.kind[r, p] == INFORM]
            self.told[r, out.slot[r, p]] = True

    def _annoy(self, rows: np.ndarray, cost: float) -> None:
        self.annoyances[rows] += 1
        self.patience[rows] -= cost

    def _drop(self, rows: np.ndarray, kind: int, slots: np.ndarray) -> None:
        """Remove every agenda item ``(kind, slot)`` of each row, keeping the others' order."""
        if not len(rows):
            return
        ag = self.agenda
        width = ag.kind.shape[1]
        hit = (
            (ag.kind[rows] == kind)
            & (ag.slot[rows] == np.asarray(slots)[..., None])
            & (np.arange(width)[None, :] < ag.n[rows][:, None])
        )
        some = hit.any(axis=1)
        if not some.any():
            return
        r, h = rows[some], hit[some]
        order = np.argsort(h, axis=1, kind="stable")
        for col in (ag.kind, ag.slot, ag.value):
            col[r] = np.take_along_axis(col[r], order, axis=1)
        ag.n[r] -= h.sum(axis=1)

    def _constrained(self, rows: np.ndarray) -> np.ndarray:
        """[m, n_kb] mask: which KB slots each row's goal constrains."""
        return self.constraints[rows][:, self.kb] >= 0

    def match(self, values: np.ndarray) -> np.ndarray:
        """``domain.match_mask`` per row of ``values`` [m, n_inf]: [m, n_entities]."""
        out = np.ones((len(values), self.d.n_entities), dtype=bool)
        for s in self.d.kb_slots:
            v = values[:, s]
            ok = (v >= 0) & (v < self.n_vals[s])
            out &= self.eq[s][np.where(ok, v, self.n_vals[s])]
        return out

    def mismatched(self, entity: np.ndarray, cons: np.ndarray) -> np.ndarray:
        """``domain.mismatches`` per row as an [m, n_kb] mask (entity >= 0)."""
        v = cons[:, self.kb]
        row = self.kb_values[entity][:, self.kb]
        return (v >= 0) & (v < self.n_vals[self.kb]) & (row != v)

    def _on_offer(self, rows: np.ndarray, entity: np.ndarray, stated: np.ndarray) -> None:
        out = self.out
        none = entity < 0
        r, st = rows[none], stated[none][:, self.kb]
        if len(r):
            cons = self.constraints[r][:, self.kb]
            wrong = (st >= 0) & (st < self.n_vals[self.kb]) & (st != cons)
            w = wrong.any(axis=1)
            rw, ww = r[w], wrong[w]
            self._annoy(rw, 1.0)
            out.push(rw, NEGATE, -1, -1)
            for j in range(2):  # wrong[:2]
                has = ww.sum(axis=1) > j
                rr = rw[has]
                s = self.kb[nth_true(ww[has], np.full(len(rr), j))]
                out.push(rr, INFORM, s, self._wanted(rr, s))
                self._drop(rr, INFORM, s)
            r = r[~w]
            relax = self.rng.random(r) < self.d.relax
            self._relax(r[relax])
            h = r[~relax]
            self.outcome[h] = HANGUP_OUTCOME
            out.push(h, HANGUP, -1, -1)
        r, e = rows[~none], entity[~none]
        if len(r):
            bad = self.mismatched(e, self.constraints[r])
            b = bad.any(axis=1)
            rb = r[b]
            self._annoy(rb, 1.0)
            self.accepted[rb] = -1
            out.push(rb, NEGATE, -1, -1)
            s = self.kb[np.argmax(bad[b], axis=1)]
            out.push(rb, INFORM, s, self._wanted(rb, s))
            self._drop(rb, INFORM, s)
            r, e = r[~b], e[~b]
            new = e != self.accepted[r]
            self.informed[r[new]] = False
            self.task_done[r[new]] = False
            self.accepted[r] = e
            out.push(r, AFFIRM, -1, -1)

    def _pick_constrained(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows with a constrained KB slot, and one such slot drawn uniformly for each."""
        c = self._constrained(rows)
        count = c.sum(axis=1)
        has = count > 0
        r = rows[has]
        j = self.rng.integers(r, count[has])
        return r, self.kb[nth_true(c[has], j)], has

    def _relax(self, rows: np.ndarray) -> None:
        if not len(rows):
            return
        r, s, has = self._pick_constrained(rows)
        h = rows[~has]
        self.outcome[h] = HANGUP_OUTCOME
        self.out.push(h, HANGUP, -1, -1)
        self.constraints[r, s] = -1
        self.out.push(r, INFORM, s, self.n_vals[s])
        self._drop(r, INFORM, s)

    def _change_mind(self, rows: np.ndarray) -> None:
        r, s, _ = self._pick_constrained(rows)
        if not len(r):
            return
        others = self.constraints[r].copy()
        current = others[np.arange(len(r)), s]
        others[np.arange(len(r)), s] = -1
        match = self.match(others)
        vals = self.kb_values[:, s].T  # [m, n_entities]
        present = np.zeros((len(r), self.max_value), dtype=bool)
        rr, ee = np.nonzero(match & (vals >= 0))
        present[rr, vals[rr, ee]] = True
        present[np.arange(len(r)), current] = False
        size = present.sum(axis=1)
        k = size > 0
        r, s, present, size = r[k], s[k], present[k], size[k]
        j = self.rng.integers(r, size)
        new = nth_true(present, j)
        self.constraints[r, s] = new
        self._drop(r, INFORM, s)
        self.out.push(r, INFORM, s, new)
        a = r[self.accepted[r] >= 0]
        off = a[self.mismatched(self.accepted[a], self.constraints[a]).any(axis=1)]
        self.accepted[off] = -1
        self.informed[off] = False

    def _finish(self, rows: np.ndarray) -> None:
        """Add agenda items to what each row says, as its persona's talkativeness allows."""
        out, ag, rng = self.out, self.agenda, self.rng
        want = out.n[rows] == 0
        talk = np.flatnonzero(~want)
        want[talk] = rng.random(rows[talk]) < self.multi[rows[talk]]
        active = rows[want]
        while len(active):
            active = active[ag.n[active] > 0]
            if not len(active):
                break
            top = ag.n[active] - 1
            tk = ag.kind[active, top]
            wait = (tk == REQUEST) & (self.accepted[active] < 0)
            bye = (tk == BYE) & ~wait
            b = active[bye]
            b = b[self.satisfied(b)]
            ag.n[b] -= 1
            out.push(b, THANK, -1, -1)
            out.push(b[rng.random(b) < 0.3], BYE, -1, -1)
            self.outcome[b] = SUCCESS
            pop = active[~wait & ~bye]
            t = ag.n[pop] - 1
            out.push(pop, ag.kind[pop, t], ag.slot[pop, t], ag.value[pop, t])
            ag.n[pop] = t
            active = pop[rng.random(pop) < self.multi[pop]]
        self._nudge(rows[out.n[rows] == 0])

    def _nudge(self, rows: np.ndarray) -> None:
        """Nothing left to volunteer: restate what the agent still has to act on."""
        if not len(rows):
            return
        out = self.out
        acc = self.accepted[rows] >= 0
        open_ = self.requests[rows] & ~self.informed[rows]
        ask = acc & open_.any(axis=1)
        r = rows[ask]
        out.push(r, REQUEST, np.argmax(open_[ask], axis=1), -1)
        task = acc & ~ask & (self.task[rows] >= 0) & ~self.task_done[rows]
        r = rows[task]
        out.push(r, INFORM, self.task_slot, self.task[r])
        r = rows[~ask & ~task]
        c = self._constrained(r)
        count = c.sum(axis=1)
        j = self.rng.integers(r, np.where(count > 0, count, len(self.kb)))
        has = count > 0
        s = np.where(has, self.kb[nth_true(c, np.where(has, j, 0))], self.kb[j])
        value = np.where(has, self.constraints[r, s], self.n_vals[s])
        out.push(r, INFORM, s, value)


class BatchNoiseChannel:
    """``simulators.channel.NoiseChannel`` across rows: observed acts and confidences."""

    def __init__(self, domain: Domain, error_rate: float, rng: BatchPCG64) -> None:
        d = domain
        self.d = d
        self.rate = float(error_rate)
        self.rng = rng
        self.p_act, self.p_slot, _ = d.confusion
        self.p_edge = self.p_slot + self.p_act
        self.n_values = np.array([len(v) + 1 for v in d.inf_values], dtype=np.int64)
        # alternatives for a confused act type, per original type
        self.choices = np.full((8, 4), -1, dtype=np.int64)
        self.n_choices = np.zeros(8, dtype=np.int64)
        for kind in range(8):
            ch = [k for k in _CONFUSABLE if k != kind and (k != REQUEST or d.n_req)]
            self.choices[kind, : len(ch)] = ch
            self.n_choices[kind] = len(ch)
        # Beta parameters of a heard act's confidence, indexed by "heard intact" (0 or 1)
        self.beta_a = np.array([domain.conf_wrong[0], domain.conf_correct[0]], dtype=np.float64)
        self.beta_b = np.array([domain.conf_wrong[1], domain.conf_correct[1]], dtype=np.float64)

    def hear(self, rows: np.ndarray, said: ActBuffer, heard: ActBuffer, conf: np.ndarray) -> None:
        """Pass each row's ``said`` acts through the channel into ``heard`` and ``conf``."""
        rng = self.rng
        heard.n[rows] = said.n[rows]
        for p in range(int(said.n[rows].max(initial=0))):
            r = rows[said.n[rows] > p]
            kind, slot, value = said.kind[r, p], said.slot[r, p], said.value[r, p]
            intact = (kind == HANGUP) | (kind == BYE) | (self.rate == 0.0)
            draw = np.flatnonzero(~intact)
            intact[draw] = rng.random(r[draw]) >= self.rate
            bad = np.flatnonzero(~intact)
            if len(bad):  # kind, slot, value are copies (fancy indexing)
                k, s, v = self._corrupt(r[bad], kind[bad], slot[bad], value[bad])
                kind[bad], slot[bad], value[bad] = k, s, v
            heard.kind[r, p], heard.slot[r, p], heard.value[r, p] = kind, slot, value
            # each row draws its confidence after its corruption draws, as the scalar channel
            # does; one Beta call for both kinds of row (parameters per row)
            which = intact.view(np.int8)
            conf[r, p] = rng.beta(r, self.beta_a[which], self.beta_b[which])

    def _corrupt(self, rows, kind, slot, value):
        d, rng = self.d, self.rng
        kind, slot, value = kind.copy(), slot.copy(), value.copy()
        u = rng.random(rows)
        in_a = (u < self.p_edge) & (u >= self.p_act)
        done = np.zeros(len(rows), dtype=bool)
        k = np.flatnonzero(in_a & (kind == INFORM) & (d.n_inf > 1))
        if len(k):
            s = rng.integers(rows[k], d.n_inf - 1)
            s = s + (s >= slot[k])
            kind[k], slot[k] = INFORM, s
            value[k] = rng.integers(rows[k], self.n_values[s])
            done[k] = True
        k = np.flatnonzero(in_a & (kind == REQUEST) & (d.n_req > 1) & ~done)
        if len(k):
            q = rng.integers(rows[k], d.n_req - 1)
            kind[k], slot[k], value[k] = REQUEST, q + (q >= slot[k]), -1
            done[k] = True
        k = np.flatnonzero(~in_a & (u >= self.p_edge) & (kind == INFORM) & ~done)
        k = k[self.n_values[slot[k]] > 1]
        if len(k):
            v = rng.integers(rows[k], self.n_values[slot[k]] - 1)
            value[k] = v + (v >= value[k])
            done[k] = True
        k = np.flatnonzero(~done)
        if len(k):
            r = rows[k]
            new = self.choices[kind[k], rng.integers(r, self.n_choices[kind[k]])]
            kind[k], slot[k], value[k] = new, -1, -1
            i = np.flatnonzero(new == INFORM)
            if len(i):
                s = rng.integers(r[i], d.n_inf)
                slot[k[i]] = s
                value[k[i]] = rng.integers(r[i], self.n_values[s])
            q = np.flatnonzero(new == REQUEST)
            if len(q):
                slot[k[q]] = rng.integers(r[q], d.n_req)
        return kind, slot, value
