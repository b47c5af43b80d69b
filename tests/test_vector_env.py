"""The vector env: Gymnasium's contract, and the very conversations DialogueEnv plays."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import (
    check_reset_options,
    check_reset_return_info_deprecation,
    check_reset_return_type,
    check_reset_seed_determinism,
    check_returned_data_not_reused,
    check_seed_deprecation,
)
from gymnasium.vector import AutoresetMode

from dialog_rl.env import DialogueEnv
from dialog_rl.env.vector import DialogueVectorEnv, episode_seeds
from dialog_rl.policies import RandomPolicy, RulePolicy
from dialog_rl.policies.base import Policy, sample, sample_rows
from dialog_rl.rollout.batched import run_batched, run_batched_columns
from dialog_rl.rollout.runner import episode_seed, run_episode, run_episodes

ENGINES = ("loop", "array")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("num_envs", [1, 3])
def test_passes_gymnasiums_checks_that_apply_to_vector_envs(restaurant, engine, num_envs):
    vec = DialogueVectorEnv(restaurant, num_envs, engine=engine)
    assert vec.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP
    for check in (
        check_reset_seed_determinism,
        check_reset_return_type,
        check_reset_options,
        check_seed_deprecation,
        check_reset_return_info_deprecation,
    ):
        check(vec)
    if num_envs == 1:  # this check reads `terminated` as one flag
        check_returned_data_not_reused(vec)
    obs, infos = vec.reset(seed=5)
    assert obs in vec.observation_space and obs.dtype == np.float32
    assert infos["action_mask"].shape == (num_envs, restaurant.n_actions)
    actions = vec.action_space.sample()
    obs, rewards, terminated, truncated, infos = vec.step(actions)
    assert obs in vec.observation_space
    assert rewards.shape == terminated.shape == truncated.shape == (num_envs,)
    assert terminated.dtype == truncated.dtype == bool


def _random_actions(masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.array([rng.choice(np.flatnonzero(m)) for m in masks])


@pytest.mark.parametrize("scenario", ["restaurant", "order_support", "shopping"])
@pytest.mark.parametrize("noise", [0.0, 0.3, 1.0])
def test_array_engine_steps_exactly_like_the_loop_of_dialogue_envs(domains, scenario, noise):
    """Every observation, mask, reward, flag and outcome, step by step, under random actions.

    If this fails after a change to the simulator, tracker or featurizer, mirror the change in
    simulators/batch_agenda.py or dialog_rl/env/batch_engine.py.
    """
    d = domains[scenario]
    loop = DialogueVectorEnv(d, 24, noise=noise, engine="loop")
    array = DialogueVectorEnv(d, 24, noise=noise, engine="array")
    a, ia = loop.reset(seed=3)
    b, ib = array.reset(seed=3)
    rng = np.random.default_rng(0)
    finished = 0
    for t in range(120):
        np.testing.assert_array_equal(a, b, err_msg=f"observations differ at step {t}")
        np.testing.assert_array_equal(ia["action_mask"], ib["action_mask"])
        np.testing.assert_array_equal(ia["episode"], ib["episode"])
        actions = _random_actions(ia["action_mask"], rng)
        a, ra, ta, tra, ia = loop.step(actions)
        b, rb, tb, trb, ib = array.step(actions)
        for x, y in ((ra, rb), (ta, tb), (tra, trb)):
            np.testing.assert_array_equal(x, y, err_msg=f"step {t}")
        assert ("final_info" in ia) == ("final_info" in ib)
        if "final_info" in ia:
            np.testing.assert_array_equal(ia["final_obs"], ib["final_obs"])
            for key, value in ia["final_info"].items():
                np.testing.assert_array_equal(value, ib["final_info"][key], err_msg=key)
            finished += int(ia["_final_info"].sum())
    assert finished > 50  # many conversations ended and restarted in their slots


@pytest.mark.parametrize("engine", ENGINES)
def test_slot_episodes_are_the_runs_episodes_by_index(restaurant, engine):
    """Episode k of the vector env is DialogueEnv.reset(seed=episode_seed(S, k)), any slot."""
    vec = DialogueVectorEnv(restaurant, 4, noise=0.2, engine=engine)
    env = DialogueEnv(restaurant, noise=0.2)
    obs, infos = vec.reset(seed=9)
    rng = np.random.default_rng(1)
    singles = {}
    for _ in range(40):
        for i, k in enumerate(infos["episode"].tolist()):
            if k not in singles:
                first, info = env.reset(seed=episode_seed(9, k))
                np.testing.assert_array_equal(first, obs[i])
                np.testing.assert_array_equal(info["action_mask"], infos["action_mask"][i])
                singles[k] = True
        obs, _, _, _, infos = vec.step(_random_actions(infos["action_mask"], rng))
    assert len(singles) > 8


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("policy_name", ["rule", "random"])
def test_batched_rollout_plays_the_same_episodes_as_run_episodes(restaurant, engine, policy_name):
    env = DialogueEnv(restaurant, noise=0.3)
    policy = (
        RulePolicy(restaurant, env.spec_obs, epsilon=0.2)
        if policy_name == "rule"
        else RandomPolicy(restaurant)
    )
    expected = list(run_episodes(env, policy, range(150), 4))
    vec = DialogueVectorEnv(restaurant, 16, noise=0.3, engine=engine)
    got = list(run_batched(vec, policy, 150, 4, keep_data=True))
    assert [g.episode for g in got] == list(range(150))
    assert [g.outcome for g in got] == [e.outcome for e in expected]
    # the arrays a learner gets match a one-at-a-time replay of the same episode
    for k in (0, 17, 149):
        decisions: list = []
        run_episode(env, policy, k, 4, on_decision=lambda *args, out=decisions: out.append(args))
        data = got[k].data
        np.testing.assert_array_equal(data.obs, np.stack([o for o, _, _ in decisions]))
        np.testing.assert_array_equal(data.actions, [d.action for _, _, d in decisions])
        np.testing.assert_array_equal(data.propensities, [d.propensity for _, _, d in decisions])
        assert data.rewards.sum() == pytest.approx(got[k].outcome["reward"])


class BatchedRandom(RandomPolicy):
    """A policy with its own act_batch: gets array-backed streams in batched rollouts."""

    def act_batch(self, obs, masks, *, explore=True, rng=None):
        m = masks.astype(np.float64)
        return sample_rows(m / m.sum(axis=1, keepdims=True), rng, explore)


def test_policies_with_their_own_act_batch_draw_the_same_exploration(restaurant):
    env = DialogueEnv(restaurant, noise=0.3)
    expected = [r.outcome for r in run_episodes(env, RandomPolicy(restaurant), range(120), 8)]
    vec = DialogueVectorEnv(restaurant, 16, noise=0.3)
    got = [e.outcome for e in run_batched(vec, BatchedRandom(restaurant), 120, 8)]
    assert got == expected


def test_a_batched_run_of_a_range_parks_slots_past_its_end(restaurant):
    env = DialogueEnv(restaurant)
    policy = RulePolicy(restaurant, env.spec_obs)
    expected = [r.outcome for r in run_episodes(env, policy, range(50, 90), 2)]
    vec = DialogueVectorEnv(restaurant, 32)
    got = list(run_batched(vec, policy, range(50, 90), 2))
    assert [e.episode for e in got] == list(range(50, 90))
    assert [e.outcome for e in got] == expected
    assert not vec.active.all()  # slots that would have started episode 90+ stood still
    assert vec.episodes.max() < 90


def test_batched_columns_report_the_same_episodes_as_batched_rollouts(restaurant):
    env = DialogueEnv(restaurant, noise=0.3)
    policy = RulePolicy(restaurant, env.spec_obs, epsilon=0.2)
    expected = [
        e.outcome
        for e in run_batched(
            DialogueVectorEnv(restaurant, 16, noise=0.3), policy, range(10, 130), 6
        )
    ]
    vec = DialogueVectorEnv(restaurant, 16, noise=0.3)
    blocks = list(run_batched_columns(vec, policy, range(10, 130), 6))
    episodes = np.concatenate([b["episode"] for b in blocks])
    assert sorted(episodes.tolist()) == list(range(10, 130))
    order = np.argsort(episodes)
    for key in expected[0]:
        column = np.concatenate([b[key] for b in blocks])[order]
        assert column.tolist() == [o[key] for o in expected], key


def test_episode_seeds_on_arrays_are_the_runners_rule():
    ks = np.array([0, 1, 2, 999, 1 << 40, (1 << 62) + 7])
    for seed in (0, 1, -1, 12345678901234, (1 << 64) + 5):
        assert episode_seeds(seed, ks).tolist() == [episode_seed(seed, int(k)) for k in ks]


def test_default_act_batch_and_sample_rows_repeat_act_row_by_row(restaurant):
    env = DialogueEnv(restaurant, noise=0.3)
    policy = RulePolicy(restaurant, env.spec_obs, epsilon=0.5)
    obs, masks = [], []
    for k in range(12):
        o, info = env.reset(seed=k)
        obs.append(o)
        masks.append(info["action_mask"])
    obs, masks = np.stack(obs), np.stack(masks)
    gens = [np.random.default_rng(k) for k in range(12)]
    actions, props = policy.act_batch(obs, masks, explore=True, rng=gens)
    again = [np.random.default_rng(k) for k in range(12)]
    one = [policy.act(obs[i], masks[i], explore=True, rng=again[i]) for i in range(12)]
    assert actions.tolist() == [d.action for d in one]
    assert props.tolist() == [d.propensity for d in one]
    probs = np.stack([policy.probabilities(obs[i], masks[i]) for i in range(12)])
    rows, _ = sample_rows(probs, [np.random.default_rng(k) for k in range(12)])
    assert rows.tolist() == [sample(probs[i], np.random.default_rng(i)) for i in range(12)]
    assert Policy.act_batch is type(policy).act_batch  # the default under test


def test_bad_arguments_are_refused_with_a_reason(restaurant):
    with pytest.raises(ValueError, match="num_envs"):
        DialogueVectorEnv(restaurant, 0)
    with pytest.raises(ValueError, match="act channel"):
        DialogueVectorEnv(restaurant, 2, channel="text", engine="array")
    vec = DialogueVectorEnv(restaurant, 2, channel="text")
    assert vec.engine_name == "loop"
    vec = DialogueVectorEnv(restaurant, 2)
    assert vec.engine_name == "array"
    vec.reset(seed=0)
    with pytest.raises(ValueError, match="expected 2 actions"):
        vec.step(np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="outside the catalog"):
        vec.step(np.array([0, restaurant.n_actions]))
