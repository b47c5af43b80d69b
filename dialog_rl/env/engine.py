# Whole on purpose: the Engine beside every kernel of its turn (start, act, hear, observe, step).
"""The simulator engine: one implementation of a turn, for one conversation or a hundred thousand.

``Engine`` holds ``n`` conversations as rows of arrays: the customers (``simulators.customer``),
the agent's beliefs (``dialog_rl.env.tracker``), observations and masks (``featurizer``). ``start`` seats new
customers in some rows; ``step`` plays one agent turn in some rows: the agent's act, the
customer's answer, the channel, the belief update, the reward and the next observation, each
row through the same compiled code (numba), so a batch of one and a batch of 32,768 play
identical conversations for identical seeds.

Every draw is keyed by the episode's seed and what it is for (``dialog_rl.counter_rng``), so a
conversation's course never depends on the batch it shares, the worker that plays it, or when
its neighbours finish. ``pairing=ACT_KEYED`` keys the customer's and the channel's draws by the
act they are about instead of by turn: two policies meeting the same customer then share every
reaction to the same move (common random numbers for the regression gate).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import config
from numba.experimental import structref

from dialog_rl.acts import SYS_BOOK
from dialog_rl.counter_rng import mix64
from dialog_rl.domain import Domain
from dialog_rl.env import featurizer, tracker
from dialog_rl.env.featurizer import Layout
from dialog_rl.env.tracker import Beliefs
from dialog_rl.jit import njit
from simulators import customer, customer_state, noise
from simulators.customer_state import (
    ACT_KEYED,
    FAILURE,
    HANDOVER_OUTCOME,
    HANGUP_OUTCOME,
    ONGOING,
    OUTCOME_NAMES,
    SUCCESS,
    TURN_KEYED,
    Customers,
    Tables,
)


@structref.register
class _LayoutStruct(customer_state.ArrayStruct):
    pass


@structref.register
class _BeliefsStruct(customer_state.ArrayStruct):
    pass


class _LayoutRef(structref.StructRefProxy):
    pass


class _BeliefsRef(structref.StructRefProxy):
    pass


@structref.register
class _StateStruct(customer_state.ArrayStruct):
    pass


class _StateRef(structref.StructRefProxy):
    pass


class EngineState(NamedTuple):
    """All of an engine's state as one kernel argument: its four structs (``Engine.refs``),
    the pairing and its own arrays. Numba boxes a struct argument in about half a microsecond
    whatever it holds, and an array in a twentieth, so the per-turn kernels of a one-row env
    take this and unpack it (``_start_state``, ``_step_state``) instead of four structs and
    seven arrays: the same kernels on the same arrays, a few microseconds less per turn."""

    tables: object
    layout: object
    customers: object
    beliefs: object
    pairing: int
    turn: np.ndarray
    sys_value: np.ndarray
    sys_entity: np.ndarray
    rewards: np.ndarray
    episode_reward: np.ndarray
    obs: np.ndarray
    masks: np.ndarray


structref.define_proxy(_LayoutRef, _LayoutStruct, list(Layout._fields))
structref.define_proxy(_BeliefsRef, _BeliefsStruct, list(Beliefs._fields))
structref.define_proxy(_StateRef, _StateStruct, list(EngineState._fields))


# cached constructors (see ``customer_state.as_struct``)
@njit
def _new_layout(*fields):
    return _LayoutRef(*fields)


@njit
def _new_beliefs(*fields):
    return _BeliefsRef(*fields)


@njit
def _new_state(*fields):
    return _StateRef(*fields)


#: how a conversation ended, by outcome code: one still going when it stops was cut short
_ENDED_AS = np.array(("truncated", *OUTCOME_NAMES[1:]), dtype=object)
#: how draws are keyed, by name: by turn (a run), or by the act they answer (paired runs)
PAIRINGS = {"turn": TURN_KEYED, "act": ACT_KEYED}
_ACTION_SALT = np.uint64(0x8CB92BA72F3D8DD7)
#: the state ``Engine.read`` gives out, by name: where it lives (``customers``, ``beliefs`` or the
#: engine itself) and which array
READABLE = {
    "said": ("customers", "out"),  # int64 [n, k, 3]: the customer's acts this turn
    "said_n": ("customers", "out_n"),
    "heard": ("customers", "heard"),  # int64 [n, k, 3]: what the channel let through
    "heard_conf": ("customers", "heard_conf"),  # float64 [n, k]: its confidences
    "heard_n": ("customers", "heard_n"),
    "persona": ("customers", "persona"),
    "belief": ("beliefs", "values"),  # int64 [n, n_inf]: top value per informable slot, or -1
    "sys_value": (None, "sys_value"),  # the value and entity the agent's last act carried
    "sys_entity": (None, "sys_entity"),
}


def rewards_by_outcome(domain: Domain) -> np.ndarray:
    """The reward of a turn that ends with each outcome (``ONGOING`` .. ``HANDOVER_OUTCOME``)."""
    d = domain
    r = np.full(5, d.r_turn, dtype=np.float64)
    r[SUCCESS] += d.r_success
    r[FAILURE] += d.r_failure
    r[HANGUP_OUTCOME] += d.r_failure
    r[HANDOVER_OUTCOME] += d.r_handover
    return r


@njit(cache=True)
def _start_rows(
    T: Tables,
    L: Layout,
    C: Customers,
    B: Beliefs,
    rows: np.ndarray,
    seeds: np.ndarray,
    draw_goal: bool,
    persona: int,
    patience_scale: float,
    cooperativeness_shift: float,
    pairing: int,
    listen: bool,
    obs: np.ndarray,
    masks: np.ndarray,
) -> None:
    for k in range(len(rows)):
        i = rows[k]
        customer.start(T, C, i, seeds[k], draw_goal, persona, patience_scale, cooperativeness_shift)
        tracker.reset(B, i)
        if listen:
            noise.hear(T, C, i, pairing)
            tracker.observe(T, B, i, C.heard[i], C.heard_conf[i], C.heard_n[i])
            featurizer.featurize(T, L, B, i, obs[i], masks[i])


@njit(cache=True)
def _listen_rows(
    T: Tables, L: Layout, C: Customers, B: Beliefs, rows: np.ndarray, obs, masks
) -> None:
    """What the agent heard of the opening words (already in ``C.heard``) sets its belief."""
    for i in rows:
        tracker.observe(T, B, i, C.heard[i], C.heard_conf[i], C.heard_n[i])
        featurizer.featurize(T, L, B, i, obs[i], masks[i])


@njit(cache=True)
def _act_rows(
    T: Tables,
    C: Customers,
    B: Beliefs,
    rows: np.ndarray,
    actions: np.ndarray,
    turn: np.ndarray,
    pairing: int,
    sys_value: np.ndarray,
    sys_entity: np.ndarray,
) -> int:
    """The agent's act in each row and the customer's answer (into ``C.out``). Returns -1, or
    the first row whose action is outside the catalog (then nothing changed)."""
    for i in rows:
        if actions[i] < 0 or actions[i] >= len(T.act_kind):
            return i
    for i in rows:
        a = actions[i]
        value, entity = tracker.act_arguments(T, B, i, a)
        if T.act_kind[a] == SYS_BOOK:  # the KB says whether there is room: 1 booked, 0 not
            d = tracker.act_domain(T, B, i, a)
            value = 1 if customer.room(T, C, i, entity, B.values[i], d) else 0
        sys_value[i], sys_entity[i] = value, entity
        tracker.system_act(T, B, i, a, value, entity)
        C.turn[i] = turn[i] + 1
        C.ctr[i] = 0
        if pairing == ACT_KEYED:
            # the customer's reaction to the n-th time the agent takes this action
            C.useed[i] = mix64(C.seed[i] ^ (np.uint64(a + 1) * _ACTION_SALT))
            C.ukey[i] = C.action_count[i, a]
            C.action_count[i, a] += 1
        else:
            C.ukey[i] = turn[i] + 1
        customer.respond(T, C, i, a, value, entity, B.values[i])
    return -1


@njit(cache=True)
def _hear_rows(T: Tables, C: Customers, rows: np.ndarray, pairing: int) -> None:
    for i in rows:
        noise.hear(T, C, i, pairing)


@njit(cache=True)
def _observe_rows(
    T: Tables,
    L: Layout,
    C: Customers,
    B: Beliefs,
    rows: np.ndarray,
    rewards_table: np.ndarray,
    turn: np.ndarray,
    episode_reward: np.ndarray,
    reward: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    obs: np.ndarray,
    masks: np.ndarray,
) -> None:
    """What each row's agent heard updates its belief; the turn's reward and flags."""
    for i in rows:
        tracker.observe(T, B, i, C.heard[i], C.heard_conf[i], C.heard_n[i])
        turn[i] += 1
        o = C.outcome[i]
        terminated[i] = o != ONGOING
        truncated[i] = o == ONGOING and turn[i] >= L.max_turns
        reward[i] = rewards_table[o]
        episode_reward[i] += reward[i]
        featurizer.featurize(T, L, B, i, obs[i], masks[i])


@njit(cache=True)
def _step_rows(
    T: Tables,
    L: Layout,
    C: Customers,
    B: Beliefs,
    rows: np.ndarray,
    actions: np.ndarray,
    turn: np.ndarray,
    pairing: int,
    sys_value: np.ndarray,
    sys_entity: np.ndarray,
    rewards_table: np.ndarray,
    episode_reward: np.ndarray,
    reward: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    obs: np.ndarray,
    masks: np.ndarray,
) -> int:
    """A whole act-level turn of each row, in one call."""
    bad = _act_rows(T, C, B, rows, actions, turn, pairing, sys_value, sys_entity)
    if bad != -1:
        return bad
    _hear_rows(T, C, rows, pairing)
    _observe_rows(
        T,
        L,
        C,
        B,
        rows,
        rewards_table,
        turn,
        episode_reward,
        reward,
        terminated,
        truncated,
        obs,
        masks,
    )
    return -1


@njit(cache=True)
def _start_state(
    S: EngineState,
    rows: np.ndarray,
    seeds: np.ndarray,
    draw_goal: bool,
    persona: int,
    patience_scale: float,
    cooperativeness_shift: float,
    listen: bool,
) -> None:
    """``Engine.start`` in one call: the rows' counters zeroed, then ``_start_rows``."""
    for k in range(len(rows)):
        S.turn[rows[k]] = 0
        S.episode_reward[rows[k]] = 0.0
    _start_rows(
        S.tables,
        S.layout,
        S.customers,
        S.beliefs,
        rows,
        seeds,
        draw_goal,
        persona,
        patience_scale,
        cooperativeness_shift,
        S.pairing,
        listen,
        S.obs,
        S.masks,
    )


