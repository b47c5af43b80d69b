"""Temporaries of writers that are gone are removed, a live writer's are left to it, and no
write is still under way when a failed one is reported.

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


def test_a_failed_part_write_returns_only_after_the_writes_queued_behind_it(
    restaurant, tmp_path, monkeypatch
):
    """A batched worker hands parts to a disk thread: when one write fails (a full disk), the
    error reaches the caller only once every write queued behind it has finished, so nothing is
    still being written when the run reports the error and cleans up."""
    import errno
    import threading

    from dialog_rl.rollout import worker
    from dialog_rl.rollout.backends import RolloutJob, run_rollouts

    finished: list[str] = []
    first = threading.Event()

    def write(path, data, *, sync=True):
        if not first.is_set():
            first.set()
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        time.sleep(0.05)  # a slow disk
        finished.append(path.name)

    job = RolloutJob(restaurant, policy="rule", episodes=200, seed=3, noise=0.2,
                     log_dir=str(tmp_path / "log"), part_episodes=20)  # fmt: skip
    monkeypatch.setattr(worker, "write_bytes_atomic", write)
    with pytest.raises(OSError):
        next(run_rollouts(job))
    done = list(finished)
    time.sleep(0.3)
    assert finished == done, "a write finished after the error was raised"
    assert done, "parts were queued behind the failed one"
