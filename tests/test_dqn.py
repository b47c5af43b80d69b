"""DQN: masking when acting and in the target, exact ε-greedy probabilities, n-step returns,
determinism, exact resume, behaviour cloning, and that it learns."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers import random_masks, train

from dialog_rl.acts import SYS_BYE, SYS_HANDOVER
from dialog_rl.counter_rng import KeyedStream
from dialog_rl.env import DialogueEnv
from dialog_rl.policies.base import Episode
from dialog_rl.policies.dqn import DQNLearner, n_step_transitions
from dialog_rl.policies.replay import ReplaySample
from dialog_rl.policies.rule import RandomPolicy, RulePolicy
from dialog_rl.train.loop import evaluate, play_episode

SMALL = {
    "hidden": (32, 32),
    "learning_starts": 20,
    "batch_size": 16,
    "buffer_size": 300,
    "exploration_episodes": 20,
}


@pytest.fixture
def env(restaurant):
    return DialogueEnv(restaurant, noise=0.15)


def prefer(learner: DQNLearner, action: int) -> None:
    """Make ``action`` the network's overwhelming favourite everywhere."""
    with torch.no_grad():
        learner.q_network[-1].bias[action] = 1e3


@pytest.mark.parametrize("explore", [True, False])
def test_masked_actions_get_probability_zero_and_are_never_chosen(restaurant, env, explore):
    learner = DQNLearner(restaurant, env.spec_obs, 0, epsilon_start=0.5, **SMALL)
    prefer(learner, 7)
    rng = np.random.default_rng(1)
    masks = random_masks(rng, 200, restaurant.n_actions)
    masks[:, 7] = 0
    for mask in masks:
        obs = rng.random(env.spec_obs.size).astype(np.float32)
        scores, probs = learner.distribution(obs, mask, explore)
        assert probs[mask == 0].max(initial=0.0) == 0.0
        assert probs.sum() == pytest.approx(1.0, abs=1e-12)
        assert scores.shape == (restaurant.n_actions,)
        for _ in range(5):
            assert mask[learner.act(obs, mask, explore=explore, rng=rng).action]


def ending_actions(domain) -> np.ndarray:
    return np.isin(np.asarray(domain.act_kind), (SYS_BYE, SYS_HANDOVER))


@pytest.mark.parametrize("end_weight", [0.1, 1.0, 0.0])
def test_probabilities_are_exactly_epsilon_greedy_with_ending_actions_weighted(
    restaurant, env, end_weight
):
    learner = DQNLearner(
        restaurant, env.spec_obs, 0, epsilon_start=0.3, explore_end_weight=end_weight, **SMALL
    )
    ends = ending_actions(restaurant)
    assert ends.sum() == 2  # bye and handover
    rng = np.random.default_rng(2)
    for mask in random_masks(rng, 50, restaurant.n_actions):
        obs = rng.random(env.spec_obs.size).astype(np.float32)
        q, probs = learner.distribution(obs, mask, explore=True)
        allowed = np.flatnonzero(mask)
        best = allowed[np.argmax(q[allowed])]
        weight = np.where(mask == 1, np.where(ends, end_weight, 1.0), 0.0)
        if weight.sum() == 0:
            weight = mask.astype(np.float64)
        expected = 0.3 * weight / weight.sum()
        expected[best] += 0.7
        np.testing.assert_allclose(probs, expected, rtol=0, atol=1e-15)
        greedy = learner.distribution(obs, mask, explore=False)[1]
        assert greedy[best] == 1.0 and greedy.sum() == 1.0


def test_exploration_tries_ending_actions_at_a_tenth_of_the_others_rate_by_default(restaurant, env):
    learner = DQNLearner(restaurant, env.spec_obs, 0, epsilon_start=1.0, **SMALL)
    ends = ending_actions(restaurant)
    probs = learner.distribution(np.zeros(env.spec_obs.size, np.float32), np.ones_like(ends))[1]
    assert probs[ends] == pytest.approx(probs[~ends][0] / 10)
    assert (probs[ends] > 0).all()
    np.testing.assert_allclose(probs[~ends], probs[~ends][0])
    # a state where only ending actions are allowed still explores (uniformly) among them
    only_ends = learner.distribution(np.zeros(env.spec_obs.size, np.float32), ends)[1]
    np.testing.assert_allclose(only_ends, ends / ends.sum(), atol=1e-15)


def test_epsilon_decays_linearly_over_episodes(restaurant, env):
    learner = DQNLearner(
        restaurant, env.spec_obs, 0, epsilon_start=1.0, epsilon_end=0.1, exploration_episodes=10
    )
    seen = []
    for k in (0, 5, 10, 20):
        learner.episodes = k
        seen.append(learner.epsilon())
    assert seen == pytest.approx([1.0, 0.55, 0.1, 0.1])


def test_target_max_ranges_only_over_allowed_next_actions(restaurant, env):
    learner = DQNLearner(restaurant, env.spec_obs, 0, **SMALL)
    prefer(learner, 3)
    learner.target_network.load_state_dict(learner.q_network.state_dict())
    n, A = 4, restaurant.n_actions
    rng = np.random.default_rng(3)
    next_obs = torch.as_tensor(rng.random((n, env.spec_obs.size)), dtype=torch.float32)
    next_masks = torch.ones(n, A, dtype=torch.bool)
    next_masks[:, 3] = False
    batch = ReplaySample(
        obs=next_obs,
        masks=next_masks,
        actions=torch.zeros(n, dtype=torch.int64),
        returns=torch.tensor([1.0, 2.0, 3.0, 4.0]),
        next_obs=next_obs,
        next_masks=next_masks,
        discounts=torch.tensor([0.9, 0.9, 0.0, 0.5]),
    )
    target = learner.td_target(batch)
    with torch.no_grad():
        q = learner.target_network(next_obs)
    best = q.masked_fill(~next_masks, float("-inf")).max(1).values
    assert best.max() < 100  # the masked favourite (Q≈1000) is not the max
    np.testing.assert_allclose(target, batch.returns + batch.discounts * best, rtol=1e-6)
    assert target[2] == 3.0  # terminated: the return alone


