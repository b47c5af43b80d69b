# Whole on purpose: one run directory's life, opened under its lock to its final summary.
"""A ``simulate --out`` run directory, written as it goes so a killed run keeps what it played.

    DIR/
      .lock                     held while a process writes here (``rollout.runlock``)
      summary.json              "status": "running" from the start (with pid and progress),
                                "complete" with the metrics at the end
      log/part-NNNNN.parquet    episodes [N * P, (N + 1) * P), P = the run's part_episodes
      progress/part-NNNNN.json  the outcomes of part N's episodes (field by field), for the
                                final metrics (removed once the run is complete)

Every file is written whole (temporary name in the same directory, fsync, rename), so a run
killed at any instant leaves a readable dataset of whole parts and a summary that says
``running``; ``runlock.run_status`` reads that as ``interrupted`` once the process is gone.

A part is done when its Parquet file and its outcomes are both on disk (the outcomes are written
after the part, and not fsynced: after a power cut an empty or torn record reads as a part not
done). ``simulate --resume``
checks that it was called with the arguments of the run it continues, then plays only the parts
not done: episode ``i`` is seeded by ``(seed, i)`` alone, so it writes the bytes an uninterrupted
run writes, and the metrics over every part's outcomes are the uninterrupted run's.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dialog_rl.outputs import (
    SIMULATE,
    OutputError,
    check_replaceable_directory,
    clear_directory,
    stamp,
)
from dialog_rl.rollout.logs import (
    PART_EPISODES,
    part_name,
    remove_dead_temporaries,
    write_bytes_atomic,
)
from dialog_rl.rollout.metrics import OutcomeColumns, concat_outcomes
from dialog_rl.rollout.runlock import RunLock, check_not_locked, has_content, run_status
from dialog_rl.seeding import CONVERSATIONS_VERSION

#: summary fields a resumed run must share with the run it continues
IDENTITY = (
    "conversations",
    "scenario_hash",
    "policy",
    "policy_sha256",
    "seed",
    "noise",
    "channel",
    "text",
    "epsilon",
    "explore",
    "max_turns",
    "lifetime",
    "episodes",
    "part_episodes",
)
#: a summary.json bigger than this is no summary of ours (its metrics are a few kB)
MAX_SUMMARY_BYTES = 16 * 1024 * 1024


class SimulationRunError(ValueError):
    """A run directory that cannot be started or resumed as asked (reported in one line)."""


def older_conversations(path: Path, version) -> str:
    """Why a run of another ``seeding.CONVERSATIONS_VERSION`` cannot be resumed."""
    return (
        f"cannot resume {path}: it was started by a dialog-rl whose seeds play other "
        f"conversations (version {version or 1}, this one plays version "
        f"{CONVERSATIONS_VERSION}); start a new run (another --out, or --force to replace it)"
    )


def _json(data: dict) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, default=_plain) + "\n").encode()


def _plain(value):
    """numpy scalars in outcomes (lifetime runs) as the Python numbers they equal."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {value!r}")


def read_summary(path: Path) -> dict | None:
    """``DIR/summary.json`` as a dict, None if missing; unreadable is an error."""
    file = Path(path) / "summary.json"
    if not file.is_file():
        return None
    if file.stat().st_size > MAX_SUMMARY_BYTES:
        raise SimulationRunError(f"{file}: {file.stat().st_size:,} bytes: not a run summary")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        raise SimulationRunError(f"{file}: unreadable ({err}); start a new run") from None
    if not isinstance(data, dict):
        raise SimulationRunError(f"{file}: not a dialog-rl simulate summary")
    return data


def exists_message(path: Path) -> str:
    """What to say when a fresh run meets an existing ``--out``."""
    message = f"--out {path} already exists; choose another name or pass --force to replace it"
    if path.is_dir() and run_status(path) == "interrupted":
        try:
            summary = read_summary(path) or {}
        except SimulationRunError:
            summary = {}
        done, total = summary.get("episodes_done"), summary.get("run", {}).get("episodes")
        message = (
            f"--out {path} holds an interrupted run ({done} of {total} episodes logged); pass "
            "--resume with the same arguments to finish it, --force to replace it, or choose "
            "another name"
        )
    return message


def stored_part_episodes(path: Path) -> int | None:
    """The part size of the run in ``path``, if it holds one (``--resume`` inherits it)."""
    try:
        summary = read_summary(path) if Path(path).is_dir() else None
    except SimulationRunError:
        return None
    value = (summary or {}).get("run", {}).get("part_episodes")
    return value if isinstance(value, int) and value > 0 else None


