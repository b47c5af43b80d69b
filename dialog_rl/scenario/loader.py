# Whole on purpose: one pipeline, bytes to YAML nodes to pydantic to an error at its line.
"""Load a scenario file: YAML to validated pydantic models, with errors that name file, line, field.

Pydantic's errors carry a ``loc`` (the dotted path to the field) but no line, so the loader keeps
the composed YAML node tree and walks it along ``loc`` to find where the field was written.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from dialog_rl.scenario.checks import Part, ScenarioRefError, check_references, parts
from dialog_rl.scenario.overlay import MAX_EXTENDS, merge_data, merge_nodes, written_at
from dialog_rl.scenario.schema import Scenario
from dialog_rl.shipped import shipped_scenarios

#: limits on what is read, each refused with a ScenarioError before the work it would cost:
#: file sizes (checked on stat, and the read is capped), nodes after alias expansion ("billion
#: laughs"), and nesting depth (PyYAML and pydantic recurse; shipped scenarios nest 7 deep)
MAX_SCENARIO_BYTES = 2_000_000
MAX_KB_BYTES = 50_000_000
MAX_EXPANDED_NODES = 1_000_000
MAX_DEPTH = 50


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
        # one line, whatever a YAML library or a key put in the message
        return f"{where}:{field} {' '.join(self.message.splitlines())}"


@dataclass(frozen=True)
class LoadedScenario:
    """A validated scenario plus its KB rows and the content hash of its files."""

    scenario: Scenario
    kb_rows: list[dict[str, str]]
    path: Path
    content_hash: str
    part_rows: tuple[list[dict[str, str]], ...] = ()
    """Each domain's rows (``kb_rows`` is them all, domain after domain)."""
    bases: tuple[str, ...] = ()
    """The names of the scenarios this one extends, the nearest first (an overlay's)."""


def resolve_scenario(name_or_path: str | Path) -> Path:
    """A scenario file: ``name_or_path`` itself if it exists, else the shipped scenario it names.

    ``restaurant``, ``restaurant.yaml`` and ``order-support`` name shipped scenarios wherever the
    command runs; a file of that name in the working directory wins. Anything else is returned
    as given, so the loader reports it as not found.
    """
    path = Path(name_or_path)
    if path.exists() or len(path.parts) != 1:
        return path
    stem = path.name.removesuffix(".yaml").removesuffix(".yml").replace("-", "_")
    return shipped_scenarios().get(stem, path)


def load_scenario(path: str | Path, kb_roots: Sequence[str | Path] = ()) -> LoadedScenario:
    """Read, parse and validate a scenario file (or a shipped scenario's name) and its KB.

    Args:
        path: the scenario YAML file, or a shipped scenario's name.
        kb_roots: folders besides the scenario's own where its ``kb.file`` may be (``--kb-root``).
            A scenario may come from someone else: the files it names must resolve, symlinks
            followed, inside one of these, or they are refused without being opened.
    """
    given = path
    path = resolve_scenario(path)
    if not path.exists() and len(path.parts) == 1 and path.suffix not in (".yaml", ".yml"):
        # a bare name that is no shipped scenario (a missing *.yaml is just "file not found")
        names = ", ".join(shipped_scenarios()) or "none installed"
        raise ScenarioError(
            given, None, "", f"no such file, nor a shipped scenario (shipped: {names})"
        )
    raw = _read_bytes(path, MAX_SCENARIO_BYTES)
    node, data = _parse_file(path, raw)
    digest = hashlib.sha256(raw)
    bases: list[str] = []
    node, data = _extend(path, node, data, kb_roots, digest, (os.path.realpath(path),), bases)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        raise _error_at(path, node, tuple(first["loc"]), _message(first)) from None
    try:
        check_references(scenario)
    except ScenarioRefError as err:
        raise _error_at(path, node, err.loc, err.message) from None

    part_rows = tuple(_load_kb(path, node, part, kb_roots, digest) for part in parts(scenario))
    rows = [row for rs in part_rows for row in rs]
    return LoadedScenario(scenario, rows, path, digest.hexdigest(), part_rows, tuple(bases))


