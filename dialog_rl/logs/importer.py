"""``dialog-rl logs import``: your logged decisions (CSV, Parquet, JSONL) as a dialog-rl log.

Every row is read and checked against the schema before anything is written
(``dialog_rl.logs.import_rows``); the first mistake is a ``LogImportError`` naming
``FILE:ROW:COLUMN``. Here the checked decisions become the log. The result is a run
directory ``dialog-rl ope --logs`` reads: ``log/part-00000.parquet`` (the columns of dialog-rl's
own logs), ``summary.json`` and ``conversations.csv`` (episode number -> your conversation id).
It is built in a temporary directory beside ``--out`` and renamed into place whole. Its
``summary.json`` carries the stamp ``"made_by": "dialog-rl logs-import"``: ``--force`` replaces
only such a directory holding nothing else (``dialog_rl.outputs``), or an empty one.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# reading and checking the user's rows; LogImportError stays importable from here
from dialog_rl.logs.import_rows import (
    Decision,
    LogImportError,
    _Errors,
    check_rows,
    detect_shape,
    group_conversations,
    read_rows,
)
from dialog_rl.logs.schema import SCHEMA_VERSION
from dialog_rl.outputs import (
    LOGS_IMPORT,
    OutputError,
    check_replaceable_directory,
    clear_directory,
    protected_reason,
    stamp,
)

# -- building ----------------------------------------------------------------------------------


def _ends(rows: list[Decision]) -> tuple[list[bool], list[bool]]:
    n = len(rows)
    terminated = [False] * n
    truncated = [False] * n
    last = rows[-1]
    truncated[-1] = bool(last.truncated)
    terminated[-1] = not truncated[-1] if last.terminated is None else bool(last.terminated)
    return terminated, truncated


def build_acts(
    path: Path, convs: list[list[Decision]], domain
) -> tuple[dict, np.ndarray, np.ndarray]:
    """Columns of the log for the acts shape, replaying each conversation."""
    from dialog_rl.acts import format_user_acts
    from dialog_rl.logs.replay import replay_conversation

    errors = _Errors(str(path))
    cols: dict[str, list] = {k: [] for k in _LOG_COLUMNS}
    obs_blocks, mask_blocks = [], []
    for episode, rows in enumerate(convs):
        obs, mask = replay_conversation(domain, [d.heard for d in rows], [d.action for d in rows])
        for d, allowed in zip(rows, mask):
            if not allowed[d.action]:
                errors.add(
                    d.row,
                    "action",
                    f"{domain.act_names[d.action]!r} is masked out at this point of conversation "
                    f"{d.conversation!r} by dialog-rl's tracker (after what the customer said), so "
                    "no dialog-rl policy could take it and OPE cannot weigh it",
                )
        terminated, truncated = _ends(rows)
        for t, d in enumerate(rows):
            text = format_user_acts(domain, d.heard)
            _append(cols, episode, d, terminated[t], truncated[t], rows[-1].outcome)
            cols["action_name"].append(domain.act_names[d.action])
            cols["user_acts"].append(text)
            cols["observed_acts"].append(text)
        obs_blocks.append(obs)
        mask_blocks.append(mask)
    errors.raise_if_any()
    return cols, np.concatenate(obs_blocks), np.concatenate(mask_blocks)


def build_features(convs: list[list[Decision]]) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    """Columns of the log for the features shape (features as the observation)."""
    cols: dict[str, list] = {k: [] for k in _LOG_COLUMNS}
    obs, masks, probs = [], [], []
    for episode, rows in enumerate(convs):
        terminated, truncated = _ends(rows)
        for t, d in enumerate(rows):
            _append(cols, episode, d, terminated[t], truncated[t], rows[-1].outcome)
            cols["action_name"].append(str(d.action))
            cols["user_acts"].append(None)
            cols["observed_acts"].append(None)
            obs.append(d.features)
            k = len(d.target_probs)
            masks.append(d.mask if d.mask is not None else [True] * k)
            probs.append(d.target_probs)
    return (
        cols,
        np.asarray(obs, dtype=np.float32),
        np.asarray(masks, dtype=bool),
        np.asarray(probs, dtype=np.float64),
    )


_LOG_COLUMNS = (
    "episode",
    "turn",
    "action",
    "action_name",
    "propensity",
    "reward",
    "terminated",
    "truncated",
    "user_acts",
    "observed_acts",
    "outcome",
    "success",
)


def _append(
    cols: dict, episode: int, d: Decision, terminated: bool, truncated: bool, outcome: str | None
) -> None:
    cols["episode"].append(episode)
    cols["turn"].append(d.turn)
    cols["action"].append(d.action)
    cols["propensity"].append(d.propensity)
    cols["reward"].append(d.reward)
    cols["terminated"].append(terminated)
    cols["truncated"].append(truncated)
    cols["outcome"].append(outcome)
    cols["success"].append(None if outcome is None else outcome == "success")


def _table(cols: dict, obs: np.ndarray, mask: np.ndarray, metadata: dict, probs=None):
    import pyarrow as pa

    from dialog_rl.rollout.logs import log_schema

    n = len(cols["episode"])
    schema = log_schema(obs.shape[1], mask.shape[1])
    arrays = []
    for f in schema:
        if f.name == "obs":
            arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(obs.ravel()), obs.shape[1]))
        elif f.name == "mask":
            arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(mask.ravel()), mask.shape[1]))
        elif f.name in cols:
            arrays.append(pa.array(cols[f.name], type=f.type))
        elif f.name == "overridden":
            arrays.append(pa.array([False] * n, type=f.type))
        elif f.name == "visit":
            arrays.append(pa.array([0] * n, type=f.type))
        else:
            arrays.append(pa.nulls(n, type=f.type))
    if probs is not None:
        schema = schema.append(pa.field("target_probs", pa.list_(pa.float64(), probs.shape[1])))
        arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(probs.ravel()), probs.shape[1]))
    return pa.Table.from_arrays(arrays, schema=schema.with_metadata(metadata))


@dataclass
class ImportResult:
    out: Path
    shape: str
    conversations: int
    decisions: int


def import_logs(
    source: str | Path,
    out: str | Path,
    *,
    scenario: str | None = None,
    noise: float | None = None,
    force: bool = False,
    command: list[str] | None = None,
) -> ImportResult:
    """Check ``source`` against the schema and write it as a dialog-rl run directory ``out``."""
    import pyarrow.parquet as pq

    import dialog_rl

    source, out = Path(source), Path(out)
    if os.path.lexists(out):
        if not force:
            raise LogImportError(f"{out}: already exists (pass --force to replace it)")
        # before anything: --force replaces only an earlier import (OutputError, nothing touched)
        check_replaceable_out(out)
    header, rows = read_rows(source)
    shape = detect_shape(source, header)
    domain = None
    if shape == "acts":
        if scenario is None:
            raise LogImportError(
                f"{source}: acts-shaped logs are replayed on a scenario: pass --scenario "
                "(a shipped name such as restaurant, or a YAML file)"
            )
        from dialog_rl.domain import load_domain

        domain = load_domain(scenario)
    elif scenario is not None:
        raise LogImportError(
            f"{source}: --scenario is for acts-shaped logs; these carry their own features"
        )
    decisions = check_rows(source, header, rows, shape, domain)
    convs = group_conversations(source, decisions)
    metadata = {
        "dialog_rl.policy": "imported",
        "dialog_rl.log_schema": str(SCHEMA_VERSION),
        "dialog_rl.log_shape": shape,
    }
    summary: dict = {
        **stamp(LOGS_IMPORT.kind),
        "status": "complete",
        "policy": {"name": "imported"},
        "explore": True,
        "channel": "act",
        "dialog_rl_version": dialog_rl.__version__,
        "command": command or [],
        "imported": {
            "source": str(source),
            "shape": shape,
            "schema_version": SCHEMA_VERSION,
            "conversations": len(convs),
            "decisions": len(decisions),
        },
        "episodes_done": len(convs),
    }
    probs = None
    if shape == "acts":
        from dialog_rl.env.featurizer import observation_spec

        cols, obs, mask = build_acts(source, convs, domain)
        noise = domain.error_rate if noise is None else noise
        metadata.update(
            {
                "dialog_rl.scenario_hash": domain.content_hash,
                "dialog_rl.noise": str(noise),
                "dialog_rl.observation_spec": json.dumps(observation_spec(domain).to_dict()),
            }
        )
        summary.update(
            scenario=domain.name,
            scenario_path=str(scenario),
            scenario_hash=domain.content_hash,
            noise=noise,
        )
    else:
        cols, obs, mask, probs = build_features(convs)
    table = _table(cols, obs, mask, metadata, probs)

    tmp = _new_temporary_directory(out)
    try:
        (tmp / "log").mkdir()
        pq.write_table(table, tmp / "log" / "part-00000.parquet", compression="zstd")
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        with open(tmp / "conversations.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["episode", "conversation"])
            for episode, rows in enumerate(convs):
                w.writerow([episode, rows[0].conversation])
        if os.path.lexists(out):
            _clear_earlier_import(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # our own, made by _new_temporary_directory
    return ImportResult(out, shape, len(convs), len(decisions))


def check_replaceable_out(out: Path) -> None:
    """Raise ``OutputError`` unless ``out`` may be replaced by an import (``--force``): an
    empty directory that is not a protected place, or an earlier ``logs import`` and nothing
    else, that no live run is writing."""
    from dialog_rl.rollout.runlock import RunLockedError, check_not_locked, has_content

    if out.is_dir() and not out.is_symlink():
        try:
            check_not_locked(out)  # first name the live run, if one writes there
        except RunLockedError as err:
            raise OutputError(str(err)) from None
        if not has_content(out):
            why = protected_reason(out)
            if why is not None:
                raise OutputError(
                    f"--out {out}: refusing to replace it: {why}; choose another --out"
                )
            return
    check_replaceable_directory(out, LOGS_IMPORT)


def _clear_earlier_import(out: Path) -> None:
    """Delete what an earlier import wrote in ``out`` (checked again first), then ``out``."""
    from dialog_rl.rollout.runlock import has_content

    check_replaceable_out(out)
    if has_content(out):
        clear_directory(out, LOGS_IMPORT)
    (out / ".lock").unlink(missing_ok=True)  # not held: check_not_locked just said so
    out.rmdir()  # fails (OSError) if anything else appeared meanwhile: nothing else is deleted


def _new_temporary_directory(out: Path) -> Path:
    """A directory beside ``out`` that did not exist before (so deleting it deletes only what
    this import wrote): ``.NAME.tmp-PID``, or ``.NAME.tmp-PID-N`` if that name is taken."""
    out.parent.mkdir(parents=True, exist_ok=True)
    base = f".{out.name}.tmp-{os.getpid()}"
    for n in range(1000):
        tmp = out.with_name(base if n == 0 else f"{base}-{n}")
        try:
            tmp.mkdir()
        except FileExistsError:
            continue
        return tmp
    raise OutputError(f"--out {out}: cannot find a free temporary name beside it ({base}-N)")
