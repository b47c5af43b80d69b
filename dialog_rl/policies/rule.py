"""The random baseline and the handcrafted rule policy.

The rule policy is the one a competent engineer writes, driven by the scenario (no per-domain
code): answer pending questions (all at once if the catalog has an inform without a slot), ask
for what narrows the search (all at once if it has a request without a slot) and what the task
requires, confirm what was heard with low
confidence, offer, book if the customer gave a booking's parameters (asking for the missing
ones), do the task, then ask if there is more.
It reads the observation by feature name through the ``ObservationSpec``.
"""

from __future__ import annotations

import numpy as np

from dialog_rl.acts import SYS_BOOK, SYS_INFORM, SYS_OFFER, SYS_REQUEST
from dialog_rl.domain import Domain
from dialog_rl.env.featurizer import BOOKING_FEATURES, ObservationSpec
from dialog_rl.jit import njit
from dialog_rl.policies.base import Decision, Policy, epsilon_soft, uniform


@njit(cache=True)
def _rule_actions(
    obs: np.ndarray,
    masks: np.ndarray,
    slots: np.ndarray,
    requests: np.ndarray,
    tasks: np.ndarray,
    required: np.ndarray,
    misc: np.ndarray,
    offers: np.ndarray,
    books: np.ndarray,
    answers: np.ndarray,
    asks: np.ndarray,
    confirm_below: float,
    out: np.ndarray,
) -> None:
    """The rule's action for every row of ``obs`` / ``masks`` into ``out`` (see ``rule_action``).

    ``slots`` [n, 8]: feature indices of known, conf, confirmed, dontcare, asked, then the request
    and confirm actions (-1: none), then 1 for a booking's parameter; ``requests`` [n, 2]:
    feature requested, inform action;
    ``tasks`` [n, 2]: feature is_task, perform action; ``required`` [1 + n_tasks, n_slots]: the
    slots an offer (row 0) and each task need; ``misc``: -1 (unused), reqmore, bye actions, then the
    features offer.made, offer.matches_belief, offer.rejected, task.performed, matches_0,
    matches_1, last.reqmore, then booking.wanted, booking.made, booking.failed (-1: no booking);
    ``offers``, ``books``: the offer and book actions (one per domain; the mask allows the active
    domain's); ``answers``: the informs without a slot (answer all that was asked; the mask allows
    them when something was); ``asks``: the requests without a slot (ask for all that narrows the
    search and is unknown).
    """
    for r in range(obs.shape[0]):
        out[r] = _one_rule(
            obs[r],
            masks[r],
            slots,
            requests,
            tasks,
            required,
            misc,
            offers,
            books,
            answers,
            asks,
            confirm_below,
        )


