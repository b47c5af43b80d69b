"""A training run's directory: its arguments, learning curve, checkpoints and final policy.

    runs/NAME/
      run.json                  arguments, scenario, command (written first; read by --resume)
      curve.csv, curve.png      the learning curve
      checkpoints/ep-000000500/ policy.safetensors + policy.json, every K dialogues (last few kept)
      final/                    the checkpoint at the end: what `--policy runs/NAME` loads
      summary.json              "status": "running" (pid, dialogues checkpointed) while training;
                                "complete" with the final evaluation, CPU and wall-clock seconds
                                (not hashed) at the end
      .lock                     held by the process writing here (``rollout.runlock``, taken
                                by ``locked_run_directory`` around ``train``, so two runs never
                                write one directory)

Everything is written under a temporary name and renamed, so a run killed at any instant leaves
only whole files: a readable curve, its checkpoints, and a summary still saying ``running``, which
``rollout.runlock.run_status`` reads as ``interrupted`` once the process is gone. ``--resume``
continues from the newest checkpoint that verifies.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from dialog_rl.domain import Domain
from dialog_rl.env.featurizer import ObservationSpec
from dialog_rl.outputs import TRAIN, check_replaceable_directory, clear_directory, stamp
from dialog_rl.policies.base import Learner
from dialog_rl.policies.checkpoint import (
    Checkpoint,
    CheckpointError,
    read_checkpoint,
    save_checkpoint,
)
from dialog_rl.rollout.rundir import older_conversations
from dialog_rl.rollout.runlock import RunLock, check_not_locked, has_content
from dialog_rl.train.curve import plot_curve, write_atomic, write_curve_csv

#: TrainConfig fields a resumed run must share with the run it continues (they decide what is
#: learned or what the curve shows); ``dialogues`` may grow, checkpoint settings may change.
IDENTITY = (
    "conversations",
    "algo",
    "seed",
    "noise",
    "hyperparameters",
    "eval_every",
    "eval_episodes",
    "eval_seed",
    "override_weight",
    "channel",
    "max_turns",
    "rollout_batch",
    "lifetime",
    "gamma",
)
#: what runs started before a field existed had (their run.json lacks it)
IDENTITY_DEFAULTS = {"lifetime": False, "gamma": None}


class TrainError(ValueError):
    """A training run that cannot start or resume as asked (reported in one line)."""


def check_replaceable(out: str | Path, force: bool) -> None:
    """Before anything is loaded: with ``force``, an ``out`` that holds something must be a run
    that ``train`` made (``OutputError``) and that no live process writes (``RunLockedError``)."""
    out = Path(out)
    if force and os.path.lexists(out) and (not out.is_dir() or has_content(out)):
        check_not_locked(out)  # first name the live run, if one writes there
        check_replaceable_directory(out, TRAIN)


@contextlib.contextmanager
def locked_run_directory(
    out: str | Path, *, force: bool = False, before_clearing: Callable[[], object] = lambda: None
):
    """Hold ``out``'s lock while a run writes it (one run at a time, ``force`` included).

    With ``force``, what an earlier run left is cleared once ``before_clearing`` (which raises
    what training would raise about its inputs) has passed: a refused run deletes nothing. On
    the way out, a directory made here that nothing was written to is removed again. A file at
    ``out`` is not locked (training refuses it, writing nothing).
    """
    out = Path(out)
    created = not out.exists()
    lock = RunLock(out)
    try:
        if not out.exists() or out.is_dir():
            lock.acquire()  # held until the run ends, however it ends
        if force and lock.held and has_content(out):
            before_clearing()
            clear_directory(out, TRAIN)
        yield
    finally:
        if created and lock.held and out.is_dir() and not has_content(out):
            shutil.rmtree(out, ignore_errors=True)  # refused before writing: leave nothing
        lock.release()


class RunDirectory:
    """The files of one training run under ``path``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.run_json = self.path / "run.json"
        self.curve_csv = self.path / "curve.csv"
        self.curve_png = self.path / "curve.png"
        self.checkpoints_dir = self.path / "checkpoints"
        self.final = self.path / "final"
        self.summary_json = self.path / "summary.json"
        self._dialogues: int | None = None

    # -- run.json ------------------------------------------------------------------------------

    def create(self, run_info: dict) -> None:
        """Start the directory (it must not hold another run), write ``run.json`` and a
        summary saying the run is under way."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.checkpoints_dir.mkdir(exist_ok=True)
        self.clean_temporaries()
        stamped = {**run_info, **stamp("train")}  # what lets --force replace it later
        write_atomic(self.run_json, (json.dumps(stamped, indent=2, sort_keys=True) + "\n").encode())
        self._dialogues = (run_info.get("config") or {}).get("dialogues")
        self.write_running(None)

    def write_running(self, episode: int | None) -> None:
        """The summary of a run under way: what a reader sees if the process dies now."""
        summary = {
            "status": "running",
            "pid": os.getpid(),
            "dialogues": self._dialogues,
            "checkpointed_episodes": episode,
        }
        self.write_summary(summary, status=None)

    def stored_run(self) -> dict | None:
        if not self.run_json.is_file():
            return None
        try:
            data = json.loads(self.run_json.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise TrainError(f"{self.run_json}: unreadable ({err}); start a new run") from None
        if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
            raise TrainError(f"{self.run_json}: not a dialog-rl run description")
        return data

    def check_fresh(self) -> None:
        """A new run needs an empty or missing directory."""
        if self.path.exists() and (not self.path.is_dir() or has_content(self.path)):
            raise TrainError(
                f"--out {self.path} already exists; pass --resume to continue it, --force to "
                "replace it, or choose another name"
            )

    def check_resumable(self, config: dict, domain: Domain) -> dict | None:
        """The stored run description if ``config`` may continue it (None if nothing stored)."""
        if self.path.exists() and not self.path.is_dir():
            raise TrainError(f"--out {self.path} is a file, not a run directory")
        stored = self.stored_run()
        if stored is None:
            if self.path.exists() and has_content(self.path):
                raise TrainError(f"--out {self.path} is not a training run (no run.json)")
            return None
        sc = stored.get("scenario", {})
        if sc.get("hash") != domain.content_hash:
            raise TrainError(
                f"cannot resume {self.path}: it trains on scenario {sc.get('name')!r} (hash "
                f"{str(sc.get('hash'))[:12]}), not {domain.name!r} (hash {domain.content_hash[:12]})"
            )
        old = stored["config"]
        if old.get("conversations") != config.get("conversations"):
            raise TrainError(older_conversations(self.path, old.get("conversations")))
        for key in IDENTITY:
            was = old.get(key, IDENTITY_DEFAULTS.get(key))
            if was != config.get(key):
                raise TrainError(
                    f"cannot resume {self.path}: it was started with {key}={was!r}, this "
                    f"command has {key}={config.get(key)!r} (resume with the same arguments; only "
                    "--dialogues may change)"
                )
        return stored

    # -- checkpoints ---------------------------------------------------------------------------

    def checkpoint_path(self, episode: int) -> Path:
        return self.checkpoints_dir / f"ep-{episode:09d}"

    def checkpoints(self) -> list[Path]:
        """Checkpoint directories, oldest first (temporaries and strays are not listed)."""
        if not self.checkpoints_dir.is_dir():
            return []
        found = [
            p
            for p in self.checkpoints_dir.glob("ep-*")
            if p.is_dir() and p.name[3:].isdigit() and len(p.name) == 12
        ]
        return sorted(found)

    def latest_checkpoint(self, domain: Domain, spec: ObservationSpec) -> Checkpoint | None:
        """The newest checkpoint that verifies; damaged ones are reported and skipped."""
        for path in reversed(self.checkpoints()):
            try:
                ckpt = read_checkpoint(path, domain, spec)
            except CheckpointError as err:
                print(f"dialog-rl: skipping damaged checkpoint: {err}", file=sys.stderr)
                continue
            if not isinstance(ckpt.meta.get("training"), dict):
                print(f"dialog-rl: skipping {path}: it holds no training state", file=sys.stderr)
                continue
            return ckpt
        return None

    def save_checkpoint(
        self,
        episode: int,
        learner: Learner,
        domain: Domain,
        spec: ObservationSpec,
        *,
        seed: int,
        training: dict,
        keep: int,
        trained_on: str = "conversations",
    ) -> Path:
        path = save_checkpoint(
            self.checkpoint_path(episode),
            learner,
            domain,
            spec,
            seed=seed,
            training=training,
            trained_on=trained_on,
        )
        for old in self.checkpoints()[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
        self.write_running(episode)
        return path

    def save_final(
        self,
        learner: Learner,
        domain: Domain,
        spec: ObservationSpec,
        *,
        seed: int,
        training: dict,
        trained_on: str = "conversations",
    ) -> Path:
        return save_checkpoint(
            self.final, learner, domain, spec, seed=seed, training=training, trained_on=trained_on
        )

    def clean_temporaries(self) -> None:
        """Remove what a killed run left half-written (dot-named temporaries)."""
        for parent in (self.path, self.checkpoints_dir):
            if not parent.is_dir():
                continue
            for p in parent.glob(".*.tmp-*"):
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
            for p in parent.glob(".*.old-*"):
                shutil.rmtree(p, ignore_errors=True)

    # -- curve and summary ---------------------------------------------------------------------

    def write_curve(
        self, rows: list[dict], plot: bool, title: str = "", lifetime: bool = False
    ) -> None:
        write_curve_csv(self.curve_csv, rows)
        if plot:
            plot_curve(self.curve_png, rows, title, lifetime)

    def write_summary(self, summary: dict, status: str | None = "complete") -> None:
        """Write ``summary.json``; a finished run's says ``"status": "complete"``."""
        summary = {**summary, **stamp("train")}
        if status is not None:
            summary = {**summary, "status": status}
        write_atomic(
            self.summary_json, (json.dumps(summary, indent=2, sort_keys=True) + "\n").encode()
        )
