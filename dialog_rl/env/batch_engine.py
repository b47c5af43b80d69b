"""The vector env's array engine: tracker, featurizer and turn logic of many conversations as arrays.

``ArrayEngine`` steps every slot of a ``DialogueVectorEnv`` at once: the system act, the
customers' replies (``simulators.batch_agenda``), the noise channel, the belief update and the
observation, each as numpy operations across slots. It reproduces ``DialogueEnv`` exactly: the
per-episode streams are seeded the way ``DialogueEnv.reset`` seeds them (gymnasium's
``np_random`` from the episode seed, then four PCG64 streams from its raw output), and every
draw is numpy's (``dialog_rl.batch_rng``). ``tests/test_vector_env.py`` compares every
observation, mask, reward and outcome with ``DialogueEnv`` on every shipped scenario.

It covers the act channel without text (the training hot loop); ``unsupported`` says why not
otherwise, and the vector env then uses the loop engine.
"""

from __future__ import annotations

import numpy as np

from dialog_rl.acts import (
    AFFIRM,
    INFORM,
    N_USER_ACTS,
    NEGATE,
    REQUEST,
    SYS_CONFIRM,
    SYS_INFORM,
    SYS_OFFER,
    SYS_PERFORM,
    SYS_REQUEST,
)
from dialog_rl.batch_rng import U64, BatchPCG64
from dialog_rl.env.dialogue_env import _INC
from dialog_rl.env.featurizer import Featurizer
from dialog_rl.env.tracker import OFFER_ACCEPTED, OFFER_NONE, OFFER_PENDING, OFFER_REJECTED
from dialog_rl.scenario import Domain
from dialog_rl.scenario.schema import ACT_KINDS
from simulators.agenda import (
    FAILURE,
    HANDOVER_OUTCOME,
    HANGUP_OUTCOME,
    ONGOING,
    OUTCOME_NAMES,
    SUCCESS,
)
from simulators.batch_agenda import ActBuffer, BatchCustomers, BatchNoiseChannel
from simulators.channel import NoiseChannel

_OUTCOME_NAMES = np.array(OUTCOME_NAMES, dtype=object)


def unsupported(domain: Domain, channel: str) -> str:
    """Why the array engine cannot play this configuration ("" when it can)."""
    if channel != "act":
        return "it runs the act channel only (the text channel needs NLG and NLU per turn)"
    for name in ("conf_correct", "conf_wrong"):
        a, b = getattr(domain, name)
        if not (a > 1.0 and b > 1.0):
            return f"confidence Beta{(a, b)} ({name}) needs both parameters > 1"
    return ""