def _episode(rewards, terminated: bool) -> Episode:
    T = len(rewards)
    obs = np.arange(T + 1, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    masks = np.ones((T + 1, 2), np.int8)
    masks[-1, 1] = 0
    return Episode(
        obs=obs[:T],
        masks=masks[:T],
        actions=np.zeros(T, np.int64),
        rewards=np.asarray(rewards, np.float64),
        propensities=np.ones(T),
        final_obs=obs[T],
        final_mask=masks[T],
        terminated=terminated,
        truncated=not terminated,
        outcome={},
    )


@pytest.mark.parametrize("terminated", [True, False])
def test_n_step_returns_bootstrap_only_when_not_terminated(terminated):
    b = n_step_transitions(_episode([1.0, 2.0, 3.0, 4.0], terminated), n=2, gamma=0.5)
    np.testing.assert_allclose(b.returns, [1 + 0.5 * 2, 2 + 0.5 * 3, 3 + 0.5 * 4, 4])
    np.testing.assert_array_equal(b.next_obs[:, 0], [2, 3, 4, 4])  # row 4 is final_obs
    tail = 0.0 if terminated else 0.5
    np.testing.assert_allclose(b.discounts, [0.25, 0.25, 0.0 if terminated else 0.25, tail])
    assert not b.next_masks[-1, 1]  # the final state's own mask


def test_same_seed_gives_identical_weights(restaurant, env):
    runs = []
    for seed in (0, 0, 1):
        learner = DQNLearner(restaurant, env.spec_obs, seed, **SMALL)
        train(learner, env, range(30), seed=0)
        runs.append(learner.state())
    (a, meta_a), (b, meta_b), (c, _) = runs
    assert meta_a == meta_b
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["q_network.0.weight"], c["q_network.0.weight"])


def test_resume_from_state_continues_bit_exactly(restaurant, env):
    straight = DQNLearner(restaurant, env.spec_obs, 0, **SMALL)
    train(straight, env, range(30))

    first = DQNLearner(restaurant, env.spec_obs, 0, **SMALL)
    train(first, env, range(15))
    arrays, meta = first.state()
    meta = json.loads(json.dumps(meta))  # metadata must survive JSON
    resumed = DQNLearner(restaurant, env.spec_obs, 0, **SMALL)
    resumed.load_state({k: v.copy() for k, v in arrays.items()}, meta)
    train(resumed, env, range(15, 30))

    a, meta_a = straight.state()
    b, meta_b = resumed.state()
    assert meta_a == meta_b
    assert a.keys() == b.keys()
    assert any(k.startswith("optimizer.") for k in a) and "replay.obs" in a
    for k in a:
        assert np.array_equal(a[k], b[k]), k


def test_load_state_refuses_other_hyperparameters(restaurant, env):
    arrays, meta = DQNLearner(restaurant, env.spec_obs, 0, **SMALL).state()
    other = DQNLearner(restaurant, env.spec_obs, 0, **{**SMALL, "hidden": (16,)})
    with pytest.raises(ValueError, match="hyperparameters"):
        other.load_state(arrays, meta)


def test_unknown_hyperparameter_is_named(restaurant, env):
    with pytest.raises(ValueError, match=r"unknown DQN hyperparameter.*lr"):
        DQNLearner(restaurant, env.spec_obs, 0, lr=0.1)


def _rule_demos(domain, env, episodes: int):
    rule = RulePolicy(domain, env.spec_obs)
    rng = KeyedStream(0)
    eps = [play_episode(env, rule, i, 7, rng) for i in range(episodes)]
    obs = np.concatenate([e.obs for e in eps])
    masks = np.concatenate([e.masks for e in eps])
    actions = np.concatenate([e.actions for e in eps])
    return obs, masks, actions, np.ones(len(actions))


def test_clone_imitates_the_rule_policy(restaurant, env):
    learner = DQNLearner(restaurant, env.spec_obs, 0)
    metrics = learner.clone(*_rule_demos(restaurant, env, 150))
    assert metrics["bc/accuracy"] > 0.85  # uniform guessing gets ~0.15
    assert np.array_equal(
        learner.target_network[0].weight.detach(), learner.q_network[0].weight.detach()
    )


def test_clone_rejects_a_demonstration_its_mask_forbids(restaurant, env):
    obs, masks, actions, weights = _rule_demos(restaurant, env, 3)
    masks[1, actions[1]] = 0
    learner = DQNLearner(restaurant, env.spec_obs, 0, **SMALL)
    with pytest.raises(ValueError, match=r"turn 1 .* forbids"):
        learner.clone(obs, masks, actions, weights)


def test_short_training_beats_random(restaurant, env):
    learner = DQNLearner(
        restaurant, env.spec_obs, 0, hidden=(64, 64), exploration_episodes=150, learning_starts=200
    )
    train(learner, env, range(400))
    learned = evaluate(env, learner, 200)["reward"]["mean"]
    random = evaluate(env, RandomPolicy(restaurant), 200, explore=True)["reward"]["mean"]
    assert learned > random + 5.0, (learned, random)
