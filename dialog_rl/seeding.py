"""The run's one seeding rule: episode ``k`` of a run with seed ``S`` is seeded from ``(S, k)``.

Lives below every layer that seeds episodes: the runner (``dialog_rl.rollout.runner``, which
re-exports ``episode_seed``) and the vector env (``dialog_rl.env.vector``, which seeds thousands
of episodes a step with ``episode_seeds``). The env layer may not import the rollout layer, so the
rule sits here, in its scalar and array forms, pinned to each other by
``tests/test_vector_env.py``.
"""

from __future__ import annotations

import numpy as np

MASK64 = (1 << 64) - 1
#: which conversations a seed plays: bumped whenever the engine or the customer model makes the
#: same seed play other conversations (2: the one engine and its counter-based draws, December
#: 2026). A run directory records it, and ``--resume`` refuses to continue a run of another
#: version, whose first half would come from other conversations than its second.
CONVERSATIONS_VERSION = 2


def splitmix64(x: int) -> int:
    """SplitMix64's finaliser on one 64-bit integer."""
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def splitmix64_array(x: np.ndarray) -> np.ndarray:
    """``splitmix64`` on a uint64 array (wrapping arithmetic, as the scalar's masks)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def episode_seed(seed: int, episode: int) -> int:
    """The seed of episode ``episode`` in a run with seed ``seed`` (a 63-bit hash of the pair).

    A pure-integer hash (SplitMix64) rather than a SeedSequence: it runs once per episode.
    """
    return splitmix64(splitmix64(seed & MASK64) ^ (episode & MASK64)) >> 1


def episode_seeds(seed: int, episodes: np.ndarray) -> np.ndarray:
    """``episode_seed(seed, k)`` for every ``k`` of ``episodes``, as uint64."""
    base = np.uint64(splitmix64(seed & MASK64))
    k = np.asarray(episodes).astype(np.int64).astype(np.uint64)
    return splitmix64_array(base ^ k) >> np.uint64(1)
