"""NaN or inf in a reward, a feature or a loss is caught where it enters, naming episode and turn
(or training episode and update); the command line says so in one line with exit code 1."""

from __future__ import annotations

import dataclasses
import pickle
import re

import numpy as np
import pytest

from dialog_rl.cli import main
from dialog_rl.env import DialogueEnv, LifetimeEnv
from dialog_rl.env.engine import Engine
from dialog_rl.env.vector import DialogueVectorEnv
from dialog_rl.numerics import NumericalError, check_losses
from dialog_rl.policies import RulePolicy
from dialog_rl.policies.bandits import EpsilonGreedyLearner
from dialog_rl.rollout.runner import run_episode
from dialog_rl.train.loop import TrainConfig, train

SEED = 0


def _success_turn(domain, episode: int) -> int | None:
    """The last turn of rule-policy episode ``episode`` of run SEED if it succeeds, else None."""
    env = DialogueEnv(domain)
    o = run_episode(env, RulePolicy(domain, env.spec_obs), episode, SEED, explore=False).outcome
    return o["turns"] - 1 if o["success"] else None


def test_nan_reward_is_caught_in_the_env_step_with_its_turn(restaurant):
    env = DialogueEnv(dataclasses.replace(restaurant, r_turn=float("nan")))
    env.reset(seed=123)
    with pytest.raises(NumericalError, match=r"reward is nan at turn 0, env seed 123"):
        env.step(int(np.flatnonzero(env.refresh()[1])[0]))


