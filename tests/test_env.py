"""The dialogue environment: Gymnasium contract, termination vs truncation, no goal leakage."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from dialog_rl.env import DialogueEnv, featurizer, tracker
from dialog_rl.env.engine import Engine
from dialog_rl.policies import RandomPolicy, RulePolicy
from dialog_rl.rollout.runner import run_episode
from simulators.customer_state import Goal
from tests.conftest import SCENARIOS


@pytest.mark.parametrize("name", [p.stem for p in SCENARIOS])
def test_check_env_passes_on_every_scenario(domains, name):
    check_env(DialogueEnv(domains[name]), skip_render_check=True)


@pytest.mark.parametrize("name", [p.stem for p in SCENARIOS])
def test_check_env_passes_with_text(domains, name):
    check_env(DialogueEnv(domains[name], text=True, render_mode="ansi"))


def test_turn_limit_truncates_and_does_not_terminate(restaurant):
    env = DialogueEnv(restaurant, max_turns=3)
    repeat = restaurant.action_index("repeat")
    truncated_seen = False
    for seed in range(50):
        env.reset(seed=seed)
        for _ in range(3):
            _, _, terminated, truncated, info = env.step(repeat)
            if terminated or truncated:
                break
        if truncated:
            truncated_seen = True
            assert not terminated
            assert info["outcome"]["truncated"] and info["outcome"]["outcome"] == "truncated"
            assert env.turn == 3
    assert truncated_seen


def test_hang_up_and_success_terminate(restaurant):
    env = DialogueEnv(restaurant)
    policy = RulePolicy(restaurant, env.spec_obs)
    outcomes = {run_episode(env, policy, i, seed=1).outcome["outcome"] for i in range(300)}
    assert {"success", "hangup"} <= outcomes
    for i in range(50):
        rec = run_episode(env, policy, i, seed=1)
        assert rec.outcome["truncated"] is False


def test_handover_terminates_with_handover_reward(domains):
    d = domains["order_support"]
    env = DialogueEnv(d)
    env.reset(seed=0)
    _, reward, terminated, truncated, info = env.step(d.action_index("handover"))
    assert terminated and not truncated
    assert info["outcome"]["outcome"] == "handover"
    assert reward == pytest.approx(d.r_turn + d.r_handover)


def test_step_after_end_is_refused(restaurant):
    env = DialogueEnv(restaurant)
    env.reset(seed=0)
    env.step(restaurant.action_index("handover"))
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)


class _GoallessAgent:
    """A fresh one-row tracker and featurizer fed only what the agent heard and said."""

    def __init__(self, d, engine):
        own = Engine(d, 1, noise=engine.noise)  # the scenario's tables, its own belief row
        self.t, self.layout, _, self.b = own.refs
        tracker.reset(self.b, 0)
        self.obs, self.mask = own.obs, own.masks

    def observe(self, acts):
        heard = np.array([a[:3] for a in acts], dtype=np.int64).reshape(-1, 3)
        conf = np.array([a[3] for a in acts], dtype=np.float64)
        tracker.observe(self.t, self.b, 0, heard, conf, len(acts))
        featurizer.featurize(self.t, self.layout, self.b, 0, self.obs[0], self.mask[0])
        return self.obs[0], self.mask[0]


def test_observation_depends_on_goal_only_through_what_the_user_said(domains):
    """Replay the observed acts and system acts of real episodes through a fresh tracker that
    never sees a goal: the observations must match exactly."""
    for d in domains.values():
        env = DialogueEnv(d, noise=0.3)
        policy = RandomPolicy(d)
        for seed in range(20):
            obs, info = env.reset(seed=seed)
            agent = _GoallessAgent(d, env.engine)
            assert np.array_equal(agent.observe(info["observed_acts"])[0], obs)
            rng = np.random.default_rng(seed)
            done = False
            while not done:
                action = policy.act(obs, info["action_mask"], rng=rng).action
                obs, _, term, trunc, info = env.step(action)
                # what the agent itself said: its action, plus the value / entity it used (for
                # a booking, whether its own system found room)
                value, entity = int(env.engine.sys_value[0]), int(env.engine.sys_entity[0])
                tracker.system_act(agent.t, agent.b, 0, action, value, entity)
                seen, mask = agent.observe(info["observed_acts"])
                assert np.array_equal(seen, obs), (d.name, seed)
                assert np.array_equal(mask, info["action_mask"])
                done = term or trunc


def test_two_goals_with_the_same_observed_acts_give_the_same_observation(restaurant):
    env = DialogueEnv(restaurant, noise=0.0)
    goal_a = Goal([0, 5, 1], [0], -1, -1)
    goal_b = Goal([0, 5, 1], [1, 2], -1, -1)  # differs only in what is not yet said
    obs_a, info_a = env.reset(seed=3, options={"goal": goal_a, "persona": 0})
    obs_b, info_b = env.reset(seed=3, options={"goal": goal_b, "persona": 0})
    if info_a["observed_acts"] == info_b["observed_acts"]:
        assert np.array_equal(obs_a, obs_b)
    assert "goal" not in info_a


def test_masked_actions_have_reasons_and_allowed_ones_do_not(restaurant):
    env = DialogueEnv(restaurant)
    _, info = env.reset(seed=0)
    reasons = env.mask_reasons()
    for allowed, reason in zip(info["action_mask"], reasons):
        assert bool(allowed) == (reason == "")
    assert "no entity offered" in reasons[restaurant.action_index("inform(phone)")]


def test_same_seed_same_episode(restaurant):
    env = DialogueEnv(restaurant, text=True)
    policy = RulePolicy(restaurant, env.spec_obs)
    a = run_episode(env, policy, 7, seed=42, record=True)
    b = run_episode(env, policy, 7, seed=42, record=True)
    assert a.turns["user_text"] == b.turns["user_text"]
    assert a.outcome == b.outcome


def test_text_does_not_change_the_conversation(restaurant):
    policy = RulePolicy(restaurant, DialogueEnv(restaurant).spec_obs)
    for i in range(30):
        a = run_episode(DialogueEnv(restaurant, text=False), policy, i, seed=5)
        b = run_episode(DialogueEnv(restaurant, text=True), policy, i, seed=5)
        assert a.outcome == b.outcome
