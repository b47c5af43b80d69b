"""The DQN replay buffer: a ring of n-step transitions with the masks both ends need.

A transition stores the state and its action mask, the action, the n-step discounted return, the
state ``n`` turns later with *its* mask (so the target's max only ranges over actions allowed
there), and the discount to apply to that state's value: ``γ^k`` after ``k`` real turns, or 0
when the conversation terminated in between (truncation still bootstraps).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch


class ReplaySample(NamedTuple):
    """A minibatch of transitions (B rows)."""

    obs: torch.Tensor  # float32 [B, obs_dim]
    masks: torch.Tensor  # bool [B, n_actions]
    actions: torch.Tensor  # int64 [B]
    returns: torch.Tensor  # float32 [B], n-step discounted reward
    next_obs: torch.Tensor  # float32 [B, obs_dim]
    next_masks: torch.Tensor  # bool [B, n_actions]
    discounts: torch.Tensor  # float32 [B], γ^k, 0 where the episode terminated


_FIELDS = ReplaySample._fields


class ReplayBuffer:
    """Fixed-capacity ring buffer; the oldest transitions are overwritten first.

    Args:
        capacity: number of transitions kept.
        obs_dim: observation size.
        n_actions: size of the action catalog.
    """

    def __init__(self, capacity: int, obs_dim: int, n_actions: int) -> None:
        if capacity < 1:
            raise ValueError(f"replay capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._data = ReplaySample(
            obs=torch.zeros(capacity, obs_dim, dtype=torch.float32),
            masks=torch.zeros(capacity, n_actions, dtype=torch.bool),
            actions=torch.zeros(capacity, dtype=torch.int64),
            returns=torch.zeros(capacity, dtype=torch.float32),
            next_obs=torch.zeros(capacity, obs_dim, dtype=torch.float32),
            next_masks=torch.zeros(capacity, n_actions, dtype=torch.bool),
            discounts=torch.zeros(capacity, dtype=torch.float32),
        )
        self.pos = 0
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, batch: ReplaySample) -> None:
        """Append a batch of transitions (numpy arrays or tensors of matching shapes)."""
        n = len(batch.actions)
        if n > self.capacity:  # only the newest fit
            batch = ReplaySample(*(x[-self.capacity :] for x in batch))
            n = self.capacity
        end = self.pos + n
        # a slice while the rows fit before the end of the ring (cheaper than an index)
        idx = (
            slice(self.pos, end)
            if end <= self.capacity
            else torch.arange(self.pos, end) % self.capacity
        )
        for store, x in zip(self._data, batch):
            store[idx] = torch.as_tensor(np.asarray(x), dtype=store.dtype)
        self.pos = (self.pos + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int, generator: torch.Generator) -> ReplaySample:
        """``batch_size`` transitions drawn uniformly with replacement."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        idx = torch.randint(self.size, (batch_size,), generator=generator)
        return ReplaySample(*(x.index_select(0, idx) for x in self._data))

    def state(self, prefix: str = "replay") -> tuple[dict[str, np.ndarray], dict]:
        """The filled rows as arrays (in storage order) and the ring position."""
        arrays = {
            f"{prefix}.{k}": x[: self.size].numpy().copy() for k, x in zip(_FIELDS, self._data)
        }
        return arrays, {"pos": self.pos, "size": self.size}

    def load_state(self, arrays: dict[str, np.ndarray], meta: dict, prefix: str = "replay") -> None:
        size, pos = int(meta["size"]), int(meta["pos"])
        if not (0 <= size <= self.capacity and 0 <= pos < max(self.capacity, 1)):
            raise ValueError(
                f"replay state size={size} pos={pos} does not fit capacity {self.capacity}"
            )
        for k, store in zip(_FIELDS, self._data):
            name = f"{prefix}.{k}"
            if name not in arrays:
                raise ValueError(f"learner state has no array {name!r}")
            a = arrays[name]
            if a.shape[0] != size or tuple(a.shape[1:]) != tuple(store.shape[1:]):
                raise ValueError(f"array {name} has shape {a.shape}, expected {size} rows")
            store.zero_()
            store[:size] = torch.as_tensor(np.asarray(a), dtype=store.dtype)
        self.size, self.pos = size, pos
