"""Many conversations stepped as one batch: a Gymnasium ``VectorEnv`` of dialogue environments.

A policy with a network then scores every conversation in one forward pass. Conversations are
numbered like a run's episodes: after ``reset(seed=S)`` slot ``i`` plays episode ``i``, and each
slot that finishes takes the next unplayed index, seeded with ``episode_seed(S, index)``
(``dialog_rl.seeding``, the runner's rule). So episode ``k`` is the very conversation
``DialogueEnv.reset(seed=episode_seed(S, k))`` starts, whichever slot plays it and however many
slots there are.

Autoreset is ``SAME_STEP``: the step that ends a conversation returns the first observation of
the slot's next one, with the finished conversation's last observation in ``infos["final_obs"]``
and its outcome in ``infos["final_info"]`` (each with a ``_key`` mask of the slots concerned).
Every step's ``infos["action_mask"]`` is the [n, n_actions] mask of the returned observations.

Two engines play the conversations. ``loop`` keeps one ``DialogueEnv`` per slot (any channel,
text, every option). ``array`` (act channel) is ``dialog_rl.env.engine.Engine``: customer,
channel, tracker and featurizer compiled over all slots at once, with counter-based random
numbers, so episode ``k`` is the same conversation whatever the batch size. ``DialogueEnv`` is
that engine with one row, so the two play the very same conversations; the array engine is the
fast one. ``on_turn`` lets a log read each turn from the engine (``engine.read``) before
finished slots start anew.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from dialog_rl.domain import Domain
from dialog_rl.env.dialogue_env import DialogueEnv
from dialog_rl.env.engine import CONVLAB_FIELDS
from dialog_rl.env.featurizer import observation_spec
from dialog_rl.numerics import NumericalError, check_batch
from dialog_rl.seeding import episode_seed, episode_seeds

ENGINES = ("auto", "loop", "array")
#: outcome fields reported in ``infos["final_info"]``, with their dtypes
OUTCOME_FIELDS = (
    ("success", bool),
    ("reward", np.float64),
    ("turns", np.int64),
    ("hangup", bool),
    ("handover", bool),
    ("truncated", bool),
    *((name, np.int64) for name in CONVLAB_FIELDS),
)


class LoopEngine:
    """One ``DialogueEnv`` per slot, stepped in a Python loop: the reference engine."""

    def __init__(self, domain: Domain, n: int, **env_args: Any) -> None:
        self.envs = [DialogueEnv(domain, **env_args) for _ in range(n)]
        spec = self.envs[0].spec_obs
        self.obs = np.zeros((n, spec.size), dtype=np.float32)
        self.masks = np.zeros((n, domain.n_actions), dtype=np.int8)
        self.infos: list[dict] = [{} for _ in range(n)]
        self.noise = self.envs[0].noise
        self.max_turns = self.envs[0].max_turns

    def start(self, slots: np.ndarray, seeds: np.ndarray) -> None:
        for i, s in zip(slots.tolist(), seeds.tolist()):
            self.obs[i], self.infos[i] = self.envs[i].reset(seed=s)
            self.masks[i] = self.infos[i]["action_mask"]

    def step(
        self, actions: np.ndarray, rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = len(self.envs)
        rewards = np.zeros(n, dtype=np.float64)
        terminated = np.zeros(n, dtype=bool)
        truncated = np.zeros(n, dtype=bool)
        for i in range(n) if rows is None else rows.tolist():
            env = self.envs[i]
            try:
                obs, rewards[i], terminated[i], truncated[i], info = env.step(int(actions[i]))
            except NumericalError as err:
                err.slot = i  # the vector env knows which episode the slot plays
                raise
            self.obs[i] = obs
            self.masks[i] = info["action_mask"]
            self.infos[i] = info
        return rewards, terminated, truncated

    def read(self, name: str, slots: np.ndarray) -> np.ndarray:
        """``Engine.read`` over the slots' one-row engines."""
        zero = np.zeros(1, dtype=np.int64)
        parts = [self.envs[i].engine.read(name, zero) for i in slots.tolist()]
        return np.concatenate(parts) if parts else self.envs[0].engine.read(name, zero[:0])

    def outcomes(self, slots: np.ndarray) -> dict[str, np.ndarray]:
        """Each slot's ``DialogueEnv.outcome()``, field by field."""
        rows = [self.envs[i].outcome() for i in slots.tolist()]
        out = {name: np.array([o[name] for o in rows], dtype=t) for name, t in OUTCOME_FIELDS}
        out["outcome"] = np.array([o["outcome"] for o in rows], dtype=object)
        return out


