"""Batched rollouts: play a run's episodes on a vector env, one ``act_batch`` call per step.

Every conversation keeps its own exploration stream, keyed by its episode seed (``RowStreams``
for policies with their own ``act_batch``, else ``runner.policy_rng``: the same numbers), and the
vector env numbers conversations like a run's episodes, so episode ``k`` here is episode ``k`` of
``run_episodes``: same customer, same decisions, same outcome, whatever the batch size or the
order in which slots finish. ``run_batched`` yields
results in episode order, whichever slot finished first; ``run_batched_columns`` yields each
step's finished episodes as arrays, for consumers that aggregate (no object per conversation).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dialog_rl.counter_rng import POLICY, stream_draws
from dialog_rl.env.engine import CONVLAB_FIELDS
from dialog_rl.env.vector import DialogueVectorEnv
from dialog_rl.policies.base import Episode, Policy
from dialog_rl.rollout.runner import policy_rng

if TYPE_CHECKING:
    from dialog_rl.rollout.recorder import PartRecorder


class RowStreams:
    """Each row's exploration stream as counter-based draws: a row's n-th number is
    ``counter_rng.uniform(episode seed, POLICY, 0, n)``, whatever the batch around it.

    ``random_rows()`` draws once for every row; policies that override ``act_batch`` draw through
    it (see ``Policy.act_batch``).
    """

    def __init__(self, n: int) -> None:
        self.seeds = np.zeros(n, dtype=np.uint64)
        self.counts = np.zeros(n, dtype=np.int64)
        self.rows = np.arange(n)

    def __len__(self) -> int:
        return len(self.rows)

    def reseed(self, rows: np.ndarray, seeds: np.ndarray) -> None:
        """Fresh streams for ``rows``, from their episode seeds."""
        self.seeds[rows] = np.asarray(seeds, dtype=np.uint64)
        self.counts[rows] = 0

    def random_rows(self) -> np.ndarray:
        return stream_draws(self.seeds, self.counts, self.rows, POLICY)

    def only(self, rows: np.ndarray) -> RowStreams:
        """These streams restricted to ``rows`` (shared state): what a policy acting on a subset
        of the batch draws from."""
        view = copy.copy(self)
        view.rows = rows
        return view


def _act(policy: Policy, obs, masks, active: np.ndarray, explore: bool, rngs):
    """``policy.act_batch`` on the active slots only (parked slots get action 0, never played).

    Near the end of a run most slots are parked; scoring them would be wasted forward passes.
    """
    if active.all():
        return policy.act_batch(obs, masks, explore=explore, rng=rngs)
    live = np.flatnonzero(active)
    if isinstance(rngs, RowStreams):
        sub = rngs.only(live)
    else:
        sub = None if rngs is None else [rngs[i] for i in live.tolist()]
    actions = np.zeros(len(obs), dtype=np.int64)
    props = np.ones(len(obs), dtype=np.float64)
    if len(live):
        actions[live], props[live] = policy.act_batch(
            obs[live], masks[live], explore=explore, rng=sub
        )
    return actions, props


@dataclass(frozen=True)
class BatchedEpisode:
    """One finished conversation of a batched rollout."""

    episode: int
    outcome: dict
    data: Episode | None = None
    """The conversation as arrays (what a learner consumes), when asked for."""


def run_batched(
    vec: DialogueVectorEnv,
    policy: Policy,
    episodes: int | range,
    seed: int,
    *,
    explore: bool = True,
    keep_data: bool = False,
) -> Iterator[BatchedEpisode]:
    """Play episodes ``0 .. episodes-1`` (or a ``range``) of run ``seed``; yield them in order.

    Slots that start an episode past the last one play it to keep the batch rectangular; those
    results are dropped. ``keep_data`` also returns each conversation's arrays. A policy with
    its own ``act_batch`` gets array-backed streams (``RowStreams``); others get Generators.
    """
    n = vec.num_envs
    todo = episodes if isinstance(episodes, range) else range(episodes)
    obs, infos, rngs = _start(vec, policy, todo, seed, explore)
    masks = infos["action_mask"]
    trace = _Trace(n, vec.engine.max_turns, obs, masks) if keep_data else None
    pending: dict[int, BatchedEpisode] = {}
    next_out = todo.start
    while next_out < todo.stop:
        active = infos["active"]
        actions, props = _act(policy, obs, masks, active, explore, rngs)
        next_obs, rewards, _, _, infos = vec.step(actions)
        if trace is not None:
            trace.add(np.flatnonzero(active), obs, masks, actions, rewards, props)
        if "final_info" in infos:
            fin = infos["final_info"]
            done = np.flatnonzero(infos["_final_info"])
            outcomes = _outcomes(fin, done)
            for i, k, outcome in zip(done.tolist(), fin["episode"][done].tolist(), outcomes):
                data = trace.take(i) if trace is not None else None
                if k < todo.stop:
                    pending[k] = BatchedEpisode(
                        k,
                        outcome,
                        _episode(data, infos["final_obs"][i], fin, i) if data else None,
                    )
            _reseed(rngs, done, vec.seeds)
        obs, masks = next_obs, infos["action_mask"]
        while next_out in pending:
            yield pending.pop(next_out)
            next_out += 1


def run_batched_columns(
    vec: DialogueVectorEnv,
    policy: Policy,
    episodes: int | range,
    seed: int,
    *,
    explore: bool = True,
    recorder: PartRecorder | None = None,
) -> Iterator[dict[str, np.ndarray]]:
    """``run_batched`` without a Python object per episode: one dict of columns per step.

    Each yielded dict holds the episodes that finished on that step (``episode`` and the
    outcome fields of ``infos["final_info"]``, one array each), in slot order rather than
    episode order: the same episodes and outcomes as ``run_batched``, for consumers that
    aggregate (metrics, throughput, logs) and would otherwise pay a dict per conversation.
    A ``recorder`` logs every decision (``rollout.recorder``).
    """
    todo = episodes if isinstance(episodes, range) else range(episodes)
    _, _, rngs = _start(vec, policy, todo, seed, explore)
    obs, masks, active = vec.engine.obs, vec.engine.masks, vec.active  # updated in place
    left = len(todo)
    if recorder is not None:
        recorder.begin(todo)
        vec.on_turn = recorder.after_turn
    try:
        while left > 0:
            actions, props = _act(policy, obs, masks, active, explore, rngs)
            if recorder is not None:
                recorder.before(obs, masks, actions, props, active)
            done, fin = vec.step_columns(actions)
            if not len(done):
                continue
            _reseed(rngs, done, vec.seeds)
            keep = fin["episode"] < todo.stop
            kept = int(keep.sum())
            left -= kept
            columns = {key: fin[key] if kept == len(keep) else fin[key][keep] for key in _KEYS}
            if recorder is not None:
                recorder.finished(columns["episode"], columns["outcome"], columns["success"])
            yield columns
    finally:
        vec.on_turn = None
    if recorder is not None:
        recorder.end()


def _start(vec: DialogueVectorEnv, policy: Policy, todo: range, seed: int, explore: bool):
    """Reset ``vec`` onto episodes ``todo`` of run ``seed``; the per-slot policy streams too:
    array-backed (``RowStreams``) for a policy that takes them (``row_streams``), else Generators."""
    obs, infos = vec.reset(
        seed=seed, options={"first_episode": todo.start, "last_episode": todo.stop}
    )
    rngs: RowStreams | list | None = None
    if explore and policy.stochastic:
        if policy.row_streams:
            rngs = RowStreams(vec.num_envs)
            rngs.reseed(np.arange(vec.num_envs), vec.seeds)
        else:
            rngs = [policy_rng(int(s)) for s in vec.seeds]
    return obs, infos, rngs


def _reseed(rngs: RowStreams | list | None, done: np.ndarray, seeds: np.ndarray) -> None:
    """Give the slots in ``done`` the policy streams of the episodes they start next (``seeds``:
    every slot's episode seed, the vector env's ``seeds``)."""
    if isinstance(rngs, RowStreams):
        rngs.reseed(done, seeds[done])
    elif rngs is not None:
        for i in done.tolist():
            policy_rng(int(seeds[i]), rngs[i])


_OUTCOME_KEYS = (
    "success",
    "outcome",
    "turns",
    "reward",
    "hangup",
    "handover",
    "truncated",
    *CONVLAB_FIELDS,
)
_KEYS = ("episode", *_OUTCOME_KEYS)


def _outcomes(fin: dict, rows: np.ndarray) -> list[dict]:
    """``DialogueEnv.outcome()`` of each finished row, rebuilt from the batched final info."""
    columns = [fin[key][rows].tolist() for key in _OUTCOME_KEYS]
    return [dict(zip(_OUTCOME_KEYS, values)) for values in zip(*columns)]


def _outcome(fin: dict, i: int) -> dict:
    """The outcome dict ``DialogueEnv.outcome()`` gave, rebuilt from the batched final info."""
    return {
        "success": bool(fin["success"][i]),
        "outcome": str(fin["outcome"][i]),
        "turns": int(fin["turns"][i]),
        "reward": float(fin["reward"][i]),
        "hangup": bool(fin["hangup"][i]),
        "handover": bool(fin["handover"][i]),
        "truncated": bool(fin["truncated"][i]),
        **{name: int(fin[name][i]) for name in CONVLAB_FIELDS},
    }


class _Trace:
    """Each slot's conversation so far (``run_batched(keep_data=True)``): per-slot buffers as
    long as the turn limit, filled by one array write per step for all slots at once."""

    def __init__(self, n: int, max_turns: int, obs: np.ndarray, masks: np.ndarray) -> None:
        self.obs = np.zeros((n, max_turns, obs.shape[1]), dtype=np.float32)
        self.masks = np.zeros((n, max_turns, masks.shape[1]), dtype=np.int8)
        self.actions = np.zeros((n, max_turns), dtype=np.int64)
        self.rewards = np.zeros((n, max_turns), dtype=np.float64)
        self.props = np.zeros((n, max_turns), dtype=np.float64)
        self.length = np.zeros(n, dtype=np.int64)

    def add(self, rows: np.ndarray, obs, masks, actions, rewards, props) -> None:
        """The turn just played in ``rows`` (the slots that were playing)."""
        t = self.length[rows]
        self.obs[rows, t] = obs[rows]
        self.masks[rows, t] = masks[rows]
        self.actions[rows, t] = actions[rows]
        self.rewards[rows, t] = rewards[rows]
        self.props[rows, t] = props[rows]
        self.length[rows] = t + 1

    def take(self, i: int) -> tuple[np.ndarray, ...]:
        """Slot ``i``'s finished conversation (copies); the slot starts empty again."""
        T = self.length[i]
        self.length[i] = 0
        return tuple(
            x[i, :T].copy() for x in (self.obs, self.masks, self.actions, self.rewards, self.props)
        )


def _episode(data: tuple[np.ndarray, ...], final_obs: np.ndarray, fin: dict, i: int) -> Episode:
    obs, masks, actions, rewards, props = data
    return Episode(
        obs=obs,
        masks=masks,
        actions=actions,
        rewards=rewards,
        propensities=props,
        final_obs=final_obs.copy(),
        final_mask=fin["action_mask"][i].copy(),
        terminated=not bool(fin["truncated"][i]),
        truncated=bool(fin["truncated"][i]),
        outcome=_outcome(fin, i),
    )
