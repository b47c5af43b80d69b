"""Who writes a run directory: an exclusive lock, and the run's status as a reader sees it.

A run (``simulate --out DIR`` or ``train --out DIR``) holds ``fcntl.flock`` on ``DIR/.lock`` for
as long as it writes there, and writes its pid into the file. The kernel drops the lock when the
process dies however it dies (SIGKILL included), so a lock is never stale: a second run on the
same directory is refused while the first lives, and allowed the moment it is gone, with no pid
guessing. ``--force`` does not break a live lock; it only replaces what a finished or dead run
left.

A run's ``summary.json`` says ``"status": "running"`` from its start and ``"complete"`` at its
end. A process killed in between cannot say so itself, so ``run_status`` answers
``interrupted`` for a ``running`` summary whose lock nobody holds.
"""

from __future__ import annotations

import fcntl
import os
import stat
import time
from pathlib import Path

from dialog_rl.outputs import read_json_dict

LOCK_NAME = ".lock"


class RunLockedError(RuntimeError):
    """Another live process writes the run directory (reported in one line, exit code 2)."""


class RunLock:
    """An exclusive lock on ``directory`` (held through ``DIR/.lock``); use as a context manager."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock (creating the directory if needed) or raise ``RunLockedError``."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # never follow a link, never block on a FIFO someone put in the lock's place
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
        except OSError as err:  # read-only, full, not a directory: one line, not a traceback
            raise RunLockedError(
                f"--out {self.directory}: cannot write there ({err.strerror or err})"
            ) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise RunLockedError(
                f"--out {self.directory}: {LOCK_NAME} is not a regular file (a FIFO or device?); "
                "this is not a dialog-rl run directory: choose another --out"
            )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunLockedError(_in_use(self.directory, lock_holder(self.directory))) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        # The file stays: unlinking a lock file races with a process that has just opened it.
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _in_use(directory: Path, pid: int | None) -> str:
    who = f"pid {pid}" if pid is not None else "a process whose pid it has not written yet"
    return (
        f"--out {directory} is in use by another run ({who}); wait for it to finish, stop it, "
        "or choose another --out"
    )


def lock_holder(directory: str | Path) -> int | None:
    """The pid of the live process holding ``directory``'s lock, or None if nobody holds it.

    A process that holds the lock itself (through another descriptor) is reported too.
    """
    path = Path(directory) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:  # no lock file (or none we may read): nobody we can name holds it
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO or device is no lock of ours
        os.close(fd)
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            # the holder writes its pid just after locking: give it a moment
            for _ in range(20):
                text = os.pread(fd, 32, 0).decode(errors="replace").strip()
                if text.isdigit():
                    return int(text)
                time.sleep(0.01)
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def check_not_locked(directory: str | Path) -> None:
    """Raise ``RunLockedError`` if a live process writes ``directory``."""
    pid = lock_holder(directory)
    if pid is not None:
        raise RunLockedError(_in_use(Path(directory), pid))


def has_content(directory: str | Path) -> bool:
    """True if ``directory`` holds anything besides a lock file."""
    return any(p.name != LOCK_NAME for p in Path(directory).iterdir())


def run_status(directory: str | Path) -> str:
    """``complete``, ``running``, ``interrupted`` or ``unknown`` (no readable summary.json).

    A summary without a status comes from a version that wrote it only at the end: complete.
    """
    directory = Path(directory)
    summary = read_json_dict(directory / "summary.json")  # a regular file, never a FIFO
    if summary is None:
        return "unknown"
    status = summary.get("status", "complete")
    if status == "complete":
        return "complete"
    return "running" if lock_holder(directory) is not None else "interrupted"


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists and is not a zombie (killed, not yet reaped), for
    temporaries named after their writer."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): trust the signal
    return status.rsplit(")", 1)[1].split()[0] != "Z"
