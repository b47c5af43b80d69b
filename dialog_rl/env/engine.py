"""The simulator engine: one implementation of a turn, for one conversation or a hundred thousand.

``Engine`` holds ``n`` conversations as rows of arrays: the customers (``simulators.customer``),
the agent's beliefs, observations and masks (``dialog_rl.env.belief``). ``start`` seats new
customers in some rows; ``step`` plays one agent turn in some rows: the agent's act, the
customer's answer, the channel, the belief update, the reward and the next observation, each
row through the same compiled code (numba), so a batch of one (the terminal UI) and a batch of
32,768 (training) play identical conversations for identical seeds.

Every draw is keyed by the episode's seed and what it is for (``dialog_rl.counter_rng``), so a
conversation's course never depends on the batch it shares, the worker that plays it, or when
its neighbours finish. ``pairing=ACT_KEYED`` keys the customer's and the channel's draws by the
act they are about instead of by turn: two policies meeting the same customer then share every
reaction to the same move (common random numbers for the regression gate).
"""

from __future__ import annotations

import numpy as np

from dialog_rl.acts import SYS_CONFIRM, SYS_OFFER
from dialog_rl.counter_rng import mix64
from dialog_rl.env import belief
from dialog_rl.env.belief import Beliefs, Layout
from dialog_rl.jit import njit
from dialog_rl.scenario import Domain
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

_OUTCOME_NAMES = np.array(OUTCOME_NAMES, dtype=object)
_ACTION_SALT = np.uint64(0x8CB92BA72F3D8DD7)


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
    obs: np.ndarray,
    masks: np.ndarray,
) -> None:
    for k in range(len(rows)):
        i = rows[k]
        customer.start(T, C, i, seeds[k], draw_goal, persona, patience_scale, cooperativeness_shift)
        belief.reset(B, i)
        noise.hear(T, C, i, pairing)
        belief.observe(T, B, i, C.heard[i], C.heard_conf[i], C.heard_n[i])
        belief.featurize(T, L, B, i, obs[i], masks[i])


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
) -> None:
    """The agent's act in each row and the customer's answer (into ``C.out``)."""
    for i in rows:
        a = actions[i]
        kind = T.act_kind[a]
        slot = T.act_slot[a]
        value, entity = -1, B.offered[i]
        if kind == SYS_OFFER:
            entity = belief.n_matches(T, B.values[i], B.rejected[i], True)
        elif kind == SYS_CONFIRM:
            v = B.values[i, slot]
            value = v if v >= 0 else T.n_vals[slot]
        sys_value[i], sys_entity[i] = value, entity
        belief.system_act(T, B, i, a, value, entity)
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
        belief.observe(T, B, i, C.heard[i], C.heard_conf[i], C.heard_n[i])
        turn[i] += 1
        o = C.outcome[i]
        terminated[i] = o != ONGOING
        truncated[i] = o == ONGOING and turn[i] >= L.max_turns
        reward[i] = rewards_table[o]
        episode_reward[i] += reward[i]
        belief.featurize(T, L, B, i, obs[i], masks[i])


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
        self.layout = belief.layout(domain, self.max_turns)
        self.customers = customer_state.customers(domain, n, pairing)
        self.beliefs = belief.beliefs(domain, n)
        self.spec = belief.observation_spec(domain)
        self.obs = np.zeros((n, self.spec.size), dtype=np.float32)
        self.masks = np.zeros((n, domain.n_actions), dtype=np.int8)
        self.turn = np.zeros(n, dtype=np.int64)
        self.episode_reward = np.zeros(n, dtype=np.float64)
        self.sys_value = np.full(n, -1, dtype=np.int64)
        self.sys_entity = np.full(n, -1, dtype=np.int64)
        self._rewards = rewards_by_outcome(domain)

    def start(
        self,
        rows: np.ndarray,
        seeds: np.ndarray,
        *,
        persona: int = -1,
        goal_given: bool = False,
        patience_scale: float = 1.0,
        cooperativeness_shift: float = 0.0,
    ) -> None:
        """New customers in ``rows``, from their episode ``seeds``.

        ``goal_given``: the rows' goals were written into ``customers`` already (``cons``,
        ``req``, ``task``, ``entity``); otherwise they are drawn, keeping ``customers.fixed``.
        ``persona`` -1 draws it. The scales adjust a returning customer.
        """
        rows = np.asarray(rows, dtype=np.int64)
        self.turn[rows] = 0
        self.episode_reward[rows] = 0.0
        _start_rows(
            self.tables,
            self.layout,
            self.customers,
            self.beliefs,
            rows,
            np.asarray(seeds, dtype=np.uint64),
            not goal_given,
            persona,
            float(patience_scale),
            float(cooperativeness_shift),
            self.pairing,
            self.obs,
            self.masks,
        )

    def act(self, actions: np.ndarray, rows: np.ndarray) -> None:
        """First half of a turn: the agent's act and the customer's answer (``customers.out``)."""
        actions = np.asarray(actions, dtype=np.int64)
        bad = (actions[rows] < 0) | (actions[rows] >= self.domain.n_actions)
        if bad.any():
            raise ValueError(
                f"action {int(actions[rows][bad][0])} is outside the catalog of "
                f"{self.domain.n_actions} actions"
            )
        _act_rows(
            self.tables,
            self.customers,
            self.beliefs,
            rows,
            actions,
            self.turn,
            self.pairing,
            self.sys_value,
            self.sys_entity,
        )

    def hear(self, rows: np.ndarray) -> None:
        """The act-level channel: ``customers.out`` to ``customers.heard`` with confidences."""
        _hear_rows(self.tables, self.customers, rows, self.pairing)

    def observe(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Second half: belief update, reward, flags and next observation of ``rows``.

        Returns full-length reward, terminated and truncated arrays (0 / False off ``rows``).
        """
        reward = np.zeros(self.n, dtype=np.float64)
        terminated = np.zeros(self.n, dtype=np.bool_)
        truncated = np.zeros(self.n, dtype=np.bool_)
        _observe_rows(
            self.tables,
            self.layout,
            self.customers,
            self.beliefs,
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

    def step(
        self, actions: np.ndarray, rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One act-level turn for ``rows`` (default: all); other rows stand still."""
        rows = np.arange(self.n) if rows is None else np.asarray(rows, dtype=np.int64)
        self.act(actions, rows)
        self.hear(rows)
        return self.observe(rows)

    def outcomes(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """How each row's conversation ended (or stands), field by field."""
        o = self.customers.outcome[rows]
        ended = o != ONGOING
        return {
            "success": o == SUCCESS,
            "outcome": np.where(ended, _OUTCOME_NAMES[o], "truncated").astype(object),
            "turns": self.turn[rows].copy(),
            "reward": self.episode_reward[rows].copy(),
            "hangup": o == HANGUP_OUTCOME,
            "handover": o == HANDOVER_OUTCOME,
            "truncated": ~ended,
        }
