"""Workers that die: a SIGKILLed pool worker or Ray actor loses nothing.

Either the run finishes, its dead worker's episodes played again, with a log byte-identical to an
undisturbed run; or (restarts used up) it stops with one line, exit 1, and ``--resume`` finishes
it identically.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from dialog_rl.cli import main
from dialog_rl.rollout import backends
from dialog_rl.rollout.backends import RolloutJob, run_rollouts
from dialog_rl.run_errors import WorkerLostError

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = str(ROOT / "scenarios" / "restaurant.yaml")
EPISODES, PART = 3000, 100  # 30 parts: workers are busy when one is killed


def _descendants(pid: int) -> dict[int, int]:
    """Every process below ``pid``: {pid: parent pid}."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = {}, [pid]
    while frontier:
        p = frontier.pop()
        for child, parent in parents.items():
            if parent == p and child not in found:
                found[child] = parent
                frontier.append(child)
    return found


def _pool_workers() -> list[int]:
    """Pool workers: children of the fork server, which is a child of this process."""
    return [p for p, parent in _descendants(os.getpid()).items() if parent != os.getpid()]


def _ray_actors() -> list[int]:
    out = []
    for p in _descendants(os.getpid()):
        try:
            cmdline = Path(f"/proc/{p}/cmdline").read_bytes()
        except OSError:
            continue
        if b"RolloutWorker" in cmdline:
            out.append(p)
    return out


def _job(domain, log_dir: Path) -> RolloutJob:
    return RolloutJob(
        domain,
        policy="rule",
        episodes=EPISODES,
        seed=4,
        noise=0.2,
        epsilon=0.1,
        log_dir=str(log_dir),
        log_metadata={"dialog_rl.seed": "4"},
        part_episodes=PART,
    )


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def undisturbed(restaurant, tmp_path_factory):
    log = tmp_path_factory.mktemp("undisturbed") / "log"
    outcomes = [o for c in run_rollouts(_job(restaurant, log)) for o in c.outcomes]
    return _files(log), outcomes


def _kill_one(find, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        victims = find()
        if victims:
            os.kill(victims[0], signal.SIGKILL)
            return victims[0]
        time.sleep(0.01)
    raise AssertionError("no worker process to kill")


@pytest.mark.slow
def test_a_killed_pool_worker_is_replaced_and_the_log_is_byte_identical(
    restaurant, tmp_path, undisturbed, monkeypatch
):
    pools = []

    class CountedPool(backends.ProcessPoolExecutor):
        def __init__(self, *args, **kw):
            pools.append(self)
            super().__init__(*args, **kw)

    monkeypatch.setattr(backends, "ProcessPoolExecutor", CountedPool)
    log = tmp_path / "log"
    chunks = backends.run_pool(_job(restaurant, log), 2)
    results = [next(chunks)]
    _kill_one(_pool_workers)
    results += list(chunks)
    assert len(pools) == 2, "the broken pool was replaced once"
    assert [r.start for r in results] == [c.start for c in _job(restaurant, log).chunks(2)]
    assert [o for r in results for o in r.outcomes] == undisturbed[1]
    assert _files(log) == undisturbed[0], "byte-identical parts, no temporaries left behind"


def _simulate(out: Path, *extra: str) -> list[str]:
    args = ["simulate", "--scenario", SCENARIO, "--episodes", str(EPISODES), "--seed", "4"]
    args += ["--noise", "0.2", "--epsilon", "0.1", "--part-episodes", str(PART)]
    return [*args, "--no-progress", "--out", str(out), *extra]


def _killer(find, out: Path) -> threading.Thread:
    """Kill one worker of the run writing ``out`` once it has logged its first part."""
    stale = set(find())  # processes of an earlier run, on their way out

    def kill() -> None:
        deadline = time.monotonic() + 120
        while not list((out / "log").glob("part-*.parquet")):
            assert time.monotonic() < deadline, "the run never logged a part"
            time.sleep(0.005)
        _kill_one(lambda: [p for p in find() if p not in stale])

    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    return thread


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("straight") / "run"
    assert main(_simulate(out)) == 0
    return out


def _assert_same_run(out: Path, straight: Path) -> None:
    assert _files(out / "log") == _files(straight / "log")
    summaries = [json.loads((d / "summary.json").read_text()) for d in (out, straight)]
    assert summaries[0]["status"] == "complete"
    assert summaries[0]["metrics"] == summaries[1]["metrics"]


@pytest.mark.slow
def test_pool_worker_deaths_beyond_the_restarts_stop_in_one_line_and_resume_finishes(
    tmp_path, monkeypatch, capsys, straight_run
):
    monkeypatch.setattr(backends, "MAX_RESTARTS", 0)  # the first death stops the run
    out = tmp_path / "run"
    killer = _killer(_pool_workers, out)
    assert main(_simulate(out, "--workers", "2")) == 1
    killer.join()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "worker process died" in err and "--resume" in err, err
    assert json.loads((out / "summary.json").read_text())["status"] == "interrupted"
    assert main(_simulate(out, "--resume")) == 0
    _assert_same_run(out, straight_run)


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_a_killed_ray_actor_is_restarted_and_otherwise_the_run_resumes(
    restaurant, tmp_path, undisturbed, monkeypatch, capsys, straight_run
):
    import ray

    backends.start_ray(num_cpus=2)
    try:
        log = tmp_path / "log"
        chunks = run_rollouts(_job(restaurant, log), backend="ray", workers=2)
        results = [next(chunks)]
        _kill_one(_ray_actors)
        results += list(chunks)
        assert [o for r in results for o in r.outcomes] == undisturbed[1]
        assert _files(log) == undisturbed[0]

        monkeypatch.setattr(backends, "MAX_RESTARTS", 0)  # no restart: the run stops
        out = tmp_path / "run"
        capsys.readouterr()  # Ray's own start-up lines
        killer = _killer(_ray_actors, out)
        assert main(_simulate(out, "--backend", "ray", "--workers", "2")) == 1
        killer.join()
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Ray actor died" in err and "--resume" in err, err
    finally:
        ray.shutdown()
    assert main(_simulate(out, "--resume")) == 0
    _assert_same_run(out, straight_run)


@pytest.mark.slow
def test_training_rounds_survive_a_dead_rollout_worker(restaurant):
    from dialog_rl.policies import make_learner
    from dialog_rl.train.collect import Collector, LearnerSpec

    spec = LearnerSpec(restaurant, {"noise": 0.2}, "linucb", 3, {})
    learner = make_learner("linucb", restaurant, _obs_spec(restaurant), 3)
    local = Collector(spec)
    pooled = Collector(spec, workers=2)
    try:
        assert _episodes(pooled.collect(learner, range(40))) == _episodes(
            local.collect(learner, range(40))
        )
        for pid in _pool_workers():
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        assert _episodes(pooled.collect(learner, range(40, 80))) == _episodes(
            local.collect(learner, range(40, 80))
        )
    finally:
        pooled.close()
        local.close()


def _obs_spec(domain):
    from dialog_rl.env import DialogueEnv

    return DialogueEnv(domain, noise=0.2).spec_obs


def _episodes(episodes) -> list:
    return [(e.outcome["turns"], e.outcome["reward"], e.actions.tolist()) for e in episodes]


def test_worker_lost_error_is_a_run_failure():
    from dialog_rl.run_errors import RunFailedError

    assert issubclass(WorkerLostError, RunFailedError)