@njit(cache=True)
def _step_state(
    S: EngineState,
    rows: np.ndarray,
    actions: np.ndarray,
    reward: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
) -> int:
    """``_step_rows`` on an ``EngineState``."""
    return _step_rows(
        S.tables,
        S.layout,
        S.customers,
        S.beliefs,
        rows,
        actions,
        S.turn,
        S.pairing,
        S.sys_value,
        S.sys_entity,
        S.rewards,
        S.episode_reward,
        reward,
        terminated,
        truncated,
        S.obs,
        S.masks,
    )


@njit(cache=True)
def _convlab_rows(T: Tables, C: Customers, B: Beliefs, rows: np.ndarray, out: np.ndarray) -> None:
    """ConvLab/MultiWOZ's counts of each row's conversation, into ``out`` [len(rows), 7]: inform
    TP, FP, FN (requested slots told, told but not requested, requested but not told), goal
    domains whose entity on offer meets the final goal, goal domains, goal domains booked as
    the goal says, and goal domains with a booking."""
    for k in range(len(rows)):
        i = rows[k]
        tp = fp = fn = 0
        for r in range(C.req.shape[1]):
            if C.req[i, r] and B.informed[i, r]:
                tp += 1
            elif B.informed[i, r]:
                fp += 1
            elif C.req[i, r]:
                fn += 1
        matched = booked = bookings = 0
        for j in range(C.n_doms[i]):
            d = C.doms[i, j]
            e = B.offers[i, d]
            if e >= 0 and customer.mismatch(T, e, C.cons[i], True) < 0:
                matched += 1
            if C.book[i, d]:
                bookings += 1
                booked += C.booked[i, d]
        out[k, 0], out[k, 1], out[k, 2] = tp, fp, fn
        out[k, 3], out[k, 4], out[k, 5], out[k, 6] = matched, C.n_doms[i], booked, bookings


