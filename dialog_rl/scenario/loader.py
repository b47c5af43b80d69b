"""Load a scenario file: YAML to validated pydantic models, with errors that name file, line, field.

Pydantic's errors carry a ``loc`` (the dotted path to the field) but no line, so the loader keeps
the composed YAML node tree and walks it along ``loc`` to find where the field was written.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from dialog_rl.scenario.schema import Scenario, ScenarioRefError, check_references

MAX_SCENARIO_BYTES = 2_000_000
MAX_KB_BYTES = 50_000_000
MAX_EXPANDED_NODES = 1_000_000


class ScenarioError(Exception):
    """A mistake in a scenario file (or its KB), located by file, line and field path."""

    def __init__(self, path: Path | str, line: int | None, field: str, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.message}"


@dataclass(frozen=True)
class LoadedScenario:
    """A validated scenario plus its KB rows and the content hash of its files."""

    scenario: Scenario
    kb_rows: list[dict[str, str]]
    path: Path
    content_hash: str


def load_scenario(path: str | Path) -> LoadedScenario:
    """Read, parse and validate a scenario file and its knowledge base."""
    path = Path(path)
    raw = _read_bytes(path, MAX_SCENARIO_BYTES)
    text = _decode(path, raw)
    node, data = _parse(path, text)
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise ScenarioError(
            path, 1, "", f"a scenario must be a YAML mapping, but this file is {kind}"
        )
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        loc = tuple(first["loc"])
        raise ScenarioError(path, _line_of(node, loc), _dotted(loc), _message(first)) from None
    try:
        check_references(scenario)
    except ScenarioRefError as err:
        raise ScenarioError(path, _line_of(node, err.loc), _dotted(err.loc), err.message) from None

    digest = hashlib.sha256(raw)
    if scenario.kb.file is not None:
        kb_path = path.parent / scenario.kb.file
        kb_raw = _read_bytes(kb_path, MAX_KB_BYTES, referenced_by=(path, _line_of(node, ("kb",))))
        digest.update(kb_raw)
        rows, lines = _read_csv(kb_path, _decode(kb_path, kb_raw))
        kb_file: Path = kb_path
    else:
        rows = [{k: str(v) for k, v in row.items()} for row in scenario.kb.entities or []]
        lines = [_line_of(node, ("kb", "entities", i)) for i in range(len(rows))]
        kb_file = path
    _check_kb(scenario, rows, lines, kb_file, inline=scenario.kb.file is None)
    return LoadedScenario(scenario, rows, path, digest.hexdigest())


def _read_bytes(
    path: Path, limit: int, referenced_by: tuple[Path, int | None] | None = None
) -> bytes:
    try:
        size = path.stat().st_size
        if size > limit:
            raise ScenarioError(path, None, "", f"file is {size} bytes; the limit is {limit}")
        return path.read_bytes()
    except FileNotFoundError:
        if referenced_by is not None:
            src, line = referenced_by
            raise ScenarioError(src, line, "kb.file", f"file not found: {path}") from None
        raise ScenarioError(path, None, "", "file not found") from None
    except IsADirectoryError:
        raise ScenarioError(path, None, "", "is a directory, not a scenario file") from None
    except PermissionError:
        raise ScenarioError(path, None, "", "permission denied") from None


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ScenarioError(path, line, "", "not UTF-8 text") from None


def _parse(path: Path, text: str) -> tuple[yaml.Node | None, object]:
    """The YAML node tree (for line numbers) and the plain data built from it."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = err.problem or err.context
        raise ScenarioError(path, line, "", f"YAML syntax error: {problem}") from None
    except yaml.YAMLError as err:
        raise ScenarioError(path, None, "", f"YAML error: {err}") from None
    # A "billion laughs" file is a few lines of aliases that expand exponentially: measure the
    # expanded size on the shared node graph before anything walks it.
    size = _expanded_size(node, {})
    if size > MAX_EXPANDED_NODES:
        raise ScenarioError(
            path, None, "", f"YAML aliases expand to {size:,} nodes (limit {MAX_EXPANDED_NODES:,})"
        )
    if node is None:
        return None, None
    try:
        return node, loader.construct_document(node)
    except yaml.YAMLError as err:
        raise ScenarioError(path, None, "", f"YAML error: {err}") from None
    finally:
        loader.dispose()


def _expanded_size(node: yaml.Node | None, memo: dict[int, int]) -> int:
    if node is None:
        return 0
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 1  # guards against recursive aliases
    if isinstance(node, yaml.MappingNode):
        total = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        total = 1 + sum(_expanded_size(v, memo) for v in node.value)
    else:
        total = 1
    memo[key] = total
    return total


def _line_of(node: yaml.Node | None, loc: tuple[str | int, ...]) -> int | None:
    """The 1-based line where the field at ``loc`` is written (or its nearest written parent)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if str(key.value) == str(part):
                    line = key.start_mark.line + 1
                    node = value
                    break
            else:
                return line
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(error: dict) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key (check the spelling; see `dialog-rl validate --help` for the format)"
    if error["type"] == "missing":
        return "required field is missing"
    msg = error["msg"]
    return msg.removeprefix("Value error, ")


def _read_csv(path: Path, text: str) -> tuple[list[dict[str, str]], list[int]]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise ScenarioError(path, 1, "", "the KB file is empty") from None
    except csv.Error as err:
        raise ScenarioError(path, 1, "", f"CSV error: {err}") from None
    rows, lines = [], []
    try:
        for record in reader:
            if not record:
                continue
            if len(record) != len(header):
                raise ScenarioError(
                    path,
                    reader.line_num,
                    "",
                    f"{len(record)} columns, the header has {len(header)}",
                )
            rows.append(dict(zip(header, record)))
            lines.append(reader.line_num)
    except csv.Error as err:
        raise ScenarioError(path, reader.line_num, "", f"CSV error: {err}") from None
    if not rows:
        raise ScenarioError(path, 1, "", "the KB file has a header but no rows")
    return rows, lines


def _check_kb(
    scenario: Scenario, rows: list[dict[str, str]], lines: list, kb_file: Path, inline: bool
) -> None:
    informable = {s.name: s for s in scenario.slots.informable}
    known = (
        set(informable) | {s.name for s in scenario.slots.requestable} | {scenario.kb.name_field}
    )
    for i, (row, line) in enumerate(zip(rows, lines)):
        where = f"kb.entities[{i}]" if inline else f"row {i + 1}"
        for key, value in row.items():
            if key not in known:
                raise ScenarioError(kb_file, line, f"{where}.{key}", "not a declared slot")
            slot = informable.get(key)
            if slot is not None and slot.values is not None and value not in slot.values:
                raise ScenarioError(
                    kb_file, line, f"{where}.{key}", f"{value!r} is not one of the slot's values"
                )
        if scenario.kb.name_field not in row:
            raise ScenarioError(kb_file, line, where, f"no {scenario.kb.name_field!r} column")
