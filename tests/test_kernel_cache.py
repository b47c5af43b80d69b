"""Where the compiled kernels are kept when the usual folder cannot be written (a read-only home):
under the temporary folder, said once on stderr; with no writable folder, not cached at all
(numba would otherwise stop the import with an error)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

# prints what a fresh process chose, then whether a kernel still runs and whether asking again
# (as a worker that inherits the environment does) says anything
PROBE = """
import json, sys, tempfile
if len(sys.argv) > 1:
    tempfile.tempdir = sys.argv[1]
from dialog_rl import jit, kernel_cache

@jit.njit
def f(x):
    return x + 1

print(json.dumps({"dir": None if jit._CACHE_DIR is None else str(jit._CACHE_DIR),
                  "cached": type(f._cache).__name__ != "NullCache", "f": f(1)}))
sys.stdout.flush()
kernel_cache.cache_dir()
"""


def _probe(tmp_path, env: dict, *args: str) -> tuple[dict, list[str]]:
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    run = subprocess.run(
        [sys.executable, str(script), *args],
        env={k: v for k, v in {**os.environ, **env}.items() if v is not None},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout), run.stderr.splitlines()


def _env(tmp_path, cache_home) -> dict:
    return {
        "XDG_CACHE_HOME": str(cache_home),
        "NUMBA_CACHE_DIR": None,
        "DIALOG_RL_KERNEL_CACHE_FALLBACK": None,
        "TMPDIR": str(tmp_path / "tmp"),
    }


def test_a_writable_cache_home_is_used_quietly(tmp_path):
    (tmp_path / "tmp").mkdir()
    got, said = _probe(tmp_path, _env(tmp_path, tmp_path / "cache"))
    assert said == []
    assert got["dir"].startswith(str(tmp_path / "cache" / "dialog-rl" / "numba"))
    assert got["cached"] and got["f"] == 2


def test_an_unwritable_cache_home_falls_back_to_the_temporary_folder_in_one_line(tmp_path):
    (tmp_path / "tmp").mkdir()
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    got, said = _probe(tmp_path, _env(tmp_path, blocked))
    assert got["dir"].startswith(str(tmp_path / "tmp" / "dialog-rl-"))
    assert got["cached"] and got["f"] == 2
    assert len(said) == 1, said  # asked again (as a worker would): nothing more is said
    assert said[0].startswith(f"dialog-rl: cannot keep compiled kernels in {blocked}")
    assert "Not a directory" in said[0] and got["dir"] in said[0] and "NUMBA_CACHE_DIR" in said[0]


def test_with_no_writable_folder_the_kernels_run_uncached(tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    got, said = _probe(tmp_path, _env(tmp_path, blocked), str(blocked))
    assert got == {"dir": None, "cached": False, "f": 2}
    assert len(said) == 1 and "every run compiles them" in said[0], said


def test_a_temporary_folder_others_can_write_to_is_not_used(tmp_path):
    """Numba loads what its cache holds: a fallback folder in a shared temporary folder that
    another user could write to (or made) is refused, and the kernels run uncached."""
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    shared = tmp_path / "tmp" / f"dialog-rl-{os.getuid()}"
    shared.mkdir(parents=True)
    shared.chmod(0o777)
    got, said = _probe(tmp_path, _env(tmp_path, blocked))
    assert got == {"dir": None, "cached": False, "f": 2}
    assert len(said) == 1 and "every run compiles them" in said[0], said
