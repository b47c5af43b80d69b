"""``dialog-rl logs import``: your logged decisions (CSV, Parquet, JSONL) as a dialog-rl log.

Every row is read and checked against the schema (``dialog_rl.logs.schema``) before anything is
written; the first mistake is an ``ImportError_`` naming ``FILE:ROW:COLUMN``. The result is a run
directory ``dialog-rl ope --logs`` reads: ``log/part-00000.parquet`` (the columns of dialog-rl's
own logs), ``summary.json`` and ``conversations.csv`` (episode number -> your conversation id).
It is built in a temporary directory beside ``--out`` and renamed into place whole. Its
``summary.json`` carries the stamp ``"made_by": "dialog-rl logs-import"``: ``--force`` replaces
only such a directory holding nothing else (``dialog_rl.outputs``), or an empty one.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dialog_rl.logs.schema import OUTCOMES, SCHEMA_VERSION, required
from dialog_rl.outputs import (
    LOGS_IMPORT,
    OutputError,
    check_replaceable_directory,
    clear_directory,
    protected_reason,
    stamp,
)

#: the row-count cap of one import (an in-memory build)
MAX_ROWS = 5_000_000


class LogImportError(Exception):
    """A file that does not follow the log schema: one line, ``FILE:ROW:COLUMN: message``."""


@dataclass
class _Errors:
    """The first mistake found, and how many there were (so one line can say both)."""

    path: str
    first: str | None = None
    count: int = 0

    def add(self, row: int | None, column: str, message: str) -> None:
        self.count += 1
        if self.first is None:
            where = self.path if row is None else f"{self.path}:{row}"
            self.first = f"{where}:{column}: {message}" if column else f"{where}: {message}"

    def raise_if_any(self) -> None:
        if self.first is not None:
            more = f" (and {self.count - 1} more mistakes)" if self.count > 1 else ""
            raise LogImportError(self.first + more)


# -- reading -----------------------------------------------------------------------------------


def read_rows(path: Path) -> tuple[list[str], Iterator[tuple[int, dict]]]:
    """The file's column names and its rows as ``(row number, {column: value})``.

    The row number is what an editor shows: the line of a CSV record or a JSONL object, the
    1-based row of a Parquet file.
    """
    suffix = path.suffix.lower()
    if not path.is_file():
        raise LogImportError(f"{path}: no such file")
    if suffix == ".csv":
        return _read_csv(path)
    if suffix in (".parquet", ".pq"):
        return _read_parquet(path)
    if suffix in (".jsonl", ".ndjson", ".json"):
        return _read_jsonl(path)
    raise LogImportError(f"{path}: unknown format {suffix!r}: expected .csv, .parquet or .jsonl")


def _read_csv(path: Path):
    fh = open(path, newline="", encoding="utf-8-sig")  # noqa: SIM115 (closed by the generator)
    reader = csv.reader(fh)
    try:
        header = next(reader)
    except (StopIteration, UnicodeDecodeError, csv.Error) as err:
        fh.close()
        raise LogImportError(
            f"{path}:1: no header row ({_one_line(err) or 'empty file'})"
        ) from None
    header = [h.strip() for h in header]

    def rows():
        try:
            line = reader.line_num + 1
            for record in reader:
                if record:
                    if len(record) != len(header):
                        raise LogImportError(
                            f"{path}:{line}: {len(record)} fields where the header has "
                            f"{len(header)}"
                        )
                    yield line, {h: (v if v != "" else None) for h, v in zip(header, record)}
                line = reader.line_num + 1
        except (UnicodeDecodeError, csv.Error) as err:
            raise LogImportError(f"{path}:{reader.line_num}: {_one_line(err)}") from None
        finally:
            fh.close()

    return header, rows()


def _read_parquet(path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise LogImportError(f"{path}: not a readable Parquet file: {_one_line(err)}") from None
    rows = table.to_pylist()
    return table.column_names, ((i + 1, row) for i, row in enumerate(rows))


def _read_jsonl(path: Path):
    lines = path.read_text(encoding="utf-8").splitlines()
    header: dict[str, None] = {}
    parsed = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise LogImportError(f"{path}:{n}: not JSON: {err.msg}") from None
        if not isinstance(obj, dict):
            raise LogImportError(f"{path}:{n}: expected one JSON object per line")
        header.update(dict.fromkeys(obj))
        parsed.append((n, obj))
    return list(header), iter(parsed)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:200]


# -- checking ----------------------------------------------------------------------------------


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _as_int(value) -> int:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError
        return int(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    return int(str(value).strip())


def _as_float(value) -> float:
    if isinstance(value, bool):
        raise ValueError
    x = float(value)
    if not math.isfinite(x):
        raise ValueError
    return x


_TRUE, _FALSE = {"true", "1", "yes", "t"}, {"false", "0", "no", "f"}


def _as_bool(value) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError


def _as_list(value) -> list:
    if isinstance(value, str):
        value = json.loads(value)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise ValueError
    return list(value)


@dataclass
class Decision:
    """One checked row."""

    row: int
    conversation: str
    turn: int
    action: int
    propensity: float
    reward: float
    terminated: bool | None
    truncated: bool | None
    heard: list = field(default_factory=list)
    """acts: the observed acts; features: unused."""
    features: list[float] | None = None
    target_probs: list[float] | None = None
    mask: list[bool] | None = None
    outcome: str | None = None


def detect_shape(path: Path, header: list[str]) -> str:
    acts, feats = "customer_acts" in header, "features" in header
    if acts and feats:
        raise LogImportError(
            f"{path}: both `customer_acts` and `features` columns: a file is one shape (see "
            "`dialog-rl logs schema`)"
        )
    if not acts and not feats:
        raise LogImportError(
            f"{path}: neither a `customer_acts` (acts shape) nor a `features` (features shape) "
            "column; see `dialog-rl logs schema`"
        )
    return "acts" if acts else "features"


def check_rows(path: Path, header: list[str], rows, shape: str, domain=None) -> list[Decision]:
    """Read every row of ``shape``, checking each column; raises ``LogImportError``."""
    missing = [c for c in required(shape) if c not in header]
    if missing:
        what = ", ".join(f"`{c}`" for c in missing)
        why = ""
        if "propensity" in missing:
            why = (
                " (the logging policy's probability of each logged action: without it the logs "
                "cannot be used for off-policy evaluation)"
            )
        raise LogImportError(
            f"{path}: missing required column{'s' if len(missing) > 1 else ''} {what}{why}; "
            "see `dialog-rl logs schema`"
        )
    errors = _Errors(str(path))
    parser = None
    if shape == "acts":
        from dialog_rl.logs.replay import ActParser, ActsError

        parser = ActParser(domain)
    width: dict[str, int] = {}
    out: list[Decision] = []
    for n, (row, rec) in enumerate(rows):
        if n >= MAX_ROWS:
            raise LogImportError(f"{path}: more than {MAX_ROWS:,} rows; split the file")
        before = errors.count

        def get(column: str, convert, what: str, optional=False, default=None, rec=rec, row=row):
            value = rec.get(column)
            if _missing(value):
                if optional:
                    return default
                errors.add(row, column, "missing")
                return default
            try:
                return convert(value)
            except (ValueError, TypeError, json.JSONDecodeError):
                errors.add(row, column, f"expected {what}, got {str(value)[:60]!r}")
                return default

        conversation = get("conversation", lambda v: str(v).strip() or _raise(), "an id")
        turn = get("turn", _as_int, "a whole number >= 0")
        if turn is not None and turn < 0:
            errors.add(row, "turn", f"expected a whole number >= 0, got {turn}")
        propensity = get("propensity", _as_float, "a number in (0, 1]")
        if propensity is not None and not 0.0 < propensity <= 1.0:
            errors.add(row, "propensity", f"must be in (0, 1], got {propensity:g}")
        reward = get("reward", _as_float, "a finite number")
        terminated = get("terminated", _as_bool, "true or false", optional=True)
        truncated = get("truncated", _as_bool, "true or false", optional=True)
        if terminated and truncated:
            errors.add(row, "truncated", "a conversation ends either terminated or truncated")
        d = Decision(row, conversation, turn, -1, propensity, reward, terminated, truncated)
        d.outcome = get("outcome", lambda v: str(v).strip().lower() or None, "", optional=True)
        if d.outcome is not None and d.outcome not in OUTCOMES:
            errors.add(row, "outcome", f"{d.outcome!r} is none of {', '.join(OUTCOMES)}")
        if shape == "acts":
            name = get("action", lambda v: str(v).strip(), "an action name")
            if name is not None:
                try:
                    d.action = domain.act_names.index(name)
                except ValueError:
                    near = ", ".join(domain.act_names[:8])
                    errors.add(
                        row,
                        "action",
                        f"{name!r} is not an action of scenario {domain.name!r} ({near}, ...; "
                        f"`dialog-rl validate {domain.name}` lists them)",
                    )
            text = rec.get("customer_acts")
            text = "" if _missing(text) else str(text)
            try:
                d.heard = parser.parse(text)
            except ActsError as err:
                errors.add(row, "customer_acts", str(err))
        else:
            action = get("action", _as_int, "an action index (whole number)")
            d.features = get(
                "features", lambda v: [_as_float(x) for x in _as_list(v)], "a list of numbers"
            )
            d.target_probs = get(
                "target_probs", lambda v: [_as_float(x) for x in _as_list(v)], "a list of numbers"
            )
            d.mask = get(
                "mask", lambda v: [_as_bool(x) for x in _as_list(v)], "a list of 0/1", optional=True
            )
            for column in ("features", "target_probs", "mask"):
                values = getattr(d, column)
                if values is None:
                    continue
                key = "actions" if column != "features" else "features"
                expected = width.setdefault(key, len(values))
                if len(values) != expected or not values:
                    errors.add(
                        row, column, f"{len(values)} entries where earlier rows have {expected}"
                    )
                    setattr(d, column, None)
            probs = d.target_probs
            if probs is not None:
                if min(probs) < 0 or abs(sum(probs) - 1.0) > 1e-6:
                    errors.add(
                        row, "target_probs", f"must be >= 0 and sum to 1, sums to {sum(probs):.6g}"
                    )
                elif d.mask is not None and any(p > 0 and not m for p, m in zip(probs, d.mask)):
                    errors.add(
                        row, "target_probs", "puts probability on an action the mask forbids"
                    )
            if action is not None:
                k = width.get("actions")
                if action < 0 or (k is not None and action >= k):
                    errors.add(row, "action", f"{action} is not an index of the {k} actions")
                elif d.mask is not None and not d.mask[action]:
                    errors.add(row, "action", f"action {action} is forbidden by the row's mask")
                else:
                    d.action = action
        if errors.count == before:
            out.append(d)
    errors.raise_if_any()
    if not out:
        raise LogImportError(f"{path}: no rows")
    return out


def _raise():
    raise ValueError


def group_conversations(path: Path, decisions: list[Decision]) -> list[list[Decision]]:
    """Rows by conversation (in order of first appearance), each ordered by turn and checked."""
    errors = _Errors(str(path))
    groups: dict[str, list[Decision]] = {}
    for d in decisions:
        groups.setdefault(d.conversation, []).append(d)
    out = []
    for conv, rows in groups.items():
        rows.sort(key=lambda d: (d.turn, d.row))
        for expected, d in enumerate(rows):
            if d.turn != expected:
                what = (
                    f"repeats turn {d.turn}"
                    if d.turn < expected
                    else f"skips turn {expected} (the next is turn {d.turn})"
                )
                errors.add(d.row, "turn", f"conversation {conv!r} {what}")
                break
        for d in rows[:-1]:
            if d.outcome is not None and d.outcome != rows[-1].outcome:
                errors.add(
                    d.row,
                    "outcome",
                    f"{d.outcome!r} on turn {d.turn}, but conversation {conv!r} ends "
                    f"{rows[-1].outcome or 'with none'} (give it on the last row)",
                )
                break
        for d in rows[:-1]:
            if d.terminated or d.truncated:
                flag = "terminated" if d.terminated else "truncated"
                errors.add(d.row, flag, f"set on turn {d.turn}, but conversation {conv!r} goes on")
                break
        out.append(rows)
    errors.raise_if_any()
    return out


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