@njit(cache=True)
def _one_rule(
    o, m, slots, requests, tasks, required, misc, offers, books, answers, asks, confirm_below
) -> int:
    """The rule's action for one observation ``o`` and mask ``m`` (arguments as above)."""
    reqmore, bye = misc[1], misc[2]
    f_made, f_matches, f_rejected, f_performed = misc[3], misc[4], misc[5], misc[6]
    f_few0, f_few1, f_last_reqmore = misc[7], misc[8], misc[9]
    offer_live = o[f_made] > 0 and o[f_rejected] == 0 and o[f_matches] > 0
    # a booking to make: the customer gave its parameters for the entity on offer
    booking = misc[10] >= 0 and offer_live and o[misc[10]] > 0 and o[misc[11]] == 0
    # 1. answer the customer's questions about the entity on offer
    if offer_live:
        for a in answers:
            if m[a]:
                return a
        for k in range(requests.shape[0]):
            if o[requests[k, 0]] > 0 and m[requests[k, 1]]:
                return requests[k, 1]
    few = o[f_few0] > 0 or o[f_few1] > 0
    believed = -1
    for t in range(tasks.shape[0]):
        if o[tasks[t, 0]] > 0:
            believed = t
    # 2. ask for what narrows the search (two or more such slots: all at once, if the catalog
    # can) or what the task needs
    first, n_search = -1, 0
    for i in range(slots.shape[0]):
        f_known, f_asked, a_req = slots[i, 0], slots[i, 4], slots[i, 5]
        if a_req < 0 or o[f_known] > 0 or not m[a_req] or o[f_asked] >= 2 / 3 - 1e-6:
            continue
        if slots[i, 7]:  # a booking's parameters: asked for when there is a booking to make
            if booking and first < 0:
                first = a_req
            continue
        n_search += 1
        needed = required[0, i]
        for t in range(tasks.shape[0]):
            if o[tasks[t, 0]] > 0 and required[1 + t, i]:
                needed = True
        if (not few or needed) and first < 0:
            first = a_req
    if not few and n_search >= 2:
        for a in asks:
            if m[a]:
                return a
    if first >= 0:
        return first
    # 3. confirm what was heard with low confidence
    for i in range(slots.shape[0]):
        a_conf = slots[i, 6]
        if (
            a_conf >= 0
            and o[slots[i, 0]] > 0
            and o[slots[i, 2]] == 0
            and o[slots[i, 3]] == 0
            and o[slots[i, 1]] < confirm_below
            and m[a_conf]
        ):
            return a_conf
    # 4. offer (again) if nothing valid is on offer
    if not offer_live:
        for offer in offers:
            if m[offer]:
                return offer
    # 5. book (not again what had no room: the customer will change a parameter), do the task
    if booking and o[misc[12]] == 0:
        for book in books:
            if m[book]:
                return book
    if believed >= 0 and o[f_performed] == 0 and m[tasks[believed, 1]]:
        return tasks[believed, 1]
    # 6. anything else? then close
    if reqmore >= 0 and o[f_last_reqmore] == 0 and m[reqmore]:
        return reqmore
    if bye >= 0 and m[bye]:
        return bye
    for a in range(len(m)):
        if m[a]:
            return a
    return 0


class RandomPolicy(Policy):
    """Uniform over the allowed actions."""

    name = "random"
    stochastic = True

    def __init__(self, domain: Domain) -> None:
        self.n_actions = domain.n_actions

    def distribution(self, obs, mask, explore=True):
        probs = uniform(mask)
        return probs, probs