def policy_sha256(name: str) -> str | None:
    """sha256 of a trained policy's metadata (it holds its weights' hash); None for built-ins."""
    if name in ("random", "rule"):
        return None
    import hashlib

    from dialog_rl.policies.checkpoint import META, resolve_checkpoint

    return hashlib.sha256((resolve_checkpoint(name) / META).read_bytes()).hexdigest()


def open_simulation_run(
    out: str | Path,
    *,
    domain,
    scenario_path: str,
    command: list[str],
    policy_name: str,
    policy_config: dict,
    seed: int,
    noise: float,
    channel: str,
    text: bool,
    epsilon: float,
    explore: bool,
    max_turns: int | None,
    lifetime: bool,
    episodes: int,
    part_episodes: int | None = None,
    force: bool = False,
    resume: bool = False,
) -> SimulationRun:
    """Open ``out`` for ``simulate``, under its lock: a fresh run (``force`` replaces one that
    simulate made, nothing else) or the interrupted one ``resume`` finishes.

    ``part_episodes`` None: the stored run's when resuming, else ``PART_EPISODES``. Raises what
    ``SimulationRun.open`` raises.
    """
    import dialog_rl

    path = Path(out)
    part = part_episodes or (resume and stored_part_episodes(path)) or PART_EPISODES
    policy = {"name": policy_name, **policy_config}
    header = {
        "scenario": domain.name,
        "scenario_path": scenario_path,
        "scenario_hash": domain.content_hash,
        "dialog_rl_version": dialog_rl.__version__,
        "command": command,
        "seed": seed,
        "policy": policy,
        "noise": noise,
        "channel": channel,
        "explore": explore,
    }
    identity = {
        "conversations": CONVERSATIONS_VERSION,
        "scenario_hash": domain.content_hash,
        "policy": policy,
        "policy_sha256": policy_sha256(policy_name),
        "seed": seed,
        "noise": noise,
        "channel": channel,
        "text": text or channel == "text",
        "epsilon": epsilon,
        "explore": explore,
        "max_turns": max_turns,
        "lifetime": lifetime,
        "episodes": episodes,
        "part_episodes": part,
    }
    return SimulationRun(path, header, identity).open(force=force, resume=resume)


