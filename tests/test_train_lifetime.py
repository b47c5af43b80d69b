"""Training on customer lifetimes: determinism, resume, checkpoints, and running either kind of
policy on either environment."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dialog_rl.cli import main
from dialog_rl.env import DialogueEnv, LifetimeEnv
from dialog_rl.env.lifetime_env import HISTORY_FEATURES
from dialog_rl.policies import make_learner, make_policy
from dialog_rl.policies.bandits import credit_targets
from dialog_rl.policies.checkpoint import (
    TENSORS,
    CheckpointError,
    content_hash,
    read_checkpoint,
)
from dialog_rl.policies.remap import RemappedPolicy, feature_map
from dialog_rl.train import StopAfter, TrainConfig, play_episode, train
from dialog_rl.train.state import LIFETIME_GAMMA

ROOT = Path(__file__).resolve().parent.parent
ORDERS = str(ROOT / "scenarios" / "order_support.yaml")
RESTAURANT = str(ROOT / "scenarios" / "restaurant.yaml")
FINAL_FILES = ("final/policy.safetensors", "final/policy.json", "curve.csv")


@pytest.fixture(scope="module")
def orders(domains):
    return domains["order_support"]


def _config(**kw) -> TrainConfig:
    args = dict(dialogues=40, eval_every=20, eval_episodes=8, checkpoint_every=20, lifetime=True)
    return TrainConfig("egreedy", **{**args, **kw})


def _same(a: Path, b: Path) -> bool:
    return all((a / n).read_bytes() == (b / n).read_bytes() for n in FINAL_FILES)


def test_lifetime_training_is_deterministic_and_the_checkpoint_says_lifetimes(tmp_path, orders):
    result = train(orders, _config(), tmp_path / "a")
    train(orders, _config(), tmp_path / "b")
    assert _same(tmp_path / "a", tmp_path / "b")
    assert result.conversations > result.episodes == 40  # customers come back
    meta = read_checkpoint(tmp_path / "a").meta
    assert meta["trained_on"] == "lifetimes"
    assert meta["observation_spec"]["features"][-5:] == list(HISTORY_FEATURES)
    assert meta["hyperparameters"]["gamma"] == LIFETIME_GAMMA
    assert meta["training"]["conversations"] == result.conversations
    row = result.curve[-1]
    assert {"life/value", "life/retention", "life/visits", "dialog/success"} <= set(row)
    assert row["conversations"] == result.conversations
    train(orders, _config(seed=1), tmp_path / "c")
    assert not _same(tmp_path / "a", tmp_path / "c")


def test_stopped_lifetime_run_resumes_to_the_same_bytes(tmp_path, orders):
    train(orders, _config(), tmp_path / "straight")
    stopped = train(orders, _config(), tmp_path / "run", callbacks=[StopAfter(20)])
    assert stopped.stopped and stopped.episodes == 20
    done = train(orders, _config(), tmp_path / "run", resume=True)
    assert done.episodes == 40 and done.conversations > 40
    assert _same(tmp_path / "straight", tmp_path / "run")


def test_conversation_runs_record_conversations_and_keep_their_discount(tmp_path, orders):
    result = train(orders, _config(lifetime=False, dialogues=20), tmp_path / "run")
    meta = read_checkpoint(tmp_path / "run").meta
    assert meta["trained_on"] == "conversations"
    assert meta["hyperparameters"]["gamma"] == 1.0  # the bandit's own default
    assert result.conversations == 20
    assert "conversations" not in result.curve[-1]


def make_policy_learner(domain, env):
    return make_learner("egreedy", domain, env.spec_obs, 0)


def test_training_episodes_mark_where_each_visit_ended(orders):
    env = LifetimeEnv(orders)
    learner = make_policy_learner(orders, env)
    rng = np.random.default_rng(0)
    for i in range(10):
        ep = play_episode(env, learner, i, 0, rng)
        assert ep.ends is not None and ep.ends[-1]
        assert int(ep.ends.sum()) == ep.outcome["visits"]
    conv = DialogueEnv(orders)
    assert play_episode(conv, make_policy_learner(orders, conv), 0, 0, rng).ends is None


def test_outcome_credit_on_a_lifetime_adds_each_visits_outcome_and_the_later_visits():
    # two visits: turns cost -1, the first ends +19 (success), the second -11 (failure)
    rewards = np.array([-1.0, -1.0, 19.0, -1.0, -11.0])
    ends = np.array([False, False, True, False, True])
    y = credit_targets(rewards, "outcome", turn_reward=-1.0, gamma=1.0, ends=ends)
    # visit 1: own reward + outcome (20) + later visits (-12); visit 2: own + outcome (-10)
    assert y.tolist() == [7.0, 7.0, 7.0, -11.0, -11.0]
    half = credit_targets(rewards, "outcome", turn_reward=-1.0, gamma=0.5, ends=ends)
    assert half[:3].tolist() == [-1 + 19 + 1 - 0.5 * 1 - 0.25 * 11] * 2 + [19 - 0.5 - 2.75]
    # one conversation: exactly the per-conversation credit
    one = credit_targets(rewards[3:], "outcome", -1.0, 1.0, ends[3:])
    assert one.tolist() == credit_targets(rewards[3:], "outcome", -1.0).tolist()


def test_outcome_credit_with_a_forecast_replaces_the_later_visits_lottery():
    rewards = np.array([-1.0, -1.0, 19.0, -1.0, -11.0])
    ends = np.array([False, False, True, False, True])
    future = np.array([30.0, 5.0])  # forecast value of the visits after each conversation
    y = credit_targets(rewards, "outcome", -1.0, 1.0, ends, future)
    assert y.tolist() == [49.0, 49.0, 49.0, -6.0, -6.0]
    # a customer who never came back is credited with the forecast too, not with 0
    one = credit_targets(rewards[:3], "outcome", -1.0, 1.0, ends[:3], future[:1])
    assert one.tolist() == [49.0, 49.0, 49.0]


def test_the_forecast_learns_that_resolved_visits_bring_customers_back(orders):
    # on-policy: while the agent is still poor, a customer who comes back costs more than they
    # bring, so the forecast only rewards resolution once the policy has learned something
    result = train(orders, _config(dialogues=800, eval_every=800, eval_episodes=2))
    learner = result.learner
    assert learner.forecast is not None
    w = dict(zip(("success", "failure", "handover"), learner.forecast.w[:3]))
    assert w["success"] > w["failure"] + 5 and w["success"] > w["handover"] + 5
    arrays, meta = learner.state()
    assert {"forecast_A", "forecast_b"} <= set(arrays)
    twin = make_learner("egreedy", orders, LifetimeEnv(orders).spec_obs, 0, **learner.config())
    twin.load_state(arrays, meta)
    assert np.array_equal(twin.forecast.w, learner.forecast.w)
    del arrays["forecast_b"]
    with pytest.raises(ValueError, match="forecast_b"):
        twin.load_state(arrays, meta)
    # a learner on single conversations has no forecast to keep
    assert make_policy_learner(orders, DialogueEnv(orders)).forecast is None


def test_remapped_policy_decides_as_the_policy_does_on_its_own_features(orders):
    life, conv = LifetimeEnv(orders), DialogueEnv(orders)
    learner = make_policy_learner(orders, conv)
    learner.theta[:] = np.random.default_rng(1).normal(size=learner.theta.shape)
    view = RemappedPolicy(learner, feature_map(conv.spec_obs, life.spec_obs))
    obs, info = life.reset(seed=3)
    obs = obs.copy()
    obs[-5:] = [0.2, 0.5, 1.0, 0.0, 0.0]  # a returning customer: ignored by this policy
    mask = info["action_mask"]
    assert (
        view.act(obs, mask, explore=False).action
        == learner.act(obs[: conv.spec_obs.size], mask, explore=False).action
    )
    batch = view.act_batch(np.stack([obs, obs]), np.stack([mask, mask]), explore=False)
    assert batch[0].tolist() == [learner.act(obs[:-5], mask, explore=False).action] * 2
    # the other way: a lifetime policy on one conversation sees a first visit (history all 0)
    back = feature_map(life.spec_obs, conv.spec_obs)
    assert back[-5:].tolist() == [-1] * 5
    short = conv.reset(seed=3)[0]
    seen = RemappedPolicy(make_policy_learner(orders, life), back).observe(short)
    assert seen[:-5].tolist() == short.tolist() and seen[-5:].tolist() == [0.0] * 5


def test_a_spec_that_differs_beyond_history_features_is_refused(orders, domains):
    conv = DialogueEnv(orders).spec_obs
    other = type(conv)((*conv.names[:-1], "something.else"), conv.action_names)
    with pytest.raises(ValueError, match=r"something\.else"):
        feature_map(other, conv)
    with pytest.raises(ValueError, match="action catalogs"):
        feature_map(conv, type(conv)(conv.names, conv.action_names[:-1]))


def test_simulate_lifetime_runs_both_kinds_of_trained_policy(tmp_path, capsys):
    base = ["train", "--scenario", ORDERS, "--algo", "egreedy", "--eval-every", "20"]
    base += ["--eval-episodes", "5", "--no-progress"]
    assert main([*base, "--dialogues", "20", "--out", str(tmp_path / "conv")]) == 0
    assert main([*base, "--dialogues", "20", "--lifetime", "--out", str(tmp_path / "life")]) == 0
    out = capsys.readouterr().out
    assert "20 training customers (" in out and "lifetime value" in out
    # the command it suggests plays as the evaluation above did: greedily
    assert f"--policy {tmp_path / 'life'} --lifetime --greedy\n" in out
    sim = ["simulate", "--scenario", ORDERS, "--episodes", "10", "--greedy", "--no-progress"]
    for run in ("conv", "life"):
        assert main([*sim, "--lifetime", "--policy", str(tmp_path / run)]) == 0
        assert "lifetime value" in capsys.readouterr().out
        assert main([*sim, "--policy", str(tmp_path / run)]) == 0
        assert "success" in capsys.readouterr().out


def test_lifetime_training_errors_are_one_line(tmp_path, capsys):
    args = ["train", "--algo", "egreedy", "--dialogues", "5", "--no-progress", "--lifetime"]
    assert main([*args, "--scenario", RESTAURANT, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no `lifetime` section" in err
    assert not (tmp_path / "r").exists()
    bad = [*args, "--scenario", ORDERS, "--gamma", "0.9", "--hp", "gamma=0.8"]
    assert main([*bad, "--out", str(tmp_path / "g")]) == 2
    assert "gamma given twice" in capsys.readouterr().err
    run = [*args, "--scenario", ORDERS, "--eval-episodes", "3", "--out", str(tmp_path / "run")]
    assert main(run) == 0
    capsys.readouterr()
    without = [a for a in run if a != "--lifetime"]
    assert main([*without, "--resume"]) == 2
    assert "started with lifetime=True, this command has lifetime=False" in capsys.readouterr().err


def test_gamma_flag_sets_the_learners_discount(tmp_path):
    args = ["train", "--scenario", ORDERS, "--algo", "egreedy", "--dialogues", "4"]
    args += ["--eval-episodes", "3", "--no-progress", "--gamma", "0.9", "--out", str(tmp_path)]
    assert main(args) == 0
    meta = json.loads((tmp_path / "final" / "policy.json").read_text())
    assert meta["hyperparameters"]["gamma"] == 0.9 and meta["trained_on"] == "conversations"


def test_a_forged_observation_spec_is_refused_even_with_valid_hashes(tmp_path, orders):
    train(orders, _config(dialogues=4, eval_every=4), tmp_path / "run")
    final = tmp_path / "run" / "final"
    meta = json.loads((final / "policy.json").read_text())
    meta["observation_spec"]["features"][0] = "nonsense"
    meta["content_hash"] = content_hash((final / TENSORS).read_bytes(), meta)
    (final / "policy.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"spec differs.*'nonsense'"):
        make_policy(str(tmp_path / "run"), orders, DialogueEnv(orders).spec_obs)


def test_lifetime_training_with_the_progress_bar_shows_lifetime_value(tmp_path, capsys):
    # The bar's postfix once read the conversation reward, which lifetime evaluations lack.
    from dialog_rl.train.callbacks import ProgressBar

    args = ["train", "--scenario", ORDERS, "--algo", "ppo", "--dialogues", "6", "--lifetime"]
    assert main([*args, "--eval-episodes", "3", "--out", str(tmp_path / "run")]) == 0
    bar = ProgressBar(disable=False)
    bar.bar = type("Bar", (), {"set_postfix": lambda self, d: setattr(bar, "shown", d)})()
    bar.on_evaluation({"dialog/success": 0.5, "life/value": 12.25})
    assert bar.shown == {"success": "50%", "value": "12.2"}
