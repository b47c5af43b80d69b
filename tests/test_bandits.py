"""Contextual bandits: true action probabilities, credit assignment, state, cloning, learning."""

from __future__ import annotations

import numpy as np
import pytest

from dialog_rl.env import DialogueEnv
from dialog_rl.policies import PolicyError, RulePolicy, make_learner
from dialog_rl.policies.bandits import (
    EpsilonGreedyLearner,
    LinUCBLearner,
    ThompsonLearner,
    credit_targets,
    reward_scale,
)
from dialog_rl.policies.base import Episode
from dialog_rl.rollout.runner import run_episode
from dialog_rl.train import TrainConfig, evaluate, train

BANDITS = ("egreedy", "linucb", "thompson")


@pytest.fixture(scope="module")
def env(restaurant):
    return DialogueEnv(restaurant, noise=0.15)


@pytest.fixture(scope="module")
def states(env):
    """Observations and masks from rule-policy conversations (real states, varied masks)."""
    rule = RulePolicy(env.domain, env.spec_obs, epsilon=0.3)
    obs, masks = [], []
    for i in range(40):
        rec = run_episode(env, rule, i, seed=5, record=True)
        obs += rec.turns["obs"]
        masks += rec.turns["mask"]
    return np.array(obs), np.array(masks)


@pytest.fixture(scope="module")
def trained(restaurant):
    """Each bandit after 300 training dialogues (so its models are not all zero)."""
    return {
        algo: train(
            restaurant, TrainConfig(algo, dialogues=300, noise=0.15, eval_episodes=5)
        ).learner
        for algo in BANDITS
    }


@pytest.mark.parametrize("algo", BANDITS)
@pytest.mark.parametrize("explore", [True, False])
def test_distribution_sums_to_one_and_is_zero_on_masked_actions(trained, states, algo, explore):
    learner = trained[algo]
    for obs, mask in zip(*states):
        scores, probs = learner.distribution(obs, mask, explore)
        assert probs.shape == scores.shape == (learner.n_actions,)
        assert probs.sum() == pytest.approx(1.0)
        assert np.all(probs[mask == 0] == 0)
        assert np.all(probs >= 0)


@pytest.mark.parametrize("algo", BANDITS)
def test_act_logs_the_probability_of_the_action_it_took(trained, states, algo):
    learner = trained[algo]
    rng = np.random.default_rng(3)
    for obs, mask in zip(*states):
        d = learner.act(obs, mask, explore=True, rng=rng)
        assert mask[d.action] == 1
        assert d.propensity == d.probs[d.action] > 0


def test_egreedy_probabilities_are_exactly_epsilon_soft_around_the_greedy_action(trained, states):
    learner = trained["egreedy"]
    eps = learner.epsilon
    assert 0 < eps < 1
    for obs, mask in zip(*states):
        q, probs = learner.distribution(obs, mask, explore=True)
        allowed = np.flatnonzero(mask)
        greedy = allowed[np.argmax(q[allowed])]
        assert probs[greedy] == pytest.approx(1 - eps + eps / len(allowed))
        others = [a for a in allowed if a != greedy]
        assert np.allclose(probs[others], eps / len(allowed))


def test_egreedy_epsilon_decays_linearly_then_stays_at_its_end_value(restaurant, env):
    learner = EpsilonGreedyLearner(
        restaurant, env.spec_obs, epsilon_start=0.5, epsilon_end=0.1, decay_episodes=100
    )
    seen = []
    for episodes in (0, 50, 100, 1000):
        learner.episodes = episodes
        seen.append(learner.epsilon)
    assert seen == pytest.approx([0.5, 0.3, 0.1, 0.1])


def test_linucb_is_one_hot_on_the_highest_upper_confidence_bound(trained, states):
    learner = trained["linucb"]
    for obs, mask in zip(*states):
        ucb, probs = learner.distribution(obs, mask, explore=True)
        x = learner.features(obs)
        expected = learner.means(x) + learner.alpha * learner.reward_scale * learner.widths(x)
        assert np.allclose(ucb, expected)
        allowed = np.flatnonzero(mask)
        assert probs[allowed[np.argmax(ucb[allowed])]] == 1.0
        assert probs.sum() == 1.0


