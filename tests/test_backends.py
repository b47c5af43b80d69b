"""Rollout backends: one seed, byte-identical logs and metrics in-process, in a pool, on Ray."""

from __future__ import annotations

import json
import sys
from dataclasses import replace

import pyarrow.dataset as ds
import pytest

from dialog_rl.cli import main
from dialog_rl.rollout import backends
from dialog_rl.rollout.backends import BackendError, RolloutJob, run_rollouts
from dialog_rl.rollout.logs import read_log
from dialog_rl.rollout.metrics import summarize
from dialog_rl.scenario import load_domain
from dialog_rl.train import TrainConfig, TrainError, train

SCENARIO = "scenarios/restaurant.yaml"
EPISODES = 90
PART = 40  # 3 parts: 40 + 40 + 10 episodes


def _job(domain, log_dir, **kw) -> RolloutJob:
    base = dict(
        policy="rule",
        episodes=EPISODES,
        seed=11,
        noise=0.3,
        epsilon=0.2,
        log_dir=None if log_dir is None else str(log_dir),
        log_metadata={"dialog_rl.seed": "11"},
        part_episodes=PART,
    )
    base.update(kw)
    return RolloutJob(domain, **base)


def _parts(log_dir) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(log_dir.glob("part-*.parquet"))}


def _play(results) -> tuple[list[dict], list[int]]:
    outcomes, starts = [], []
    for chunk in results:
        starts.append(chunk.start)
        outcomes.extend(chunk.outcomes)
    return outcomes, starts


