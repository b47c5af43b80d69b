"""The training loop: determinism, resume after SIGKILL, callbacks, demonstrations, the CLI."""

from __future__ import annotations

import dataclasses
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dialog_rl.cli import main
from dialog_rl.env import DialogueEnv
from dialog_rl.policies import RulePolicy
from dialog_rl.policies.bandits import LinUCBLearner
from dialog_rl.rollout.logs import read_log
from dialog_rl.rollout.runner import episode_seed, policy_rng, run_episode
from dialog_rl.train import (
    Callback,
    DemoError,
    StopAfter,
    TrainConfig,
    evaluation_seeds,
    load_demos,
    play_episode,
    train,
)

ROOT = Path(__file__).resolve().parent.parent
RESTAURANT = str(ROOT / "scenarios" / "restaurant.yaml")
FINAL_FILES = ("final/policy.safetensors", "final/policy.json")


def _same_bytes(a: Path, b: Path, names=(*FINAL_FILES, "curve.csv")) -> bool:
    return all((a / n).read_bytes() == (b / n).read_bytes() for n in names)


# -- determinism -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algo", "dialogues"),
    [("egreedy", 150), ("linucb", 150), ("thompson", 150), ("dqn", 60), ("ppo", 60)],
)
def test_same_seed_gives_identical_curve_and_checkpoint_bytes(
    tmp_path, restaurant, algo, dialogues
):
    config = TrainConfig(
        algo, dialogues=dialogues, noise=0.15, eval_every=30, eval_episodes=20, checkpoint_every=50
    )
    train(restaurant, config, tmp_path / "a")
    train(restaurant, config, tmp_path / "b")
    assert _same_bytes(tmp_path / "a", tmp_path / "b")
    train(restaurant, dataclasses.replace(config, seed=1), tmp_path / "c")
    assert not _same_bytes(tmp_path / "a", tmp_path / "c", ("final/policy.safetensors",))


# -- resume ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_resume_after_sigkill_ends_with_the_same_final_checkpoint(tmp_path):
    args = ["train", "--scenario", RESTAURANT, "--algo", "thompson", "--dialogues", "600"]
    args += ["--noise", "0.15", "--checkpoint-every", "100", "--eval-every", "150"]
    args += ["--eval-episodes", "30", "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "straight")]) == 0

    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dialog_rl.cli", *args, "--out", str(killed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    halfway = killed / "checkpoints" / "ep-000000300"
    deadline = time.monotonic() + 300
    try:
        while not halfway.exists():
            assert proc.poll() is None, "training ended before it could be killed"
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.005)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "final").exists(), "killed too late: the run had finished"

    assert main([*args, "--out", str(killed), "--resume"]) == 0
    assert _same_bytes(tmp_path / "straight", killed)
    assert not list(killed.rglob(".*tmp*")), "temporaries left behind"


class _StopAtTurn(Callback):
    """Stops in the middle of a conversation once ``turns`` decisions have been made."""

    def __init__(self, turns: int) -> None:
        self.turns = turns
        self.seen = 0

    def on_step(self) -> bool:
        self.seen += 1
        return self.seen < self.turns


def test_stopping_mid_conversation_then_resuming_matches_an_uninterrupted_run(tmp_path, restaurant):
    config = TrainConfig(
        "egreedy", dialogues=120, noise=0.15, eval_every=40, eval_episodes=20, checkpoint_every=40
    )
    train(restaurant, config, tmp_path / "straight")
    stopped = train(restaurant, config, tmp_path / "run", callbacks=[_StopAtTurn(250)])
    assert stopped.stopped and 0 < stopped.episodes < 120
    assert stopped.learner.episodes == stopped.episodes  # the cut conversation was not learned
    done = train(restaurant, config, tmp_path / "run", resume=True)
    assert done.episodes == 120 and not done.stopped
    assert _same_bytes(tmp_path / "straight", tmp_path / "run")


def test_resume_skips_a_damaged_newest_checkpoint_and_still_ends_the_same(
    tmp_path, restaurant, capsys
):
    config = TrainConfig(
        "linucb", dialogues=90, noise=0.15, eval_every=30, eval_episodes=10, checkpoint_every=30
    )
    train(restaurant, config, tmp_path / "straight")
    stopped = train(restaurant, config, tmp_path / "run", callbacks=[StopAfter(60)])
    assert stopped.episodes == 60
    newest = tmp_path / "run" / "checkpoints" / "ep-000000060" / "policy.safetensors"
    newest.write_bytes(newest.read_bytes()[:-10])
    shutil.rmtree(tmp_path / "run" / "final")
    train(restaurant, config, tmp_path / "run", resume=True)
    assert "skipping damaged checkpoint" in capsys.readouterr().err
    assert _same_bytes(tmp_path / "straight", tmp_path / "run", FINAL_FILES)