@njit(cache=True)
def _convlab_state(S: EngineState, rows: np.ndarray, out: np.ndarray) -> None:
    """``_convlab_rows`` on an ``EngineState``."""
    _convlab_rows(S.tables, S.customers, S.beliefs, rows, out)


_EXPONENT = np.uint32(0x7F800000)  # float32 exponent bits
#: added to the exponent bits, carries into bit 31 from 2**64 up (all bits set: inf or NaN)
_FROM_2_64 = np.uint32((256 - (127 + 64)) << 23)


@njit(cache=True)
def _finite_rows(reward: np.ndarray, obs: np.ndarray, rows: np.ndarray) -> bool:
    """Whether every row's reward is finite and observation (float32) finite and below 2**64,
    as ``numerics.check_features`` wants it (no feature's square may overflow). Tested on the
    bits, OR-ed together (integer operations, which vectorize)."""
    bits = obs.view(np.uint32)
    acc = np.uint32(0)
    for i in rows:
        if not math.isfinite(reward[i]):
            return False
        for j in range(bits.shape[1]):
            acc |= (bits[i, j] & _EXPONENT) + _FROM_2_64
    return acc < np.uint32(0x80000000)


#: the outcome fields of ConvLab's evaluation (see ``Engine.outcomes``)
CONVLAB_FIELDS = (
    "inform_tp",
    "inform_fp",
    "inform_fn",
    "match_domains",
    "goal_domains",
    "book_made",
    "book_domains",
)