@pytest.fixture(scope="module")
def in_process(restaurant, tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("local") / "log"
    outcomes, _ = _play(run_rollouts(_job(restaurant, log_dir)))
    return _parts(log_dir), summarize(outcomes)


def test_in_process_run_writes_one_part_per_block_of_episodes(in_process):
    parts, metrics = in_process
    assert list(parts) == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert metrics["episodes"] == EPISODES


@pytest.mark.parametrize("workers", [1, 2])
def test_process_pool_gives_byte_identical_parts_and_metrics(
    restaurant, tmp_path, in_process, workers
):
    job = _job(restaurant, tmp_path / "log")
    outcomes, starts = _play(backends.run_pool(job, workers))
    assert starts == [0, 40, 80], "chunks must come back in episode order"
    parts, metrics = in_process
    assert _parts(tmp_path / "log") == parts
    assert summarize(outcomes) == metrics


def test_unlogged_pool_run_gives_the_same_outcomes_in_episode_order(restaurant, tmp_path):
    job = _job(restaurant, None, episodes=120)
    local, _ = _play(run_rollouts(job))
    pooled, starts = _play(run_rollouts(job, workers=2))
    assert pooled == local
    assert starts == sorted(starts) and len(starts) > 2  # load balanced in several chunks


@pytest.mark.slow
def test_batched_workers_play_the_same_episodes_for_any_batch_and_worker_count(restaurant):
    job = replace(_job(restaurant, None, episodes=200), vector_envs=16)
    local, _ = _play(run_rollouts(job))
    assert _play(run_rollouts(replace(job, vector_envs=7)))[0] == local
    assert _play(run_rollouts(job, workers=2))[0] == local


def _train(out, **kw) -> bytes:
    config = TrainConfig(
        algo="linucb",
        dialogues=120,
        seed=3,
        eval_every=60,
        eval_episodes=20,
        checkpoint_every=60,
        rollout_batch=25,
        **kw,
    )
    train(load_domain(SCENARIO), config, out)
    return b"".join(p.read_bytes() for p in sorted((out / "final").iterdir()))


def test_learners_collect_from_rollout_workers_with_results_independent_of_their_number(
    tmp_path,
):
    one = _train(tmp_path / "one")
    assert _train(tmp_path / "two", workers=2) == one
    assert (tmp_path / "two" / "curve.csv").read_bytes() == (
        tmp_path / "one" / "curve.csv"
    ).read_bytes()


def test_worker_options_without_rounds_are_refused():
    with pytest.raises(TrainError, match="--rollout-batch"):
        TrainConfig(algo="linucb", workers=2)


def test_logs_of_many_workers_read_as_one_dataset(restaurant, tmp_path):
    job = _job(restaurant, tmp_path / "log")
    outcomes, _ = _play(run_rollouts(job, workers=2))
    table = ds.dataset(tmp_path / "log", format="parquet").to_table()
    episodes = table.column("episode").to_pylist()
    assert sorted(set(episodes)) == list(range(EPISODES))
    assert table.num_rows == sum(o["turns"] for o in outcomes)
    assert read_log(tmp_path / "log").equals(table)


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_ray_backend_gives_byte_identical_parts_and_metrics(
    restaurant, tmp_path, in_process, monkeypatch
):
    import ray

    # a local run stopped by Ctrl-C after its first part, for Ray to resume below
    sim = ["simulate", "--scenario", SCENARIO, "--episodes", "120", "--part-episodes", "40"]
    sim += ["--seed", "5", "--epsilon", "0.1", "--no-progress", "--out"]
    real = backends.run_rollouts

    def stopped(*args, **kw):
        yield next(real(*args, **kw))
        raise KeyboardInterrupt

    monkeypatch.setattr(backends, "run_rollouts", stopped)
    assert main([*sim, str(tmp_path / "resumed")]) == 130
    monkeypatch.undo()
    kept = list(_parts(tmp_path / "resumed" / "log"))
    assert kept and kept[0] == "part-00000.parquet" and len(kept) < 3  # the first chunk's parts
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        job = _job(restaurant, tmp_path / "log")
        outcomes, starts = _play(run_rollouts(job, backend="ray", workers=2))
        assert ray.is_initialized(), "a Ray instance the caller started is left running"
        trained_on_ray = _train(tmp_path / "ray", workers=2, backend="ray")
        resume = [*sim, str(tmp_path / "resumed"), "--resume", "--backend", "ray"]
        assert main([*resume, "--workers", "2"]) == 0
    finally:
        ray.shutdown()
    assert trained_on_ray == _train(tmp_path / "local")
    assert main([*sim, str(tmp_path / "straight")]) == 0
    assert _parts(tmp_path / "resumed" / "log") == _parts(tmp_path / "straight" / "log")
    summaries = [
        json.loads((tmp_path / r / "summary.json").read_text()) for r in ("resumed", "straight")
    ]
    assert (
        summaries[0]["status"] == "complete" and summaries[0]["metrics"] == summaries[1]["metrics"]
    )
    parts, metrics = in_process
    assert starts == [0, 40, 80]
    assert _parts(tmp_path / "log") == parts
    assert summarize(outcomes) == metrics


def _simulate(out, *extra) -> dict:
    args = ["simulate", "--scenario", SCENARIO, "--episodes", "150", "--no-progress"]
    assert main([*args, "--seed", "5", "--epsilon", "0.1", "--out", str(out), *extra]) == 0
    return json.loads((out / "summary.json").read_text())


def test_simulate_with_two_workers_matches_one(tmp_path):
    one = _simulate(tmp_path / "one")
    two = _simulate(tmp_path / "two", "--workers", "2")
    assert two["metrics"] == one["metrics"]
    assert _parts(tmp_path / "two" / "log") == _parts(tmp_path / "one" / "log")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--backend", "dask"], "invalid choice"),
        (["--workers", "0"], "expected a number >= 1"),
    ],
)
def test_bad_backend_options_exit_2_with_one_message(tmp_path, capsys, extra, message):
    args = ["simulate", "--scenario", SCENARIO, "--episodes", "5", "--no-progress"]
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--out", str(tmp_path / "run"), *extra])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_address_without_ray_backend_exits_2_and_writes_nothing(tmp_path, capsys):
    args = ["simulate", "--scenario", SCENARIO, "--episodes", "5", "--no-progress"]
    assert main([*args, "--address", "127.0.0.1:6379", "--out", str(tmp_path / "run")]) == 2
    assert "--address needs --backend ray" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_missing_ray_is_a_usage_error_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    args = ["simulate", "--scenario", SCENARIO, "--episodes", "5", "--no-progress"]
    assert main([*args, "--backend", "ray", "--out", str(tmp_path / "run")]) == 2
    assert "pip install 'dialog-rl[ray]'" in capsys.readouterr().err
    assert not tmp_path.joinpath("run").exists()
    assert not list(tmp_path.glob(".run.tmp-*"))


def test_chunks_cover_every_episode_once_and_logging_chunks_are_whole_parts(restaurant):
    job = _job(restaurant, None, episodes=1001)
    for workers in (1, 2, 7):
        covered = [i for c in job.chunks(workers) for i in c]
        assert covered == list(range(1001))
    logged = replace(job, log_dir="x")
    assert all(c.start % PART == 0 for c in logged.chunks(2))
    with pytest.raises(BackendError, match="unknown backend"):
        next(run_rollouts(job, backend="dask"))
