"""Hostile inputs for the scenario loader: mutations of a shipped scenario, files that are not
scenarios, hostile KB CSVs, and hypothesis strategies of YAML documents and schema-aware edits.

``scenario_fuzz`` (beside this file in ``tests/``) feeds them to the loader and judges each outcome. Randomness comes from
the ``numpy.random.Generator`` the caller hands down (or from hypothesis).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dialog_rl.scenario.loader import MAX_KB_BYTES, MAX_SCENARIO_BYTES

#: values of other types and hostile scalars that ``retype`` puts where a value was
ODD_VALUES = (
    "[]",
    "{}",
    "null",
    "~",
    "yes",
    "-1",
    "0",
    "-0.0",
    "1e999",
    "-1e999",
    ".nan",
    ".inf",
    "-.inf",
    "1e308",
    "-1e308",
    "5e-324",
    "99999999999999999999999999999999",
    "9" * 5000,
    "0x" + "f" * 4000,
    "'x'",
    '"\\0"',
    '"\\x07"',
    "2001-02-30",
    "12:30:45",
    "!!binary aGVsbG8=",
    "!!float 'x'",
    "!!int '1.5'",
    "!!python/object:os.system 'echo hi'",
    "!!set {a, b}",
    "!!omap [a: 1]",
    "[1, [2, [3, [4]]]]",
    "{a: {b: {c: {}}}}",
    "&anchor 3",
    "*nowhere",
    "<<: *nowhere",
    "é漢字🙂",
    "\u202eevil",
    "'" + "x" * 10_000 + "'",
    "|\n  block\n  text",
    "? complex\n: key",
    "- item",
    "{",
    "]",
    "@reserved",
    "`reserved",
    "%directive",
    "'unterminated",
    '"unterminated',
)

ALIAS_BOMB = "".join(
    [
        'bomb0: &b0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n',
        *(f"bomb{i}: &b{i} [{', '.join([f'*b{i - 1}'] * 9)}]\n" for i in range(1, 9)),
    ]
)


# -- mutations of a shipped scenario ------------------------------------------------------------


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def _content(lines: list[bytes]) -> list[int]:
    """Indices of lines that are not comments (a value edited inside a comment tests nothing)."""
    return [i for i, line in enumerate(lines) if not line.lstrip().startswith(b"#")]


def _pick(rng: np.random.Generator, n: int) -> int:
    return int(rng.integers(n)) if n > 0 else 0


def delete_line(data: bytes, rng: np.random.Generator) -> bytes:
    lines = _lines(data)
    del lines[_pick(rng, len(lines))]
    return b"\n".join(lines)


def duplicate_line(data: bytes, rng: np.random.Generator) -> bytes:
    lines = _lines(data)
    i = _pick(rng, len(lines))
    lines.insert(i, lines[i])
    return b"\n".join(lines)


def swap_lines(data: bytes, rng: np.random.Generator) -> bytes:
    lines = _lines(data)
    i, j = _pick(rng, len(lines)), _pick(rng, len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines)


def reindent_line(data: bytes, rng: np.random.Generator) -> bytes:
    lines = _lines(data)
    i = _pick(rng, len(lines))
    shift = int(rng.integers(-4, 5))
    lines[i] = b" " * max(shift, 0) + lines[i][max(-shift, 0) :]
    return b"\n".join(lines)


def retype_value(data: bytes, rng: np.random.Generator) -> bytes:
    """Replace the value after a ``key:`` (or a list item) with one of ``ODD_VALUES``."""
    lines = _lines(data)
    candidates = [i for i in _content(lines) if b": " in lines[i] or lines[i].strip()[:2] == b"- "]
    if not candidates:
        return data
    i = candidates[_pick(rng, len(candidates))]
    line = lines[i]
    value = ODD_VALUES[_pick(rng, len(ODD_VALUES))].encode()
    if b": " in line:
        cut = line.index(b": ") + 2
        lines[i] = line[:cut] + value
    else:
        cut = line.index(b"- ") + 2
        lines[i] = line[:cut] + value
    return b"\n".join(lines)


def retype_inline(data: bytes, rng: np.random.Generator) -> bytes:
    """Replace one number or word inside a line (flow mappings keep most values inline)."""
    tokens = [m for m in _token_spans(data)]
    if not tokens:
        return data
    start, end = tokens[_pick(rng, len(tokens))]
    value = ODD_VALUES[_pick(rng, len(ODD_VALUES))].encode()
    return data[:start] + value + data[end:]


def _token_spans(data: bytes) -> list[tuple[int, int]]:
    spans, start = [], None
    for i, c in enumerate(data + b" "):
        word = chr(c).isalnum() or c in b"._-"
        if word and start is None:
            start = i
        elif not word and start is not None:
            spans.append((start, i))
            start = None
    return spans


def truncate(data: bytes, rng: np.random.Generator) -> bytes:
    return data[: _pick(rng, len(data) + 1)]


def insert_bytes(data: bytes, rng: np.random.Generator) -> bytes:
    at = _pick(rng, len(data) + 1)
    junk = rng.integers(0, 256, size=int(rng.integers(1, 16)), dtype=np.uint8).tobytes()
    return data[:at] + junk + data[at:]


def flip_bytes(data: bytes, rng: np.random.Generator) -> bytes:
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 8))):
        if out:
            out[_pick(rng, len(out))] = int(rng.integers(0, 256))
    return bytes(out)


def insert_nul(data: bytes, rng: np.random.Generator) -> bytes:
    at = _pick(rng, len(data) + 1)
    return data[:at] + b"\x00" + data[at:]


def insert_unicode(data: bytes, rng: np.random.Generator) -> bytes:
    pool = ("é", "漢字", "🙂", "\u202e", "\ufeff", "\u2028", "\u0085", "\ud7ff", "\U0010ffff", "İ")
    at = _pick(rng, len(data) + 1)
    while at and (data[at - 1] & 0xC0) == 0x80:  # do not split a UTF-8 sequence
        at -= 1
    return data[:at] + pool[_pick(rng, len(pool))].encode() + data[at:]


def deep_nesting(data: bytes, rng: np.random.Generator) -> bytes:
    depth = int(rng.choice([30, 60, 400, 5000]))
    flow = b"[" * depth + b"1" + b"]" * depth
    if rng.random() < 0.5:
        flow = b"{a: " * depth + b"1" + b"}" * depth
    lines = _lines(data)
    candidates = [i for i in _content(lines) if b": " in lines[i]]
    if not candidates:
        return flow
    i = candidates[_pick(rng, len(candidates))]
    lines[i] = lines[i][: lines[i].index(b": ") + 2] + flow
    return b"\n".join(lines)


def huge_number(data: bytes, rng: np.random.Generator) -> bytes:
    digits = [b"1" + b"0" * int(rng.integers(10, 400)), b"9" * int(rng.integers(4300, 6000))]
    numbers = [*digits, b"1e" + str(int(rng.integers(300, 100_000))).encode(), b"-1e999"]
    lines = _lines(data)
    candidates = [i for i in _content(lines) if b": " in lines[i]]
    if not candidates:
        return data
    i = candidates[_pick(rng, len(candidates))]
    lines[i] = lines[i][: lines[i].index(b": ") + 2] + numbers[_pick(rng, len(numbers))]
    return b"\n".join(lines)


def anchors(data: bytes, rng: np.random.Generator) -> bytes:
    """Anchor a value and alias it elsewhere, alias an undefined anchor, recurse, or add a bomb."""
    lines = _lines(data)
    keyed = [i for i in _content(lines) if b": " in lines[i] and not lines[i].startswith(b" ")]
    kind = _pick(rng, 4)
    if kind == 0 and len(keyed) >= 2:
        i, j = sorted(rng.choice(keyed, size=2, replace=False).tolist())
        cut = lines[i].index(b": ") + 2
        lines[i] = lines[i][:cut] + b"&x " + lines[i][cut:]
        cut = lines[j].index(b": ") + 2
        lines[j] = lines[j][:cut] + b"*x"
    elif kind == 1 and keyed:
        i = keyed[_pick(rng, len(keyed))]
        lines[i] = lines[i][: lines[i].index(b": ") + 2] + b"*undefined"
    elif kind == 2:
        lines.append(b"loop: &loop [*loop, *loop]")
    else:
        lines.insert(0, ALIAS_BOMB.encode())
    return b"\n".join(lines)


MUTATIONS: tuple[Callable[[bytes, np.random.Generator], bytes], ...] = (
    delete_line,
    duplicate_line,
    swap_lines,
    reindent_line,
    retype_value,
    retype_inline,
    truncate,
    insert_bytes,
    flip_bytes,
    insert_nul,
    insert_unicode,
    deep_nesting,
    huge_number,
    anchors,
)


def mutate(data: bytes, rng: np.random.Generator, rounds: int | None = None) -> bytes:
    """Apply 1-3 random mutations (``rounds`` of them if given)."""
    for _ in range(rounds or int(rng.integers(1, 4))):
        data = MUTATIONS[_pick(rng, len(MUTATIONS))](data, rng)
    return data


def make_special_inputs(directory: Path) -> list[Path]:
    """Files (and non-files) that are not scenarios: each must be refused with a clear error."""
    d = directory
    d.mkdir(parents=True, exist_ok=True)
    out: list[Path] = []

    def put(name: str, data: bytes) -> Path:
        path = d / name
        path.write_bytes(data)
        out.append(path)
        return path

    rng = np.random.Generator(np.random.PCG64(7))
    put("empty.yaml", b"")
    put("spaces.yaml", b"   \n\n  \n")
    put("comment.yaml", b"# nothing here\n")
    put("random.bin", rng.integers(0, 256, size=4096, dtype=np.uint8).tobytes())
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(rng.integers(0, 256, 200, dtype=np.uint8))
    put("image.png", png)
    put("gzip.yaml.gz", b"\x1f\x8b\x08\x00" + bytes(rng.integers(0, 256, 100, dtype=np.uint8)))
    put("utf16.yaml", "name: x\nslots: {}\n".encode("utf-16"))
    put("latin1.yaml", "name: caf\xe9\n".encode("latin-1"))
    put("json_garbage.yaml", b'{"name": "x", "slots": [1, 2, {"a": }], ,}')
    put("json_ok.yaml", b'{"name": "x", "slots": {"informable": []}}')
    put("json_list.yaml", b"[1, 2, 3]")
    put("nul_only.yaml", b"\x00" * 64)
    put("crlf.yaml", b"name: x\r\nslots:\r\n  informable: []\r\n")
    put("two_docs.yaml", b"name: a\n---\nname: b\n")
    put("tabs.yaml", b"name:\tx\n\tslots: 1\n")
    put("bomb.yaml", ALIAS_BOMB.encode())
    put("recursive.yaml", b"a: &a [*a]\n")
    put("deep.yaml", b"[" * 100_000 + b"]" * 100_000)
    put("python_tag.yaml", b"name: !!python/object/apply:os.system ['echo pwned']\n")
    put("bad_date.yaml", b"name: 2001-02-30\n")
    put("long_int.yaml", b"name: " + b"7" * 5000 + b"\n")
    big = d / "oversized.yaml"
    with big.open("wb") as f:  # sparse: the size check must refuse it without reading it
        f.truncate(MAX_SCENARIO_BYTES + 1)
    out.append(big)
    (d / "a_directory.yaml").mkdir(exist_ok=True)
    out.append(d / "a_directory.yaml")
    out.append(d / "does_not_exist.yaml")
    unreadable = put("unreadable.yaml", b"name: x\n")
    unreadable.chmod(0)
    if hasattr(os, "mkfifo"):
        fifo = d / "fifo.yaml"
        if not fifo.exists():
            os.mkfifo(fifo)
        out.append(fifo)
    if Path("/dev/zero").exists():
        link = d / "zero.yaml"
        if not link.exists():
            link.symlink_to("/dev/zero")
        out.append(link)
    loop = d / "loop.yaml"
    if not loop.is_symlink():
        loop.symlink_to(loop.name)
    out.append(loop)
    return out


def kb_special_inputs(directory: Path, scenario_text: str, kb_name: str) -> list[Path]:
    """Scenarios whose KB CSV is hostile (oversized, binary, a directory, malformed CSV)."""
    out = []
    cases: dict[str, bytes | None] = {
        "kb_binary": b"\x89PNG\r\n\x1a\n\x00\x00",
        "kb_empty": b"",
        "kb_header_only": b"name,category\n",
        "kb_ragged": b"name,category\nx\n",
        "kb_huge_field": b"name\n" + b"x" * 200_000 + b"\n",
        "kb_nul": b"name\nab\x00c\n",
        "kb_quote": b'name\n"unterminated\n',
        "kb_dir": None,
        "kb_oversized": b"",
    }
    for name, data in cases.items():
        sub = directory / name
        sub.mkdir(parents=True, exist_ok=True)
        kb = sub / kb_name
        if data is None:
            kb.mkdir(exist_ok=True)
        elif name == "kb_oversized":
            with kb.open("wb") as f:
                f.truncate(MAX_KB_BYTES + 1)
        else:
            kb.write_bytes(data)
        path = sub / "scenario.yaml"
        path.write_text(scenario_text)
        out.append(path)
    return out


# -- hypothesis strategies ---------------------------------------------------------------------


def yaml_values(max_leaves: int = 12):
    """A hypothesis strategy of values YAML can hold: scalars (NaN, inf, huge ints, unicode,
    NUL) nested in lists and string-keyed dicts."""
    from hypothesis import strategies as st

    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=-(10**40), max_value=10**40),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
        st.sampled_from(["", "0", "1.5", "yes", "null", "{", "*a", "&a", "{name}", "{x!r:>{y}}"]),
    )
    return st.recursive(
        scalars,
        lambda kids: st.one_of(
            st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=8), kids, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def scenario_edits(base: dict):
    """A hypothesis strategy of copies of ``base`` with 1-3 subtrees replaced, deleted or added.

    Edits land where the schema looks (a field of a slot, an action, a persona), so they reach
    pydantic, the cross-reference checks and the compiler rather than stopping at the parser.
    """
    from hypothesis import strategies as st

    paths = list(_paths(base))

    @st.composite
    def edited(draw):
        data = _copy(base)
        for _ in range(draw(st.integers(1, 3))):
            path = draw(st.sampled_from(paths))
            how = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
            value = draw(yaml_values())
            _edit(data, path, how, value, draw(st.text(min_size=1, max_size=8)))
        return data

    return edited()


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


def _copy(node):
    if isinstance(node, dict):
        return {k: _copy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_copy(v) for v in node]
    return node


def _edit(data, path: tuple, how: str, value, new_key: str) -> None:
    if not path:
        return
    parent = data
    for part in path[:-1]:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return  # an earlier edit removed the way there
    last = path[-1]
    try:
        if how == "replace":
            parent[last] = value
        elif how == "delete":
            del parent[last]
        elif isinstance(parent, dict):
            parent[new_key] = value
        elif isinstance(parent, list):
            parent.insert(int(last), value)
    except (KeyError, IndexError, TypeError):
        return
