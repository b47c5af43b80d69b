"""Numba compilation for the engine's kernels, cached on disk under a key of their source.

Numba's cache checks only the timestamp of the file a function is defined in, but a compiled
kernel also contains every kernel it calls: after an edit to ``simulators/noise.py`` the cached
``dialog_rl.env.engine`` kernels would still run the old channel. So the cache lives in a folder
named for a hash of every kernel module's source (``NUMBA_CACHE_DIR`` overrides it); any edit
starts a new folder, and an old one is never read again.

If that folder cannot be written (a read-only home), the kernels are kept under the temporary
folder instead, and one line on stderr says so. Numba's own fallbacks (``__pycache__`` beside the
sources, or its folder under the same user cache) have the stale-kernel problem above, and where
none can be written numba stops the import with an error. If no folder can be written, the
kernels are not cached: every process compiles them (a minute), and the line says that.

The first call of each kernel in a fresh cache compiles it (``python benchmarks/startup.py``
reports how long); later processes load it from disk. ``NUMBA_DISABLE_JIT=1`` runs the same
kernels as plain Python, for pdb and print.
"""

from __future__ import annotations

from numba import config
from numba import njit as _njit

from dialog_rl.kernel_cache import cache_dir

_CACHE_DIR = cache_dir()


def njit(func=None, **options):
    """``numba.njit`` with the on-disk cache on, in this package's own cache folder (numba picks
    a function's cache folder when it is decorated: the global setting is put back after, so
    other numba code in the same process keeps its own)."""
    if _CACHE_DIR is None:  # nowhere to keep them (numba would try beside the sources)
        options["cache"] = False
    else:
        options.setdefault("cache", True)

    def decorate(f):
        previous = config.CACHE_DIR
        config.CACHE_DIR = str(_CACHE_DIR)
        try:
            return _njit(**options)(f)
        finally:
            config.CACHE_DIR = previous

    return decorate if func is None else decorate(func)
