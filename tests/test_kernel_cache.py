"""Where the compiled kernels are kept: the user's cache folder, announced when a first compile is
due; when it cannot be written (a read-only home), a folder of the user's own under the
temporary folder, said once on stderr; with no usable folder, not cached at all (numba would
otherwise stop the import with an error)."""

from __future__ import annotations

import json
import os
import pty
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
                  "cached": type(getattr(f, "_cache", None)).__name__ == "FunctionCache",
                  "f": f(1)}))
sys.stdout.flush()
kernel_cache.cache_dir()
"""
FIRST = "dialog-rl: compiling the simulator's kernels into"


def _probe(tmp_path, env: dict, *args: str, terminal: bool = False) -> tuple[dict, list[str]]:
    """What the probe chose, and the lines it wrote to stderr (a pseudo-terminal if
    ``terminal``: the first-compile line is only for a person watching)."""
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    reader, writer = pty.openpty() if terminal else (None, subprocess.PIPE)
    run = subprocess.Popen(
        [sys.executable, str(script), *args],
        env={k: v for k, v in {**os.environ, **env}.items() if v is not None},
        stdout=subprocess.PIPE,
        stderr=writer,
        text=True,
    )
    out, err = run.communicate(timeout=120)
    if terminal:
        os.close(writer)
        err = _read_all(reader).replace("\r\n", "\n")
    assert run.returncode == 0, err
    return json.loads(out), err.splitlines()


def _read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the terminal's other end is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode()


def _env(tmp_path, cache_home) -> dict:
    return {
        "XDG_CACHE_HOME": str(cache_home),
        "NUMBA_CACHE_DIR": None,
        "NUMBA_DISABLE_JIT": None,
        "DIALOG_RL_KERNEL_CACHE_FALLBACK": None,
        "DIALOG_RL_KERNELS_COMPILING": None,
        "TMPDIR": str(tmp_path / "tmp"),
    }


def test_a_writable_cache_home_is_used_and_a_first_compile_is_announced_once(tmp_path):
    (tmp_path / "tmp").mkdir()
    env = _env(tmp_path, tmp_path / "cache")
    piped = _probe(tmp_path, {**env, "XDG_CACHE_HOME": str(tmp_path / "piped")})
    assert piped[1] == [] and piped[0]["cached"]  # stderr read by a program: errors alone
    got, said = _probe(tmp_path, env, terminal=True)
    assert got["dir"].startswith(str(tmp_path / "cache" / "dialog-rl" / "numba"))
    assert got["cached"] and got["f"] == 2
    assert said == [f"{FIRST} {got['dir']}: a minute or two, once per version"]
    # the kernel is in the cache now: nothing to say
    assert _probe(tmp_path, env, terminal=True) == (got, [])
    quiet = {**env, "XDG_CACHE_HOME": str(tmp_path / "other"), "NUMBA_DISABLE_JIT": "1"}
    got, said = _probe(tmp_path, quiet, terminal=True)
    assert said == [] and got["f"] == 2 and not got["cached"]  # nothing is compiled


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