def test_linucb_prefers_the_less_tried_action_when_estimates_tie(restaurant, env):
    learner = LinUCBLearner(restaurant, env.spec_obs, alpha=1.0)
    obs = np.zeros(env.spec_obs.size, dtype=np.float32)
    x = learner.features(obs)
    # actions 1 and 2 both observed with reward 0 in this state, action 1 ten times more often
    for a, n in ((1, 50), (2, 5)):
        learner.A[a] += n * np.outer(x, x)
    learner._refresh([1, 2])
    mask = np.zeros(restaurant.n_actions, dtype=np.int8)
    mask[[1, 2]] = 1
    _, probs = learner.distribution(obs, mask, explore=True)
    assert probs[2] == 1.0
    _, greedy = learner.distribution(obs, mask, explore=False)
    assert greedy[1] == 1.0  # a tie in the means: the lowest index, deterministically


def test_thompson_probabilities_match_sampling_from_the_posterior(restaurant, env, trained, states):
    learner = ThompsonLearner(restaurant, env.spec_obs, seed=1, v=0.25, draws=20000)
    learner.load_state(*trained["thompson"].state())
    rng = np.random.default_rng(11)
    scale = learner.v * learner.reward_scale
    obs_all, masks_all = states
    for i in (0, 3, 7):
        obs, mask = obs_all[i], masks_all[i]
        _, probs = learner.distribution(obs, mask, explore=True)
        x = learner.features(obs)
        # textbook Thompson: a full weight vector per action from N(θ_a, v²R²A_a⁻¹)
        allowed = np.flatnonzero(mask)
        wins = np.zeros(restaurant.n_actions)
        n = 4000
        draws = {
            a: rng.multivariate_normal(learner.theta[a], scale**2 * learner.A_inv[a], size=n)
            for a in allowed
        }
        values = np.stack([draws[a] @ x for a in allowed], axis=1)
        for j in np.argmax(values, axis=1):
            wins[allowed[j]] += 1
        assert np.abs(probs - wins / n).max() < 0.03


def test_thompson_probabilities_are_a_function_of_the_state_alone(trained, states):
    learner = trained["thompson"]
    obs, mask = states[0][4], states[1][4]
    first = learner.distribution(obs, mask)[1]
    learner.act(obs, mask, rng=np.random.default_rng(0))
    assert np.array_equal(first, learner.distribution(obs, mask)[1])


@pytest.mark.parametrize(
    ("credit", "expected"),
    [
        ("turn", [-1.0, -1.0, 19.0]),
        ("outcome", [19.0, 19.0, 19.0]),
        ("return", [17.0, 18.0, 19.0]),
    ],
)
def test_credit_assigns_the_outcome_back_as_configured(credit, expected):
    assert credit_targets(np.array([-1.0, -1.0, 19.0]), credit, turn_reward=-1.0).tolist() == (
        expected
    )


def test_return_credit_discounts_later_rewards():
    y = credit_targets(np.array([-1.0, 19.0]), "return", gamma=0.5)
    assert y.tolist() == [-1.0 + 0.5 * 19.0, 19.0]


def test_learn_fits_only_the_actions_taken_with_their_credited_targets(restaurant, env):
    learner = LinUCBLearner(restaurant, env.spec_obs, credit="outcome")
    rng = np.random.default_rng(0)
    T = 3
    obs = rng.random((T, env.spec_obs.size)).astype(np.float32)
    ep = Episode(
        obs=obs,
        masks=np.ones((T, restaurant.n_actions), dtype=np.int8),
        actions=np.array([1, 2, 1]),
        rewards=np.array([-1.0, -1.0, 19.0]),
        propensities=np.ones(T),
        final_obs=obs[-1],
        final_mask=np.ones(restaurant.n_actions, dtype=np.int8),
        terminated=True,
        truncated=False,
        outcome={},
    )
    learner.learn(ep)
    X = np.concatenate([obs.astype(np.float64), np.ones((T, 1))], axis=1)
    assert np.allclose(learner.b[1], 19.0 * (X[0] + X[2]))
    assert np.allclose(learner.b[2], 19.0 * X[1])
    assert np.allclose(
        learner.A[1], np.eye(learner.dim) + np.outer(X[0], X[0]) + np.outer(X[2], X[2])
    )
    assert np.all(learner.b[[0, *range(3, restaurant.n_actions)]] == 0)
    assert np.allclose(learner.theta[1], np.linalg.solve(learner.A[1], learner.b[1]))
    assert learner.episodes == 1


