"""Rollout backends: one seed, byte-identical logs and metrics in-process, in a pool, on Ray."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from dialog_rl.cli import main
from dialog_rl.domain import load_domain
from dialog_rl.rollout import backends
from dialog_rl.rollout.backends import (
    VECTOR_ENVS,
    WORKER_NICENESS,
    BackendError,
    RolloutJob,
    run_rollouts,
    start_ray,
)
from dialog_rl.rollout.logs import TEXT_COLUMNS, read_log
from dialog_rl.rollout.metrics import OutcomeColumns, concat_outcomes, summarize
from dialog_rl.train import TrainConfig, TrainError, train

SCENARIO = "scenarios/restaurant.yaml"
ROOT = Path(__file__).resolve().parent.parent
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


@pytest.fixture(scope="module")
def one_at_a_time(restaurant, tmp_path_factory):
    """The log and outcomes of one DialogueEnv conversation after another (utterances too)."""
    log_dir = tmp_path_factory.mktemp("one") / "log"
    outcomes, _ = _play(run_rollouts(_job(restaurant, log_dir, vector_envs=0, text=True)))
    return log_dir, outcomes


@pytest.mark.parametrize("vector_envs", [1, 7, 4096])
@pytest.mark.parametrize("text", [False, True])
def test_batched_logs_are_the_one_at_a_time_logs_for_any_batch_size(
    restaurant, tmp_path, one_at_a_time, in_process, vector_envs, text
):
    """Same rows and values (the very bytes) whatever the batch; without utterances the text
    columns are null and the rest is unchanged."""
    job = _job(restaurant, tmp_path / "log", vector_envs=vector_envs, text=text)
    outcomes, _ = _play(run_rollouts(job))
    log_dir, expected = one_at_a_time
    assert outcomes == expected
    got, want = read_log(tmp_path / "log"), read_log(log_dir)
    if text:
        assert got.equals(want, check_metadata=True)
        assert _parts(tmp_path / "log") == _parts(log_dir)
    else:
        for name in TEXT_COLUMNS:
            assert got.column(name).null_count == got.num_rows
        assert got.drop_columns(list(TEXT_COLUMNS)).equals(want.drop_columns(list(TEXT_COLUMNS)))
        assert _parts(tmp_path / "log") == in_process[0], "the default batch's, to the byte"


@pytest.mark.parametrize(("workers", "vector_envs"), [(1, VECTOR_ENVS), (2, VECTOR_ENVS), (2, 7)])
def test_process_pool_gives_byte_identical_parts_and_metrics(
    restaurant, tmp_path, in_process, workers, vector_envs
):
    job = _job(restaurant, tmp_path / "log", vector_envs=vector_envs)
    outcomes, starts = _play(backends.run_pool(job, workers))
    assert starts == [c.start for c in job.chunks(workers)], "chunks come back in episode order"
    parts, metrics = in_process
    assert _parts(tmp_path / "log") == parts
    assert summarize(outcomes) == metrics


@pytest.mark.parametrize("scenario", ["restaurant", "restaurant_booking"])
def test_outcome_columns_summarise_as_the_dicts_they_hold(scenario):
    """``summarize`` reads the columns (no dict per episode, booking counts included) and gives
    what it gives for the same outcomes as dicts."""
    domain = load_domain(str(ROOT / "scenarios" / f"{scenario}.yaml"))
    chunks = list(run_rollouts(_job(domain, None, episodes=300)))
    columns = concat_outcomes([c.outcomes for c in chunks])
    assert isinstance(columns, OutcomeColumns)
    assert summarize(columns) == summarize(list(columns))


@pytest.mark.slow
def test_text_channel_logs_are_the_same_batched_and_one_at_a_time(restaurant, tmp_path):
    """The text channel's vector env keeps a DialogueEnv per slot: its log is the same too."""
    job = _job(restaurant, None, episodes=60, channel="text", part_episodes=20)
    logs = {}
    for n in (0, 7):
        logs[n] = tmp_path / str(n)
        _play(run_rollouts(replace(job, vector_envs=n, log_dir=str(logs[n]))))
    assert _parts(logs[7]) == _parts(logs[0])
    assert read_log(logs[7]).column("user_text").null_count == 0


def test_resumed_batched_chunks_cover_only_the_missing_parts(restaurant):
    job = _job(restaurant, "log", episodes=1000, skip_parts=frozenset({1, 2, 5}), vector_envs=16)
    chunks = job.chunks(1)
    assert all(c.start % PART == 0 for c in chunks)
    played = {i // PART for c in chunks for i in c}
    assert played == set(range(25)) - {1, 2, 5}
    assert all(not ({1, 2, 5} & {i // PART for i in c}) for c in chunks)


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
    start_ray(num_cpus=2)
    try:
        job = _job(restaurant, tmp_path / "log")
        outcomes, starts = _play(run_rollouts(job, backend="ray", workers=2))
        assert ray.is_initialized(), "a Ray instance the caller started is left running"
        seven = replace(job, vector_envs=7, log_dir=str(tmp_path / "log7"))
        outcomes7, _ = _play(run_rollouts(seven, backend="ray", workers=2))
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
    assert starts == [c.start for c in job.chunks(2)]
    assert _parts(tmp_path / "log") == parts == _parts(tmp_path / "log7")
    assert summarize(outcomes) == metrics == summarize(outcomes7)


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_a_local_ray_instance_runs_its_workers_at_the_callers_priority(monkeypatch):
    """Ray runs its workers 15 steps nicer than the process that starts it, which starves a
    run's actors beside any busy process. A local instance that dialog-rl starts keeps the
    caller's priority; a ``RAY_worker_niceness`` the user set is kept, and the environment is
    left as it was."""
    import ray

    @ray.remote
    def niceness() -> int:
        return os.nice(0)

    monkeypatch.delenv(WORKER_NICENESS, raising=False)
    for setting, added in ((None, 0), ("2", 2)):
        if setting is not None:
            monkeypatch.setenv(WORKER_NICENESS, setting)
        start_ray(num_cpus=1)
        try:
            assert ray.get(niceness.remote()) == os.nice(0) + added
        finally:
            ray.shutdown()
        assert os.environ.get(WORKER_NICENESS) == setting


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