class BatchTracker:
    """``dialog_rl.env.tracker.Tracker`` for ``n`` conversations, one row each."""

    def __init__(self, domain: Domain, n: int, customers: BatchCustomers) -> None:
        d = domain
        self.d = d
        self.customers = customers
        self.n_vals = customers.n_vals
        self.kb_values = customers.kb_values
        self.values = np.full((n, d.n_inf), -1, dtype=np.int64)
        self.conf = np.zeros((n, d.n_inf), dtype=np.float64)
        self.confirmed = np.zeros((n, d.n_inf), dtype=bool)
        self.asked = np.zeros((n, d.n_inf), dtype=np.int64)
        self.requested = np.zeros((n, d.n_req), dtype=bool)
        self.informed = np.zeros((n, d.n_req), dtype=bool)
        self.offered = np.full(n, -1, dtype=np.int64)
        self.offer_state = np.zeros(n, dtype=np.int64)
        self.no_match = np.zeros(n, dtype=bool)
        self.rejected = np.zeros((n, d.n_entities), dtype=bool)
        self.performed = np.full(n, -1, dtype=np.int64)
        self.last_kind = np.full(n, -1, dtype=np.int64)
        self.last_slot = np.full(n, -1, dtype=np.int64)
        self.last_value = np.full(n, -1, dtype=np.int64)
        self.bits = np.zeros(n, dtype=np.int64)
        self.turn = np.zeros(n, dtype=np.int64)
        self._kind = np.asarray(d.act_kind, dtype=np.int64)
        self._slot = np.asarray(d.act_slot, dtype=np.int64)
        self._task = np.asarray(d.act_task, dtype=np.int64)

    def reset(self, rows: np.ndarray) -> None:
        for a in (self.values, self.offered, self.performed):
            a[rows] = -1
        for a in (self.last_kind, self.last_slot, self.last_value):
            a[rows] = -1
        for a in (self.conf, self.asked, self.offer_state, self.bits, self.turn):
            a[rows] = 0
        for a in (self.confirmed, self.requested, self.informed, self.no_match, self.rejected):
            a[rows] = False

    def first_match(self, rows: np.ndarray) -> np.ndarray:
        """``domain.first_match(values, exclude=rejected)`` per row."""
        hits = self.customers.match(self.values[rows]) & ~self.rejected[rows]
        return np.where(hits.any(axis=1), np.argmax(hits, axis=1), -1)

    def system_act(self, rows: np.ndarray, action: np.ndarray, value, entity) -> None:
        kind, slot = self._kind[action], self._slot[action]
        self.last_kind[rows], self.last_slot[rows], self.last_value[rows] = kind, slot, value
        self.no_match[rows] = False
        k = kind == SYS_REQUEST
        self.asked[rows[k], slot[k]] += 1
        k = kind == SYS_OFFER
        r, e = rows[k], entity[k]
        self.offered[r] = e
        self.no_match[r] = e < 0
        self.offer_state[r] = np.where(e >= 0, OFFER_PENDING, OFFER_NONE)
        live = self.offered[rows] >= 0
        k = (kind == SYS_INFORM) & live
        self.requested[rows[k], slot[k]] = False
        self.informed[rows[k], slot[k]] = True
        k = (kind == SYS_PERFORM) & live
        self.performed[rows[k]] = self._task[action[k]]

    def observe(self, rows: np.ndarray, heard: ActBuffer, conf: np.ndarray) -> None:
        """One turn of observed acts per row, in order (each act can change how the next reads)."""
        self.turn[rows] += 1
        bits = np.zeros(len(rows), dtype=np.int64)
        correcting = np.zeros(len(rows), dtype=bool)
        last_kind = self.last_kind[rows]
        for p in range(int(heard.n[rows].max(initial=0))):
            sel = np.flatnonzero(heard.n[rows] > p)
            r = rows[sel]
            t, s, v, c = heard.kind[r, p], heard.slot[r, p], heard.value[r, p], conf[r, p]
            bits[sel] |= np.left_shift(1, t)
            lk = last_kind[sel]
            i = t == INFORM
            if i.any():
                self._inform(r[i], s[i], v[i], c[i], correcting[sel[i]])
            q = t == REQUEST
            self.requested[r[q], s[q]] = True
            ls = self.last_slot[r]
            is_confirm = lk == SYS_CONFIRM
            confirm = is_confirm & (
                self.values[r, np.where(is_confirm, ls, 0)] == self.last_value[r]
            )
            offer = ~confirm & (lk == SYS_OFFER) & (self.offered[r] >= 0)
            a = np.flatnonzero((t == AFFIRM) & confirm)
            if len(a):
                ra, sa = r[a], ls[a]
                self.conf[ra, sa] = 1.0 - (1.0 - self.conf[ra, sa]) * (1.0 - c[a])
                self.confirmed[ra, sa] = c[a] >= 0.5
            a = (t == AFFIRM) & offer
            self.offer_state[r[a]] = OFFER_ACCEPTED
            neg = t == NEGATE
            correcting[sel[neg]] = (lk[neg] == SYS_CONFIRM) | (lk[neg] == SYS_OFFER)
            a = np.flatnonzero(neg & confirm)
            if len(a):
                ra, sa = r[a], ls[a]
                cf = self.conf[ra, sa] * (1.0 - c[a])
                self.conf[ra, sa] = cf
                self.confirmed[ra, sa] = False
                low = cf < 0.05
                self.values[ra[low], sa[low]] = -1
                self.conf[ra[low], sa[low]] = 0.0
            a = neg & offer
            self.offer_state[r[a]] = OFFER_REJECTED
            self.rejected[r[a], self.offered[r[a]]] = True
            a = neg & ~confirm & ~offer & (lk == SYS_PERFORM)
            self.performed[r[a]] = -1
        self.bits[rows] = bits

    def _inform(self, r, s, v, c, correcting) -> None:
        cur, cf = self.values[r, s], self.conf[r, s]
        same = cur == v
        k = np.flatnonzero(same)
        self.conf[r[k], s[k]] = 1.0 - (1.0 - cf[k]) * (1.0 - c[k])
        repl = ~same & (correcting | (c >= 0.5 * cf))
        k = np.flatnonzero(repl)
        self.values[r[k], s[k]] = v[k]
        self.conf[r[k], s[k]] = c[k]
        self.confirmed[r[k], s[k]] = False
        k = np.flatnonzero(~same & ~repl)
        self.conf[r[k], s[k]] = cf[k] * (1.0 - c[k])
        off = self.offered[r]
        now = self.values[r, s]
        row_v = self.kb_values[np.maximum(off, 0), s]
        k = (off >= 0) & (s != self.d.task_slot) & (now >= 0) & (now < self.n_vals[s])
        k &= row_v != now
        self.offer_state[r[k]] = OFFER_REJECTED


