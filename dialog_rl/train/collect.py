"""Experience collection for training: rollout workers play, the learner learns.

With ``TrainConfig.rollout_batch`` K > 1, training plays episodes in rounds of up to K (a round
never crosses a checkpoint, so a resumed run repeats an uninterrupted one). At the start of a
round the learner's state is the snapshot every worker plays with; the round's episodes (each
seeded by its index, as always) are played in the workers, come back as ``Episode`` arrays, and
the learner learns from them in episode order. Which worker plays which episode never matters,
so a run gives the same result with any number of workers, in-process, in a process pool or on
Ray: it depends on K only (K = 1 is the one-episode-at-a-time loop, which never gets here).

A worker plays its share of a round on a vector env (``rollout.batched.run_batched``): one
``act_batch`` per step scores every conversation of the round in one forward pass, and the
episodes are the ones ``train.loop.play_episode`` would play one at a time (same customers,
same exploration draws, same decisions: ``tests/test_train.py``). Lifetimes (``LifetimeEnv``)
are played one at a time.

This relies on acting not changing a learner (``act`` only reads its state), true of every
learner here. The snapshot is ``Learner.state()``, replay buffers included; that costs little
next to the learning it feeds, but an acting-only state would make rounds cheaper.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from dialog_rl.counter_rng import KeyedStream
from dialog_rl.domain import Domain
from dialog_rl.policies.base import Episode, Learner
from dialog_rl.rollout.backends import (
    MAX_RESTARTS,
    _die_with_parent,
    _import_ray,
    exit_with_driver,
    start_method,
    start_ray,
)
from dialog_rl.run_errors import WorkerLostError


class LearnerSpec:
    """How to build the learner and environment in a worker: plain data."""

    def __init__(
        self,
        domain: Domain,
        env_args: dict,
        algo: str,
        seed: int,
        hyperparameters: dict,
        *,
        lifetime: bool = False,
        rows: int = 1,
    ) -> None:
        self.domain = domain
        self.env_args = env_args
        self.algo = algo
        self.seed = seed
        self.hyperparameters = hyperparameters
        self.lifetime = lifetime
        """Episodes are customer lifetimes (``LifetimeEnv``)."""
        self.rows = rows
        """Conversations a worker plays at once: its share of a round (1: one at a time)."""


class RolloutPlayer:
    """A worker's environment and learner copy; plays episodes with the round's snapshot.

    In-process (``Collector.collect`` without workers) it plays with the training learner
    itself (``play_with``) and never makes a copy."""

    def __init__(self, spec: LearnerSpec) -> None:
        from dialog_rl.env import DialogueEnv, LifetimeEnv
        from dialog_rl.env.vector import DialogueVectorEnv

        self.spec = spec
        # one environment: a vector env for rounds of conversations, else one played at a time
        self.env = self.vec = None
        if not spec.lifetime and spec.rows > 1:
            self.vec = DialogueVectorEnv(spec.domain, spec.rows, **spec.env_args)
        else:
            env_class = LifetimeEnv if spec.lifetime else DialogueEnv
            self.env = env_class(spec.domain, **spec.env_args)
        self._learner: Learner | None = None
        self.round = -1
        self.rng = KeyedStream(0)  # re-seeded per episode

    @property
    def learner(self) -> Learner:
        """The worker's own learner copy, made when first asked for (``play``)."""
        if self._learner is None:
            from dialog_rl.policies import make_learner

            spec = self.spec
            obs_spec = (self.vec or self.env).spec_obs
            self._learner = make_learner(
                spec.algo, spec.domain, obs_spec, spec.seed, **spec.hyperparameters
            )
        return self._learner

    def play(self, round_id: int, snapshot, episodes: range) -> list[Episode]:
        if round_id != self.round:
            arrays, meta = snapshot
            self.learner.load_state(arrays, meta)
            self.round = round_id
        return self.play_with(self.learner, episodes)

    def play_with(self, learner: Learner, episodes: range) -> list[Episode]:
        """``episodes`` played exploring by ``learner`` as it is now, in episode order."""
        from dialog_rl.rollout.batched import run_batched
        from dialog_rl.train.loop import play_episode

        seed = self.spec.seed
        if self.vec is None:
            return [play_episode(self.env, learner, i, seed, self.rng) for i in episodes]
        # the vector env names the episode of a numerical error itself
        return [ep.data for ep in run_batched(self.vec, learner, episodes, seed, keep_data=True)]