class DialogueVectorEnv(VectorEnv):
    """``num_envs`` conversations of one scenario stepped together (see the module docstring).

    Args:
        domain: the compiled scenario.
        num_envs: conversations in the batch.
        noise: semantic error rate; defaults to the scenario's.
        max_turns: turn limit; defaults to the scenario's.
        channel: ``act`` or ``text`` (text needs the ``loop`` engine).
        engine: ``loop``, ``array`` or ``auto`` (``array`` when the options allow it).
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(
        self,
        domain: Domain,
        num_envs: int,
        *,
        noise: float | None = None,
        max_turns: int | None = None,
        channel: str = "act",
        engine: str = "auto",
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
        from dialog_rl.env.engine import Engine

        why_not = (
            "" if channel == "act" else "it runs the act channel only (text needs NLG and NLU)"
        )
        if engine == "array" and why_not:
            raise ValueError(f"the array engine cannot run this: {why_not}")
        if engine == "auto":
            engine = "loop" if why_not else "array"
        self.domain = domain
        self.num_envs = num_envs
        self.engine_name = engine
        env_args = dict(noise=noise, max_turns=max_turns, channel=channel)
        if engine == "array":
            self.engine = Engine(domain, num_envs, noise=noise, max_turns=max_turns)
        else:
            self.engine = LoopEngine(domain, num_envs, **env_args)
        self.noise = self.engine.noise
        self.spec_obs = observation_spec(domain)
        self.single_observation_space = gym.spaces.Box(
            0.0, 1.0, (self.spec_obs.size,), dtype=np.float32
        )
        self.single_action_space = gym.spaces.Discrete(domain.n_actions)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.seed_value: int | None = None
        self.episodes = np.full(num_envs, -1, dtype=np.int64)
        self.seeds = np.zeros(num_envs, dtype=np.uint64)
        """Each slot's episode seed (``seeding.episode_seed`` of the run's seed and its episode)."""
        self.active = np.ones(num_envs, dtype=bool)
        self.on_turn: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], None] | None = None
        """Called by ``step`` with the slots that played, their rewards, terminated and truncated
        flags, after the turn and before finished slots start their next conversation: the one
        moment a log can read a conversation's last turn from the engine (``engine.read``)."""
        self._next_episode = 0
        self._stop: int | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict]:
        """Start episodes ``0 .. num_envs-1`` of run ``seed`` (None: continue the numbering).

        ``options={"first_episode": k}`` numbers from ``k`` instead (a worker playing a chunk);
        ``options={"last_episode": m}`` parks a slot instead of starting episode ``m`` or later:
        it stands still (same observation, reward 0, neither flag) and ``infos["active"]`` says
        so, which spares a batched run the episodes past its end.
        """
        super().reset(seed=seed)
        if seed is not None:
            self.seed_value = int(seed)
            self._next_episode = 0
        elif self.seed_value is None:
            self.seed_value = int(self.np_random.integers(1 << 62))
        options = options or {}
        if "first_episode" in options:
            self._next_episode = int(options["first_episode"])
        self._stop = options.get("last_episode")
        self.active[:] = True
        slots = np.arange(self.num_envs)
        self._start(slots)
        return self.engine.obs.copy(), self._infos()

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        rewards, terminated, truncated = self._turn(actions)
        done = terminated | truncated
        finished = np.flatnonzero(done)
        extra: dict[str, Any] = {}
        if len(finished):
            # np.zeros, not zeros_like: fresh zeroed pages rather than a pass writing zeros
            final_obs = np.zeros(self.engine.obs.shape, dtype=self.engine.obs.dtype)
            final_obs[finished] = self.engine.obs[finished]
            final_masks = np.zeros(self.engine.masks.shape, dtype=np.int8)
            final_masks[finished] = self.engine.masks[finished]
            final_info: dict[str, Any] = {
                "episode": np.where(done, self.episodes, -1),
                "action_mask": final_masks,
            }
            outcomes = self.engine.outcomes(finished)
            for name, dtype in OUTCOME_FIELDS:
                column = np.zeros(self.num_envs, dtype=dtype)
                column[finished] = outcomes[name]
                final_info[name] = column
            names = np.full(self.num_envs, "", dtype=object)
            names[finished] = outcomes["outcome"]
            final_info["outcome"] = names
            final_info["_outcome"] = done.copy()
            extra = {
                "final_obs": final_obs,
                "_final_obs": done.copy(),
                "final_info": final_info,
                "_final_info": done.copy(),
            }
            self._start(finished)
        return (
            self.engine.obs.copy(),
            rewards,
            terminated,
            truncated,
            {**self._infos(), **extra},
        )

    def step_columns(self, actions: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``step`` for a consumer of columns (``rollout.batched.run_batched_columns``): the same
        turn and the same fresh starts, without Gymnasium's infos (no full-width copies, final
        observations or per-slot outcome arrays). Returns the slots that finished and, for
        those slots in that order, ``episode`` and the ``engine.outcomes`` fields. The next
        observations and masks are ``engine.obs`` and ``engine.masks`` (overwritten by the next
        step); ``active`` and ``episodes`` say which slots play which episode now."""
        _, terminated, truncated = self._turn(actions)
        finished = np.flatnonzero(terminated | truncated)
        columns: dict[str, np.ndarray] = {}
        if len(finished):
            columns = {"episode": self.episodes[finished], **self.engine.outcomes(finished)}
            self._start(finished)
        return finished, columns

    def _turn(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One turn of the active slots, checked; the ``on_turn`` hook is called."""
        if self.seed_value is None:
            raise RuntimeError("step() called before reset()")
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,):
            raise ValueError(f"expected {self.num_envs} actions, got shape {actions.shape}")
        rows = np.flatnonzero(self.active)
        try:
            rewards, terminated, truncated = self.engine.step(actions, rows)
        except NumericalError as err:
            slot = getattr(err, "slot", None)
            if slot is not None:
                err.at_episode(int(self.episodes[slot]))
            raise
        # the loop engine's envs check their own numbers; check_batch names what is not finite
        if self.engine_name == "array" and not self.engine.finite(rewards, rows):
            names = self.spec_obs.names
            try:
                check_batch(rewards, self.engine.obs, names, self.episodes, self.engine.turn - 1)
            except NumericalError as err:  # the seed that replays the episode, as DialogueEnv's
                err.seed = episode_seed(self.seed_value, err.episode)
                raise
        if self.on_turn is not None:
            self.on_turn(rows, rewards, terminated, truncated)
        return rewards, terminated, truncated

    def _start(self, slots: np.ndarray) -> None:
        episodes = np.arange(self._next_episode, self._next_episode + len(slots))
        if self._stop is not None:
            keep = episodes < self._stop
            self.active[slots[~keep]] = False
            slots, episodes = slots[keep], episodes[keep]
        self._next_episode += len(slots)
        self.episodes[slots] = episodes
        if len(slots):
            seeds = episode_seeds(self.seed_value, episodes)
            self.seeds[slots] = seeds
            self.engine.start(slots, seeds)

    def _infos(self) -> dict:
        return {
            "action_mask": self.engine.masks.copy(),
            "episode": self.episodes.copy(),
            "active": self.active.copy(),
        }
