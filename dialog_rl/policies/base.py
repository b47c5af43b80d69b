"""The one interface for everything that acts: ``act`` returns action, propensity and scores."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


class PolicyError(ValueError):
    """A policy name or file the user gave cannot be used (reported in one line, exit code 2)."""


class Decision(NamedTuple):
    """One decision of a policy (a NamedTuple: one is made every turn)."""

    action: int
    """Index into the scenario's action catalog."""
    propensity: float
    """Probability the policy gave the action it took (1.0 for a greedy deterministic choice)."""
    scores: np.ndarray
    """Per-action scores the choice came from: probabilities, Q-values or rule priorities."""
    probs: np.ndarray
    """The policy's full action distribution at this state ([n_actions], zero where masked)."""


class Policy(ABC):
    """Base class: subclasses implement ``distribution``; learners add ``update``.

    ``probabilities(obs, mask, explore)`` is the policy's action distribution; it is what OPE
    recomputes for a target policy on logged states. ``act`` samples from it with the rng given
    (the rollout hands each episode its own), so one seed decides every choice.
    """

    name = "policy"
    #: whether the policy's choice depends on random draws when exploring
    stochastic = False
    row_streams = False
    """``act_batch`` explores only through ``sample_rows``/``row_uniforms``, so batched rollouts may
    hand it array-backed, counter-based streams (``RowStreams``) instead of one Generator per row."""

    @abstractmethod
    def distribution(
        self, obs: np.ndarray, mask: np.ndarray, explore: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-action scores (what the TUI's why pane shows) and the action distribution
        (zero on masked actions)."""

    def probabilities(self, obs: np.ndarray, mask: np.ndarray, explore: bool = True) -> np.ndarray:
        return self.distribution(obs, mask, explore)[1]

    def act(
        self,
        obs: np.ndarray,
        mask: np.ndarray,
        *,
        explore: bool = True,
        rng: np.random.Generator | None = None,
    ) -> Decision:
        scores, probs = self.distribution(obs, mask, explore)
        if explore and rng is not None and self.stochastic:
            action = sample(probs, rng)
        else:
            action = int(np.argmax(probs))
        return Decision(action, float(probs[action]), scores, probs)

    def act_batch(
        self,
        obs: np.ndarray,
        masks: np.ndarray,
        *,
        explore: bool = True,
        rng: Sequence[np.random.Generator] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Act in many conversations at once: actions (int64 [n]) and propensities (float64 [n]).

        ``obs`` is float32 [n, obs_dim] and ``masks`` [n, n_actions]; ``rng`` holds one stream
        per row, since every conversation has its own exploration stream. Row ``i`` must get
        exactly what ``act(obs[i], masks[i], explore=explore, rng=rng[i])`` gives, so batched and
        one-at-a-time rollouts play the same conversations. This default loops over the rows
        (``rng`` is then a sequence of Generators). A policy with a network overrides it to
        score the whole batch in one forward pass and draws each row's action with
        ``sample_rows``; one that draws only through ``sample_rows``/``row_uniforms`` can set
        ``row_streams`` and get array-backed, counter-based streams (``RowStreams``) instead.
        """
        n = len(obs)
        actions = np.empty(n, dtype=np.int64)
        props = np.empty(n, dtype=np.float64)
        for i in range(n):
            d = self.act(obs[i], masks[i], explore=explore, rng=None if rng is None else rng[i])
            actions[i], props[i] = d.action, d.propensity
        return actions, props

    def config(self) -> dict:
        """Constructor arguments, for logs and checkpoints."""
        return {}


def sample(probs: np.ndarray, rng: np.random.Generator) -> int:
    """Draw an index from a probability vector with a single uniform draw."""
    u = rng.random()
    cum = np.cumsum(probs)
    return int(min(np.searchsorted(cum, u * cum[-1], side="right"), len(probs) - 1))


def sample_rows(
    probs: np.ndarray, rng: Sequence[np.random.Generator] | None, explore: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """``act``'s choice for every row of ``probs`` [n, n_actions]: actions and propensities.

    With ``explore`` and generators, row ``i`` draws once from ``rng[i]`` exactly as ``sample``
    does (same cumulative sums, same single uniform), so a batched rollout repeats a sequential
    one draw for draw; otherwise each row takes its most probable action.
    """
    n = len(probs)
    if explore and rng is not None:
        u = row_uniforms(rng, n)
        cum = np.cumsum(probs, axis=1)
        # searchsorted(cum, u * total, "right") row by row: the count of sums <= the threshold
        actions = (cum <= (u * cum[:, -1])[:, None]).sum(axis=1)
        actions = np.minimum(actions, probs.shape[1] - 1)
    else:
        actions = np.argmax(probs, axis=1)
    return actions.astype(np.int64), probs[np.arange(n), actions].astype(np.float64)


def row_uniforms(rng, n: int) -> np.ndarray:
    """One ``random()`` draw from each row's stream: Generators, or array-backed streams.

    Array-backed streams (``dialog_rl.rollout.batched.RowStreams``) have ``random_rows()``,
    which draws a counter-based number for every row at once.
    """
    if hasattr(rng, "random_rows"):
        return rng.random_rows()
    return np.fromiter((g.random() for g in rng), dtype=np.float64, count=n)


def uniform(mask: np.ndarray) -> np.ndarray:
    """The uniform distribution over allowed actions."""
    m = mask.astype(np.float64)
    total = m.sum()
    if total == 0:
        raise ValueError("the action mask allows no action")
    return m / total


def epsilon_soft(action: int, mask: np.ndarray, epsilon: float) -> np.ndarray:
    """Take ``action`` with probability 1-ε, otherwise a uniform allowed action."""
    probs = uniform(mask) * epsilon
    probs[action] += 1.0 - epsilon
    return probs


@dataclass(frozen=True)
class Episode:
    """One finished conversation (or customer lifetime) as arrays, as a learner receives it.

    ``obs[t]``/``masks[t]`` are the state and mask at decision ``t``; ``final_obs``/``final_mask``
    the state after the last action (bootstrap from it only when ``truncated``).
    """

    obs: np.ndarray  # float32 [T, obs_dim]
    masks: np.ndarray  # int8 [T, n_actions]
    actions: np.ndarray  # int64 [T]
    rewards: np.ndarray  # float64 [T]
    propensities: np.ndarray  # float64 [T]
    final_obs: np.ndarray  # float32 [obs_dim]
    final_mask: np.ndarray  # int8 [n_actions]
    terminated: bool
    truncated: bool
    outcome: dict
    ends: np.ndarray | None = None
    """bool [T]: a conversation ended at decision ``t``, when the episode is a customer's
    lifetime of visits (``LifetimeEnv``); None when the episode is one conversation."""


class Learner(Policy):
    """A policy that improves from the outcomes it causes.

    The training loop plays an episode with ``act(..., explore=True, rng=...)`` and then calls
    ``learn(episode)``, which returns metrics named like ``losses/td``. A learner's whole state
    (weights, optimiser moments, replay buffer, counters, its own rng) round-trips through
    ``state()``/``load_state()``: tensors (numpy arrays) plus JSON-safe metadata, so a checkpoint
    never needs pickle and a resumed run continues exactly.

    Learners are built as ``cls(domain, spec, seed, **hyperparameters)``; ``config()`` returns
    those hyperparameters (JSON-safe), so a checkpoint rebuilds the learner from its metadata.
    """

    algo = "learner"

    @abstractmethod
    def learn(self, episode: Episode) -> dict[str, float]:
        """Update from one finished episode; return metrics to log."""

    @abstractmethod
    def state(self) -> tuple[dict[str, np.ndarray], dict]:
        """Everything needed to resume: named arrays and JSON-safe metadata."""

    @abstractmethod
    def load_state(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        """Restore what ``state`` returned."""

    def clone(
        self, obs: np.ndarray, masks: np.ndarray, actions: np.ndarray, weights: np.ndarray
    ) -> dict[str, float]:
        """Warm start by behaviour cloning: fit the policy to imitate demonstrated decisions.

        Called once by the training loop before the first episode, when ``--demos`` is given.
        Rows are single decisions from logs of a demonstrator (the rule policy, or a person
        overriding the policy in the TUI); they are not episodes and carry no rewards.

        Args:
            obs: float32 [N, obs_dim] states.
            masks: int8 [N, n_actions] action masks at those states (the demonstrated action is
                always allowed).
            actions: int64 [N] demonstrated actions.
            weights: float64 [N] per-row weights (> 0): TUI overrides count more than rule rows.

        Returns metrics to log (e.g. ``losses/bc``, ``bc/accuracy``). Randomness (minibatch
        order) must come from the learner's own generator so a run stays reproducible.
        """
        raise NotImplementedError(f"{type(self).__name__} does not support behaviour cloning")
