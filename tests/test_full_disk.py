"""A full disk during ``simulate`` or ``train``: one line, exit 1, no half-written file, and
``--resume`` finishes the run once there is room (the same bytes as a run that had room)."""

from __future__ import annotations

import errno
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from dialog_rl.cli import main
from dialog_rl.policies import checkpoint
from dialog_rl.rollout import backends, logs

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = str(ROOT / "scenarios" / "restaurant.yaml")
SIMULATE = ["simulate", "--scenario", SCENARIO, "--episodes", "2000", "--part-episodes", "80"]
SIMULATE += ["--seed", "9", "--noise", "0.2", "--no-progress"]
TRAIN = ["train", "--scenario", SCENARIO, "--algo", "thompson", "--dialogues", "300"]
TRAIN += ["--checkpoint-every", "50", "--eval-every", "100", "--eval-episodes", "20"]
TRAIN += ["--no-progress"]


class _Disk:
    """``open`` for a module's writes on a disk with ``room`` bytes left: a write past it puts
    what fits, then fails with ENOSPC, as a real full disk does."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.full = False

    def open(self, path, mode="r", *args, **kw):
        fh = open(path, mode, *args, **kw)  # noqa: SIM115 (handed to the caller)
        if "w" not in mode:
            return fh
        disk = self
        real_write = fh.write

        def write(data):
            if len(data) > disk.room:
                real_write(data[: disk.room])
                disk.room, disk.full = 0, True
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
            disk.room -= len(data)
            return real_write(data)

        fh.write = write
        return fh


def _no_half_written_files(out: Path) -> None:
    stray = [p.relative_to(out).as_posix() for p in out.rglob(".*") if p.name != ".lock"]
    assert not stray, f"half-written temporaries left: {stray}"
    for part in (out / "log").glob("part-*.parquet"):
        pq.read_metadata(part)  # every part there is whole


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "No space left on device" in err and "--resume" in err, err
    return err


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("straight") / "run"
    assert main([*SIMULATE, "--out", str(out)]) == 0
    return out


def _assert_same(out: Path, straight: Path) -> None:
    assert _files(out / "log") == _files(straight / "log")
    done = [json.loads((d / "summary.json").read_text()) for d in (out, straight)]
    assert done[0]["status"] == "complete" and done[0]["metrics"] == done[1]["metrics"]


@pytest.mark.parametrize(
    "backend",
    ["in-process", pytest.param("ray", marks=[pytest.mark.slow, pytest.mark.xdist_group("ray")])],
)
def test_simulate_on_a_full_disk_stops_in_one_line_and_resumes_identically(
    tmp_path, straight, monkeypatch, capsys, backend
):
    disk = _Disk(room=150_000)  # a few parts fit
    monkeypatch.setattr(logs, "open", disk.open, raising=False)
    out = tmp_path / "run"
    extra = []
    if backend == "ray":  # Ray actors send parts back: this process writes them
        import ray

        backends.start_ray(num_cpus=2)
        extra = ["--backend", "ray", "--workers", "2"]
        capsys.readouterr()
    try:
        assert main([*SIMULATE, "--out", str(out), *extra]) == 1
    finally:
        if backend == "ray":
            ray.shutdown()
    assert disk.full
    _one_line(capsys)
    _no_half_written_files(out)
    assert 0 < len(list((out / "log").glob("part-*.parquet"))) < 25
    monkeypatch.undo()  # room again
    assert main([*SIMULATE, "--out", str(out), "--resume"]) == 0
    _assert_same(out, straight)


@pytest.mark.slow
def test_train_on_a_full_disk_stops_in_one_line_and_resumes_to_the_same_policy(
    tmp_path, monkeypatch, capsys
):
    straight = tmp_path / "straight"
    assert main([*TRAIN, "--out", str(straight)]) == 0
    disk = _Disk(room=5_000)  # the first checkpoints fit
    monkeypatch.setattr(checkpoint, "open", disk.open, raising=False)
    out = tmp_path / "run"
    assert main([*TRAIN, "--out", str(out)]) == 1
    assert disk.full
    _one_line(capsys)
    _no_half_written_files(out)
    monkeypatch.undo()
    assert main([*TRAIN, "--out", str(out), "--resume"]) == 0
    for name in ("final/policy.safetensors", "final/policy.json", "curve.csv"):
        assert (out / name).read_bytes() == (straight / name).read_bytes(), name


UNSHARE = shutil.which("unshare")


def _in_a_small_tmpfs(script: str) -> subprocess.CompletedProcess:
    """Run ``script`` (sh) in a private mount namespace with ``$DISK``, a tmpfs of 300 kB."""
    return subprocess.run(
        [UNSHARE, "--user", "--map-root-user", "--mount", "sh", "-ec", script],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )


@pytest.mark.slow
@pytest.mark.skipif(UNSHARE is None, reason="needs unshare(1) for a private tmpfs")
def test_pool_workers_on_a_really_full_tmpfs_stop_in_one_line_and_resume_identically(
    tmp_path, straight
):
    disk = tmp_path / "disk"
    disk.mkdir()
    cli = f"{sys.executable} -m dialog_rl.cli {' '.join(SIMULATE)} --workers 2 --out {disk}/run"
    script = f"""
        mount -t tmpfs -o size=300k tmpfs {disk}
        set +e
        {cli} 2> {tmp_path}/first.err; echo $? > {tmp_path}/first.rc
        set -e
        ls -a {disk}/run {disk}/run/log > {tmp_path}/after-full.txt
        mount -o remount,size=50m {disk}
        {cli} --resume 2> {tmp_path}/second.err; echo $? > {tmp_path}/second.rc
        cp -r {disk}/run {tmp_path}/run
    """
    done = _in_a_small_tmpfs(script)
    if done.returncode != 0 and "mount" in done.stderr:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    err = (tmp_path / "first.err").read_text()
    assert (tmp_path / "first.rc").read_text().strip() == "1", err
    assert err.count("\n") == 1 and "No space left on device" in err and "--resume" in err, err
    listing = (tmp_path / "after-full.txt").read_text().split()
    assert not [n for n in listing if n.startswith(".") and n not in (".", "..", ".lock")]
    assert (tmp_path / "second.rc").read_text().strip() == "0", (
        tmp_path / "second.err"
    ).read_text()
    _assert_same(tmp_path / "run", straight)