class ArrayEngine:
    """All slots of a vector env, stepped together; same interface as the loop engine."""

    def __init__(
        self, domain: Domain, n: int, noise: float | None = None, max_turns: int | None = None
    ) -> None:
        why = unsupported(domain, "act")
        if why:
            raise ValueError(f"the array engine cannot run this scenario: {why}")
        d = domain
        self.d = d
        self.n = n
        self.noise = NoiseChannel(domain, noise).error_rate  # validates the rate
        self.max_turns = max_turns or d.max_turns
        self.env_rng = BatchPCG64(n)
        self.streams = [BatchPCG64(n) for _ in range(3)]  # goal, user, noise (text: unused)
        goal_rng, user_rng, noise_rng = self.streams
        self.customers = BatchCustomers(d, n, goal_rng, user_rng)
        self.channel = BatchNoiseChannel(d, self.noise, noise_rng)
        width = self.customers.out.kind.shape[1]
        self.heard = ActBuffer(n, width)
        self.heard_conf = np.zeros((n, width), dtype=np.float64)
        self.tracker = BatchTracker(d, n, self.customers)
        self.featurizer = Featurizer(d)
        self.turn = np.zeros(n, dtype=np.int64)
        self.episode_reward = np.zeros(n, dtype=np.float64)
        self.obs = np.zeros((n, self.featurizer.spec.size), dtype=np.float32)
        self.masks = np.zeros((n, d.n_actions), dtype=np.int8)
        self._kind = np.asarray(d.act_kind, dtype=np.int64)
        self._slot = np.asarray(d.act_slot, dtype=np.int64)
        self._rewards = np.array([d.r_turn] * 5, dtype=np.float64)
        self._rewards[SUCCESS] = d.r_turn + d.r_success
        self._rewards[FAILURE] = d.r_turn + d.r_failure
        self._rewards[HANGUP_OUTCOME] = d.r_turn + d.r_failure
        self._rewards[HANDOVER_OUTCOME] = d.r_turn + d.r_handover
        self._inc = [(U64(_INC[k] >> 64), U64(_INC[k] & 0xFFFFFFFFFFFFFFFF)) for k in range(3)]
        self._setup_masks()

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, slots: np.ndarray, seeds: np.ndarray) -> None:
        """What ``DialogueEnv.reset(seed=s)`` does, for each slot and its seed."""
        slots = np.asarray(slots, dtype=np.int64)
        self.env_rng.seed_from(slots, np.asarray(seeds, dtype=U64))
        words = self.env_rng.next64_many(slots, 8)
        for k, stream in enumerate(self.streams):
            stream.set_state(slots, words[2 * k], words[2 * k + 1], *self._inc[k])
        self.tracker.reset(slots)
        self.turn[slots] = 0
        self.episode_reward[slots] = 0.0
        self.customers.reset(slots)
        self.channel.hear(slots, self.customers.out, self.heard, self.heard_conf)
        self.tracker.observe(slots, self.heard, self.heard_conf)
        self._featurize(slots)

    def step(
        self, actions: np.ndarray, rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``DialogueEnv.step`` for every slot in ``rows`` (default: all); others stand still."""
        d, tr = self.d, self.tracker
        rows = np.arange(self.n) if rows is None else np.asarray(rows, dtype=np.int64)
        action = np.asarray(actions, dtype=np.int64)[rows]
        if ((action < 0) | (action >= d.n_actions)).any():
            bad = int(action[(action < 0) | (action >= d.n_actions)][0])
            raise ValueError(f"action {bad} is outside the catalog of {d.n_actions} actions")
        kind, slot = self._kind[action], self._slot[action]
        value = np.full(len(rows), -1, dtype=np.int64)
        entity = tr.offered[rows]
        k = np.flatnonzero(kind == SYS_OFFER)
        entity[k] = tr.first_match(rows[k])
        k = np.flatnonzero(kind == SYS_CONFIRM)
        v = tr.values[rows[k], slot[k]]
        value[k] = np.where(v >= 0, v, self.customers.n_vals[slot[k]])
        tr.system_act(rows, action, value, entity)
        self.customers.respond(rows, action, value, entity, tr.values[rows])
        self.channel.hear(rows, self.customers.out, self.heard, self.heard_conf)
        tr.observe(rows, self.heard, self.heard_conf)
        self.turn[rows] += 1
        outcome = self.customers.outcome[rows]
        reward = np.zeros(self.n, dtype=np.float64)
        terminated = np.zeros(self.n, dtype=bool)
        truncated = np.zeros(self.n, dtype=bool)
        terminated[rows] = outcome != ONGOING
        truncated[rows] = ~terminated[rows] & (self.turn[rows] >= self.max_turns)
        reward[rows] = self._rewards[outcome]
        self.episode_reward[rows] += reward[rows]
        self._featurize(rows)
        return reward, terminated, truncated

    def outcomes(self, slots: np.ndarray) -> dict[str, np.ndarray]:
        """Each slot's ``DialogueEnv.outcome()``, field by field."""
        o = self.customers.outcome[slots]
        ended = o != ONGOING
        return {
            "success": o == SUCCESS,
            "outcome": np.where(ended, _OUTCOME_NAMES[o], "truncated").astype(object),
            "turns": self.turn[slots].copy(),
            "reward": self.episode_reward[slots].copy(),
            "hangup": o == HANGUP_OUTCOME,
            "handover": o == HANDOVER_OUTCOME,
            "truncated": ~ended,
        }

    # -- observation and mask (Featurizer.observe / Featurizer.mask) ---------------------------

    def _featurize(self, rows: np.ndarray) -> None:
        d, f, tr = self.d, self.featurizer, self.tracker
        m = len(rows)
        obs = np.zeros((m, f.spec.size), dtype=np.float32)
        values, conf = tr.values[rows], tr.conf[rows]
        known = values >= 0
        asked = tr.asked[rows]
        base = 5 * np.arange(d.n_inf)
        obs[:, base] = known
        obs[:, base + 1] = np.where(known, conf, 0.0)
        obs[:, base + 2] = tr.confirmed[rows]
        obs[:, base + 3] = known & (values == self.customers.n_vals)
        obs[:, base + 4] = np.where(asked >= 3, 1.0, asked / 3.0)
        req = f._req0 + 2 * np.arange(d.n_req)
        obs[:, req] = tr.requested[rows]
        obs[:, req + 1] = tr.informed[rows]
        if f._n_tasks:
            t = values[:, d.task_slot]
            k = np.flatnonzero((t >= 0) & (t < f._n_tasks))
            obs[k, f._task0 + t[k]] = 1.0
        g = f._glob0
        offered = tr.offered[rows]
        live = np.flatnonzero(offered >= 0)
        obs[live, g] = 1.0
        bad = self.customers.mismatched(offered[live], values[live]).any(axis=1)
        obs[live, g + 1] = ~bad
        state = tr.offer_state[rows][live]
        obs[live, g + 2] = state == OFFER_ACCEPTED
        obs[live, g + 3] = state == OFFER_REJECTED
        obs[:, g + 4] = tr.no_match[rows]
        if d.task_slot >= 0:
            perf = tr.performed[rows]
            obs[:, g + 5] = (perf >= 0) & (perf == values[:, d.task_slot])
        n = self.customers.match(values).sum(axis=1)
        bucket = np.where(n == 0, 0, np.where(n == 1, 1, np.where(n <= 5, 2, 3)))
        obs[np.arange(m), f._match0 + bucket] = 1.0
        bits = tr.bits[rows]
        for k in range(N_USER_ACTS):
            obs[:, f._user0 + k] = (bits >> k) & 1
        lk = tr.last_kind[rows]
        k = np.flatnonzero(lk >= 0)
        obs[k, f._last0 + lk[k]] = 1.0
        assert f._last0 + len(ACT_KINDS) == f._turn
        obs[:, f._turn] = np.minimum(tr.turn[rows] / d.max_turns, 1.0)
        self.obs[rows] = obs
        self.masks[rows] = self._mask(rows, values)

    def _setup_masks(self) -> None:
        f = self.featurizer
        self._always = np.array(f._always, dtype=np.int8)
        self._greet = np.array(f._greet, dtype=np.int64)
        self._requests = [
            (s, np.array(req, np.int64), np.array(con, np.int64)) for s, req, con in f._per_slot
        ]
        self._needs_offer = np.array(f._needs_offer, dtype=np.int64)
        self._needs_slots = [(a, list(req)) for a, req in f._needs_slots]

    def _mask(self, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        tr = self.tracker
        m = np.repeat(self._always[None, :], len(rows), axis=0)
        if len(self._greet):
            k = np.flatnonzero(tr.turn[rows] <= 1)
            m[np.ix_(k, self._greet)] = 1
        confirmed = tr.confirmed[rows]
        for s, requests, confirms in self._requests:
            open_ = np.flatnonzero(~confirmed[:, s])
            if len(requests):
                m[np.ix_(open_, requests)] = 1
            if len(confirms):
                k = open_[values[open_, s] >= 0]
                m[np.ix_(k, confirms)] = 1
        if len(self._needs_offer):
            k = np.flatnonzero(tr.offered[rows] >= 0)
            m[np.ix_(k, self._needs_offer)] = 1
        for a, requires in self._needs_slots:
            missing = (values[:, requires] < 0).any(axis=1)
            m[missing, a] = 0
        return m
