"""What a worker plays: a job, its chunks of work, and the worker that plays them.

A ``RolloutJob`` is plain data (the compiled domain, a policy name or run directory, numbers), so
it travels to worker processes and Ray actors as it is (``rollout.backends`` sends it). A
``RolloutWorker``, built once per process or actor, plays chunks of the job's episodes: on a
``DialogueVectorEnv`` of ``vector_envs`` conversations (one ``act_batch`` per step), writing its
Parquet parts from the batch's columns (``rollout.recorder``); lifetime runs one ``DialogueEnv``
conversation at a time (``rollout.runner``, ``logs.EpisodeLogWriter``). Both give the same
episodes and the same log rows, for any batch size.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from dialog_rl.counter_rng import KeyedStream
from dialog_rl.domain import Domain
from dialog_rl.numerics import NumericalError
from dialog_rl.rollout.logs import PART_EPISODES, EpisodeLogWriter, part_name, write_bytes_atomic
from dialog_rl.rollout.metrics import OutcomeColumns

#: conversations each worker steps together by default: big enough that the per-step work of
#: Python (the policy's call, the vector env, the log's columns) is spread over many turns,
#: small enough that a chunk of work (``CHUNK_BATCHES`` batches) stays a fraction of a second
VECTOR_ENVS = 1024
#: the text channel's default: its vector env keeps a ``DialogueEnv`` per slot (with its own NLU),
#: which is slow to build and gains little from big batches
TEXT_VECTOR_ENVS = 32
#: a batched chunk holds about this many batches of episodes: slots go idle only in its last
#: steps, as its final conversations finish
CHUNK_BATCHES = 8
#: at most this many episodes in a logging chunk: a batched worker holds a chunk's rows until
#: it writes the chunk's parts (about 350 bytes a turn on the shipped scenarios)
LOGGED_CHUNK_EPISODES = 32768


@dataclass(frozen=True)
class RolloutJob:
    """What to simulate; everything a worker needs to play any episode of the run."""

    domain: Domain
    """The compiled scenario."""
    policy: str = "rule"
    """``random``, ``rule``, or a run directory (it must be readable by every worker)."""
    episodes: int = 1000
    """Episodes ``0 .. episodes-1`` are played."""
    seed: int = 0
    """The one seed of the run."""
    noise: float | None = None
    """Semantic error rate; None keeps the scenario's."""
    channel: str = "act"
    """``act`` or ``text``."""
    max_turns: int | None = None
    """Turn limit; None keeps the scenario's."""
    epsilon: float = 0.0
    """ε-soft exploration of the rule policy."""
    explore: bool = True
    """Sample from the policy (False: act greedily)."""
    lifetime: bool = False
    """Episodes are customer lifetimes (``LifetimeEnv``)."""
    log_dir: str | None = None
    """Write the Parquet log here (one ``part-NNNNN.parquet`` per ``part_episodes``)."""
    log_metadata: dict[str, str] = field(default_factory=dict)
    """Schema metadata of every part."""
    text: bool = False
    """Realise the utterances in the log (``user_text``, ``system_text``, ``reply_text``); the
    text channel always does. Without, those columns are null."""
    part_episodes: int = PART_EPISODES
    """Episodes per Parquet part: a logging run's chunks of work are whole parts."""
    skip_parts: frozenset[int] = frozenset()
    """Parts already on disk (a resumed run, ``rollout.rundir``): with a log, their episodes are
    not played again."""
    vector_envs: int = VECTOR_ENVS
    """Conversations each worker steps together on a ``DialogueVectorEnv``, one ``act_batch``
    per step. 0 plays one ``DialogueEnv`` conversation at a time, as lifetime runs always do
    (the vector env has no returning customers). Results never depend on it."""

    @property
    def batched(self) -> bool:
        """Whether workers play on a vector env."""
        return self.vector_envs > 0 and not self.lifetime

    def chunks(self, workers: int) -> list[range]:
        """Episode ranges handed out as units of work.

        Logging runs hand out whole parts (a part is written by one worker; on a vector env
        several at once). Otherwise the chunks only balance the load: small enough that every
        worker stays busy to the end, big enough that handing them out (and, batched, the
        idle slots of a chunk's last steps) costs little next to playing them.
        """
        workers = max(workers, 1)
        if self.batched:
            size = min(CHUNK_BATCHES * self.vector_envs, -(-self.episodes // (2 * workers)))
        elif self.log_dir is None:
            size = max(10, min(self.part_episodes, self.episodes // (8 * workers) or 1))
        else:
            size = self.part_episodes
        if self.log_dir is None:
            return [range(a, min(a + size, self.episodes)) for a in range(0, self.episodes, size)]
        if self.batched:
            size = min(size, LOGGED_CHUNK_EPISODES)
        per_chunk = max(1, round(size / self.part_episodes))
        parts = -(-self.episodes // self.part_episodes)
        missing = [p for p in range(parts) if p not in self.skip_parts]
        # as many chunks as whole parts of about ``size`` episodes make, rounded up to a multiple
        # of the workers and the parts spread evenly over them (sizes differ by one part at
        # most): the workers then run out of work together, rather than one playing the last
        # chunk alone while the other waits
        n = -(-len(missing) // per_chunk)
        if self.batched and workers > 1:
            n = min(-(-n // workers) * workers, len(missing))
        chunks: list[range] = []
        for k in range(n):
            group = missing[k * len(missing) // n : (k + 1) * len(missing) // n]
            for p in group:  # each chunk a run of consecutive missing parts
                start, stop = (
                    p * self.part_episodes,
                    min((p + 1) * self.part_episodes, self.episodes),
                )
                last = chunks[-1] if chunks and p != group[0] else None
                if last is not None and last.stop == start:
                    chunks[-1] = range(last.start, stop)
                else:
                    chunks.append(range(start, stop))
        return chunks


@dataclass(frozen=True)
class ChunkResult:
    """What a worker sends back for one chunk: outcomes in episode order, and its Parquet parts."""

    start: int
    outcomes: Sequence[dict]
    """``DialogueEnv.outcome()`` of each episode: ``OutcomeColumns`` from a batched worker (one
    array per field), a list of dicts from one playing a conversation at a time."""
    turns: int
    seconds: float = 0.0
    """Wall time the worker spent playing the chunk (for throughput figures)."""
    cpu_seconds: float = 0.0
    """CPU time of the worker's process for the chunk (throughput on a shared machine)."""
    parts: dict[int, bytes] = field(default_factory=dict)
    """The part files' bytes by part number, when the worker cannot write to the driver's disk
    (Ray); empty when it wrote them itself."""


class RolloutWorker:
    """Plays chunks of one job's episodes; built once per process or Ray actor.

    Batched jobs (``RolloutJob.batched``) play on one ``DialogueVectorEnv`` and log through a
    ``PartRecorder``; lifetime runs (and ``vector_envs=0``) play one conversation at a time and
    log through an ``EpisodeLogWriter``. The same episodes, decisions and log rows either way.
    """

    def __init__(self, job: RolloutJob) -> None:
        from dialog_rl.policies import make_policy

        self.job = job
        self.env = self.vec = None
        if job.batched:
            from dialog_rl.env.vector import DialogueVectorEnv

            self.vec = DialogueVectorEnv(
                job.domain,
                min(job.vector_envs, job.episodes),
                noise=job.noise,
                max_turns=job.max_turns,
                channel=job.channel,
            )
            spec = self.vec.spec_obs
        else:
            from dialog_rl.env import DialogueEnv, LifetimeEnv

            env_class = LifetimeEnv if job.lifetime else DialogueEnv
            self.env = env_class(
                job.domain,
                noise=job.noise,
                channel=job.channel,
                text=job.text,
                max_turns=job.max_turns,
            )
            spec = self.env.spec_obs
        self.spec_obs = spec
        self.policy = make_policy(job.policy, job.domain, spec, epsilon=job.epsilon)
        self.rng = KeyedStream(0)  # re-seeded per episode
        self._disk: ThreadPoolExecutor | None = None  # writes a batched worker's part files

    @property
    def text(self) -> bool:
        """Whether the log has utterances."""
        return self.job.text or self.job.channel == "text"

    def writer(self, directory: str | Path) -> EpisodeLogWriter:
        job = self.job
        return EpisodeLogWriter(
            Path(directory),
            self.spec_obs.size,
            job.domain.n_actions,
            job.log_metadata,
            part_episodes=job.part_episodes,
            text=self.text,
        )

    def play(
        self, chunk: range, writer: EpisodeLogWriter | None = None, *, return_bytes: bool = False
    ) -> ChunkResult:
        """Play ``chunk``; log its episodes when the job has a log.

        Batched, the chunk's parts are written to the job's log directory as they finish (or
        returned as bytes with ``return_bytes``). One at a time, they go to ``writer`` if given
        (flushing is the caller's).
        """
        if self.vec is not None:
            return self._play_batched(chunk, return_bytes)
        from dialog_rl.rollout.runner import run_episode

        job = self.job
        outcomes, turns = [], 0
        start, cpu = time.perf_counter(), time.process_time()
        for i in chunk:
            try:
                rec = run_episode(
                    self.env,
                    self.policy,
                    i,
                    job.seed,
                    explore=job.explore,
                    record=writer is not None,
                    rng=self.rng,
                )
            except NumericalError as err:  # the env knows the turn; the episode index is ours
                raise err.at_episode(i) from None
            outcomes.append(rec.outcome)
            turns += rec.outcome["turns"]
            if writer is not None:
                writer.write(rec)
        return ChunkResult(
            chunk.start, outcomes, turns, time.perf_counter() - start, time.process_time() - cpu
        )

    def _play_batched(self, chunk: range, return_bytes: bool) -> ChunkResult:
        from dialog_rl.rollout.batched import _OUTCOME_KEYS, run_batched_columns

        job = self.job
        start, cpu = time.perf_counter(), time.process_time()
        parts: dict[int, bytes] = {}
        writes: list[Future] = []
        recorder = None
        if job.log_dir is not None:
            from dialog_rl.rollout.recorder import PartRecorder

            if return_bytes:
                write = parts.__setitem__
            else:
                log_dir = Path(job.log_dir)
                if self._disk is None:
                    self._disk = ThreadPoolExecutor(1, thread_name_prefix="dialog-rl-parts")

                def write(part: int, data: bytes) -> None:
                    # on a thread: the worker plays on while the disk syncs the file
                    path = log_dir / part_name(part)
                    writes.append(self._disk.submit(write_bytes_atomic, path, data))

            recorder = PartRecorder(
                self.vec, job.seed, job.part_episodes, job.log_metadata, write, text=self.text
            )
        try:
            steps = list(
                run_batched_columns(
                    self.vec, self.policy, chunk, job.seed, explore=job.explore, recorder=recorder
                )
            )
        finally:
            # Every write handed to the disk thread has finished (its part on disk, or failed
            # and its temporary removed) before this returns or raises: after a full disk or
            # Ctrl-C, nothing is still being written behind the caller's back.
            wait(writes)
        for done in writes:  # every part on disk before the chunk is reported (or its OSError)
            done.result()
        episode = np.concatenate([s["episode"] for s in steps])
        order = np.argsort(episode)  # outcomes in episode order
        # as columns: they travel to the driver and are summarised without a dict per episode
        outcomes = OutcomeColumns(
            {key: np.concatenate([s[key] for s in steps])[order] for key in _OUTCOME_KEYS}
        )
        turns = int(outcomes.columns["turns"].sum())
        return ChunkResult(
            chunk.start,
            outcomes,
            turns,
            time.perf_counter() - start,
            time.process_time() - cpu,
            parts,
        )

    def play_chunk(self, chunk: range, return_bytes: bool = False) -> ChunkResult:
        """Play a chunk and log it: its parts written to the job's log directory, or returned
        as bytes (``return_bytes``: for a driver on another machine)."""
        job = self.job
        if job.log_dir is None or self.vec is not None:
            return self.play(chunk, return_bytes=return_bytes)
        if not return_bytes:
            writer = self.writer(job.log_dir)
            result = self.play(chunk, writer)
            writer.close()
            return result
        with tempfile.TemporaryDirectory(prefix="dialog-rl-part-") as tmp:
            writer = self.writer(tmp)
            result = self.play(chunk, writer)
            writer.close()
            parts = {int(p.stem.split("-")[1]): p.read_bytes() for p in Path(tmp).iterdir()}
            return replace(result, parts=parts)