def test_resume_refuses_different_arguments_in_one_line(tmp_path, capsys):
    args = ["train", "--scenario", RESTAURANT, "--algo", "linucb", "--dialogues", "20"]
    args += ["--eval-episodes", "5", "--no-progress", "--out", str(tmp_path / "run")]
    assert main(args) == 0
    capsys.readouterr()
    assert main([*args, "--resume", "--seed", "3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "started with seed=0, this command has seed=3" in err


def test_resume_refuses_a_run_of_other_conversations(tmp_path, capsys):
    args = ["train", "--scenario", RESTAURANT, "--algo", "linucb", "--dialogues", "20"]
    args += ["--eval-episodes", "5", "--no-progress", "--out", str(tmp_path / "run")]
    assert main(args) == 0
    run_json = tmp_path / "run" / "run.json"
    info = json.loads(run_json.read_text())
    info["config"]["conversations"] = 1
    run_json.write_text(json.dumps(info))
    capsys.readouterr()
    assert main([*args, "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "seeds play other conversations (version 1" in err


def test_existing_out_needs_resume_or_force(tmp_path, capsys):
    args = ["train", "--scenario", RESTAURANT, "--algo", "linucb", "--dialogues", "20"]
    args += ["--eval-episodes", "5", "--no-progress", "--out", str(tmp_path / "run")]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 2
    assert "already exists; pass --resume" in capsys.readouterr().err
    assert main([*args, "--force", "--seed", "4"]) == 0
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["config"]["seed"] == 4


def test_resuming_a_finished_run_with_more_dialogues_continues_it(tmp_path, restaurant):
    config = TrainConfig("linucb", dialogues=40, eval_every=20, eval_episodes=10)
    train(restaurant, config, tmp_path / "run")
    more = train(
        restaurant, dataclasses.replace(config, dialogues=60), tmp_path / "run", resume=True
    )
    assert more.episodes == 60
    assert [r["episode"] for r in more.curve] == [0, 20, 40, 60]


# -- loop contract -----------------------------------------------------------------------------


def test_callbacks_see_every_step_and_can_stop_after_an_episode(restaurant):
    class Count(Callback):
        steps = episodes = evaluations = 0

        def on_step(self):
            self.steps += 1
            return True

        def on_episode(self):
            self.episodes += 1
            return True

        def on_evaluation(self, row):
            self.evaluations += 1

    count = Count()
    config = TrainConfig("linucb", dialogues=100, eval_every=20, eval_episodes=5)
    result = train(restaurant, config, callbacks=[count, StopAfter(30)])
    assert result.stopped and result.episodes == 30 == count.episodes
    assert count.steps == result.curve[-1]["turns"]
    assert [r["episode"] for r in result.curve] == [0, 20, 30]
    assert count.evaluations == 3


def test_training_conversations_are_the_ones_simulate_plays(restaurant):
    env = DialogueEnv(restaurant, noise=0.15)
    rule = RulePolicy(restaurant, env.spec_obs, epsilon=0.2)
    rng = policy_rng(0)  # a scratch stream, re-seeded per episode
    for i in range(20):
        ep = play_episode(env, rule, i, 7, rng)
        rec = run_episode(env, rule, i, 7, record=True)
        assert ep.actions.tolist() == rec.turns["action"]
        assert ep.outcome == rec.outcome


def test_rounds_on_a_vector_env_are_the_episodes_played_one_at_a_time(restaurant):
    from dialog_rl.train.collect import LearnerSpec, RolloutPlayer

    def played(rows: int) -> list:
        spec = LearnerSpec(restaurant, {"noise": 0.15}, "dqn", 5, {}, rows=rows)
        player = RolloutPlayer(spec)
        assert (player.vec is None) == (rows == 1)
        return player.play_with(learner, range(30, 70))

    spec = LearnerSpec(restaurant, {"noise": 0.15}, "dqn", 5, {})
    learner = RolloutPlayer(spec).learner  # untrained: ε = 1 explores, so propensities vary
    one, batch = played(1), played(7)
    assert len(one) == len(batch) == 40
    for a, b in zip(one, batch):
        for field in ("obs", "masks", "actions", "rewards", "propensities", "final_obs"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
        assert a.outcome == b.outcome and a.terminated == b.terminated


def test_evaluation_on_a_vector_env_plays_the_same_held_out_conversations(restaurant):
    from dialog_rl.env.vector import DialogueVectorEnv
    from dialog_rl.train import evaluate

    rule = RulePolicy(restaurant, DialogueEnv(restaurant).spec_obs, epsilon=0.3)
    for explore in (False, True):
        one = evaluate(DialogueEnv(restaurant), rule, 60, 4, explore=explore)
        batch = evaluate(DialogueVectorEnv(restaurant, 16), rule, 60, 4, explore=explore)
        assert one == batch


def test_held_out_evaluation_seeds_are_never_training_seeds():
    held_out = set(evaluation_seeds(1000))
    assert len(held_out) == 1000
    for seed in range(3):
        assert not held_out & {episode_seed(seed, i) for i in range(4000)}


def test_run_directory_has_curve_csv_png_and_summary(tmp_path, restaurant):
    config = TrainConfig("egreedy", dialogues=60, eval_every=30, eval_episodes=10)
    train(restaurant, config, tmp_path / "run")
    lines = (tmp_path / "run" / "curve.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert header[:2] == ["episode", "turns"]
    for name in ("dialog/success", "dialog/reward", "dialog/turns", "rollout/reward"):
        assert name in header
    assert "losses/mse" in header and "charts/epsilon" in header
    assert [line.split(",")[0] for line in lines[1:]] == ["0", "30", "60"]
    assert (tmp_path / "run" / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["episodes"] == 60 and summary["cpu_seconds"] > 0
    assert [p.name for p in (tmp_path / "run" / "checkpoints").iterdir()] == ["ep-000000060"]


# -- demonstrations ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rule_log(tmp_path_factory):
    out = tmp_path_factory.mktemp("demos") / "rule"
    args = ["simulate", "--scenario", RESTAURANT, "--policy", "rule", "--episodes", "150"]
    assert main([*args, "--noise", "0.15", "--out", str(out), "--no-progress"]) == 0
    return out


def test_demos_warm_start_the_policy_before_the_first_dialogue(tmp_path, rule_log, restaurant):
    config = TrainConfig("linucb", dialogues=10, eval_every=10, eval_episodes=100, noise=0.15)
    cold = train(restaurant, config).curve[0]
    warm = train(restaurant, dataclasses.replace(config, demos=str(rule_log))).curve[0]
    assert cold["dialog/success"] < 0.2
    assert warm["dialog/success"] > 0.85
    assert warm["bc/accuracy"] > 0.85


def test_overridden_rows_are_weighted_up_and_passed_to_clone(
    tmp_path, rule_log, restaurant, monkeypatch
):
    table = read_log(rule_log)
    flags = np.zeros(table.num_rows, dtype=bool)
    flags[:7] = True
    i = table.schema.get_field_index("overridden")
    table = table.set_column(i, "overridden", pa.array(flags))
    pq.write_table(table, tmp_path / "tui.parquet")

    spec = DialogueEnv(restaurant).spec_obs
    demos = load_demos(tmp_path / "tui.parquet", restaurant, spec, override_weight=4.0)
    assert demos.overridden == 7
    assert demos.weights[:7].tolist() == [4.0] * 7 and np.all(demos.weights[7:] == 1.0)

    calls = []
    real_clone = LinUCBLearner.clone

    def spy(self, obs, masks, actions, weights):
        calls.append((obs, masks, actions, weights))
        return real_clone(self, obs, masks, actions, weights)

    monkeypatch.setattr(LinUCBLearner, "clone", spy)
    config = TrainConfig(
        "linucb",
        dialogues=5,
        eval_episodes=5,
        demos=str(tmp_path / "tui.parquet"),
        override_weight=4.0,
    )
    result = train(restaurant, config)
    assert len(calls) == 1
    obs, masks, actions, weights = calls[0]
    assert obs.shape == (table.num_rows, spec.size) and obs.dtype == np.float32
    assert masks.shape == (table.num_rows, restaurant.n_actions)
    assert np.array_equal(actions, table.column("action").to_numpy())
    assert np.array_equal(weights, demos.weights)
    assert result.curve[0]["bc/overridden"] == 7


def test_demos_from_another_scenario_are_refused(rule_log, domains):
    other = domains["shopping"]
    with pytest.raises(DemoError, match="logged on another scenario"):
        load_demos(rule_log, other, DialogueEnv(other).spec_obs)


def test_missing_demos_fail_in_one_line_and_write_nothing(tmp_path, capsys):
    args = ["train", "--scenario", RESTAURANT, "--algo", "linucb", "--dialogues", "20"]
    args += ["--demos", str(tmp_path / "nope"), "--out", str(tmp_path / "run")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such file or directory" in err
    assert not (tmp_path / "run").exists()


def test_simulate_runs_a_trained_policy_from_its_run_directory(tmp_path, capsys):
    args = ["train", "--scenario", RESTAURANT, "--algo", "thompson", "--dialogues", "200"]
    args += ["--eval-episodes", "20", "--no-progress", "--out", str(tmp_path / "run")]
    assert main(args) == 0
    sim = ["simulate", "--scenario", RESTAURANT, "--policy", str(tmp_path / "run")]
    assert main([*sim, "--episodes", "50", "--greedy", "--no-progress"]) == 0
    assert f"policy {tmp_path / 'run'}" in capsys.readouterr().out