class Collector:
    """Plays a round of training episodes with a snapshot of the learner."""

    def __init__(
        self,
        spec: LearnerSpec,
        workers: int = 1,
        backend: str = "local",
        address: str | None = None,
    ) -> None:
        self.spec = spec
        self.workers = workers
        self.backend = backend
        self.round = 0
        self._pool = None
        self._ray = None
        self._actors: list = []
        self._ray_started = False
        self._local: RolloutPlayer | None = None
        if backend == "ray":
            ray = self._ray = _import_ray()
            if not ray.is_initialized():
                start_ray(address)
                self._ray_started = True
            # a dead actor is restarted and its call retried: a restarted player loads the
            # round's snapshot before playing, so it plays what the dead one would have
            actor = ray.remote(
                num_cpus=1, max_restarts=MAX_RESTARTS, max_task_retries=MAX_RESTARTS
            )(RolloutPlayer)
            self._actors = [actor.remote(spec) for _ in range(workers)]
        elif workers > 1:
            self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        import multiprocessing

        ctx = multiprocessing.get_context(start_method())
        return ProcessPoolExecutor(
            self.workers, mp_context=ctx, initializer=_pool_init, initargs=(self.spec, os.getpid())
        )

    def _pool_map(self, tasks: list[tuple]) -> list[list[Episode]]:
        """The round's chunks played in the pool; a pool broken by a dead worker is replaced
        and the round played again (the same episodes from the same snapshot)."""
        deaths = 0
        while True:
            try:
                return list(self._pool.map(_pool_play, *zip(*tasks)))
            except BrokenProcessPool as err:
                deaths += 1
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = self._new_pool()
                if deaths > MAX_RESTARTS:
                    raise WorkerLostError(
                        f"a rollout worker process died {deaths} times in round {self.round} "
                        f"({err}); the checkpoints so far are kept: run the same command with "
                        "--resume to continue"
                    ) from None

    def collect(self, learner: Learner, episodes: range) -> list[Episode]:
        """Play ``episodes`` with ``learner`` as it is now; return them in episode order."""
        self.round += 1
        if self._pool is None and self._ray is None:
            if self._local is None:
                self._local = RolloutPlayer(self.spec)
            return self._local.play_with(learner, episodes)
        snapshot = learner.state()
        chunks = _split(episodes, self.workers)
        if self._pool is not None:
            tasks = [(self.round, snapshot, c) for c in chunks]
            parts = self._pool_map(tasks)
        else:
            ray = self._ray
            ref = ray.put(snapshot)
            futures = [a.play.remote(self.round, ref, c) for a, c in zip(self._actors, chunks)]
            parts = ray.get(futures)
        return [ep for part in parts for ep in part]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._ray is not None:
            for actor in self._actors:
                self._ray.kill(actor)
            if self._ray_started:
                self._ray.shutdown()
            self._ray = None


def _split(episodes: range, parts: int) -> list[range]:
    """Contiguous, nearly equal pieces of ``episodes`` (empty ones dropped)."""
    n = len(episodes)
    bounds = [episodes.start + n * k // parts for k in range(parts + 1)]
    return [range(a, b) for a, b in itertools.pairwise(bounds) if b > a]


# One RolloutPlayer per pool process (pool initialisers can only hand state over in globals).
_PLAYER: RolloutPlayer | None = None


def _pool_init(spec: LearnerSpec, driver: int) -> None:
    global _PLAYER
    _die_with_parent()
    exit_with_driver(driver)
    _PLAYER = RolloutPlayer(spec)


def _pool_play(round_id: int, snapshot, episodes: range) -> list[Episode]:
    assert _PLAYER is not None, "pool worker used before its initialiser ran"
    return _PLAYER.play(round_id, snapshot, episodes)