class SimulationRun:
    """The run directory of one ``simulate --out``: opened under its lock, fed chunk results.

    Args:
        path: the ``--out`` directory.
        header: the summary's fixed fields (scenario, command, policy, ...).
        identity: the fields (``IDENTITY``) a resumed run must match; stored under ``run``.
    """

    def __init__(self, path: str | Path, header: dict, identity: dict) -> None:
        self.path = Path(path)
        self.log_dir = self.path / "log"
        self.progress_dir = self.path / "progress"
        self.header = dict(header)
        # as JSON gives it back (tuples become lists), so a stored identity compares equal
        self.identity = json.loads(_json({k: identity[k] for k in IDENTITY}))
        self.episodes: int = self.identity["episodes"]
        self.part_episodes: int = self.identity["part_episodes"]
        self.n_parts = -(-self.episodes // self.part_episodes)
        self.lock = RunLock(self.path)
        self.fresh = True
        """True if this process started the run (False: it resumes one)."""
        self.created = False
        """True if this process made the directory (it removes it if the run cannot start)."""
        self.already_complete = False
        self.metrics: dict | None = None
        """The stored metrics of a run that was already complete."""
        self._done: dict[int, Sequence[dict]] = {}
        self._pending: dict[int, list[Sequence[dict]]] = {}  # a part's pieces as they come

    # -- opening -------------------------------------------------------------------------------

    def open(self, *, force: bool = False, resume: bool = False) -> SimulationRun:
        """Lock the directory and start a fresh run (``force`` replaces an old one that
        dialog-rl simulate made, nothing else) or resume one.

        Raises ``RunLockedError`` if a live process writes there, ``SimulationRunError`` if the
        directory cannot be used as asked, ``OutputError`` if ``force`` would replace something
        dialog-rl did not make (nothing is touched then).
        """
        if force and resume:
            raise SimulationRunError(
                "--resume continues --out and --force replaces it: pass one of them"
            )
        p = self.path
        if os.path.lexists(p) and not p.is_dir():
            if not force:
                raise SimulationRunError(
                    f"--out {p} is a file, not a run directory"
                    if resume
                    else f"--out {p} already exists; choose another name or pass --force to "
                    "replace it"
                )
            check_replaceable_directory(p, SIMULATE)  # a file never is: refused
        elif p.is_dir():
            check_not_locked(p)  # before anything else: name the live run
            if not resume and has_content(p):
                if not force:
                    raise SimulationRunError(exists_message(p))
                check_replaceable_directory(p, SIMULATE)
        self.created = not p.exists()
        self.lock.acquire()
        try:
            self._start(force=force, resume=resume)
        except BaseException:
            self.close()
            raise
        return self

    def _start(self, *, force: bool, resume: bool) -> None:
        p = self.path
        stored = read_summary(p) if resume else None
        if resume and stored is None and has_content(p):
            raise SimulationRunError(f"--out {p} is not a simulate run (no summary.json)")
        if stored is not None:
            self._check_identity(stored)
            self.fresh = False
            # the finished summary must be the uninterrupted run's: keep its command and paths
            self.header = {k: v for k, v in stored.items() if k not in _VOLATILE}
            if stored.get("status", "complete") == "complete":
                self.already_complete = True
                self.metrics = stored.get("metrics")
                shutil.rmtree(self.progress_dir, ignore_errors=True)  # a kill during cleanup
                return
            self._clean_temporaries()
            self._done = self._load_done_parts()
        else:
            if has_content(p):
                if not force:  # another run finished here between our check and our lock
                    raise SimulationRunError(exists_message(p))
                clear_directory(p, SIMULATE)
        self.log_dir.mkdir(exist_ok=True)
        self.progress_dir.mkdir(exist_ok=True)
        self._write_running()

    def _check_identity(self, stored: dict) -> None:
        old = stored.get("run")
        if not isinstance(old, dict):
            raise SimulationRunError(
                f"cannot resume {self.path}: its summary.json does not say how the run was "
                "started (made by an older dialog-rl?); start a new run"
            )
        if old.get("conversations") != self.identity["conversations"]:
            raise SimulationRunError(older_conversations(self.path, old.get("conversations")))
        for key in IDENTITY:
            was, now = old.get(key), self.identity[key]
            if was != now:
                raise SimulationRunError(
                    f"cannot resume {self.path}: it was started with {key}={was!r}, this "
                    f"command has {key}={now!r} (resume with the same arguments)"
                )

    def _clean_temporaries(self) -> None:
        """Remove what a killed run left half-written (temporaries of dead writers only: a
        worker of the killed run may still be finishing a part, which it renames whole)."""
        for parent in (self.path, self.log_dir, self.progress_dir):
            if parent.is_dir():
                remove_dead_temporaries(parent)

    def _part_size(self, part: int) -> int:
        return min(self.part_episodes, self.episodes - part * self.part_episodes)

    def _load_done_parts(self) -> dict[int, list[dict]]:
        """Parts whose Parquet file and outcomes are both on disk and whole."""
        done = {}
        for part in range(self.n_parts):
            progress = self.progress_dir / f"part-{part:05d}.json"
            parquet = self.log_dir / part_name(part)
            if not (progress.is_file() and parquet.is_file()):
                continue
            try:
                outcomes = _outcomes(json.loads(progress.read_text(encoding="utf-8")))
                pq.read_metadata(parquet)
            except (OSError, ValueError, KeyError, TypeError, AttributeError, pa.ArrowException):
                continue  # not whole after all (written by hand?): play it again
            if isinstance(outcomes, list) and len(outcomes) == self._part_size(part):
                done[part] = outcomes
        return done

    # -- while running -------------------------------------------------------------------------

    @property
    def done_parts(self) -> frozenset[int]:
        return frozenset(self._done)

    @property
    def episodes_done(self) -> int:
        return sum(len(o) for o in self._done.values())

    def add(self, start: int, outcomes: Sequence[dict]) -> None:
        """Take the outcomes of episodes ``start ..`` (a list of dicts or ``OutcomeColumns``); a
        part whose outcomes are all in (its Parquet file is on disk by then) is recorded as
        done."""
        j, n = 0, len(outcomes)
        while j < n:  # part by part, as slices (a chunk holds thousands of episodes)
            part = (start + j) // self.part_episodes
            end = min(n, (part + 1) * self.part_episodes - start)
            self._pending.setdefault(part, []).append(outcomes[j:end])
            j = end
        recorded = False
        for part in sorted(self._pending):
            if sum(len(p) for p in self._pending[part]) == self._part_size(part):
                self._record(part, concat_outcomes(self._pending.pop(part)))
                recorded = True
        if recorded:
            self._write_running()

    def _record(self, part: int, outcomes: Sequence[dict]) -> None:
        # the outcomes field by field, compact: json's C encoder writes columns of numbers three
        # times as fast as one object per episode (an indented dump runs in Python: ten times).
        # Not fsynced: a record a power cut empties or tears does not parse, and --resume plays
        # its part again; syncing (and, on a disk mounted with discard, deleting synced files at
        # the end) cost a simulate of 400 parts seconds.
        if isinstance(outcomes, OutcomeColumns):
            columns = {key: values.tolist() for key, values in outcomes.columns.items()}
        else:
            columns = {key: [o[key] for o in outcomes] for key in outcomes[0]}
        data = {"part": part, "start": part * self.part_episodes, "columns": columns}
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=_plain) + "\n"
        path = self.progress_dir / f"part-{part:05d}.json"
        write_bytes_atomic(path, text.encode(), sync=False)
        self._done[part] = outcomes

    def _write_running(self) -> None:
        summary = {
            **self.header,
            **stamp("simulate"),
            "status": "running",
            "pid": os.getpid(),
            "episodes_done": self.episodes_done,
            "run": self.identity,
        }
        write_bytes_atomic(self.path / "summary.json", _json(summary))

    def outcomes(self) -> Sequence[dict]:
        """Every episode's outcome, in episode order (all parts must be done): ``OutcomeColumns``
        when this process played every part on a vector env, else a list of dicts."""
        missing = [p for p in range(self.n_parts) if p not in self._done]
        if missing:
            raise RuntimeError(f"{self.path}: parts {missing[:5]} were never recorded")
        return concat_outcomes([self._done[p] for p in range(self.n_parts)])

    # -- ending --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def playing(self, cannot_start: tuple[type[BaseException], ...] = ()):
        """Around the play: a failure (Ctrl-C, a dying worker, a full disk) marks the run
        interrupted and keeps what is on disk for ``--resume``; one of ``cannot_start`` (no
        backend) before any part was recorded removes the run, as if it had never started."""
        try:
            yield self
        except cannot_start:
            if self.episodes_done == 0:
                self.discard()
            else:
                self.interrupt()
            raise
        except BaseException:
            self.interrupt()
            raise

    def complete(self, metrics: dict) -> dict:
        """Write the final summary (status complete) and drop the progress files."""
        summary = {
            **self.header,
            **stamp("simulate"),
            "status": "complete",
            "run": self.identity,
            "metrics": metrics,
        }
        write_bytes_atomic(self.path / "summary.json", _json(summary))
        shutil.rmtree(self.progress_dir, ignore_errors=True)
        self.close()
        return summary

    def interrupt(self) -> None:
        """The run stops unfinished (Ctrl-C, an error): say so; what is on disk stays."""
        if self.lock.held:
            summary = {
                **self.header,
                **stamp("simulate"),
                "status": "interrupted",
                "episodes_done": self.episodes_done,
                "run": self.identity,
            }
            # if the disk is the problem, the "running" summary still reads as interrupted
            with contextlib.suppress(OSError):
                write_bytes_atomic(self.path / "summary.json", _json(summary))
        self.close()

    def discard(self) -> None:
        """The run could not start (no backend): remove what this process made, as if never run."""
        if self.fresh and self.lock.held:
            # only what this run wrote goes; if something else appeared meanwhile, it all stays
            with contextlib.suppress(OutputError):
                clear_directory(self.path, SIMULATE)
                if self.created:
                    (self.path / ".lock").unlink(missing_ok=True)
                    self.path.rmdir()
        self.close()

    def close(self) -> None:
        self.lock.release()


def _outcomes(record: dict) -> list:
    """The outcomes of a progress record: field by field (``columns``), or one object per
    episode (``outcomes``, as runs before the columns wrote them)."""
    if "columns" not in record:
        return record["outcomes"]
    columns = record["columns"]
    return [dict(zip(columns, values)) for values in zip(*columns.values())]


#: summary fields that describe the writing process, not the run
_VOLATILE = ("status", "pid", "episodes_done", "run", "metrics")
