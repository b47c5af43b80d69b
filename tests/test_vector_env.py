"""The vector env: Gymnasium's contract, its engines, and episodes that do not depend on the batch."""

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


def _rates(outcomes: list[dict]) -> np.ndarray:
    return np.array([[o["success"], o["turns"], o["hangup"]] for o in outcomes], dtype=float)


@pytest.mark.parametrize("scenario", ["restaurant", "order_support", "shopping"])
@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_array_engine_plays_the_scenario_with_the_loop_engines_statistics(domains, scenario, noise):
    """Success, turns and hang-ups of 2,000 conversations per engine agree within 4.5 standard
    errors (the engines draw different numbers; a behaviour that differs shows up here)."""
    d = domains[scenario]
    env = DialogueEnv(d, noise=noise)
    policy = RulePolicy(d, env.spec_obs, epsilon=0.2)
    loop = _rates([r.outcome for r in run_episodes(env, policy, range(2000), 1)])
    vec = DialogueVectorEnv(d, 256, noise=noise, engine="array")
    array = _rates([e.outcome for e in run_batched(vec, policy, 2000, 1)])
    se = np.sqrt(loop.var(axis=0) / len(loop) + array.var(axis=0) / len(array))
    diff = np.abs(loop.mean(axis=0) - array.mean(axis=0))
    assert (diff <= 4.5 * se + 1e-9).all(), (loop.mean(axis=0), array.mean(axis=0), se)


@pytest.mark.parametrize("policy_name", ["rule", "random"])
def test_array_engine_plays_the_same_episodes_at_any_batch_size(restaurant, policy_name):
    """Counter-based draws: episode k is one conversation, whatever the slots around it."""
    env = DialogueEnv(restaurant)
    policy = (
        RulePolicy(restaurant, env.spec_obs, epsilon=0.2)
        if policy_name == "rule"
        else BatchedRandom(restaurant)
    )
    runs = {
        n: list(
            run_batched(DialogueVectorEnv(restaurant, n, noise=0.3), policy, 150, 4, keep_data=True)
        )
        for n in (1, 7, 4096)
    }
    for n, got in runs.items():
        assert [g.episode for g in got] == list(range(150)), n
        assert [g.outcome for g in got] == [g.outcome for g in runs[1]], n
        for k in (0, 17, 149):
            a, b = got[k].data, runs[1][k].data
            for field in ("obs", "masks", "actions", "rewards", "propensities", "final_obs"):
                np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)


@pytest.mark.parametrize("engine", ENGINES)
def test_slot_episodes_are_the_runs_episodes_by_index(restaurant, engine):
    """Episode k of the vector env is the conversation its seed episode_seed(S, k) starts,
    whichever slot plays it: a one-slot env started on k alone opens the same way."""
    vec = DialogueVectorEnv(restaurant, 4, noise=0.2, engine=engine)
    single = DialogueVectorEnv(restaurant, 1, noise=0.2, engine=engine)
    obs, infos = vec.reset(seed=9)
    rng = np.random.default_rng(1)
    singles = {}
    for _ in range(40):
        for i, k in enumerate(infos["episode"].tolist()):
            if k not in singles:
                first, info = single.reset(seed=9, options={"first_episode": k})
                np.testing.assert_array_equal(first[0], obs[i])
                np.testing.assert_array_equal(info["action_mask"][0], infos["action_mask"][i])
                singles[k] = True
        obs, _, _, _, infos = vec.step(_random_actions(infos["action_mask"], rng))
    assert len(singles) > 8


@pytest.mark.parametrize("policy_name", ["rule", "random"])
def test_loop_engine_batched_rollout_plays_the_same_episodes_as_run_episodes(
    restaurant, policy_name
):
    env = DialogueEnv(restaurant, noise=0.3)
    policy = (
        RulePolicy(restaurant, env.spec_obs, epsilon=0.2)
        if policy_name == "rule"
        else RandomPolicy(restaurant)
    )
    expected = list(run_episodes(env, policy, range(150), 4))
    vec = DialogueVectorEnv(restaurant, 16, noise=0.3, engine="loop")
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

    row_streams = True

    def act_batch(self, obs, masks, *, explore=True, rng=None):
        m = masks.astype(np.float64)
        return sample_rows(m / m.sum(axis=1, keepdims=True), rng, explore)


def test_policies_with_their_own_act_batch_explore_with_row_streams(restaurant):
    """A policy with its own act_batch draws from counter-based row streams: its exploration
    follows the same law as with Generators (uniform over allowed actions here)."""
    vec = DialogueVectorEnv(restaurant, 64, noise=0.3)
    got = [e.outcome for e in run_batched(vec, BatchedRandom(restaurant), 600, 8)]
    env = DialogueEnv(restaurant, noise=0.3)
    expected = [r.outcome for r in run_episodes(env, RandomPolicy(restaurant), range(600), 8)]
    a, b = _rates(got), _rates(expected)
    se = np.sqrt(a.var(axis=0) / len(a) + b.var(axis=0) / len(b))
    assert (np.abs(a.mean(axis=0) - b.mean(axis=0)) <= 4.5 * se + 1e-9).all()


def test_a_batched_run_of_a_range_parks_slots_past_its_end(restaurant):
    policy = RulePolicy(restaurant, DialogueEnv(restaurant).spec_obs)
    expected = [
        e.outcome for e in run_batched(DialogueVectorEnv(restaurant, 5), policy, range(50, 90), 2)
    ]
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
    actions, props = Policy.act_batch(policy, obs, masks, explore=True, rng=gens)  # the default
    again = [np.random.default_rng(k) for k in range(12)]
    one = [policy.act(obs[i], masks[i], explore=True, rng=again[i]) for i in range(12)]
    assert actions.tolist() == [d.action for d in one]
    assert props.tolist() == [d.propensity for d in one]
    probs = np.stack([policy.probabilities(obs[i], masks[i]) for i in range(12)])
    rows, _ = sample_rows(probs, [np.random.default_rng(k) for k in range(12)])
    assert rows.tolist() == [sample(probs[i], np.random.default_rng(i)) for i in range(12)]


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


def test_rule_policy_decides_the_same_in_a_batch_as_row_by_row(domains):
    """The compiled rules on a batch of real observations (greedy), and the ε-soft rule row by
    row with each row's Generator (exploring): the same as ``act`` one row at a time."""
    for d in domains.values():
        vec = DialogueVectorEnv(d, 300, noise=0.3)
        obs, infos = vec.reset(seed=2)
        rng = np.random.default_rng(0)
        for _ in range(4):  # a few turns in, so offers, confirmations and tasks show up
            obs, _, _, _, infos = vec.step(_random_actions(infos["action_mask"], rng))
        masks = infos["action_mask"]
        rule = RulePolicy(d, vec.spec_obs)
        actions, props = rule.act_batch(obs, masks, explore=False)
        assert actions.tolist() == [rule.act(o, m).action for o, m in zip(obs, masks)]
        assert (props == 1.0).all() and masks[np.arange(len(obs)), actions].all()
        soft = RulePolicy(d, vec.spec_obs, epsilon=0.3)
        gens = [np.random.default_rng(k) for k in range(len(obs))]
        actions, props = soft.act_batch(obs, masks, explore=True, rng=gens)
        again = [np.random.default_rng(k) for k in range(len(obs))]
        one = [soft.act(o, m, rng=g) for o, m, g in zip(obs, masks, again)]
        assert actions.tolist() == [x.action for x in one]
        assert props.tolist() == [x.propensity for x in one]
