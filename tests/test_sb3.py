"""Stable-Baselines3 as a consumer: sb3_contrib's MaskablePPO trains on the registered env with
its action mask, and nothing else (no wrapper, no glue in the user's code)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import dialog_rl.env  # noqa: F401  (registers the gymnasium ids)
from dialog_rl.train import evaluation_seeds

sb3_contrib = pytest.importorskip(
    "sb3_contrib", reason="sb3-contrib is not installed (pip install 'dialog-rl[test]')"
)
from sb3_contrib.common.maskable.utils import is_masking_supported  # noqa: E402
from stable_baselines3.common.callbacks import BaseCallback  # noqa: E402


class _MaskedActionsTaken(BaseCallback):
    """Counts the actions MaskablePPO took that the env's mask forbade (must stay 0)."""

    def __init__(self) -> None:
        super().__init__()
        self.taken = self.forbidden = 0

    def _on_step(self) -> bool:
        masks = np.asarray(self.locals["action_masks"]).reshape(len(self.locals["actions"]), -1)
        actions = np.asarray(self.locals["actions"]).ravel()
        self.taken += len(actions)
        self.forbidden += int((~masks[np.arange(len(actions)), actions]).sum())
        return True


def _greedy_reward(model, env, episodes: int = 100) -> float:
    total = 0.0
    for seed in evaluation_seeds(episodes, 7):
        obs, _ = env.reset(seed=seed)
        done = False
        while not done:
            action, _ = model.predict(obs, action_masks=env.action_masks(), deterministic=True)
            obs, r, term, trunc, _ = env.step(int(action))
            total += r
            done = term or trunc
    return total / episodes


@pytest.fixture
def one_torch_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small networks: threads only contend (10x slower on 2 busy cores)
    yield
    torch.set_num_threads(threads)


def test_maskable_ppo_trains_on_the_registered_env_with_its_mask(one_torch_thread):
    env = gym.make("dialog_rl/Restaurant-v0", noise=0.15)
    model = sb3_contrib.MaskablePPO(
        "MlpPolicy", env, n_steps=512, batch_size=128, learning_rate=1e-3, seed=0
    )
    assert is_masking_supported(model.get_env())
    before = _greedy_reward(model, env.unwrapped)
    check = _MaskedActionsTaken()
    model.learn(4096, callback=check)
    assert check.taken >= 4096
    assert check.forbidden == 0
    after = _greedy_reward(model, env.unwrapped)
    # 4096 steps (about 900 conversations) take it from an untrained network (-5.0) far past
    # the random policy (-1.8 at this noise, README noise table); measured: 16.1
    assert after > 5.0 > before, (before, after)
