"""Callbacks: the one hook into the training loop (Stable-Baselines3 style).

The loop calls ``init_callback(loop)`` once, then ``on_training_start()``, ``on_step()`` after
every decision, ``on_episode()`` after every learned episode, ``on_evaluation(row)`` after every
greedy evaluation and ``on_training_end()``. ``on_step``/``on_episode`` returning False stops
training: after ``on_step`` the unfinished episode is dropped (it is replayed whole on resume);
after ``on_episode`` the loop checkpoints and stops. The callback reads what it needs from
``self.loop`` (a ``dialog_rl.train.loop.LoopState``). Training in rounds (``rollout_batch`` > 1,
DQN's default) makes its decisions in batches, in rollout workers: ``on_step`` is then not
called, the other hooks are.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dialog_rl.train.loop import LoopState


class Callback:
    """Base class: override the hooks you need; the defaults do nothing and never stop."""

    loop: LoopState

    def init_callback(self, loop: LoopState) -> None:
        self.loop = loop

    def on_training_start(self) -> None:
        pass

    def on_step(self) -> bool:
        """After each decision (``loop.decision`` is the latest); False stops training."""
        return True

    def on_episode(self) -> bool:
        """After each learned episode (``loop.episode_data``, ``loop.metrics``); False stops."""
        return True

    def on_evaluation(self, row: dict) -> None:
        """After each greedy evaluation; ``row`` is the learning-curve row just added."""

    def on_training_end(self) -> None:
        pass


class CallbackList(Callback):
    """Several callbacks as one; training stops if any of them says so."""

    def __init__(self, callbacks: Sequence[Callback]) -> None:
        self.callbacks = list(callbacks)

    def init_callback(self, loop: LoopState) -> None:
        super().init_callback(loop)
        for cb in self.callbacks:
            cb.init_callback(loop)

    def on_training_start(self) -> None:
        for cb in self.callbacks:
            cb.on_training_start()

    def on_step(self) -> bool:
        # every callback sees every step, even after one has asked to stop
        return all([cb.on_step() for cb in self.callbacks])

    def on_episode(self) -> bool:
        return all([cb.on_episode() for cb in self.callbacks])

    def on_evaluation(self, row: dict) -> None:
        for cb in self.callbacks:
            cb.on_evaluation(row)

    def on_training_end(self) -> None:
        for cb in self.callbacks:
            cb.on_training_end()


class ProgressBar(Callback):
    """A tqdm bar over training dialogues, showing the latest greedy evaluation."""

    def __init__(self, disable: bool | None = None) -> None:
        self.disable = disable
        self.bar = None

    def on_training_start(self) -> None:
        from tqdm import tqdm

        self.bar = tqdm(
            total=self.loop.dialogues,
            initial=self.loop.episode,
            unit="dlg",
            desc=self.loop.algo,
            disable=self.disable,
            file=sys.stderr,
            smoothing=0.1,
        )

    def on_episode(self) -> bool:
        self.bar.update(1)
        return True

    def on_evaluation(self, row: dict) -> None:
        if self.bar is not None:
            # lifetime runs report lifetime value where conversation runs report reward
            name, key = (
                ("value", "life/value") if "life/value" in row else ("reward", "dialog/reward")
            )
            self.bar.set_postfix(
                {"success": f"{row['dialog/success']:.0%}", name: f"{row[key]:.1f}"}
            )

    def on_training_end(self) -> None:
        if self.bar is not None:
            self.bar.close()


class StopAfter(Callback):
    """Stop once ``episodes`` training dialogues are done (an example; handy in tests)."""

    def __init__(self, episodes: int) -> None:
        self.episodes = episodes

    def on_episode(self) -> bool:
        return self.loop.episode < self.episodes