def test_simulate_names_episode_and_turn_of_an_inf_reward(restaurant, monkeypatch, capsys):
    """The run stops at the first success it plays (which one comes first depends on how many
    conversations are stepped together) and names that episode and turn."""
    bad = dataclasses.replace(restaurant, r_success=float("inf"))
    monkeypatch.setattr("dialog_rl.domain.load_domain", lambda path, *roots: bad)
    code = main(
        [
            *("simulate", "--scenario", "x.yaml", "--policy", "rule", "--episodes", "200"),
            *("--seed", str(SEED), "--no-progress", "--greedy"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1, err
    found = re.search(r"reward is inf at episode (\d+), turn (\d+)\b", err)
    assert found, err
    episode, turn = int(found[1]), int(found[2])
    assert _success_turn(restaurant, episode) == turn, err
    assert "Traceback" not in err and err.count("\n") == 1


def test_nan_feature_is_caught_naming_the_feature_episode_and_turn(restaurant, monkeypatch):
    original = Engine.step_into

    def step_into(self, *args):
        original(self, *args)
        # the tracker counts every user turn, the opening included: its turn 2 is the
        # observation the policy acts on at (0-based, logged) turn 1
        if self.beliefs.turn[0] == 2:
            self.obs[0, 1] = np.nan  # the second feature: the first slot's confidence

    monkeypatch.setattr(Engine, "step_into", step_into)
    env = DialogueEnv(restaurant)
    policy = RulePolicy(restaurant, env.spec_obs)
    name = env.spec_obs.names[1]
    from dialog_rl.rollout.backends import RolloutJob, RolloutWorker

    job = RolloutJob(domain=restaurant, policy="rule", episodes=5, seed=SEED)
    with pytest.raises(NumericalError) as err:
        RolloutWorker(job).play(range(3, 5))
    assert str(err.value).startswith(f"feature {name!r} is nan at episode 3, turn 1,")
    # the same through a bare env: no episode index, but the turn and the seed that replays it
    env.reset(seed=5)
    with pytest.raises(NumericalError, match=rf"feature '{name}' is nan at turn 1, env seed 5"):
        for _ in range(3):
            env.step(policy.act(*_obs_mask(env), explore=False).action)


def _obs_mask(env):
    e = env.engine  # what the policy sees now (refresh() would recompute over the planted nan)
    return e.obs[0].copy(), e.masks[0].copy()


def test_array_engine_names_the_episode_of_a_nan_reward(restaurant):
    vec = DialogueVectorEnv(restaurant, 4, engine="array")
    vec.reset(seed=SEED)
    vec.engine._rewards[:] = np.nan  # every outcome's reward
    policy = RulePolicy(restaurant, vec.spec_obs)
    obs, infos = vec.engine.obs, {"action_mask": vec.engine.masks}
    actions, _ = policy.act_batch(obs, infos["action_mask"], explore=False)
    with pytest.raises(NumericalError, match=r"reward is nan at episode 0, turn 0"):
        vec.step(actions)


def test_loop_engine_names_the_episode_of_a_nan_reward(restaurant):
    vec = DialogueVectorEnv(dataclasses.replace(restaurant, r_turn=np.nan), 3, engine="loop")
    vec.reset(seed=SEED, options={"first_episode": 40})
    policy = RulePolicy(restaurant, vec.spec_obs)
    actions, _ = policy.act_batch(vec.engine.obs, vec.engine.masks, explore=False)
    with pytest.raises(NumericalError, match=r"reward is nan at episode 40, turn 0"):
        vec.step(actions)


def test_lifetime_env_names_the_visit_and_lifetime_turn(domains):
    domain = dataclasses.replace(domains["order_support"], r_turn=float("nan"))
    env = LifetimeEnv(domain)
    _, info = env.reset(seed=9)
    with pytest.raises(NumericalError, match=r"reward \(visit 0\) is nan at turn 0, env seed 9"):
        env.step(int(np.flatnonzero(info["action_mask"])[0]))


def test_nan_loss_stops_training_at_the_update_that_diverged(restaurant, monkeypatch):
    original = EpsilonGreedyLearner.learn

    def learn(self, episode):
        metrics = original(self, episode)
        if self.episodes_seen == 4:
            metrics["losses/mse"] = float("nan")
        self.episodes_seen += 1
        return metrics

    monkeypatch.setattr(EpsilonGreedyLearner, "episodes_seen", 0, raising=False)
    monkeypatch.setattr(EpsilonGreedyLearner, "learn", learn)
    config = TrainConfig("egreedy", dialogues=10, eval_every=100, eval_episodes=2)
    with pytest.raises(NumericalError, match=r"loss 'losses/mse' is nan at episode 4\b"):
        train(restaurant, config)


def test_inf_q_value_is_caught_and_undefined_metrics_are_not():
    check_losses({"losses/explained_variance": float("nan"), "charts/epsilon": 0.1}, 0, 0)
    with pytest.raises(NumericalError, match=r"loss 'values/q' is inf at episode 7, update 3"):
        check_losses({"values/q": float("inf")}, 7, 3)


def test_numerical_error_survives_pickling_between_processes():
    err = NumericalError("reward", float("nan"), turn=3, seed=11).at_episode(5)
    back = pickle.loads(pickle.dumps(err))
    assert str(back) == str(err) == "reward is nan at episode 5, turn 3, env seed 11"


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan, 2.0**64])
def test_array_engine_names_the_episode_and_feature_of_a_non_finite_observation(
    restaurant, monkeypatch, bad
):
    original = Engine.step_into

    def step_into(self, *args):
        original(self, *args)
        self.obs[2, 7] = bad  # slot 2's eighth feature, after its first turn

    monkeypatch.setattr(Engine, "step_into", step_into)
    vec = DialogueVectorEnv(restaurant, 4, engine="array")
    vec.reset(seed=SEED)
    policy = RulePolicy(restaurant, vec.spec_obs)
    actions, _ = policy.act_batch(vec.engine.obs, vec.engine.masks, explore=False)
    name = vec.spec_obs.names[7]
    said = re.escape(str(bad))  # a value whose square overflows counts as not finite
    with pytest.raises(NumericalError, match=rf"feature '{name}' is {said} at episode 2, turn 1"):
        vec.step(actions)
    assert vec.engine.finite(np.zeros(4), np.array([0, 1, 3]))  # the other slots pass
