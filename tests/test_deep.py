"""What DQN and PPO share (``policies/deep.py``): one forward pass for a batch of conversations
that acts exactly as row-by-row ``act`` calls would."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import random_masks, train

from dialog_rl.env import DialogueEnv
from dialog_rl.policies.dqn import DQNLearner
from dialog_rl.policies.ppo import PPOLearner

SMALL = {
    "dqn": {
        "hidden": (32, 32),
        "learning_starts": 20,
        "batch_size": 16,
        "buffer_size": 300,
        "exploration_episodes": 20,
    },
    "ppo": {"hidden": (32, 32), "rollout_turns": 40, "ent_anneal_episodes": 20},
}


@pytest.fixture(params=["dqn", "ppo"])
def learner(request, restaurant):
    """A briefly trained learner, away from its initial near-uniform policy; DQN mid-schedule,
    its ε strictly between its ends."""
    env = DialogueEnv(restaurant, noise=0.3)
    if request.param == "dqn":
        learner = DQNLearner(restaurant, env.spec_obs, 0, **SMALL["dqn"])
        train(learner, env, range(20))
        learner.episodes = 5
        assert 0.0 < learner.epsilon() < 1.0
    else:
        learner = PPOLearner(restaurant, env.spec_obs, 0, **SMALL["ppo"])
        train(learner, env, range(30))
    return learner


@pytest.mark.parametrize("explore", [True, False])
@pytest.mark.parametrize("n", [1, 5, 300])
def test_act_batch_matches_act_row_by_row(restaurant, learner, explore, n):
    size = learner.obs_dim
    rng = np.random.default_rng(n)
    obs = rng.random((n, size)).astype(np.float32)
    masks = random_masks(rng, n, restaurant.n_actions)
    streams = [np.random.default_rng(100 + i) for i in range(n)]
    actions, props = learner.act_batch(obs, masks, explore=explore, rng=streams)
    replay = [np.random.default_rng(100 + i) for i in range(n)]
    for i in range(n):
        d = learner.act(obs[i], masks[i], explore=explore, rng=replay[i])
        assert (actions[i], props[i]) == (d.action, d.propensity), i
    assert actions.dtype == np.int64 and props.dtype == np.float64
    if n == 300:
        greedy = np.array([learner.act(o, m, explore=False).action for o, m in zip(obs, masks)])
        # exploring takes some non-greedy actions, greedy none
        assert (actions != greedy).any() == explore


def test_act_batch_refuses_a_row_that_allows_nothing(restaurant, learner):
    masks = np.ones((3, restaurant.n_actions), np.int8)
    masks[1] = 0
    with pytest.raises(ValueError, match="allows no action"):
        learner.act_batch(np.zeros((3, learner.obs_dim), np.float32), masks)


def test_act_batch_of_a_batched_rollout_plays_the_same_conversations(restaurant, learner):
    from dialog_rl.env.vector import DialogueVectorEnv
    from dialog_rl.rollout.batched import run_batched
    from dialog_rl.rollout.runner import run_episodes

    # greedy, on the loop engine: the batched forward pass decides what act() decides
    env = DialogueEnv(restaurant, noise=0.3)
    expected = [r.outcome for r in run_episodes(env, learner, range(60), 3, explore=False)]
    vec = DialogueVectorEnv(restaurant, 16, noise=0.3, engine="loop")
    got = [e.outcome for e in run_batched(vec, learner, 60, 3, explore=False)]
    assert got == expected
    # exploring, on the array engine: the same conversations whatever the batch size
    runs = [
        [
            e.outcome
            for e in run_batched(DialogueVectorEnv(restaurant, n, noise=0.3), learner, 60, 3)
        ]
        for n in (1, 16)
    ]
    assert runs[0] == runs[1]


@pytest.mark.parametrize("eps", [1e-8, 1e-5])
def test_adam_and_clipping_give_torch_optims_bits(eps):
    """``deep.Adam`` and ``deep.clip_grad_norm`` stand in for ``torch.optim.Adam`` and
    ``torch.nn.utils.clip_grad_norm_`` (which import torch._dynamo and sympy at start-up): same
    parameters and moments, bit for bit, over steps that clip and steps that do not, with a
    parameter that starts stepping later (its step count differs from the others')."""
    import torch

    from dialog_rl.policies.deep import make_generator, mlp
    from dialog_rl.policies.optim import Adam, clip_grad_norm

    nets = [mlp([7, 16, 16, 5], make_generator(3, 0)) for _ in range(2)]
    params = [list(n.parameters()) for n in nets]
    ours = Adam(params[0], lr=1e-2, eps=eps)
    theirs = torch.optim.Adam(params[1], lr=1e-2, eps=eps)
    g = torch.Generator().manual_seed(0)
    for step in range(40):
        x = torch.randn(9, 7, generator=g) * (30.0 if step % 3 == 0 else 1.0)  # some clip
        for net, ps, opt, clip in (
            (nets[0], params[0], ours, clip_grad_norm),
            (nets[1], params[1], theirs, torch.nn.utils.clip_grad_norm_),
        ):
            opt.zero_grad()
            net(x).square().mean().backward()
            if step < 5:  # the last layer's bias waits
                ps[-1].grad = None
            clip(ps, 10.0)  # clips the scaled-up steps (14 of 40), not the others
            opt.step()
    for a, b in zip(*params):
        assert torch.equal(a, b)
    ta = theirs.state_dict()["state"]
    for i, st in ours.state_dict()["state"].items():
        for k, v in st.items():
            assert torch.equal(v, ta[i][k]), (i, k)
    assert float(ours.state[len(params[0]) - 1]["step"]) == 35.0


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("n", [0, 3, 8, 1024, 1027, 2500])
def test_forward_rows_in_place_gives_the_modules_bits(activation, n):
    """``forward_rows`` runs a plain MLP layer by layer into kept buffers (``addmm`` and in-place
    activations): the very bits of the module's own forward on the same blocks (short ones
    padded), for any number of rows."""
    import torch

    from dialog_rl.policies.deep import make_generator, mlp
    from dialog_rl.policies.forward import _forward_modules, forward_rows

    act = torch.nn.ReLU if activation == "relu" else torch.nn.Tanh
    net = mlp([11, 32, 32, 5], make_generator(4, 0), activation=act)
    obs = np.random.default_rng(n).random((n, 11)).astype(np.float32)
    got = forward_rows(net, obs)
    expected = _forward_modules(net, torch.from_numpy(obs), None)
    assert got.dtype == np.float32 and got.shape == (n, 5)
    assert np.array_equal(got, expected)
    out = np.empty((n, 5), np.float32)
    assert forward_rows(net, obs, out) is out and np.array_equal(out, got)


@pytest.mark.parametrize("end_weight", [0.1, 0.0])
@pytest.mark.parametrize("explore", [True, False])
def test_dqn_compiled_act_batch_gives_the_row_wise_bits(restaurant, explore, end_weight):
    """``DQNLearner.act_batch`` (ε-greedy and the draw compiled in one pass) gives the actions
    and propensities of ``rows`` + ``sample_rows``, bit for bit: int8 and bool masks, rows that
    allow only ending actions (weight 0: uniform over them), counter-based streams, Generators
    and no streams, at the start of exploration, midway and after it."""
    from dialog_rl.policies.deep import DeepLearner
    from dialog_rl.rollout.batched import RowStreams

    spec = DialogueEnv(restaurant).spec_obs
    learner = DQNLearner(restaurant, spec, 1, explore_end_weight=end_weight)
    n, k = 700, restaurant.n_actions
    rng = np.random.default_rng(5)
    obs = rng.random((n, learner.obs_dim)).astype(np.float32)
    masks = random_masks(rng, n, k)
    ends = np.flatnonzero(learner.explore_weights != 1.0)
    masks[:20] = 0
    masks[:20, ends] = 1

    def streams(kind):
        if kind == "rows":
            s = RowStreams(n)
            s.reseed(np.arange(n), np.arange(n) + 11)
            return s
        return [np.random.default_rng(i) for i in range(n)] if kind == "gens" else None

    for episodes in (0, 1000, 10_000):
        learner.episodes = episodes
        for kind in ("rows", "gens", None):
            for m in (masks, masks.astype(bool)):
                a, p = learner.act_batch(obs, m, explore=explore, rng=streams(kind))
                ra, rp = DeepLearner.act_batch(learner, obs, m, explore=explore, rng=streams(kind))
                assert a.dtype == np.int64 and p.dtype == np.float64
                assert np.array_equal(a, ra) and np.array_equal(p, rp)
