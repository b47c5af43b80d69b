"""Crash safety: runs killed with SIGKILL at random points keep what they did and resume to the
uninterrupted result; two runs never write one directory; a resume must match its run."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.dataset as ds
import pytest

from dialog_rl.cli import main
from dialog_rl.env import DialogueEnv
from dialog_rl.ope.logged import load_logged
from dialog_rl.rollout import backends
from dialog_rl.rollout.logs import read_log
from dialog_rl.rollout.runlock import RunLock, lock_holder, run_status
from dialog_rl.train.rundir import RunDirectory

ROOT = Path(__file__).resolve().parent.parent
RESTAURANT = str(ROOT / "scenarios" / "restaurant.yaml")
EPISODES, PART = 2000, 80  # 25 parts: many points to die at, each a few ms of work
SIMULATE = ["simulate", "--scenario", RESTAURANT, "--episodes", str(EPISODES)]
SIMULATE += ["--part-episodes", str(PART), "--seed", "7", "--noise", "0.2", "--epsilon", "0.1"]
# vector envs of 10: a chunk is one part (8 batches of 10 = 80 episodes), so parts land one by
# one and a kill after N of them falls mid-run (at the default 1,024 a chunk holds 6-12 parts and
# the run could end before the kill)
SIMULATE += ["--no-progress", "--batch", "10"]
TRAIN = ["train", "--scenario", RESTAURANT, "--algo", "thompson", "--dialogues", "300"]
TRAIN += ["--noise", "0.15", "--checkpoint-every", "50", "--eval-every", "75"]
TRAIN += ["--eval-episodes", "20", "--no-progress"]
FINAL_FILES = ("final/policy.safetensors", "final/policy.json", "curve.csv")


def _start(args: list[str], out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dialog_rl.cli", *args, "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,  # pool workers of a killed run complain as they exit
    )


def _wait_for(proc: subprocess.Popen, ready, what: str) -> None:
    deadline = time.monotonic() + 120
    while not ready():
        assert proc.poll() is None, f"the run ended before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.003)


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "killed too late: the run had finished"


def _summary(out: Path) -> dict | None:
    try:
        return json.loads((out / "summary.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _episodes_done(out: Path) -> int:
    return (_summary(out) or {}).get("episodes_done", -1)


def _parts(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "log").glob("part-*.parquet"))}


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state) of every process (Linux /proc)."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        table[int(stat.parent.name)] = (int(fields[1]), fields[0])
    return table


def _descendants(pid: int) -> set[int]:
    table, found, todo = _processes(), set(), [pid]
    while todo:
        parent = todo.pop()
        children = [p for p, (pp, _) in table.items() if pp == parent and p not in found]
        found.update(children)
        todo.extend(children)
    return found


def _wait_gone(pids: set[int]) -> None:
    """Wait for a killed run's helper processes (fork server, pool workers) to end: they end
    with it, but not in the same instant, and a worker may rename one last finished part."""
    deadline = time.monotonic() + 60
    while True:
        table = _processes()
        alive = [p for p in pids if p in table and table[p][1] != "Z"]
        if not alive:
            return
        assert time.monotonic() < deadline, f"processes {alive} outlived their killed run"
        time.sleep(0.02)


def _without_command(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k != "command"}


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    """The uninterrupted simulate run every killed one must end up as."""
    out = tmp_path_factory.mktemp("straight") / "run"
    assert main([*SIMULATE, "--out", str(out)]) == 0
    return out


# -- simulate ----------------------------------------------------------------------------------

# Where each run dies, drawn once from a fixed seed: (parts logged before the kill, or None to
# kill during start-up; extra seconds after that point; worker processes).
_rng = np.random.default_rng(20261124)
# (start-up: within 0.3 s of launch, well before the imports are done even on a fast machine)
KILLS = [(None, float(_rng.uniform(0.0, 0.3)), 1)] + [
    (int(_rng.integers(0, 10)), float(_rng.uniform(0.0, 0.15)), workers) for workers in (1, 2)
]


@pytest.mark.slow
@pytest.mark.parametrize(("parts", "delay", "workers"), KILLS)
def test_simulate_killed_at_a_random_point_keeps_every_logged_part_and_resumes_identically(
    tmp_path, straight, parts, delay, workers
):
    out = tmp_path / "killed"
    extra = ["--workers", str(workers)] if workers > 1 else []
    proc = _start([*SIMULATE, *extra], out)
    if parts is not None:
        # (at least one: pool workers exist by then, so the ones to wait for are known)
        _wait_for(proc, lambda: _episodes_done(out) >= max(parts, 1) * PART, f"{parts} parts")
    time.sleep(delay)
    helpers = _descendants(proc.pid)
    _kill(proc)
    _wait_gone(helpers)

    # What the kill left: whole parts, each byte for byte the uninterrupted run's, readable
    # as one dataset by pyarrow (which would choke on a half-written file) and by read_log.
    left = _parts(out)
    done = _episodes_done(out)
    expected = _parts(straight)
    assert all(left[name] == expected[name] for name in left)
    if left:
        table = ds.dataset(out / "log", format="parquet").to_table()
        episodes = set(table.column("episode").to_pylist())
        numbers = [int(name[5:10]) for name in left]
        assert episodes == {e for n in numbers for e in range(n * PART, (n + 1) * PART)}
        assert episodes >= set(range(done)), "a part the summary counts is missing"
        assert read_log(out).num_rows == table.num_rows
    if _summary(out) is not None:
        assert _summary(out)["status"] == "running"
        assert run_status(out) == "interrupted"

    assert main([*SIMULATE, "--out", str(out), "--resume"]) == 0
    assert _parts(out) == expected
    finished, uninterrupted = _summary(out), _summary(straight)
    assert _without_command(finished) == _without_command(uninterrupted)
    assert finished["status"] == "complete" and run_status(out) == "complete"
    assert sorted(p.name for p in out.iterdir()) == [".lock", "log", "summary.json"]
    assert not list(out.rglob(".*.tmp-*")), "temporaries left behind"


def _interrupt_after(monkeypatch, episodes: int) -> None:
    """Make the next simulate stop with Ctrl-C once chunks of ``episodes`` episodes came back."""
    real = backends.run_rollouts

    def run_rollouts(*args, **kw):
        done = 0
        for chunk in real(*args, **kw):
            yield chunk
            done += len(chunk.outcomes)
            if done >= episodes:
                raise KeyboardInterrupt

    monkeypatch.setattr(backends, "run_rollouts", run_rollouts)


SMALL = ["simulate", "--scenario", RESTAURANT, "--episodes", "400", "--part-episodes", "100"]
SMALL += ["--seed", "3", "--noise", "0.1", "--no-progress"]


@pytest.fixture
def interrupted(tmp_path, monkeypatch) -> Path:
    """A simulate run stopped by Ctrl-C after two of its four parts."""
    out = tmp_path / "interrupted"
    _interrupt_after(monkeypatch, 200)
    assert main([*SMALL, "--out", str(out)]) == 130
    monkeypatch.undo()
    return out


def test_ctrl_c_leaves_an_interrupted_run_that_resume_finishes(tmp_path, interrupted, capsys):
    summary = _summary(interrupted)
    assert summary["status"] == "interrupted" and summary["episodes_done"] == 200
    assert run_status(interrupted) == "interrupted"
    assert sorted(read_log(interrupted).column("episode").unique().to_pylist()) == list(range(200))
    warnings = load_logged(interrupted).warnings  # what `dialog-rl ope` prints about the logs
    assert any(
        f"{interrupted} is interrupted: these logs hold 200 of its 400" in w for w in warnings
    )

    assert main([*SMALL, "--out", str(interrupted)]) == 2
    err = capsys.readouterr().err
    assert "interrupted run (200 of 400 episodes logged)" in err and "--resume" in err

    assert main([*SMALL, "--out", str(interrupted), "--resume"]) == 0
    assert main([*SMALL, "--out", str(tmp_path / "straight")]) == 0
    assert _parts(interrupted) == _parts(tmp_path / "straight")
    assert _summary(interrupted)["metrics"] == _summary(tmp_path / "straight")["metrics"]
    assert main([*SMALL, "--out", str(interrupted), "--resume"]) == 0
    assert "already complete" in capsys.readouterr().out


def test_a_run_of_other_conversations_is_not_resumed(interrupted, capsys):
    """A run started before the engine changed what a seed plays (no ``conversations`` in its
    summary) would continue with other conversations: refused in one line."""
    path = interrupted / "summary.json"
    summary = json.loads(path.read_text())
    del summary["run"]["conversations"]
    path.write_text(json.dumps(summary))
    assert main([*SMALL, "--out", str(interrupted), "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "seeds play other conversations (version 1, this one plays version 2)" in err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--seed", "4"], "seed=3"),
        (["--noise", "0.3"], "noise=0.1"),
        (["--episodes", "500"], "episodes=400"),
        (["--policy", "random"], "'name': 'rule'"),
        (["--epsilon", "0.2"], "'epsilon': 0.0"),
        (["--greedy"], "explore=True"),
        (["--max-turns", "5"], "max_turns=None"),
        (["--part-episodes", "50"], "part_episodes=100"),
        (["--channel", "text"], "channel='act'"),
        (["--text"], "text=False"),
        (["--scenario", str(ROOT / "scenarios" / "shopping.yaml")], "scenario_hash="),
    ],
)
def test_resume_with_different_arguments_is_refused_in_one_line(
    interrupted, capsys, change, message
):
    before = _parts(interrupted)
    assert main([*SMALL, *change, "--out", str(interrupted), "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot resume {interrupted}" in err and message in err
    assert _parts(interrupted) == before and run_status(interrupted) == "interrupted"


# -- concurrent runs ---------------------------------------------------------------------------


@pytest.mark.slow
def test_a_second_run_on_a_live_runs_out_is_refused_and_corrupts_nothing(
    tmp_path, straight, capsys
):
    out = tmp_path / "busy"
    proc = _start([*SIMULATE[:3], "--episodes", "40000", *SIMULATE[5:]], out)
    try:
        _wait_for(proc, lambda: _episodes_done(out) >= PART, "the first part")
        assert lock_holder(out) == proc.pid
        proc.send_signal(signal.SIGSTOP)  # alive and holding the lock however fast it plays
        others = [
            [*SIMULATE, "--out", str(out)],
            [*SIMULATE, "--out", str(out), "--force"],
            [*SIMULATE, "--out", str(out), "--resume"],
            [*TRAIN, "--out", str(out), "--force"],
            [*TRAIN, "--out", str(out), "--resume"],
        ]
        for argv in others:
            assert main(argv) == 2, argv
            err = capsys.readouterr().err
            assert f"--out {out} is in use by another run (pid {proc.pid})" in err, argv
        assert proc.poll() is None, "the first run ended while the others tried its --out"
    finally:
        _kill(proc)
    # the first run's parts are still its own: byte for byte the ones the same seed gives
    left, expected = _parts(out), _parts(straight)
    assert left and all(left[n] == expected[n] for n in left if n in expected)
    assert not (out / "run.json").exists(), "train wrote into the simulate run"


def test_force_does_not_break_a_held_lock_and_replaces_the_run_once_it_is_free(tmp_path, capsys):
    out = tmp_path / "run"
    with RunLock(out):
        assert main([*SMALL, "--out", str(out), "--force"]) == 2
        assert "in use by another run" in capsys.readouterr().err
    assert lock_holder(out) is None
    assert main([*SMALL, "--out", str(out), "--force"]) == 0
    assert run_status(out) == "complete"


# -- train -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def straight_training(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("train") / "straight"
    assert main([*TRAIN, "--out", str(out)]) == 0
    return out


_rng = np.random.default_rng(8)
TRAIN_KILLS = [(int(_rng.integers(1, 4)) * 50, float(_rng.uniform(0.0, 0.1))) for _ in range(2)]


@pytest.mark.slow
@pytest.mark.parametrize(("checkpoint", "delay"), TRAIN_KILLS)
def test_train_killed_at_a_random_point_keeps_curve_and_checkpoint_and_resumes_identically(
    tmp_path, straight_training, restaurant, checkpoint, delay, capsys
):
    out = tmp_path / "killed"
    proc = _start(TRAIN, out)
    run = RunDirectory(out)
    _wait_for(proc, lambda: run.checkpoint_path(checkpoint).exists(), f"checkpoint {checkpoint}")
    # while it lives, no other run may touch its directory (paused meanwhile: the checks import
    # and load in this process, and a short run could otherwise finish before the kill)
    proc.send_signal(signal.SIGSTOP)
    for extra in (["--resume"], ["--force"]):
        assert main([*TRAIN, "--out", str(out), *extra]) == 2
        assert f"in use by another run (pid {proc.pid})" in capsys.readouterr().err
    proc.send_signal(signal.SIGCONT)
    time.sleep(delay)
    _kill(proc)

    assert run_status(out) == "interrupted"
    assert _summary(out)["status"] == "running"
    assert not (out / "final").exists()
    # the curve so far, readable: the first rows of the uninterrupted run's
    rows = list(csv.DictReader((out / "curve.csv").read_text().splitlines()))
    full = list(csv.DictReader((straight_training / "curve.csv").read_text().splitlines()))
    assert rows and all(row.items() <= full[i].items() for i, row in enumerate(rows))
    ckpt = run.latest_checkpoint(restaurant, DialogueEnv(restaurant, noise=0.15).spec_obs)
    assert ckpt is not None and ckpt.meta["training"]["episode"] >= checkpoint

    assert main([*TRAIN, "--out", str(out), "--resume"]) == 0
    for name in FINAL_FILES:
        assert (out / name).read_bytes() == (straight_training / name).read_bytes(), name
    assert run_status(out) == "complete"
    assert not list(out.rglob(".*.tmp-*")), "temporaries left behind"
