"""Common random numbers: an environment whose random draws stay aligned across two policies.

``DialogueEnv`` seeds four streams (goal, user, noise, text) per episode, so two policies reset with
the same episode seed meet the same customer: same goal, persona, patience and opening words.
Their user and noise streams are read sequentially, though: as soon as the two conversations take
different turns, they consume different numbers of draws and every later draw is misaligned. The
paired difference then carries noise that has nothing to do with the policies.

``PairedEnv`` keys those draws by *what they are about* instead of by their position in the stream:

- ``pairing="act"`` (default): the channel's corruption and confidence for a user act are drawn
  from a generator keyed by ``(episode, act, how many times this act was said before)``, and the
  customer's reaction to a system action from one keyed by ``(episode, action, how many times the
  agent took it before)``. "The second time the customer says food=italian, the line crackles the
  same way" holds in both conversations, whatever happened in between.
- ``pairing="turn"``: user and noise streams re-keyed by turn number.
- ``pairing="episode"``: the plain environment: the customer is shared, later draws are not. It
  reproduces ``dialog-rl simulate`` exactly (same seed, same conversations).

Every key is a hash of distinct inputs, so within one conversation each draw is still a fresh
independent stream: each policy's own results are a fair sample of the same distribution as with
the plain environment (the marginal law is unchanged); only the coupling between the two
conversations is tighter. ``benchmarks/pairing.py`` prints what each mode saves.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dialog_rl.env import DialogueEnv
from dialog_rl.rollout.runner import episode_seed, policy_rng
from dialog_rl.scenario import Domain

PAIRINGS = ("act", "turn", "episode")
_NOISE, _USER = 1, 2


def _key(*parts: int) -> int:
    """A 63-bit hash of a tuple of small non-negative ints (chained SplitMix64)."""
    k = 0x2545F4914F6CDD1D
    for p in parts:
        k = episode_seed(k, p)
    return k


class KeyedNoiseChannel:
    """Wraps a ``NoiseChannel``: each act is corrupted with draws keyed by its content and count."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.error_rate = inner.error_rate
        self.episode_key = 0
        self.counts: dict[tuple, int] = {}
        self._gen = np.random.Generator(np.random.PCG64(0))

    def start(self, episode_key: int) -> None:
        self.episode_key = episode_key
        self.counts = {}

    def __call__(self, acts: list, rng: np.random.Generator) -> list:
        out: list = []
        for act in acts:
            key = (int(act[0]), int(act[1]), int(act[2]))
            n = self.counts.get(key, 0)
            self.counts[key] = n + 1
            # slot and value may be -1 (unused): shift so every part is non-negative
            gen = policy_rng(
                _key(self.episode_key, _NOISE, key[0], key[1] + 1, key[2] + 1, n), self._gen
            )
            out += self.inner([act], gen)
        return out


class PairedEnv(DialogueEnv):
    """``DialogueEnv`` with draws keyed for paired comparisons; see the module docstring.

    Args:
        domain, noise, channel, text, max_turns: as for ``DialogueEnv``.
        pairing: "act" (default), "turn" or "episode".
    """

    def __init__(
        self,
        domain: Domain,
        noise: float | None = None,
        channel: str = "act",
        text: bool = False,
        max_turns: int | None = None,
        pairing: str = "act",
    ) -> None:
        if pairing not in PAIRINGS:
            raise ValueError(f"pairing must be one of {PAIRINGS}, got {pairing!r}")
        super().__init__(domain, noise=noise, channel=channel, text=text, max_turns=max_turns)
        self.pairing = pairing
        self._episode_key = 0
        self._action_counts: dict[int, int] = {}
        # Text-level noise corrupts a whole utterance: it is keyed per turn, not per act.
        self._keyed = pairing == "act" and channel == "act"
        if self._keyed:
            self.noise_channel = KeyedNoiseChannel(self.noise_channel)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict]:
        self._episode_key = _key(0 if seed is None else int(seed) & ((1 << 63) - 1))
        self._action_counts = {}
        if self._keyed:
            self.noise_channel.start(self._episode_key)
        return super().reset(seed=seed, options=options)

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self.pairing == "act":
            a = int(action)
            n = self._action_counts.get(a, 0)
            self._action_counts[a] = n + 1
            policy_rng(_key(self._episode_key, _USER, a, n), self.user_rng)
            if not self._keyed:
                policy_rng(_key(self._episode_key, _NOISE, self.turn), self.noise_rng)
        elif self.pairing == "turn":
            policy_rng(_key(self._episode_key, _USER, self.turn), self.user_rng)
            policy_rng(_key(self._episode_key, _NOISE, self.turn), self.noise_rng)
        return super().step(action)