class Engine:
    """``n`` conversations of one scenario; ``start`` and ``step`` act on any subset of rows.

    Args:
        domain: the compiled scenario.
        n: rows (conversations played at once).
        noise: semantic error rate; defaults to the scenario's.
        max_turns: turn limit; defaults to the scenario's.
        pairing: ``TURN_KEYED`` (a run) or ``ACT_KEYED`` (paired comparisons).
    """

    def __init__(
        self,
        domain: Domain,
        n: int,
        noise: float | None = None,
        max_turns: int | None = None,
        pairing: int = TURN_KEYED,
    ) -> None:
        noise = domain.error_rate if noise is None else float(noise)
        if not 0.0 <= noise <= 1.0:
            raise ValueError(f"noise must be between 0 and 1, got {noise}")
        self.domain = domain
        self.n = n
        self.noise = noise
        self.max_turns = max_turns or domain.max_turns
        self.pairing = pairing
        self.tables = customer_state.tables(domain, noise)
        self.layout = featurizer.layout(domain, self.max_turns)
        self.customers = customer_state.customers(domain, n, pairing)
        self.beliefs = tracker.beliefs(domain, n)
        self.spec = featurizer.observation_spec(domain)
        self.obs = np.zeros((n, self.spec.size), dtype=np.float32)
        self.masks = np.zeros((n, domain.n_actions), dtype=np.int8)
        self.turn = np.zeros(n, dtype=np.int64)
        self.episode_reward = np.zeros(n, dtype=np.float64)
        self.sys_value = np.full(n, -1, dtype=np.int64)
        self.sys_entity = np.full(n, -1, dtype=np.int64)
        self._rewards = rewards_by_outcome(domain)
        self._all = np.arange(n)
        self._make_refs()

    def start(
        self,
        rows: np.ndarray,
        seeds: np.ndarray,
        *,
        persona: int = -1,
        goal_given: bool = False,
        patience_scale: float = 1.0,
        cooperativeness_shift: float = 0.0,
        listen: bool = True,
    ) -> None:
        """New customers in ``rows``, from their episode ``seeds``.

        ``goal_given``: the rows' goals were written into ``customers`` already (``cons``,
        ``req``, ``task``, ``entity``); otherwise they are drawn, keeping ``customers.fixed``.
        ``persona`` -1 draws it. The scales adjust a returning customer. Without ``listen`` the
        opening words stay in ``customers.out``: another channel (text) fills
        ``customers.heard`` and calls ``listen``.
        """
        _start_state(
            self._state,
            np.asarray(rows, dtype=np.int64),
            np.asarray(seeds, dtype=np.uint64),
            not goal_given,
            persona,
            float(patience_scale),
            float(cooperativeness_shift),
            listen,
        )

    @property
    def refs(self) -> tuple:
        """The kernels' view of the state: tables, layout, customers, beliefs, as numba structs
        over the same arrays as ``tables``, ``layout``, ``customers`` and ``beliefs``. A call
        then costs under a microsecond, where numba would type a NamedTuple's ninety arrays
        one by one on every call (about 40 us: most of a one-row turn)."""
        return self._refs

    def _make_refs(self) -> None:
        self._refs = (
            customer_state.as_struct(self.tables),
            self.layout if config.DISABLE_JIT else _new_layout(*self.layout),
            customer_state.as_struct(self.customers),
            self.beliefs if config.DISABLE_JIT else _new_beliefs(*self.beliefs),
        )
        state = EngineState(
            *self._refs,
            np.int64(self.pairing),
            self.turn,
            self.sys_value,
            self.sys_entity,
            self._rewards,
            self.episode_reward,
            self.obs,
            self.masks,
        )
        self._state = state if config.DISABLE_JIT else _new_state(*state)

    def set_noise(self, noise: float) -> None:
        """Change the channel's semantic error rate from the next turn on; the customers stay."""
        if not 0.0 <= noise <= 1.0:
            raise ValueError(f"noise must be between 0 and 1, got {noise}")
        self.noise = float(noise)
        self.tables = self.tables._replace(error_rate=self.noise)
        self._make_refs()

    def listen(self, rows: np.ndarray) -> None:
        """The agent takes in the opening words in ``customers.heard`` (after ``start`` without
        ``listen``)."""
        _listen_rows(*self.refs, rows, self.obs, self.masks)

    def act(self, actions: np.ndarray, rows: np.ndarray) -> None:
        """First half of a turn: the agent's act and the customer's answer (``customers.out``)."""
        t, _, c, b = self.refs
        actions = np.asarray(actions, dtype=np.int64)
        bad = _act_rows(
            t, c, b, rows, actions, self.turn, self.pairing, self.sys_value, self.sys_entity
        )
        self._check(bad, actions)

    def _check(self, bad_row: int, actions: np.ndarray) -> None:
        if bad_row != -1:
            raise ValueError(
                f"action {int(actions[bad_row])} is outside the catalog of "
                f"{self.domain.n_actions} actions"
            )

    def hear(self, rows: np.ndarray) -> None:
        """The act-level channel: ``customers.out`` to ``customers.heard`` with confidences."""
        t, _, c, _ = self.refs
        _hear_rows(t, c, rows, self.pairing)

    def observe(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Second half: belief update, reward, flags and next observation of ``rows``.

        Returns full-length reward, terminated and truncated arrays (0 / False off ``rows``).
        """
        reward, terminated, truncated = self._flags()
        _observe_rows(
            *self.refs,
            rows,
            self._rewards,
            self.turn,
            self.episode_reward,
            reward,
            terminated,
            truncated,
            self.obs,
            self.masks,
        )
        return reward, terminated, truncated

    def _flags(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (
            np.zeros(self.n, dtype=np.float64),
            np.zeros(self.n, dtype=np.bool_),
            np.zeros(self.n, dtype=np.bool_),
        )

    def step(
        self, actions: np.ndarray, rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One act-level turn for ``rows`` (default: all); other rows stand still.

        Returns full-length reward, terminated and truncated arrays (0 / False off ``rows``).
        """
        rows = self._all if rows is None else np.asarray(rows, dtype=np.int64)
        flags = self._flags()
        self.step_into(np.asarray(actions, dtype=np.int64), rows, *flags)
        return flags

    def step_into(
        self,
        actions: np.ndarray,
        rows: np.ndarray,
        reward: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
    ) -> None:
        """``step`` writing the rows' reward and flags into arrays the caller owns (int64
        actions and rows): a one-row env saves three allocations a turn."""
        bad = _step_state(self._state, rows, actions, reward, terminated, truncated)
        if bad != -1:
            self._check(bad, actions)

    def finite(self, reward: np.ndarray, rows: np.ndarray) -> bool:
        """Whether the rows' rewards (``reward``, full length) and observations are all finite
        (and no feature 2**64 or more): the vector env's numerical guard, which names the
        culprit (``numerics.check_batch``) only when this says no."""
        return _finite_rows(reward, self.obs, rows)

    def read(self, name: str, rows: np.ndarray) -> np.ndarray:
        """A copy of one piece of ``rows``' state, by its name in ``READABLE``: what a log
        records of a turn besides the observation (acts said and heard, the persona, and for
        utterances the belief and the agent's act values)."""
        group, field = READABLE[name]
        owner = self if group is None else getattr(self, group)
        return getattr(owner, field)[rows]

    def convlab_counts(self, rows: np.ndarray) -> np.ndarray:
        """ConvLab's counts of each row's conversation (``CONVLAB_FIELDS``): int64
        [len(rows), 7]."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        counts = np.zeros((len(rows), len(CONVLAB_FIELDS)), dtype=np.int64)
        _convlab_state(self._state, rows, counts)
        return counts

    def outcomes(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """How each row's conversation ended (or stands), field by field."""
        o = self.customers.outcome[rows]
        counts = self.convlab_counts(rows)
        return {
            "success": o == SUCCESS,
            "outcome": _ENDED_AS[o],
            "turns": self.turn[rows],  # (indexing by an array copies)
            "reward": self.episode_reward[rows],
            "hangup": o == HANGUP_OUTCOME,
            "handover": o == HANDOVER_OUTCOME,
            "truncated": o == ONGOING,
            **{name: counts[:, k] for k, name in enumerate(CONVLAB_FIELDS)},
        }
