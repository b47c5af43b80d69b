# Whole on purpose: the customer's kernels call one another; its state is in customer_state.py.
"""The agenda-based customer, for any number of conversations, one row at a time.

The customer (Schatzmann et al. 2007, as in PyDial and ConvLab) holds a hidden goal and a persona.
Their agenda is a stack of acts they still mean to say: constraints and task on top, questions
beneath, ``bye`` at the bottom. Each system act may push reactive acts (answers, corrections,
acceptances); each turn the customer says those and pops more from the agenda, as the persona's
talkativeness allows. Annoyances (repeated questions, wrong offers, wrong actions) drain patience
faster than turns do; at zero the customer hangs up.

State is a struct of arrays (``simulators.customer_state``) and every function here is
written for one row and compiled with numba: a batch of 32,768 conversations and a single one in
the terminal UI run the same code. Random numbers are keyed (``dialog_rl.counter_rng``): the
customer's draws by ``(turn, n-th draw of the turn)``, or, when two runs are paired
(``pairing=ACT_KEYED``), by ``(system action, how many times the agent took it)``. What the
customer says then goes through the channel (``simulators.noise``).
"""

from __future__ import annotations

import numpy as np

from dialog_rl.acts import (
    AFFIRM,
    BYE,
    HANGUP,
    HELLO,
    INFORM,
    NEGATE,
    REQUEST,
    SYS_BOOK,
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
from dialog_rl.counter_rng import (
    AGENDA,
    BOOKING,
    DOMAINS,
    GOAL,
    HOLD,
    PATIENCE,
    PERSONA,
    USER,
    below,
    categorical,
    uniform,
)
from dialog_rl.jit import njit
from simulators.customer_state import (
    FAILURE,
    HANDOVER_OUTCOME,
    HANGUP_OUTCOME,
    ONGOING,
    SUCCESS,
    Customers,
    Tables,
    covers,
)

# -- draws ------------------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _u(C: Customers, i: int, purpose: int) -> float:
    c = C.ctr[i]
    C.ctr[i] = c + 1
    return uniform(C.useed[i], purpose, C.ukey[i], c)


@njit(cache=True, inline="always")
def _below(C: Customers, i: int, purpose: int, n: int) -> int:
    return min(int(_u(C, i, purpose) * n), n - 1)


@njit(cache=True, inline="always")
def _index(cdf: np.ndarray, u: float) -> int:
    """The index that uniform ``u`` picks with running sums ``cdf`` (the last is the total)."""
    u *= cdf[-1]
    for k in range(len(cdf)):
        if u < cdf[k]:
            return k
    return len(cdf) - 1


# -- goals and new customers ------------------------------------------------------------------


@njit(cache=True)
def sample_goal(T: Tables, C: Customers, i: int) -> None:
    """Draw row ``i``'s goal: its domains, then in each its constraints (usually from a real
    entity) and requests; a task last.

    Values in ``C.fixed[i]`` are kept (a returning customer's own email), and so, as the scenario
    says, is a value carried from an earlier domain (the hotel in the restaurant's area); the
    entity is then drawn among those that have them.
    """
    n_inf = C.cons.shape[1]
    m = 0
    if len(T.mix_cdf) > 1:
        m = categorical(T.mix_cdf, C.seed[i], DOMAINS, 0, 0)
    n_doms = 0
    for k in range(T.mix.shape[1]):
        C.doms[i, k] = T.mix[m, k]
        if T.mix[m, k] >= 0:
            n_doms += 1
    C.n_doms[i] = n_doms
    for s in range(n_inf):
        C.cons[i, s] = -1
    C.req[i, :] = False
    C.book[i, :] = False
    C.entity[i] = -1
    for k in range(n_doms):
        d = C.doms[i, k]
        entity = _sample_domain(T, C, i, d)
        if k == 0:
            C.entity[i] = entity
    for s in range(n_inf):
        if C.fixed[i, s] >= 0:
            C.cons[i, s] = C.fixed[i, s]
    C.task[i] = -1
    if len(T.task_cdf):
        u = _u(C, i, GOAL)
        for t in range(len(T.task_cdf)):
            if u < T.task_cdf[t]:
                C.task[i] = t
                break
        C.cons[i, T.task_slot] = C.task[i]


@njit(cache=True)
def _sample_domain(T: Tables, C: Customers, i: int, d: int) -> int:
    """Row ``i``'s constraints and requests in domain ``d``; returns the entity drawn, or -1."""
    n_inf = C.cons.shape[1]
    nk = len(T.kb_slots)
    chosen = np.zeros(n_inf, dtype=np.bool_)
    keep = np.full(n_inf, -1, dtype=np.int64)  # values kept: the customer's own, carried ones
    n_chosen = 0
    for s in T.kb_slots:
        if T.slot_dom[s] == d and _u(C, i, GOAL) < T.constraint_prob[s]:
            chosen[s] = True
            n_chosen += 1
    cand = np.empty(nk, dtype=np.int64)
    n_cand = 0
    for s in T.kb_slots:
        if T.slot_dom[s] == d and T.constraint_prob[s] > 0 and not chosen[s]:
            cand[n_cand] = s
            n_cand += 1
    while n_chosen < T.dom_min[d] and n_cand > 0:
        j = _below(C, i, GOAL, n_cand)
        chosen[cand[j]] = True
        n_chosen += 1
        cand[j : n_cand - 1] = cand[j + 1 : n_cand]
        n_cand -= 1
    has_keep = False
    for s in range(n_inf):
        if C.fixed[i, s] >= 0 and T.slot_dom[s] == d:
            chosen[s] = True
            keep[s] = C.fixed[i, s]
            has_keep = True
    for c in range(len(T.carry_prob)):
        s = T.carry_slots[c, d]
        if s < 0 or not chosen[s] or keep[s] >= 0:
            continue
        earlier = -1  # the latest earlier domain's value of the carried slot
        for k in range(C.n_doms[i]):
            e = C.doms[i, k]
            if e == d:
                break
            t = T.carry_slots[c, e]
            if t >= 0 and 0 <= C.cons[i, t] < T.n_vals[t]:
                earlier = C.cons[i, t]
        if earlier >= 0 and _u(C, i, GOAL) < T.carry_prob[c]:
            keep[s] = earlier
            has_keep = True
    entity = -1
    lo, n_own = _entity_range(T, d)
    if _u(C, i, GOAL) < T.dom_sat[d]:
        if has_keep:
            pool = np.empty(n_own, dtype=np.int64)
            n_pool = 0
            for e in range(lo, lo + n_own):
                ok = True
                for s in range(n_inf):
                    if keep[s] >= 0 and T.kb_values[e, s] != keep[s]:
                        ok = False
                if ok:
                    pool[n_pool] = e
                    n_pool += 1
            if n_pool == 0:
                entity = lo + _below(C, i, GOAL, n_own)
            else:
                entity = pool[_below(C, i, GOAL, n_pool)]
        else:
            entity = lo + _below(C, i, GOAL, n_own)
        for s in T.kb_slots:
            if chosen[s] and T.slot_dom[s] == d:
                C.cons[i, s] = T.kb_values[entity, s]  # -1 when the entity has no value there
    else:
        for s in T.kb_slots:
            if chosen[s] and T.slot_dom[s] == d:
                C.cons[i, s] = _below(C, i, GOAL, T.n_vals[s])
    for s in range(n_inf):
        if keep[s] >= 0:
            C.cons[i, s] = keep[s]
    for r in range(T.dom_req[d, 0], T.dom_req[d, 1]):
        C.req[i, r] = _u(C, i, GOAL) < T.request_prob[r]
    if T.book_rate[d] > 0 and _u(C, i, GOAL) < T.book_rate[d]:  # a booking, and its parameters
        C.book[i, d] = True
        for s in range(T.dom_inf[d, 0], T.dom_inf[d, 1]):
            if T.is_book[s] and _u(C, i, GOAL) < T.book_prob[s]:
                C.cons[i, s] = _index(T.book_cdf[s, : T.n_vals[s]], _u(C, i, GOAL))
    return entity


@njit(cache=True, inline="always")
def _entity_range(T: Tables, d: int) -> tuple[int, int]:
    """Domain ``d``'s entities: the first one and how many (a domain's are contiguous)."""
    lo = -1
    n = 0
    for e in range(len(T.ent_dom)):
        if T.ent_dom[e] == d:
            if lo < 0:
                lo = e
            n += 1
    return lo, n


@njit(cache=True)
def start(
    T: Tables,
    C: Customers,
    i: int,
    seed: np.uint64,
    draw_goal: bool,
    persona: int,
    patience_scale: float,
    cooperativeness_shift: float,
) -> None:
    """A new customer in row ``i``: goal (unless given), persona (-1: drawn), agenda, and their
    opening acts in ``C.out``. The scales adjust a returning customer (``simulators.lifetime``).
    """
    C.seed[i] = seed
    C.useed[i] = seed
    C.ukey[i] = 0
    C.ctr[i] = 0
    C.turn[i] = 0
    C.said_n[i] = 0
    C.action_count[i, :] = 0
    if draw_goal:
        sample_goal(T, C, i)
    if persona < 0:
        persona = categorical(T.persona_cdf, seed, PERSONA, 0, 0)
    C.persona[i] = persona
    lo, hi = T.p_lo[persona], T.p_hi[persona]
    C.patience[i] = float(lo + below(hi - lo + 1, seed, PATIENCE, 0, 0)) * patience_scale
    C.start_patience[i] = C.patience[i]
    C.coop[i] = min(max(T.p_coop[persona] + cooperativeness_shift, 0.0), 1.0)
    C.multi[i] = T.p_multi[persona]
    C.accepted[i, :] = -1
    C.booked[i, :] = False
    for d in range(C.book.shape[1]):  # the first choice: the booking's parameters as drawn
        C.book_key[i, d] = _booking_key(T, C.cons[i], d) if C.book[i, d] else -1
    C.alt[i, :] = False
    C.sys_kind[i] = -1
    C.thanked[i] = False
    C.informed[i, :] = False
    C.task_done[i] = False
    C.cur[i] = C.doms[i, 0]
    C.outcome[i] = ONGOING
    C.annoyances[i] = 0
    C.asked[i, :] = 0
    C.told[i, :] = False
    C.spoken[i, :] = False
    # the agenda, bottom first: bye, then per domain (the last first) the questions, the
    # booking's parameters and the constraints, the task on top
    ag = C.agenda
    ag[i, 0, 0], ag[i, 0, 1], ag[i, 0, 2] = BYE, -1, -1
    n = 1
    for k in range(C.n_doms[i] - 1, -1, -1):
        d = C.doms[i, k]
        first = n
        for r in range(T.dom_req[d, 0], T.dom_req[d, 1]):
            if C.req[i, r]:
                ag[i, n, 0], ag[i, n, 1], ag[i, n, 2] = REQUEST, r, -1
                n += 1
        _shuffle(C, i, first, n, 2 * k)
        if C.book[i, d]:
            first = n
            for s in range(T.dom_inf[d, 0], T.dom_inf[d, 1]):
                if T.is_book[s] and C.cons[i, s] >= 0:
                    ag[i, n, 0], ag[i, n, 1], ag[i, n, 2] = INFORM, s, C.cons[i, s]
                    n += 1
            _shuffle(C, i, first, n, 2 * len(C.doms[i]) + k)
        first = n
        for s in T.kb_slots:
            if T.slot_dom[s] == d and C.cons[i, s] >= 0:
                ag[i, n, 0], ag[i, n, 1], ag[i, n, 2] = INFORM, s, C.cons[i, s]
                n += 1
            elif (
                T.dontcare > 0
                and T.slot_dom[s] == d
                and T.constraint_prob[s] > 0
                and _u(C, i, AGENDA) < T.dontcare
            ):  # "any area is fine", unprompted
                ag[i, n, 0], ag[i, n, 1], ag[i, n, 2] = INFORM, s, T.n_vals[s]
                n += 1
        _shuffle(C, i, first, n, 2 * k + 1)
    if C.task[i] >= 0:
        ag[i, n, 0], ag[i, n, 1], ag[i, n, 2] = INFORM, T.task_slot, C.task[i]
        n += 1
    C.agenda_n[i] = n
    C.out_n[i] = 0
    C.prev_n[i] = 0
    _finish(T, C, i)
    for p in range(C.out_n[i]):
        if C.out[i, p, 0] == INFORM:
            C.spoken[i, C.out[i, p, 1]] = True
    if T.hello > 0 and _u(C, i, USER) < T.hello:
        _prepend(C, i, HELLO)


@njit(cache=True)
def _shuffle(C: Customers, i: int, lo: int, hi: int, which: int) -> None:
    """Fisher-Yates over agenda items ``lo .. hi-1`` of row ``i``."""
    ag = C.agenda
    for k in range(hi - 1, lo, -1):
        j = lo + below(k - lo + 1, C.seed[i], AGENDA, which, k)
        for f in range(3):
            ag[i, k, f], ag[i, j, f] = ag[i, j, f], ag[i, k, f]


# -- one turn ---------------------------------------------------------------------------------


@njit(cache=True)
def satisfied(T: Tables, C: Customers, i: int) -> bool:
    """Whether the agent met row ``i``'s goal: in each of its domains a matching entity and
    every answer; the task done."""
    for k in range(C.n_doms[i]):
        if not _domain_met(T, C, i, C.doms[i, k]):
            return False
    return C.task[i] < 0 or C.task_done[i]


@njit(cache=True)
def _domain_met(T: Tables, C: Customers, i: int, d: int) -> bool:
    """A matching entity of domain ``d`` accepted, every question about it answered and, if
    the customer books, booked."""
    if C.accepted[i, d] < 0 or (C.book[i, d] and not C.booked[i, d]):
        return False
    for r in range(C.req.shape[1]):
        if C.req[i, r] and not C.informed[i, r] and T.req_dom[r] == d:
            return False
    return True


@njit(cache=True)
def _current(T: Tables, C: Customers, i: int) -> int:
    """The domain row ``i``'s customer is on: the first of theirs not yet met (else the last)."""
    for k in range(C.n_doms[i]):
        if not _domain_met(T, C, i, C.doms[i, k]):
            return C.doms[i, k]
    return C.doms[i, C.n_doms[i] - 1]


@njit(cache=True)
def _in_goal(C: Customers, i: int, d: int) -> bool:
    for k in range(C.n_doms[i]):  # noqa: SIM110 (numba: no generators)
        if C.doms[i, k] == d:
            return True
    return False


@njit(cache=True, inline="always")
def _copy_acts(src: np.ndarray, dst: np.ndarray, i: int, n: int) -> None:
    for p in range(n):
        for f in range(3):
            dst[i, p, f] = src[i, p, f]


@njit(cache=True, inline="always")
def _push(C: Customers, i: int, kind: int, slot: int, value: int) -> None:
    p = C.out_n[i]
    C.out[i, p, 0], C.out[i, p, 1], C.out[i, p, 2] = kind, slot, value
    C.out_n[i] = p + 1


@njit(cache=True, inline="always")
def _wanted(T: Tables, C: Customers, i: int, slot: int) -> int:
    v = C.cons[i, slot]
    return v if v >= 0 else T.n_vals[slot]


@njit(cache=True, inline="always")
def _annoy(C: Customers, i: int, cost: float) -> None:
    C.annoyances[i] += 1
    C.patience[i] -= cost


@njit(cache=True)
def _drop(C: Customers, i: int, kind: int, slot: int) -> None:
    """Remove every agenda item ``(kind, slot)`` of row ``i``, keeping the others' order."""
    ag = C.agenda
    k = 0
    for j in range(C.agenda_n[i]):
        if not (ag[i, j, 0] == kind and ag[i, j, 1] == slot):
            if k != j:
                ag[i, k, 0], ag[i, k, 1], ag[i, k, 2] = ag[i, j, 0], ag[i, j, 1], ag[i, j, 2]
            k += 1
    C.agenda_n[i] = k


@njit(cache=True)
def mismatch(T: Tables, entity: int, values: np.ndarray, first: bool) -> int:
    """How many KB slots of its domain ``entity`` violates in ``values`` (-1 / dontcare
    ignored); with ``first``, the first such slot instead (-1 if none)."""
    count = 0
    d = T.ent_dom[entity]
    for s in T.kb_slots:
        v = values[s]
        if T.slot_dom[s] == d and 0 <= v < T.n_vals[s] and T.kb_values[entity, s] != v:
            if first:
                return s
            count += 1
    return -1 if first else count


@njit(cache=True)
def respond(
    T: Tables, C: Customers, i: int, action: int, value: int, entity: int, stated: np.ndarray
) -> None:
    """Row ``i``'s customer reacts to system ``action``; what they say goes to ``C.out``.

    ``value`` is the value a confirm asks about (for an inform without a slot, the attributes it
    answers, as bits of their requestable index; for a request without one, the slots it asks
    for, as bits of their informable index), ``entity`` the entity an offer, inform or
    perform is about (-1: none / no match), ``stated`` the agent's belief per informable slot
    (used when it reports that nothing matches). The caller sets the turn's keys first.
    """
    kind = T.act_kind[action]
    slot = T.act_slot[action]
    n_prev = C.out_n[i]
    _copy_acts(C.out, C.prev, i, n_prev)
    C.prev_n[i] = n_prev
    C.out_n[i] = 0
    C.sys_kind[i] = kind
    C.patience[i] -= 1.0
    if kind == SYS_HANDOVER:
        C.outcome[i] = HANDOVER_OUTCOME
        return
    if kind == SYS_BYE:
        C.outcome[i] = SUCCESS if satisfied(T, C, i) else FAILURE
        _push(C, i, BYE, -1, -1)
        return
    if kind == SYS_REPEAT:
        _annoy(C, i, 0.5)
        _copy_acts(C.prev, C.out, i, n_prev)
        C.out_n[i] = n_prev
        _told(C, i)
        return
    if kind == SYS_REQUEST:
        _answer(T, C, i, slot, value)
    elif kind == SYS_CONFIRM:
        wanted = _wanted(T, C, i, slot)
        if value == wanted:
            _push(C, i, AFFIRM, -1, -1)
        else:
            _push(C, i, NEGATE, -1, -1)
            _push(C, i, INFORM, slot, wanted)
            _drop(C, i, INFORM, slot)
    elif kind == SYS_OFFER:
        d = T.act_dom[action]
        _on_offer(T, C, i, entity, stated, C.cur[i] if d < 0 else d)
    elif kind == SYS_INFORM:  # one attribute, or (no slot) those in the bits of ``value``
        for r in range(C.req.shape[1]):
            if not covers(r, slot, value):
                continue
            if entity >= 0 and entity == C.accepted[i, T.req_dom[r]] and C.req[i, r]:
                C.informed[i, r] = True
                _drop(C, i, REQUEST, r)
    elif kind == SYS_PERFORM:
        if T.act_task[action] == C.task[i] and entity >= 0 and entity == C.accepted[i, 0]:
            C.task_done[i] = True
        else:
            _annoy(C, i, 2.0)
            _push(C, i, NEGATE, -1, -1)
            if C.task[i] >= 0:
                _push(C, i, INFORM, T.task_slot, C.task[i])
    elif kind == SYS_BOOK:
        d = T.act_dom[action]
        _on_book(T, C, i, entity, value == 1, stated, C.cur[i] if d < 0 else d)
    elif kind == SYS_GREET and C.asked[i].sum() + C.informed[i].sum() > 0:
        _annoy(C, i, 0.5)
    if C.outcome[i] == ONGOING:
        if T.correct > 0:
            _correct(T, C, i, stated)
        if not C.task_done[i] and T.change_mind > 0 and _u(C, i, USER) < T.change_mind:
            _change_mind(T, C, i)
        # Out of patience hangs up, unless the agent has just met the goal: then they finish.
        if C.patience[i] <= 0 and not satisfied(T, C, i):
            C.outcome[i] = HANGUP_OUTCOME
            C.out_n[i] = 0
            _push(C, i, HANGUP, -1, -1)
        else:
            _finish(T, C, i)
    _told(C, i)
    C.cur[i] = _current(T, C, i)


@njit(cache=True)
def _answer(T: Tables, C: Customers, i: int, slot: int, bits: int) -> None:
    """The agent asks for ``slot`` (or, -1, for the slots in the bits of ``bits``): annoyed if
    it asks again for one told already; cooperative (one draw), the customer answers each, a
    yes before the first answer their goal holds a value for ("yes, in the centre"; not before
    "any area")."""
    annoyed = False
    for s in range(C.asked.shape[1]):
        if covers(s, slot, bits):
            C.asked[i, s] += 1
            annoyed |= C.asked[i, s] > 1 and C.told[i, s]
    if annoyed:
        _annoy(C, i, 1.0)
    if _u(C, i, USER) >= C.coop[i]:
        return
    drawn = False
    for s in range(C.asked.shape[1]):
        if not covers(s, slot, bits):
            continue
        wanted = _wanted(T, C, i, s)
        if T.affirm_answer > 0 and not drawn and wanted < T.n_vals[s]:
            drawn = True  # the fit counts answers the goal holds a value for
            if _u(C, i, USER) < T.affirm_answer:
                _push(C, i, AFFIRM, -1, -1)
        _push(C, i, INFORM, s, wanted)
        _drop(C, i, INFORM, s)


@njit(cache=True)
def _correct(T: Tables, C: Customers, i: int, stated: np.ndarray) -> None:
    """Unprompted correction ("no, I said cheap"): when the agent believes a wrong value for a
    slot of the current domain that the customer has spoken of, and nothing said this turn
    already corrects it, say so with probability ``T.correct`` (one slot a turn)."""
    for p in range(C.out_n[i]):
        if C.out[i, p, 0] == NEGATE:
            return
    d = C.cur[i]
    for s in T.kb_slots:
        v = stated[s]
        if T.slot_dom[s] != d or not C.spoken[i, s] or not 0 <= v < T.n_vals[s]:
            continue
        if v == C.cons[i, s] or _says(C, i, INFORM, s):
            continue
        if _u(C, i, USER) < T.correct:
            _push(C, i, NEGATE, -1, -1)
            _push(C, i, INFORM, s, _wanted(T, C, i, s))
            _drop(C, i, INFORM, s)
        return


@njit(cache=True, inline="always")
def _says(C: Customers, i: int, kind: int, slot: int) -> bool:
    for p in range(C.out_n[i]):  # noqa: SIM110 (numba: no generators)
        if C.out[i, p, 0] == kind and C.out[i, p, 1] == slot:
            return True
    return False


@njit(cache=True)
def _prepend(C: Customers, i: int, kind: int) -> None:
    """Put act ``kind`` first in what row ``i`` says this turn (a greeting)."""
    for p in range(C.out_n[i], 0, -1):
        for f in range(3):
            C.out[i, p, f] = C.out[i, p - 1, f]
    C.out[i, 0, 0], C.out[i, 0, 1], C.out[i, 0, 2] = kind, -1, -1
    C.out_n[i] += 1


@njit(cache=True)
def _told(C: Customers, i: int) -> None:
    for p in range(C.out_n[i]):
        if C.out[i, p, 0] == INFORM:
            C.told[i, C.out[i, p, 1]] = True
            C.spoken[i, C.out[i, p, 1]] = True


@njit(cache=True)
def _on_offer(T: Tables, C: Customers, i: int, entity: int, stated: np.ndarray, d: int) -> None:
    """An offer in domain ``d`` of ``entity`` (-1: "nothing matches")."""
    if not _in_goal(C, i, d):  # a domain the customer does not want: "no, I need ..."
        _annoy(C, i, 1.0)
        _push(C, i, NEGATE, -1, -1)
        return
    if entity < 0:
        # "Nothing matches": first check the agent understood; if it did, relax or give up.
        n_wrong = 0
        for s in T.kb_slots:
            if T.slot_dom[s] != d:
                continue
            if 0 <= stated[s] < T.n_vals[s] and stated[s] != C.cons[i, s]:
                if n_wrong == 0:
                    _annoy(C, i, 1.0)
                    _push(C, i, NEGATE, -1, -1)
                if n_wrong < 2:
                    _push(C, i, INFORM, s, _wanted(T, C, i, s))
                    _drop(C, i, INFORM, s)
                n_wrong += 1
        if n_wrong:
            return
        u = _u(C, i, USER)
        if u < T.relax or (u < T.relax + T.change and not _change_for_match(T, C, i, d)):
            s = _pick_constrained(T, C, i, d)
            if s < 0:
                C.outcome[i] = HANGUP_OUTCOME
                _push(C, i, HANGUP, -1, -1)
            else:  # drop one constraint ("any") and carry on
                C.cons[i, s] = -1
                _push(C, i, INFORM, s, T.n_vals[s])
                _drop(C, i, INFORM, s)
        elif u >= T.relax + T.change:
            C.outcome[i] = HANGUP_OUTCOME
            _push(C, i, HANGUP, -1, -1)
        return
    s = mismatch(T, entity, C.cons[i], True)
    if s >= 0:
        _annoy(C, i, 1.0)
        C.accepted[i, d] = -1
        _push(C, i, NEGATE, -1, -1)
        _push(C, i, INFORM, s, _wanted(T, C, i, s))
        _drop(C, i, INFORM, s)
    elif (
        T.alternative > 0
        and not C.alt[i, d]
        and entity != C.accepted[i, d]
        and _another_match(T, C, i, entity, d)
        and _u(C, i, USER) < T.alternative
    ):  # "no, is there anything else?": the agent is to offer another
        C.alt[i, d] = True
        _push(C, i, NEGATE, -1, -1)
    else:
        if entity != C.accepted[i, d]:
            _forget_answers(T, C, i, d)
            C.task_done[i] = False
        C.accepted[i, d] = entity
        if T.affirm_offer >= 1.0 or _u(C, i, USER) < T.affirm_offer:
            _push(C, i, AFFIRM, -1, -1)


@njit(cache=True)
def room(T: Tables, C: Customers, i: int, entity: int, stated: np.ndarray, d: int) -> bool:
    """Whether ``entity`` (of domain ``d``) has room for row ``i``'s booking with the parameters
    in ``stated``: one fixed draw per conversation, entity and parameters (so booking the same
    again gets the same answer, and two policies that book alike in a paired run share it),
    with the scenario's ``available`` for the customer's first choice and
    ``available_after_change`` for other parameters (MultiWOZ: the changed booking has room)."""
    if entity < 0:
        return False
    key = _booking_key(T, stated, d)
    p = T.book_avail[d] if key == C.book_key[i, d] else T.book_avail2[d]
    return p >= 1.0 or uniform(C.seed[i], BOOKING, entity, key) < p


@njit(cache=True, inline="always")
def _booking_key(T: Tables, values: np.ndarray, d: int) -> int:
    """A booking's parameters in domain ``d`` as one 32-bit key."""
    key = 0
    for s in range(T.dom_inf[d, 0], T.dom_inf[d, 1]):
        if T.is_book[s]:
            key = (key * 131 + values[s] + 2) & 0xFFFFFFFF
    return key


@njit(cache=True)
def _on_book(
    T: Tables, C: Customers, i: int, entity: int, available: bool, stated: np.ndarray, d: int
) -> None:
    """The agent booked ``entity`` of domain ``d`` with the parameters it believes (``stated``);
    ``available``: whether the entity had room for them."""
    if not _in_goal(C, i, d) or not C.book[i, d] or entity < 0:
        _annoy(C, i, 1.0)  # "no, I did not want a booking" (or: nothing to book)
        _push(C, i, NEGATE, -1, -1)
        return
    if entity != C.accepted[i, d]:  # booking what is on offer accepts it, if it matches
        s = mismatch(T, entity, C.cons[i], True)
        if s >= 0:
            _annoy(C, i, 1.0)
            _push(C, i, NEGATE, -1, -1)
            _push(C, i, INFORM, s, _wanted(T, C, i, s))
            _drop(C, i, INFORM, s)
            return
        _forget_answers(T, C, i, d)
        C.accepted[i, d] = entity
    n_wrong = 0  # booked for the wrong day, time, people: "no, for 4 people"
    for s in range(T.dom_inf[d, 0], T.dom_inf[d, 1]):
        if T.is_book[s] and C.cons[i, s] >= 0 and stated[s] != C.cons[i, s]:
            if n_wrong == 0:
                _annoy(C, i, 1.0)
                _push(C, i, NEGATE, -1, -1)
            if n_wrong < 2:
                _push(C, i, INFORM, s, C.cons[i, s])
                _drop(C, i, INFORM, s)
            n_wrong += 1
    if n_wrong:
        return
    if available:
        C.booked[i, d] = True
        for s in range(T.dom_inf[d, 0], T.dom_inf[d, 1]):
            if T.is_book[s]:
                _drop(C, i, INFORM, s)
        return
    # no room: change one parameter, as the goal says (MultiWOZ's ``fail_book``), and say it
    total = 0.0
    for s in range(T.dom_inf[d, 0], T.dom_inf[d, 1]):
        if T.is_book[s] and C.cons[i, s] >= 0 and T.n_vals[s] > 1:
            total += T.book_fail[s]
    if total <= 0.0:
        C.outcome[i] = HANGUP_OUTCOME
        _push(C, i, HANGUP, -1, -1)
        return
    u = _u(C, i, USER) * total
    s = T.dom_inf[d, 0]
    for t in range(T.dom_inf[d, 0], T.dom_inf[d, 1]):
        if T.is_book[t] and C.cons[i, t] >= 0 and T.n_vals[t] > 1 and T.book_fail[t] > 0:
            s = t
            u -= T.book_fail[t]
            if u < 0:
                break
    v = _below(C, i, USER, T.n_vals[s] - 1)
    if v >= C.cons[i, s]:
        v += 1
    C.cons[i, s] = v
    _drop(C, i, INFORM, s)
    if T.affirm_rebook > 0.0 and _u(C, i, USER) < T.affirm_rebook:
        _push(C, i, AFFIRM, -1, -1)  # "yes, try 19:00"
    _push(C, i, INFORM, s, v)


@njit(cache=True)
def _another_match(T: Tables, C: Customers, i: int, entity: int, d: int) -> bool:
    """Whether an entity of domain ``d`` other than ``entity`` meets row ``i``'s goal."""
    for e in range(len(T.ent_dom)):
        if e != entity and T.ent_dom[e] == d and mismatch(T, e, C.cons[i], False) == 0:
            return True
    return False


@njit(cache=True, inline="always")
def _forget_answers(T: Tables, C: Customers, i: int, d: int) -> None:
    """Answers about domain ``d``'s entity, and its booking, no longer count (another entity is
    now the one)."""
    for r in range(T.dom_req[d, 0], T.dom_req[d, 1]):
        C.informed[i, r] = False
    C.booked[i, d] = False


@njit(cache=True)
def _pick_constrained(T: Tables, C: Customers, i: int, d: int) -> int:
    """A constrained KB slot of row ``i``'s goal in domain ``d``, drawn uniformly; -1 if none."""
    count = 0
    for s in T.kb_slots:
        if C.cons[i, s] >= 0 and T.slot_dom[s] == d:
            count += 1
    if count == 0:
        return -1
    j = _below(C, i, USER, count)
    for s in T.kb_slots:
        if C.cons[i, s] >= 0 and T.slot_dom[s] == d:
            if j == 0:
                return s
            j -= 1
    return -1


@njit(cache=True)
def _change_mind(T: Tables, C: Customers, i: int) -> None:
    """Switch one constraint of the current domain to a value some other entity has with the
    rest of the goal."""
    d = C.cur[i]
    s = _pick_constrained(T, C, i, d)
    if s < 0:
        return
    present = _values_with_the_rest(T, C, i, d, s)
    size = present.sum()
    if size == 0:
        return
    j = _below(C, i, USER, size)
    new = -1
    for v in range(len(present)):
        if present[v]:
            if j == 0:
                new = v
                break
            j -= 1
    _say_changed(T, C, i, d, s, new)


@njit(cache=True)
def _change_for_match(T: Tables, C: Customers, i: int, d: int) -> bool:
    """Nothing matches: switch one constraint of domain ``d`` to another value that some entity
    has with the rest of the goal (a slot drawn among those that have one, then the value), and
    say it; False if no single change would match."""
    n_inf = C.cons.shape[1]
    options = np.zeros(n_inf, dtype=np.int64)
    n_slots = 0
    for s in T.kb_slots:
        if C.cons[i, s] >= 0 and T.slot_dom[s] == d:
            options[s] = _values_with_the_rest(T, C, i, d, s).sum()
            if options[s] > 0:
                n_slots += 1
    if n_slots == 0:
        return False
    j = _below(C, i, USER, n_slots)
    s = 0
    while options[s] == 0 or j > 0:
        if options[s] > 0:
            j -= 1
        s += 1
    present = _values_with_the_rest(T, C, i, d, s)
    k = _below(C, i, USER, options[s])
    for v in range(len(present)):
        if present[v]:
            if k == 0:
                _say_changed(T, C, i, d, s, v)
                return True
            k -= 1
    return False


@njit(cache=True)
def _values_with_the_rest(T: Tables, C: Customers, i: int, d: int, s: int) -> np.ndarray:
    """The values of slot ``s`` other than the wanted one that some entity of domain ``d`` has
    along with the rest of row ``i``'s goal."""
    present = np.zeros(T.eq.shape[1], dtype=np.bool_)
    for e in range(T.kb_values.shape[0]):
        if T.ent_dom[e] != d:
            continue
        ok = True
        for t in T.kb_slots:
            v = C.cons[i, t]
            if t != s and T.slot_dom[t] == d and 0 <= v < T.n_vals[t] and not T.eq[t, v, e]:
                ok = False
                break
        if ok and T.kb_values[e, s] >= 0:
            present[T.kb_values[e, s]] = True
    current = C.cons[i, s]
    if 0 <= current < len(present):
        present[current] = False
    return present


@njit(cache=True)
def _say_changed(T: Tables, C: Customers, i: int, d: int, s: int, new: int) -> None:
    """Row ``i`` now wants ``new`` for slot ``s`` of domain ``d``, and says so."""
    C.cons[i, s] = new
    _drop(C, i, INFORM, s)
    _push(C, i, INFORM, s, new)
    if C.accepted[i, d] >= 0 and mismatch(T, C.accepted[i, d], C.cons[i], False) > 0:
        C.accepted[i, d] = -1
        _forget_answers(T, C, i, d)


@njit(cache=True)
def _finish(T: Tables, C: Customers, i: int) -> None:
    """Add agenda items to the reactive acts, as the persona's talkativeness allows."""
    ag = C.agenda
    # pieces still to say, when the scenario gives how many a turn holds (what the customer
    # has said already, in answer to the agent, counts: "yes" and a question make two)
    budget = -1
    if len(T.turn_cdf):
        budget = 1 + _index(T.turn_cdf, _u(C, i, USER)) - C.out_n[i]
        want_more = budget > 0 or C.out_n[i] == 0
    else:
        want_more = C.out_n[i] == 0 or _u(C, i, USER) < C.multi[i]
    while want_more and C.agenda_n[i] > 0:
        top = C.agenda_n[i] - 1
        kind = ag[i, top, 0]
        if kind == REQUEST and C.accepted[i, T.req_dom[ag[i, top, 1]]] < 0:
            break  # questions wait until there is something to ask about
        if kind == INFORM and T.slot_dom[ag[i, top, 1]] != _current(T, C, i):
            break  # the next domain waits until this one is done
        if kind == INFORM and T.is_book[ag[i, top, 1]] and _holds(T, C, i, ag[i, top, 1]):
            break  # the booking's parameters wait until they take an offer
        if kind == BYE:
            if satisfied(T, C, i):
                # Real customers mostly close with thanks alone ("that is all I need"):
                # in MultiWOZ's restaurant dialogues an explicit good-bye is rare.
                alone = C.out_n[i] == 0 and C.sys_kind[i] >= 0
                if T.closing_negate > 0 and alone and _u(C, i, USER) < T.closing_negate:
                    _push(C, i, NEGATE, -1, -1)  # "no, that's all"
                _push(C, i, THANK, -1, -1)
                bye = _u(C, i, USER) < T.bye
                if bye:
                    _push(C, i, BYE, -1, -1)
                if (
                    not bye
                    and T.closing_again > 0
                    and not C.thanked[i]
                    and _u(C, i, USER) < T.closing_again
                ):
                    C.thanked[i] = True  # waits for "anything else?" to close again
                else:
                    C.agenda_n[i] = top
                    C.outcome[i] = SUCCESS
            break
        _push(C, i, kind, ag[i, top, 1], ag[i, top, 2])
        C.agenda_n[i] = top
        booking = kind == INFORM and T.is_book[ag[i, top, 1]]
        if booking and (
            T.book_together >= 1.0 or (T.book_together > 0.0 and _u(C, i, USER) < T.book_together)
        ):  # the rest of the booking in the same breath, one piece
            _rest_of_booking(T, C, i, T.slot_dom[ag[i, top, 1]])
        if budget >= 0:
            budget -= 1
            want_more = budget > 0
        else:
            want_more = _u(C, i, USER) < C.multi[i]
    if C.out_n[i] == 0:
        _nudge(T, C, i)


@njit(cache=True)
def _rest_of_booking(T: Tables, C: Customers, i: int, d: int) -> None:
    """Say every parameter of domain ``d``'s booking still on row ``i``'s agenda, now."""
    for s in range(T.dom_inf[d, 0], T.dom_inf[d, 1]):
        if not T.is_book[s]:
            continue
        for j in range(C.agenda_n[i]):
            if C.agenda[i, j, 0] == INFORM and C.agenda[i, j, 1] == s:
                _push(C, i, INFORM, s, C.agenda[i, j, 2])
                _drop(C, i, INFORM, s)
                break


@njit(cache=True, inline="always")
def _holds(T: Tables, C: Customers, i: int, slot: int) -> bool:
    """Whether row ``i`` holds back booking parameter ``slot`` for now: no offer taken in its
    domain yet, and the customer is one who waits for one (``book_early``; one keyed draw per
    conversation and domain)."""
    d = T.slot_dom[slot]
    if T.book_early >= 1.0 or C.accepted[i, d] >= 0:
        return False
    return T.book_early <= 0.0 or uniform(C.seed[i], HOLD, d, 0) >= T.book_early


@njit(cache=True)
def _nudge(T: Tables, C: Customers, i: int) -> None:
    """Nothing left to volunteer: restate what the agent still has to act on."""
    d = _current(T, C, i)
    if C.accepted[i, d] >= 0:
        for r in range(T.dom_req[d, 0], T.dom_req[d, 1]):
            if C.req[i, r] and not C.informed[i, r]:
                _push(C, i, REQUEST, r, -1)
                return
        if C.book[i, d] and not C.booked[i, d]:
            # the booking: what it still lacks from them, or all of it again ("for 4, at 7pm,
            # Friday"); after an answer or an offer, with ``restate_booking``'s probability
            kind = C.sys_kind[i]
            quiet = (kind == SYS_INFORM or kind == SYS_OFFER) and (  # noqa: SIM109 (numba)
                T.restate_booking <= 0.0
                or (T.restate_booking < 1.0 and _u(C, i, USER) >= T.restate_booking)
            )
            for s in range(T.dom_inf[d, 0], T.dom_inf[d, 1]):
                if T.is_book[s] and C.cons[i, s] >= 0 and not (quiet and C.told[i, s]):
                    _push(C, i, INFORM, s, C.cons[i, s])
            if C.out_n[i]:
                return
            if quiet:  # told it all: thanks for the answer, yes to the offer
                _push(C, i, THANK if kind == SYS_INFORM else AFFIRM, -1, -1)
                return
        if C.task[i] >= 0 and not C.task_done[i]:
            _push(C, i, INFORM, T.task_slot, C.task[i])
            return
    s = _pick_constrained(T, C, i, d)
    if s >= 0:
        _push(C, i, INFORM, s, C.cons[i, s])
    else:
        lo = 0
        while T.slot_dom[T.kb_slots[lo]] != d:
            lo += 1
        n = 0
        for t in T.kb_slots:
            if T.slot_dom[t] == d:
                n += 1
        s = T.kb_slots[lo + _below(C, i, USER, n)]
        _push(C, i, INFORM, s, T.n_vals[s])