@pytest.mark.parametrize("algo", BANDITS)
def test_state_round_trip_restores_identical_decisions(restaurant, env, trained, states, algo):
    arrays, meta = trained[algo].state()
    fresh = make_learner(algo, restaurant, env.spec_obs, 0, **trained[algo].config())
    fresh.load_state(arrays, meta)
    for obs, mask in zip(*states):
        assert np.array_equal(
            fresh.distribution(obs, mask)[1], trained[algo].distribution(obs, mask)[1]
        )


def test_load_state_refuses_arrays_of_the_wrong_shape(restaurant, env, trained):
    arrays, meta = trained["linucb"].state()
    arrays["A"] = arrays["A"][:, :-1]
    with pytest.raises(ValueError, match="'A' is float64"):
        LinUCBLearner(restaurant, env.spec_obs).load_state(arrays, meta)


def test_clone_makes_the_greedy_bandit_imitate_the_rule_policy(restaurant, env):
    rule = RulePolicy(restaurant, env.spec_obs)
    cols = {"obs": [], "mask": [], "action": []}
    for i in range(400):
        rec = run_episode(env, rule, i, seed=21, record=True)
        for k in cols:
            cols[k] += rec.turns[k]
    obs, masks, actions = (np.array(cols[k]) for k in ("obs", "mask", "action"))
    split = len(actions) * 3 // 4
    learner = LinUCBLearner(restaurant, env.spec_obs)
    metrics = learner.clone(obs[:split], masks[:split], actions[:split], np.ones(split))
    assert metrics["bc/accuracy"] > 0.85
    held_out = [
        learner.act(o, m, explore=False).action == a
        for o, m, a in zip(obs[split:], masks[split:], actions[split:])
    ]
    assert np.mean(held_out) > 0.85
    assert evaluate(env, learner, 100)["success"]["mean"] > 0.8


@pytest.mark.parametrize("algo", BANDITS)
def test_bandits_learn_to_beat_random(restaurant, env, algo):
    from dialog_rl.policies import RandomPolicy

    random_reward = evaluate(env, RandomPolicy(restaurant), 200, explore=True)["reward"]["mean"]
    result = train(restaurant, TrainConfig(algo, dialogues=800, noise=0.15, eval_episodes=200))
    assert result.curve[-1]["dialog/reward"] > random_reward + 8
    assert result.curve[-1]["dialog/success"] > 0.7


def test_reward_scale_is_the_largest_outcome_reward(domains):
    for d in domains.values():
        assert reward_scale(d) == max(abs(d.r_success), abs(d.r_failure), abs(d.r_handover), 1)


@pytest.mark.parametrize(
    ("algo", "hp", "match"),
    [
        ("linucb", {"alpha": -1}, "alpha must be >= 0"),
        ("linucb", {"ridge": 0}, "ridge must be > 0"),
        ("linucb", {"credit": "final"}, "credit must be one of"),
        ("linucb", {"gamma": 1.5}, r"gamma must be in \[0, 1\]"),
        ("linucb", {"beta": 1}, "unknown hyperparameter 'beta'"),
        ("egreedy", {"epsilon_start": 2}, r"epsilon_start must be in \[0, 1\]"),
        ("egreedy", {"decay_episodes": 1.5}, "decay_episodes must be a whole number"),
        ("thompson", {"draws": 0}, "draws must be a whole number >= 1"),
        ("thompson", {"v": -0.1}, "v must be >= 0"),
        ("sarsa", {}, "unknown algorithm 'sarsa'"),
    ],
)
def test_bad_hyperparameters_are_refused_with_a_clear_message(restaurant, env, algo, hp, match):
    with pytest.raises(PolicyError, match=match):
        make_learner(algo, restaurant, env.spec_obs, 0, **hp)
