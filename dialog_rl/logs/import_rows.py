"""Reading and checking the rows of ``dialog-rl logs import``: the user's file as ``Decision``s.

Every row is read (CSV, Parquet, JSONL) and checked against the schema (``dialog_rl.logs.schema``)
before anything is written; the first mistake is a ``LogImportError`` naming ``FILE:ROW:COLUMN``.
``dialog_rl.logs.importer`` builds the log from what this returns.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dialog_rl.logs.schema import OUTCOMES, required

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
