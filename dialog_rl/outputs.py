"""Where a command may write, and what ``--force`` may replace.

Everything dialog-rl writes carries its stamp, ``"made_by": "dialog-rl KIND"``: in the
``summary.json`` of a simulate run or a ``logs import``, the ``run.json`` of a training run, the
``session.json`` of a TUI save, the JSON reports, as a marker in the XML and Markdown reports,
and as a ``made_by`` array in the ``.npz`` files of ``logs export``. An existing output is
replaced (``--force``, a report written again, a TUI save into its own folder) only when its
stamp says dialog-rl made it for that kind of output and, for a directory, everything in it is a
file that kind of output holds. Anything else is refused in one line, before anything is
touched: a command never deletes or overwrites what it did not write.

Some places are never replaced, whatever they hold: the current directory and the directories
above it, a home directory and the directories above it, ``/``, and a directory holding ``.git``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

#: the key of the stamp in the JSON files dialog-rl writes
STAMP_KEY = "made_by"
#: the comment a stamped text report (XML, Markdown) holds on one of its first two lines
MARKER = "<!-- written by dialog-rl {kind} -->"
#: stamped JSON is read whole to check its stamp: bigger files are not ours to replace
MAX_STAMPED_BYTES = 64 * 1024 * 1024
#: a directory with more entries than this is not a run directory (and is not walked further)
MAX_ENTRIES = 1_000_000

_TMP = r"\.[^/]+\.(?:tmp|old)-\d+(?:\.\w+)?"


class OutputError(ValueError):
    """An output place a command may not write or replace (reported in one line, exit 2)."""


def stamp(kind: str) -> dict[str, str]:
    """The stamp to merge into the top level of a JSON file dialog-rl writes."""
    return {STAMP_KEY: f"dialog-rl {kind}"}


def marker(kind: str) -> str:
    """The text a stamped XML or Markdown report holds in its first comment."""
    return MARKER.format(kind=kind)


@dataclass(frozen=True)
class Layout:
    """What one kind of output directory holds: the file that carries its stamp, and regular
    expressions for every file and directory (relative POSIX paths) it may hold."""

    kind: str
    stamp_file: str
    files: re.Pattern[str]
    dirs: re.Pattern[str]
    legacy: tuple[str, ...] = ()
    """Top-level keys that identify the stamp file of a version that wrote no stamp."""

    def made_by_us(self, directory: Path) -> bool:
        data = read_json_dict(directory / self.stamp_file)
        if data is None:
            return False
        if data.get(STAMP_KEY) == f"dialog-rl {self.kind}":
            return True
        return bool(self.legacy) and STAMP_KEY not in data and all(k in data for k in self.legacy)


SIMULATE = Layout(
    "simulate",
    "summary.json",
    re.compile(
        rf"\.lock|summary\.json|log/part-\d{{5}}\.parquet|progress/part-\d{{5}}\.json"
        rf"|(?:(?:log|progress)/)?{_TMP}"
    ),
    re.compile(r"log|progress"),
    legacy=("dialog_rl_version", "run", "scenario_hash"),
)
TRAIN = Layout(
    "train",
    "run.json",
    re.compile(
        rf"\.lock|run\.json|summary\.json|curve\.csv|curve\.png"
        rf"|(?:(?:checkpoints/)?(?:ep-\d{{9}}|{_TMP})|final)/policy\.(?:safetensors|json)"
        rf"|(?:checkpoints/)?{_TMP}"
    ),
    re.compile(rf"checkpoints|checkpoints/ep-\d{{9}}|final|(?:checkpoints/)?{_TMP}"),
    legacy=("config", "scenario", "command"),
)
TUI = Layout(
    "tui",
    "session.json",
    re.compile(
        r"session\.json|(?:conversation|lifetime)-\d+-\d+\.(?:json|md)|demos\.parquet"
        rf"|(?:log|\.log\.tmp)/(?:part-\d{{5}}\.parquet|{_TMP})|{_TMP}|\.[^/]+\.tmp"
    ),
    re.compile(r"log|\.log\.tmp"),
    legacy=("version", "scenario_hash", "history", "demos"),
)
LOGS_IMPORT = Layout(
    "logs-import",
    "summary.json",
    re.compile(rf"\.lock|summary\.json|conversations\.csv|log/part-00000\.parquet|(?:log/)?{_TMP}"),
    re.compile(r"log"),
)


def read_json_dict(path: Path) -> dict | None:
    """``path`` as a JSON object if it is a regular file of reasonable size holding one."""
    try:
        info = path.lstat()
        if not path.is_file() or path.is_symlink() or info.st_size > MAX_STAMPED_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def protected_reason(path: str | Path) -> str | None:
    """Why ``path`` may never be replaced (None if it may be, given the right stamp)."""
    p = Path(os.path.abspath(path))
    real = Path(os.path.realpath(path))
    cwd = Path.cwd().resolve()
    homes = {Path.home().resolve()}
    home_parents = {Path("/home"), Path("/Users")}
    for q in (p, real):
        if q == Path(q.anchor):
            return "it is the root directory"
        if q == cwd or q in cwd.parents:
            return "it is the current directory or holds it"
        if q in home_parents or q.parent in home_parents:
            return "it is a home directory or holds one"
        for home in homes:
            if q == home or q in home.parents:
                return "it is a home directory or holds one"
        if (q / ".git").exists():
            return "it holds .git (a repository)"
    return None


def unexpected_entry(directory: Path, layout: Layout) -> str | None:
    """The first entry of ``directory`` (relative path) that ``layout`` does not hold, if any.

    Symbolic links are never part of an output (dialog-rl makes none), so any link is
    unexpected; the walk does not follow them.
    """
    seen = 0
    for top, dirs, files in os.walk(directory, followlinks=False):
        rel_top = Path(top).relative_to(directory)
        for name in sorted(dirs) + sorted(files):
            seen += 1
            rel = (rel_top / name).as_posix()
            full = Path(top) / name
            if seen > MAX_ENTRIES:
                return rel
            if full.is_symlink():
                return rel
            pattern = layout.dirs if name in dirs else layout.files
            if not pattern.fullmatch(rel):
                return rel
    return None


def check_replaceable_directory(path: str | Path, layout: Layout, flag: str = "--out") -> None:
    """Raise ``OutputError`` unless ``path`` is a directory dialog-rl made for ``layout``'s kind
    of output and holds nothing else (what ``--force`` may replace)."""
    p = Path(path)
    why = protected_reason(p)
    if why is not None:
        raise OutputError(f"{flag} {p}: refusing to replace it: {why}; choose another {flag}")
    if p.is_symlink() or not p.is_dir():
        kind = "a symbolic link" if p.is_symlink() else "a file"
        raise OutputError(
            f"{flag} {p} is {kind}, not a dialog-rl {layout.kind} directory; --force replaces "
            f"only what dialog-rl made: choose another {flag}"
        )
    if not layout.made_by_us(p):
        raise OutputError(
            f"{flag} {p} was not made by dialog-rl {layout.kind} (no stamped "
            f"{layout.stamp_file}); --force replaces only what dialog-rl made: choose another "
            f"{flag} or move its contents away"
        )
    stray = unexpected_entry(p, layout)
    if stray is not None:
        raise OutputError(
            f"{flag} {p} holds {stray}, which dialog-rl {layout.kind} did not write; --force "
            f"replaces only what dialog-rl made: move it away or choose another {flag}"
        )


def clear_directory(path: str | Path, layout: Layout) -> None:
    """Delete what ``layout``'s kind of output wrote in ``path`` (its lock file stays).

    Checks again first (``check_replaceable_directory``), so what the check and the deletion
    see cannot differ by more than the instant between them; it deletes entry by entry, files
    first, and only entries the layout names.
    """
    check_replaceable_directory(path, layout)
    root = Path(path)
    for top, dirs, files in os.walk(root, topdown=False, followlinks=False):
        for name in files:
            rel = (Path(top).relative_to(root) / name).as_posix()
            if rel != ".lock" and layout.files.fullmatch(rel):
                (Path(top) / name).unlink()
        for name in dirs:
            rel = (Path(top).relative_to(root) / name).as_posix()
            if layout.dirs.fullmatch(rel):
                (Path(top) / name).rmdir()


def check_replaceable_file(
    path: str | Path, kind: str, flag: str, legacy: tuple[str, ...] = ()
) -> None:
    """Raise ``OutputError`` unless ``path`` is missing or a file dialog-rl wrote as ``kind``.

    A JSON file is ours if its top level carries the stamp (or, without one, every ``legacy``
    key: a file of a version that wrote no stamp); a ``.npz`` (a zip) if it holds the stamp as
    its ``made_by`` array (``npz_stamp``); any other text file if one of its first two lines
    holds the marker (``marker(kind)``).
    """
    p = Path(path)
    if not os.path.lexists(p):
        parent = p.parent if str(p.parent) else Path(".")
        if not parent.is_dir():
            raise OutputError(f"{flag} {p}: directory {parent} does not exist")
        return
    if p.is_symlink() or not p.is_file():
        what = "a symbolic link" if p.is_symlink() else "a directory or special file"
        raise OutputError(f"{flag} {p} is {what}; choose a file name that does not exist")
    try:
        with p.open("rb") as fh:
            raw = fh.read(4096)
    except OSError:
        raw = b""
    head = raw.decode("utf-8", "replace").splitlines()[:2]
    ours = any(marker(kind) in line for line in head)
    if not ours and raw.startswith(b"PK\x03\x04"):
        ours = read_npz_stamp(p) == f"dialog-rl {kind}"
    if not ours and head and head[0].lstrip().startswith("{"):
        data = read_json_dict(p)
        if data is not None and STAMP_KEY in data:
            ours = data[STAMP_KEY] == f"dialog-rl {kind}"
        else:
            ours = data is not None and bool(legacy) and all(k in data for k in legacy)
    if not ours:
        raise OutputError(
            f"{flag} {p} already exists and was not written by dialog-rl {kind}; it is left "
            "alone: choose another name or move it away"
        )


def npz_stamp(kind: str) -> dict[str, object]:
    """The stamp to add to the arrays of a ``.npz`` dialog-rl writes (a 0-d string array)."""
    import numpy as np

    return {STAMP_KEY: np.asarray(f"dialog-rl {kind}")}


def read_npz_stamp(path: str | Path) -> str | None:
    """The ``made_by`` array of a ``.npz`` file as a string, if it has a small one (no pickle)."""
    import io
    import zipfile

    import numpy as np

    try:
        with zipfile.ZipFile(path) as z:
            info = z.getinfo(f"{STAMP_KEY}.npy")
            if info.file_size > 4096:
                return None
            value = np.lib.format.read_array(io.BytesIO(z.read(info)), allow_pickle=False)
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile, RuntimeError):
        return None
    if value.ndim != 0 or value.dtype.kind != "U":
        return None
    return str(value)


def with_marker(data: bytes, kind: str) -> bytes:
    """An XML or Markdown report with its marker comment as its second line (after the XML
    declaration or the Markdown heading, so both still open the file)."""
    head, _, rest = data.partition(b"\n")
    return head + b"\n" + (marker(kind) + "\n").encode() + rest


def write_file(path: str | Path, data: bytes, kind: str, flag: str) -> None:
    """Write a report whole, replacing only a file dialog-rl wrote as ``kind``.

    Written under a temporary name beside it, fsynced and renamed: a reader (or a full disk)
    never leaves half a file, and the temporary goes whatever happens.
    """
    check_replaceable_file(path, kind, flag)
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