def _error_at(path: Path, node, loc: tuple[str | int, ...], message: str) -> ScenarioError:
    """An error in the field at ``loc``, named by the file that wrote it (an overlay's, or the
    scenario's it extends) and its line there."""
    return ScenarioError(written_at(node, loc, path), _line_of(node, loc), _dotted(loc), message)


def _parse_file(path: Path, raw: bytes) -> tuple[yaml.Node | None, dict]:
    """One scenario file's node tree and data (a mapping, or a ScenarioError)."""
    node, data = _parse(path, _decode(path, raw))
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise ScenarioError(
            path, 1, "", f"a scenario must be a YAML mapping, but this file is {kind}"
        )
    return node, data


def _extend(path: Path, node, data: dict, kb_roots, digest, chain: tuple[str, ...], bases: list):
    """The scenario ``path`` extends (if any) with this file's keys over it: node tree and data
    (``dialog_rl.scenario.overlay``); the base's bytes go into ``digest``, its name (if it has
    one) into ``bases``."""
    if "extends" not in data:
        return node, data
    name = data["extends"]
    line = _line_of(node, ("extends",))
    if not isinstance(name, str) or not name.strip():
        raise ScenarioError(path, line, "extends", "give the file this one extends, e.g. base.yaml")
    if len(chain) >= MAX_EXTENDS:
        raise ScenarioError(
            path, line, "extends", f"more than {MAX_EXTENDS} files extend each other"
        )
    base = _base_of(path, line, name, kb_roots)
    real = os.path.realpath(base)
    if real in chain:
        raise ScenarioError(path, line, "extends", f"{name!r} extends this file in turn (a loop)")
    raw = _read_bytes(base, MAX_SCENARIO_BYTES, referenced_by=(path, line, "extends"))
    digest.update(raw)
    base_node, base_data = _parse_file(base, raw)
    if isinstance(base_data.get("name"), str):
        bases.append(base_data["name"])
    base_node, base_data = _extend(
        base, base_node, base_data, kb_roots, digest, (*chain, real), bases
    )
    return merge_nodes(base_node, node), merge_data(base_data, data)


def _base_of(path: Path, line: int | None, name: str, kb_roots) -> Path:
    """The file ``extends: name`` names: beside ``path`` (or in a --kb-root), or else a shipped
    scenario by name (``restaurant``, ``restaurant.yaml``)."""
    beside = path.parent / name
    if not beside.exists() and len(Path(name).parts) == 1:
        stem = Path(name).name.removesuffix(".yaml").removesuffix(".yml").replace("-", "_")
        shipped = shipped_scenarios().get(stem)
        if shipped is not None:
            return shipped
    return _contained(path, line, "extends", name, kb_roots)


def _load_kb(path: Path, node, part: Part, kb_roots, digest) -> list[dict[str, str]]:
    """One domain's KB rows, checked against its slots (its file's bytes go into ``digest``).

    ``kb.file`` is relative to the file that wrote it (an overlay's base, say)."""
    loc = part.loc
    if part.kb.file is not None:
        kb_line = _line_of(node, (*loc, "kb", "file")) or _line_of(node, (*loc, "kb"))
        field = _dotted((*loc, "kb", "file"))
        owner = written_at(node, (*loc, "kb", "file"), path)
        kb_path = _contained(owner, kb_line, field, part.kb.file, kb_roots)
        kb_raw = _read_bytes(kb_path, MAX_KB_BYTES, referenced_by=(owner, kb_line, "kb.file"))
        digest.update(kb_raw)
        rows, lines = _read_csv(kb_path, _decode(kb_path, kb_raw))
        kb_file: Path = kb_path
    else:
        rows = [_entity_text(path, node, i, row, loc) for i, row in enumerate(part.kb.entities)]
        lines = [_line_of(node, (*loc, "kb", "entities", i)) for i in range(len(rows))]
        kb_file = written_at(node, (*loc, "kb", "entities"), path)
    _check_kb(part, rows, lines, kb_file, inline=part.kb.file is None)
    for i, slot in enumerate(part.slots.informable):
        if slot.values is None and not any(row.get(slot.name) for row in rows):
            where = (*loc, "slots", "informable", i, "name")
            raise _error_at(
                path,
                node,
                where,
                f"slot {slot.name!r} has no values: list `values` or fill its KB column",
            )
    return rows


