"""Where numba keeps the engine's compiled kernels: a folder named for a hash of their sources.

Light on purpose (standard library only), so a command can settle the folder before it starts
worker processes, which then inherit the choice (``rollout.pool.start_fork_server``). See
``dialog_rl.jit`` for why the folder is keyed by the sources and what happens when it cannot be
written.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

_ROOT = Path(__file__).resolve().parent
KERNEL_SOURCES = (
    _ROOT / "counter_rng.py",
    _ROOT / "env" / "tracker.py",
    _ROOT / "env" / "featurizer.py",
    _ROOT / "env" / "engine.py",
    _ROOT.parent / "simulators" / "customer_state.py",
    _ROOT.parent / "simulators" / "customer.py",
    _ROOT.parent / "simulators" / "noise.py",
)


#: set once a process fell back from the usual folder, so its workers reuse the choice quietly
_CHOSEN = "DIALOG_RL_KERNEL_CACHE_FALLBACK"
#: set once a process said it is compiling the kernels, so its workers do not say it again
_SAID = "DIALOG_RL_KERNELS_COMPILING"


def cache_dir() -> Path | None:
    """Where compiled kernels of this exact source are kept: ``NUMBA_CACHE_DIR``, else a folder
    under the user's cache folder named for the sources' hash; if that cannot be written, the
    same under the temporary folder; None (no cache) if neither can."""
    if _CHOSEN in os.environ:  # a parent process fell back and said so: its choice, unsaid
        return Path(os.environ[_CHOSEN]) if os.environ[_CHOSEN] else None
    digest = hashlib.sha256()
    for path in KERNEL_SOURCES:
        digest.update(path.read_bytes())
    key = digest.hexdigest()[:16]
    if os.environ.get("NUMBA_CACHE_DIR"):
        wanted, how = Path(os.environ["NUMBA_CACHE_DIR"]), "set NUMBA_CACHE_DIR to another folder"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        wanted, how = base / "dialog-rl" / "numba" / key, "set NUMBA_CACHE_DIR to choose"
    problem = _unwritable(wanted)
    if problem is None:
        _first_time(wanted)
        return wanted
    user = os.getuid() if hasattr(os, "getuid") else "user"
    own = Path(tempfile.gettempdir()) / f"dialog-rl-{user}"
    fallback = own / "numba" / key
    if _private(own) and _unwritable(fallback) is None:
        _say(f"cannot keep compiled kernels in {wanted} ({problem}); using {fallback} ({how})")
        os.environ[_CHOSEN] = str(fallback)
        _first_time(fallback)
        return fallback
    _say(
        f"cannot keep compiled kernels in {wanted} ({problem}) nor in {fallback}: every run "
        f"compiles them, about a minute ({how})"
    )
    os.environ[_CHOSEN] = ""
    return None


def _first_time(folder: Path) -> None:
    """Say, once a command, that the kernels are about to be compiled, when ``folder`` holds none
    yet: the first run sits a minute or two before its first conversation ends. Only to a
    terminal, as a progress bar is: a script reading stderr gets its errors alone."""
    if os.environ.get("NUMBA_DISABLE_JIT", "0") != "0" or _SAID in os.environ:
        return
    if not (sys.stderr and sys.stderr.isatty()):
        return
    if not any(folder.rglob("*.nbi")):  # numba keeps an index per kernel, in subfolders
        os.environ[_SAID] = "1"  # workers started from here compile too, but say nothing
        _say(f"compiling the simulator's kernels into {folder}: a minute or two, once per version")


def _unwritable(folder: Path) -> str | None:
    """Why ``folder`` cannot hold the cache (made if missing), or None if it can."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        return err.strerror or type(err).__name__
    return None


def _private(folder: Path) -> bool:
    """``folder`` (made if missing) is this user's alone: numba loads what a cache holds, so a
    shared temporary folder's must not be one another user made or can write to."""
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.lstat()
    except OSError:
        return False
    mine = not hasattr(os, "getuid") or info.st_uid == os.getuid()
    return folder.is_dir() and not folder.is_symlink() and mine and not info.st_mode & 0o022


def _say(message: str) -> None:
    print(f"dialog-rl: {message}", file=sys.stderr)
