"""Numba compilation for the engine's kernels, cached on disk under a key of their source.

Numba's cache checks only the timestamp of the file a function is defined in, but a compiled
kernel also contains every kernel it calls: after an edit to ``simulators/noise.py`` the cached
``dialog_rl.env.engine`` kernels would still run the old channel. So the cache lives in a folder
named for a hash of every kernel module's source (``NUMBA_CACHE_DIR`` overrides it); any edit
starts a new folder, and an old one is never read again.

The first call of each kernel in a fresh cache compiles it (``python benchmarks/startup.py``
reports how long); later processes load it from disk. ``NUMBA_DISABLE_JIT=1`` runs the same
kernels as plain Python, for pdb and print.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from numba import config
from numba import njit as _njit

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


def cache_dir() -> Path:
    """Where compiled kernels of this exact source are kept."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"])
    digest = hashlib.sha256()
    for path in KERNEL_SOURCES:
        digest.update(path.read_bytes())
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "dialog-rl" / "numba" / digest.hexdigest()[:16]


_CACHE_DIR = str(cache_dir())


def njit(func=None, **options):
    """``numba.njit`` with the on-disk cache on, in this package's own cache folder (numba picks
    a function's cache folder when it is decorated: the global setting is put back after, so
    other numba code in the same process keeps its own)."""
    options.setdefault("cache", True)

    def decorate(f):
        previous = config.CACHE_DIR
        config.CACHE_DIR = _CACHE_DIR
        try:
            return _njit(**options)(f)
        finally:
            config.CACHE_DIR = previous

    return decorate if func is None else decorate(func)
