"""Temporaries of writers that are gone are removed; a live writer's are left to it.

A killed worker stays a zombie until its parent reaps it: it still answers ``kill(pid, 0)``, but
it will never rename its temporary, so it counts as gone.
"""

from __future__ import annotations

import os
import sys
import time

import pytest

from dialog_rl.rollout.logs import remove_dead_temporaries
from dialog_rl.rollout.runlock import pid_alive

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _zombie() -> int:
    """A child that has exited and is not reaped yet."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/stat") as fh:
            if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                return pid
        time.sleep(0.01)
    raise AssertionError("the child never became a zombie")


def test_a_zombie_is_not_alive_and_its_temporary_is_removed(tmp_path):
    pid = _zombie()
    try:
        assert pid_alive(os.getpid())
        assert not pid_alive(pid)
        dead = tmp_path / f".part-00003.parquet.tmp-{pid}"
        live = tmp_path / f".part-00004.parquet.tmp-{os.getpid()}"
        part = tmp_path / "part-00002.parquet"
        for f in (dead, live, part):
            f.write_bytes(b"x")
        remove_dead_temporaries(tmp_path)
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, part.name])
    finally:
        os.waitpid(pid, 0)
