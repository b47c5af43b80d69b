"""Where a batch of episodes runs: in this process, a local process pool, or a Ray cluster.

Every backend plays the same episodes the same way. Episode ``i`` is seeded by ``(seed, i)``
(``runner.episode_seed``), never by the worker that plays it; work goes out in chunks of whole
Parquet parts (``part_episodes`` episodes each), every part is written by the one worker that
played it, and results come back in episode order. So the log directory and the metrics are
byte-identical whatever the backend and however many workers there are.

What a worker plays and how (a ``RolloutJob``, its chunks, the ``RolloutWorker``) is in
``rollout.worker``. A job is plain data, so it travels to worker processes and Ray actors as it
is: those transports pickle our own objects between our own processes; no file is ever
unpickled.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path

from dialog_rl.rollout.logs import part_name, remove_dead_temporaries, write_bytes_atomic
from dialog_rl.rollout.pool import pool_context, start_method  # noqa: F401 (train imports it here)
from dialog_rl.rollout.worker import (  # noqa: F401 (the job's names, importable from here too)
    TEXT_VECTOR_ENVS,
    VECTOR_ENVS,
    ChunkResult,
    RolloutJob,
    RolloutWorker,
)
from dialog_rl.run_errors import WorkerLostError

BACKENDS = ("local", "ray")
#: how many times in a row the work of a dead worker (process or Ray actor) is handed out again
#: before the run stops; any chunk finished in between resets the count
MAX_RESTARTS = 3


class BackendError(RuntimeError):
    """A backend cannot run here (Ray missing, cluster unreachable): reported in one line."""


def run_rollouts(
    job: RolloutJob,
    *,
    backend: str = "local",
    workers: int | None = None,
    address: str | None = None,
) -> Iterator[ChunkResult]:
    """Play ``job`` and yield its chunks in episode order (parts are on disk when yielded).

    Args:
        backend: ``local`` (this process for one worker, a process pool for more) or ``ray``.
        workers: processes (local) or Ray actors; Ray defaults to the cluster's CPU count.
        address: Ray cluster to connect to (``ray start --head`` prints it); None starts a local
            Ray instance unless one is already running in this process.
    """
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}: use one of {', '.join(BACKENDS)}")
    if address is not None and backend != "ray":
        raise BackendError("--address needs --backend ray")
    if workers is not None and workers < 1:
        raise BackendError(f"workers must be >= 1, got {workers}")
    if backend == "ray":
        yield from _run_ray(job, workers, address)
    elif (workers or 1) == 1:
        yield from _run_in_process(job)
    else:
        yield from run_pool(job, workers)


# -- in this process ---------------------------------------------------------------------------


def _run_in_process(job: RolloutJob) -> Iterator[ChunkResult]:
    worker = RolloutWorker(job)
    if worker.vec is not None:  # batched: one vector env plays every chunk, writing its parts
        if job.log_dir is not None:
            Path(job.log_dir).mkdir(parents=True, exist_ok=True)
        yield from (worker.play(c) for c in job.chunks(1))
        return
    writer = worker.writer(job.log_dir) if job.log_dir is not None else None
    step = 100  # report progress often
    spans = job.chunks(1) if writer is not None else [range(job.episodes)]  # whole parts
    for span in spans:
        for start in range(span.start, span.stop, step):
            end = min(start + step, span.stop)
            result = worker.play(range(start, end), writer)
            if writer is not None and end == span.stop:
                writer.flush()  # a part is complete: put it on disk before saying so
            yield result
    if writer is not None:
        writer.close()


# -- local process pool ------------------------------------------------------------------------

# One RolloutWorker per pool process. Pool initialisers can only hand state to the task function
# through the process's globals; this one is private to each worker process.
_POOL_WORKER: RolloutWorker | None = None


def _pool_init(job: RolloutJob, driver: int) -> None:
    global _POOL_WORKER
    _die_with_parent()
    exit_with_driver(driver)
    _POOL_WORKER = RolloutWorker(job)


def exit_with_driver(driver: int) -> None:
    """End this worker process the moment the run's process ``driver`` ends, however it ends.

    A ``ProcessPoolExecutor`` worker holds both ends of its task queue, so a dead driver never
    shows up as end-of-file there, and the fork server lives as long as its workers: without
    this, a run killed with SIGKILL would leave its workers playing (and writing parts) on.
    """
    import select
    import threading

    try:
        fd = os.pidfd_open(driver)  # Linux >= 5.3; readable once the process has ended
    except (AttributeError, OSError):
        return  # elsewhere: the worker finishes its chunk and stops when its queue breaks

    def wait() -> None:
        select.select([fd], [], [])
        os._exit(1)

    threading.Thread(target=wait, name="exit-with-driver", daemon=True).start()


def _die_with_parent() -> None:
    """Linux: end this worker when the process that started it ends (the fork server, which
    ends with the run), so a run killed with SIGKILL stops writing parts at once."""
    import sys

    if not sys.platform.startswith("linux"):
        return  # elsewhere a worker finishes its chunk, then finds the run gone and exits
    import contextlib
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG


def _pool_play(chunk: range) -> ChunkResult:
    assert _POOL_WORKER is not None, "pool worker used before its initialiser ran"
    return _POOL_WORKER.play_chunk(chunk)


def run_pool(job: RolloutJob, workers: int) -> Iterator[ChunkResult]:
    """The process-pool backend, even for one worker (``run_rollouts`` runs one in-process).

    A worker that dies (SIGKILL, the OOM killer) breaks the pool: the chunks that had not come
    back are handed to a fresh pool and played again. Episodes are seeded by their index and a
    part is written whole by whoever plays it, so the log ends byte-identical to an undisturbed
    run. After ``MAX_RESTARTS`` breaks in a row with no chunk finished, ``WorkerLostError``.
    """
    if job.log_dir is not None:
        Path(job.log_dir).mkdir(parents=True, exist_ok=True)
    chunks = job.chunks(workers)
    workers = min(workers, len(chunks)) or 1
    finished: dict[int, ChunkResult] = {}
    next_out, breaks = 0, 0
    while next_out < len(chunks):
        pool = ProcessPoolExecutor(
            workers,
            mp_context=pool_context(),
            initializer=_pool_init,
            initargs=(job, os.getpid()),
        )
        futures: dict[int, Future] = {
            i: pool.submit(_pool_play, chunks[i])
            for i in range(next_out, len(chunks))
            if i not in finished
        }
        try:
            # in episode order however the chunks finish
            while next_out < len(chunks):
                result = finished.pop(next_out, None) or futures[next_out].result()
                breaks = 0
                yield result
                next_out += 1
        except BrokenProcessPool as err:
            breaks += 1
            for i, future in futures.items():
                if i >= next_out and future.done() and future.exception() is None:
                    finished[i] = future.result()
            if breaks > MAX_RESTARTS:
                lost = chunks[next_out]
                raise WorkerLostError(
                    f"a worker process died {breaks} times in a row (last while playing episodes "
                    f"{lost.start}-{lost.stop - 1}: {err}); the parts logged so far are kept: "
                    "run the same command with --resume to finish"
                ) from None
        finally:
            # on an early stop (Ctrl-C, an error) only the chunks already running finish
            pool.shutdown(wait=True, cancel_futures=True)
            if job.log_dir is not None:
                # what a dead worker half-wrote; after the shutdown, so every worker is reaped
                remove_dead_temporaries(Path(job.log_dir))


# -- Ray ---------------------------------------------------------------------------------------


def _import_ray():
    try:
        import ray
    except ImportError:
        raise BackendError(
            "--backend ray needs Ray: pip install 'dialog-rl[ray]' (or pip install ray)"
        ) from None
    return ray


#: Ray's setting for the niceness its worker processes add to their own (Ray's default: 15)
WORKER_NICENESS = "RAY_worker_niceness"


def start_ray(address: str | None = None, **options) -> None:
    """``ray.init`` for a run: connect to the cluster at ``address``, or start a local instance.

    Ray runs its workers 15 steps nicer than the process that starts it, so that its own
    services come first. On a local instance the workers are the run itself: at niceness 15
    beside other busy processes they get a few percent of a core (2,000 conversations beside
    two busy loops on a 2-core machine: 45 s, against 3 s at the caller's priority;
    ``benchmarks/ray_priority.py``). So a local instance's workers run at this process's own
    priority, as the process pool's do, unless ``RAY_worker_niceness`` is set. A cluster's
    workers keep what the cluster was started with.
    """
    ray = _import_ray()
    local = address is None and WORKER_NICENESS not in os.environ
    if local:
        os.environ[WORKER_NICENESS] = "0"  # the raylet starts now, and its workers inherit it
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, **options)
    except (ConnectionError, RuntimeError, ValueError) as err:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise BackendError(f"cannot start or reach {where}: {err}") from None
    finally:
        if local:
            del os.environ[WORKER_NICENESS]


def _run_ray(job: RolloutJob, workers: int | None, address: str | None) -> Iterator[ChunkResult]:
    ray = _import_ray()
    from ray.util import ActorPool

    started = not ray.is_initialized()
    if started:
        start_ray(address)
    try:
        n = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        log_dir = Path(job.log_dir) if job.log_dir is not None else None
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
        chunks = job.chunks(n)
        # Actors may run on machines that cannot see this disk: they send parts back as bytes.
        # An actor that dies is restarted by Ray and its chunk played again (the same bytes:
        # episodes are seeded by index), up to MAX_RESTARTS times.
        actor_class = ray.remote(
            num_cpus=1, max_restarts=MAX_RESTARTS, max_task_retries=MAX_RESTARTS
        )(RolloutWorker)
        actors = [actor_class.remote(job) for _ in range(min(n, len(chunks)) or 1)]
        try:
            pool = ActorPool(actors)
            results = pool.map(lambda a, chunk: a.play_chunk.remote(chunk, True), chunks)
            while True:
                try:
                    result = next(results)
                except StopIteration:
                    break
                except ray.exceptions.RayActorError as err:
                    raise WorkerLostError(
                        f"a Ray actor died and its {MAX_RESTARTS} restarts are used up "
                        f"({_first_line(err)}); the parts logged so far are kept: run the same "
                        "command with --resume to finish"
                    ) from None
                for part, data in sorted(result.parts.items()):
                    write_part(log_dir / part_name(part), data)
                yield replace(result, parts={})
        finally:
            for actor in actors:
                ray.kill(actor)
    finally:
        if started:
            ray.shutdown()


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def write_part(path: Path, data: bytes) -> None:
    """Write a part file whole: to a temporary name, synced, then renamed into place."""
    write_bytes_atomic(path, data)