def _contained(
    scenario: Path, line: int | None, field: str, name: str, roots: Sequence[str | Path]
) -> Path:
    """``name`` (relative to the scenario's folder) if it resolves, symlinks followed, inside
    the scenario's folder or one of ``roots``; otherwise a ``ScenarioError`` at ``field``.

    Only names are resolved (``realpath`` reads links, never opens a file), so a path outside
    (``/etc/passwd``, a FIFO that would block, a device) is refused before anything opens it.
    """
    if "\x00" in name:
        raise ScenarioError(scenario, line, field, "the file name contains a NUL byte")
    folder = Path(os.path.realpath(scenario.parent))
    allowed = [folder, *(Path(os.path.realpath(r)) for r in roots)]
    target = Path(os.path.realpath(scenario.parent / name))
    if any(target == root or root in target.parents for root in allowed):
        return scenario.parent / name
    where = "the scenario's folder" + (" or a --kb-root" if roots else "")
    raise ScenarioError(
        scenario,
        line,
        field,
        f"{name!r} is outside {where} ({folder}); a scenario may only read files beside it "
        "(pass --kb-root DIR to allow another folder)",
    )


def _read_bytes(
    path: Path, limit: int, referenced_by: tuple[Path, int | None, str] | None = None
) -> bytes:
    """The file's bytes, refusing anything that is not a regular file of at most ``limit`` bytes.

    The size is checked on ``stat`` first and the read is capped at ``limit + 1`` bytes, so a
    file that lies about its size (``/dev/zero``, a growing file) is never read past the limit,
    and a FIFO is refused before ``open`` can block on it.
    """
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise ScenarioError(path, None, "", "is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise ScenarioError(path, None, "", "is not a regular file (a device, FIFO or socket)")
        if info.st_size > limit:
            raise ScenarioError(
                path, None, "", f"file is {info.st_size:,} bytes; the limit is {limit:,}"
            )
        with path.open("rb") as f:
            raw = f.read(limit + 1)
    except FileNotFoundError:
        if referenced_by is not None:
            src, line, field = referenced_by
            raise ScenarioError(src, line, field, f"file not found: {path}") from None
        raise ScenarioError(path, None, "", "file not found") from None
    except IsADirectoryError:
        raise ScenarioError(path, None, "", "is a directory, not a file") from None
    except PermissionError:
        raise ScenarioError(path, None, "", "permission denied") from None
    except ValueError:  # a NUL byte in the name (from a `kb.file` string)
        raise ScenarioError(path, None, "", "the file name contains a NUL byte") from None
    except OSError as err:  # a name too long, a loop of symlinks, an I/O error
        raise ScenarioError(path, None, "", f"cannot read: {err.strerror or err}") from None
    if len(raw) > limit:
        raise ScenarioError(path, None, "", f"file is over the limit of {limit:,} bytes")
    return raw


def _decode(path: Path, raw: bytes) -> str:
    """UTF-8 text; binary files (NUL bytes, PNGs, archives) are refused by name, not parsed."""
    nul = raw.find(b"\x00")
    if nul >= 0:
        line = raw[:nul].count(b"\n") + 1
        raise ScenarioError(path, line, "", "binary data (a NUL byte): not a text file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ScenarioError(path, line, "", "not UTF-8 text (a binary file?)") from None
    return text.removeprefix("\ufeff")


def _parse(path: Path, text: str) -> tuple[yaml.Node | None, object]:
    """The YAML node tree (for line numbers) and the plain data built from it."""
    loader = None
    try:
        try:
            loader = _DepthLimitedLoader(text)  # its reader checks every character here
            loader.name = str(path)  # every node's mark names its file (overlays merge files)
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as err:
            raise _syntax_error(path, err) from None
        except yaml.reader.ReaderError as err:
            line = text[: err.position].count("\n") + 1
            char = f"U+{err.character:04X}" if isinstance(err.character, int) else "a character"
            raise ScenarioError(path, line, "", f"{char} is not allowed in a YAML file") from None
        except yaml.YAMLError as err:
            raise ScenarioError(path, None, "", f"YAML error: {err}") from None
        except _TooDeep as err:
            raise ScenarioError(
                path, err.line, "", f"YAML nested more than {MAX_DEPTH} levels deep"
            ) from None
        except RecursionError:  # belt and braces: the composer stops at MAX_DEPTH first
            raise ScenarioError(path, None, "", "YAML nested too deeply") from None
        # A "billion laughs" file is a few lines of aliases that expand exponentially: measure
        # the expanded size on the shared node graph before anything walks it.
        size, depth = _expanded_size(node)
        if size > MAX_EXPANDED_NODES:
            raise ScenarioError(
                path,
                None,
                "",
                f"YAML aliases expand to {size:,} nodes (limit {MAX_EXPANDED_NODES:,})",
            )
        if depth > MAX_DEPTH:
            raise ScenarioError(
                path, None, "", f"YAML nested {depth} levels deep (limit {MAX_DEPTH})"
            )
        if node is None:
            return None, None
        duplicate = _duplicate_key(node)
        if duplicate is not None:
            loc, line, first = duplicate
            message = f"given twice (first on line {first}): YAML would keep only this one"
            raise ScenarioError(path, line, _dotted(loc), message)
        try:
            return node, loader.construct_document(node)
        except yaml.MarkedYAMLError as err:
            raise _syntax_error(path, err) from None
        except yaml.YAMLError as err:
            raise ScenarioError(path, None, "", f"YAML error: {err}") from None
        except (ValueError, OverflowError, TypeError) as err:
            # a scalar that matches a YAML type but is no valid value of it: 2001-02-30, an
            # integer of 10,000 digits, !!float "x"
            line = _bad_scalar_line(node)
            raise ScenarioError(path, line, "", f"bad YAML value: {err}") from None
    finally:
        if loader is not None:
            loader.dispose()


class _TooDeep(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


class _DepthLimitedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, stopping at MAX_DEPTH nested collections as it composes.

    The composer recurses once per level: without a limit a file of 100,000 ``[`` costs a second
    of parsing before Python's recursion limit ends it.
    """

    _depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooDeep(self.peek_event().start_mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _syntax_error(path: Path, err: yaml.MarkedYAMLError) -> ScenarioError:
    mark = err.problem_mark or err.context_mark
    line = mark.line + 1 if mark is not None else None
    problem = err.problem or err.context
    return ScenarioError(path, line, "", f"YAML syntax error: {problem}")


def _bad_scalar_line(root: yaml.Node) -> int | None:
    """The line of the first scalar that the safe constructor cannot build, if one can be found."""
    constructor = yaml.SafeLoader("")
    for node, _ in _walk(root):
        if isinstance(node, yaml.ScalarNode):
            try:
                constructor.construct_object(node, deep=True)
            except (yaml.YAMLError, ValueError, OverflowError, TypeError):
                return node.start_mark.line + 1
    return None


def _duplicate_key(root: yaml.Node) -> tuple[tuple[str | int, ...], int, int] | None:
    """(where, its line, the first one's line) of the first key a mapping repeats, else None.

    Why: YAML loaders keep the last of two equal keys without a word, so a pasted block would
    silently replace the setting above it.
    """
    for node, loc in _walk(root):
        if not isinstance(node, yaml.MappingNode):
            continue
        first: dict[str, int] = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                continue
            line = key.start_mark.line + 1
            if key.value in first:
                return (*loc, key.value), line, first[key.value]
            first[key.value] = line
    return None


def _walk(root: yaml.Node):
    """Every node once, in document order, with where it is (keys and list indices)."""
    seen, stack = set(), [(root, ())]
    while stack:
        node, loc = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node, loc
        if isinstance(node, yaml.MappingNode):
            for k, v in reversed(node.value):
                where = (*loc, k.value if isinstance(k, yaml.ScalarNode) else "?")
                stack += [(v, where), (k, where)]
        elif isinstance(node, yaml.SequenceNode):
            stack += [(v, (*loc, i)) for i, v in reversed(list(enumerate(node.value)))]


def _expanded_size(root: yaml.Node | None) -> tuple[int, int]:
    """Nodes in the fully expanded document (aliases counted every time), and its depth.

    Iterative (a post-order walk with a memo per shared node), so neither a deep file nor an
    alias graph can exhaust the Python stack; a recursive alias counts once.
    """
    if root is None:
        return 0, 0
    memo: dict[int, tuple[int, int]] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in memo and not children_done:
            continue
        kids = _children(node)
        if not children_done:
            memo[key] = (1, 1)  # provisional: guards against recursive aliases
            stack.append((node, True))
            stack += [(k, False) for k in kids if id(k) not in memo]
            continue
        size = 1 + sum(memo[id(k)][0] for k in kids)
        depth = 1 + max((memo[id(k)][1] for k in kids), default=0)
        memo[key] = (min(size, MAX_EXPANDED_NODES + 1), depth)
    return memo[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _entity_text(
    path: Path, node: yaml.Node, i: int, row: dict, at: tuple[str | int, ...] = ()
) -> dict[str, str]:
    """An inline KB row as text (values may be YAML numbers)."""
    out = {}
    for key, value in row.items():
        try:
            out[key] = str(value)
        except ValueError:  # an int past Python's 4300-digit str() limit
            loc = (*at, "kb", "entities", i, key)
            raise ScenarioError(
                path, _line_of(node, loc), _dotted(loc), "number too long to be a value"
            ) from None
    return out


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
        out += _key(part, first=not out)
    return out


def _key(part: str | int, first: bool = False) -> str:
    """One step of a field path: ``.name``, ``[3]``, or ``['odd key']`` for a key that is not a
    plain name (a newline in a key must not break the one-line message)."""
    if isinstance(part, int):
        return f"[{part}]"
    text = str(part)
    if text == "[key]":  # pydantic's marker: the error is in a dict's key, not its value
        return text
    if text.replace("-", "_").isidentifier():
        return text if first else f".{text}"
    return f"[{text!r}]"


def _message(error: dict) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key (check the spelling; see `dialog-rl validate --help` for the format)"
    if error["type"] == "missing":
        return "required field is missing (`dialog-rl validate --help` lists every key)"
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
    part: Part, rows: list[dict[str, str]], lines: list, kb_file: Path, inline: bool
) -> None:
    informable = {s.name: s for s in part.slots.informable}
    known = set(informable) | {s.name for s in part.slots.requestable} | {part.kb.name_field}
    for i, (row, line) in enumerate(zip(rows, lines)):
        where = f"{_dotted((*part.loc, 'kb', 'entities', i))}" if inline else f"row {i + 1}"
        for key, value in row.items():
            if key not in known:
                raise ScenarioError(kb_file, line, where + _key(key), "not a declared slot")
            slot = informable.get(key)
            if slot is not None and slot.values is not None and value not in slot.values:
                raise ScenarioError(
                    kb_file, line, where + _key(key), f"{value!r} is not one of the slot's values"
                )
        if part.kb.name_field not in row:
            raise ScenarioError(kb_file, line, where, f"no {part.kb.name_field!r} column")
