"""Numerical guards: a NaN or inf in a reward, a feature or a loss is caught where it enters.

A NaN spreads silently (into returns, Q-values, every weight of a network, the metrics) and an
average over a run hides where it came from, so each place a number enters the system checks it
and raises ``NumericalError`` naming what, and when: the episode and turn for rewards and
features, the training episode and update for losses. Environments know the turn and the
episode's seed; whoever knows the run's episode index adds it with ``at_episode``.

The checks are one ``math.isfinite`` per reward and one dot product per observation: a NaN
anywhere makes ``x @ x`` NaN and an inf makes it inf, at a small fraction of a step's cost (the
vector env's engine tests its batch's bits in one compiled pass, ``Engine.finite``). The slow
path (naming the feature; ``check_batch`` for a batch) only runs once something is wrong.

The command line reports a ``NumericalError`` in one line with exit code 1: the inputs were each
valid (a scenario with NaN or inf is refused at load time with exit code 2); the run failed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


class NumericalError(ArithmeticError):
    """A NaN or inf where a finite number must be, with where it entered.

    Attributes:
        what: the quantity ("reward", "feature 'area.conf'", "loss 'losses/td'").
        value: the offending value.
        episode: the run's episode index, if known.
        turn: the turn within the episode (0-based), if it entered during one.
        seed: the environment seed of the episode (reproduces it with ``env.reset(seed=...)``).
        update: the learner's update count, for losses.
        hint: what to try.
    """

    def __init__(
        self,
        what: str,
        value: float,
        *,
        episode: int | None = None,
        turn: int | None = None,
        seed: int | None = None,
        update: int | None = None,
        hint: str = "",
    ) -> None:
        self.what = what
        self.value = value
        self.episode = episode
        self.turn = turn
        self.seed = seed
        self.update = update
        self.hint = hint
        super().__init__(what, value)

    def at_episode(self, episode: int) -> NumericalError:
        """This error with the run's episode index filled in (kept if already known)."""
        if self.episode is None:
            self.episode = int(episode)
        return self

    def __reduce__(self):
        # keyword-only fields survive pickling (rollout workers in other processes raise these)
        return (_rebuild, (self.what, self.value, dict(self.__dict__)))

    def __str__(self) -> str:
        where = []
        if self.episode is not None:
            where.append(f"episode {self.episode}")
        if self.turn is not None:
            where.append(f"turn {self.turn}")
        if self.update is not None:
            where.append(f"update {self.update}")
        if self.seed is not None:
            where.append(f"env seed {self.seed}")
        at = f" at {', '.join(where)}" if where else ""
        hint = f"; {self.hint}" if self.hint else ""
        return f"{self.what} is {self.value}{at}{hint}"


def _rebuild(what: str, value: float, state: dict) -> NumericalError:
    err = NumericalError(what, value)
    err.__dict__.update(state)
    return err


def check_reward(reward: float, turn: int, seed: int | None = None) -> None:
    """Raise ``NumericalError`` if a step's reward is NaN or inf."""
    if not math.isfinite(reward):
        raise NumericalError(
            "reward",
            reward,
            turn=turn,
            seed=seed,
            hint="check the scenario's `reward` numbers (huge values overflow when summed)",
        )


def check_features(
    obs: np.ndarray, names: Sequence[str], turn: int, seed: int | None = None
) -> None:
    """Raise ``NumericalError`` if an observation holds a NaN or inf (naming the feature)."""
    if math.isfinite(obs.dot(obs)):
        return
    bad = np.flatnonzero(~np.isfinite(obs))
    if not len(bad):  # finite but so large its square overflows: no feature is meant to be
        bad = np.flatnonzero(np.abs(obs) > 1e18)
    i = int(bad[0]) if len(bad) else 0
    name = names[i] if i < len(names) else str(i)
    raise NumericalError(f"feature {name!r}", float(obs[i]), turn=turn, seed=seed)


def check_batch(
    rewards: np.ndarray,
    obs: np.ndarray,
    names: Sequence[str],
    episodes: np.ndarray,
    turns: np.ndarray,
) -> None:
    """``check_reward`` and ``check_features`` slot by slot (one row per slot), as
    ``DialogueEnv.step`` numbers them: ``turns`` are the turns the slots just played (their
    rewards'), and each observation is that of the turn after. The slow path that names what
    is not finite: the vector env calls it once its engine's compiled test (``Engine.finite``)
    found something."""
    for i in range(len(rewards)):
        try:
            check_reward(float(rewards[i]), int(turns[i]))
            with np.errstate(over="ignore"):  # a huge feature is named, not warned about
                check_features(obs[i], names, int(turns[i]) + 1)
        except NumericalError as err:
            raise err.at_episode(int(episodes[i])) from None


def check_losses(metrics: dict, episode: int, update: int | None) -> None:
    """Raise ``NumericalError`` if a learner's loss (``losses/*``) or value estimate
    (``values/*``) is NaN or inf. Metrics that are NaN by convention when undefined (explained
    variance of a constant batch) are let through."""
    for key, value in metrics.items():
        if key in UNDEFINED_AS_NAN or not key.startswith(("losses/", "values/")):
            continue
        if not math.isfinite(value):
            raise NumericalError(
                f"loss {key!r}",
                value,
                episode=episode,
                update=update,
                hint="the learner diverged: try a smaller learning rate or reward scale",
            )


#: metrics that are NaN, by convention, when they are undefined rather than broken
UNDEFINED_AS_NAN = frozenset({"losses/explained_variance"})