class RulePolicy(Policy):
    """Handcrafted dialogue manager; with ``epsilon`` > 0 it is ε-soft (for logging data for OPE).

    Args:
        domain: the compiled scenario.
        spec: the observation spec of the environment.
        confirm_below: confirm a slot heard with less confidence than this.
        epsilon: probability of a uniformly random allowed action instead of the rule's.
    """

    name = "rule"

    def __init__(
        self,
        domain: Domain,
        spec: ObservationSpec,
        confirm_below: float = 0.6,
        epsilon: float = 0.0,
    ) -> None:
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
        self.domain = domain
        self.confirm_below = confirm_below
        self.epsilon = epsilon
        self.stochastic = epsilon > 0
        d = domain
        ix = spec.index
        act = {n: i for i, n in enumerate(d.act_names)}
        self._n = d.n_actions
        # (feature index of known, conf, confirmed, dontcare, asked; request action; confirm action)
        booking = set(d.booking.slots)
        self._slots = [
            (
                ix(f"{name}.known"),
                ix(f"{name}.conf"),
                ix(f"{name}.confirmed"),
                ix(f"{name}.dontcare"),
                ix(f"{name}.asked"),
                act.get(f"request({name})", -1),
                act.get(f"confirm({name})", -1),
                int(s in booking),
            )
            for s, name in enumerate(d.inf_names)
            if s != d.task_slot
        ]
        self._requests = [
            (ix(f"{name}.requested"), act[f"inform({name})"])
            for name in d.req_names
            if f"inform({name})" in act
        ]
        self._tasks = [
            (
                ix(f"task.is_{t}"),
                act[f"perform({t})"],
                [d.inf_names[s] for s in d.act_requires[act[f"perform({t})"]]],
            )
            for t in d.task_names
        ]
        self._offers = [a for a in range(d.n_actions) if d.act_kind[a] == SYS_OFFER]
        self._books = [a for a in range(d.n_actions) if d.act_kind[a] == SYS_BOOK]
        self._answers = [
            a for a in range(d.n_actions) if d.act_kind[a] == SYS_INFORM and d.act_slot[a] < 0
        ]
        self._asks = [
            a for a in range(d.n_actions) if d.act_kind[a] == SYS_REQUEST and d.act_slot[a] < 0
        ]
        f_booking = [ix(f) for f in BOOKING_FEATURES] if d.booking.on else [-1, -1, -1]
        self._offer_requires = {d.inf_names[s] for a in self._offers for s in d.act_requires[a]}
        self._reqmore = act.get("reqmore", -1)
        self._bye = act.get("bye", -1)
        self._f_made = ix("offer.made")
        self._f_matches = ix("offer.matches_belief")
        self._f_rejected = ix("offer.rejected")
        self._f_performed = ix("task.performed")
        self._f_few = (ix("matches_0"), ix("matches_1"))
        self._f_last_reqmore = ix("last.reqmore")
        self._slot_by_name = {
            d.inf_names[s]: i for i, s in enumerate(r for r in range(d.n_inf) if r != d.task_slot)
        }
        # the same rules as arrays, for the compiled kernel that applies them
        names = list(self._slot_by_name)
        required = np.zeros((1 + len(self._tasks), len(names)), dtype=np.bool_)
        for i, name in enumerate(names):
            required[0, i] = name in self._offer_requires
            for t, (_, _, needs) in enumerate(self._tasks):
                required[1 + t, i] = name in needs
        self._kernel_args = (
            np.array(self._slots, dtype=np.int64).reshape(-1, 8),
            np.array(self._requests, dtype=np.int64).reshape(-1, 2),
            np.array([(f, a) for f, a, _ in self._tasks], dtype=np.int64).reshape(-1, 2),
            required,
            np.array(
                [
                    -1,
                    self._reqmore,
                    self._bye,
                    self._f_made,
                    self._f_matches,
                    self._f_rejected,
                    self._f_performed,
                    *self._f_few,
                    self._f_last_reqmore,
                    *f_booking,
                ],
                dtype=np.int64,
            ),
            np.array(self._offers, dtype=np.int64),
            np.array(self._books, dtype=np.int64),
            np.array(self._answers, dtype=np.int64),
            np.array(self._asks, dtype=np.int64),
            float(confirm_below),
        )

    def config(self) -> dict:
        return {"confirm_below": self.confirm_below, "epsilon": self.epsilon}

    def rule_action(self, obs: np.ndarray, mask: np.ndarray) -> int:
        """The action the rules pick (always an allowed one)."""
        return int(_one_rule(obs, np.asarray(mask), *self._kernel_args))

    def act_batch(self, obs, masks, *, explore=True, rng=None):
        """The rules on every row at once (compiled); exploring (epsilon > 0), row by row with
        each row's own stream, as ``act`` does."""
        if explore and self.epsilon > 0:
            return super().act_batch(obs, masks, explore=explore, rng=rng)
        actions = np.empty(len(obs), dtype=np.int64)
        _rule_actions(obs, masks, *self._kernel_args, actions)
        return actions, np.ones(len(obs), dtype=np.float64)

    def act(self, obs, mask, *, explore=True, rng=None):
        if explore and self.epsilon > 0:
            return super().act(obs, mask, explore=explore, rng=rng)
        a = self.rule_action(obs, mask)
        onehot = np.zeros(self._n)
        onehot[a] = 1.0
        return Decision(a, 1.0, onehot, onehot)

    def distribution(self, obs, mask, explore=True):
        a = self.rule_action(obs, mask)
        scores = np.zeros(self._n)
        scores[a] = 1.0
        if explore and self.epsilon > 0:
            return scores, epsilon_soft(a, mask, self.epsilon)
        return scores, scores.copy()
