"""Helpers the tests share (imported by name: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import numpy as np

from dialog_rl.counter_rng import KeyedStream
from dialog_rl.train.loop import play_episode


def train(learner, env, episodes: range, seed: int = 0) -> None:
    """Let ``learner`` play and learn from training episodes ``episodes`` of ``seed``."""
    rng = KeyedStream(0)
    for i in episodes:
        learner.learn(play_episode(env, learner, i, seed, rng))


def random_masks(rng: np.random.Generator, n: int, n_actions: int) -> np.ndarray:
    """``n`` random action masks, each allowing at least one action."""
    masks = (rng.random((n, n_actions)) < 0.5).astype(np.int8)
    masks[np.arange(n), rng.integers(n_actions, size=n)] = 1
    return masks


def assert_refused_at(capsys, path, text: str, needle: str, field: str, message: str) -> None:
    """``dialog-rl validate path`` refuses it in one line naming the file, the line of ``text``
    where ``needle`` is written, the field and ``message``; exit 2."""
    from dialog_rl.cli import main

    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    line = text[: text.index(needle)].count("\n") + 1
    assert f"{path}:{line}:" in err, err
    assert field in err and message in err, err
