"""What a TUI session is made of: choices, conversations, decisions, turns, demonstrations.

Plain records, no behaviour beyond a prefix and a key: ``Session`` makes and replays them, the
session file saves them, the panes and exports read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


@dataclass(frozen=True)
class Choice:
    """One agent turn as taken: the action, whether a person picked it, and the reply typed."""

    action: int
    overridden: bool = False
    propensity: float = 1.0
    """Probability the acting policy gave the action when it was taken (1.0 for a person's pick)."""
    text: str | None = None
    """The customer's typed reply (play-the-customer mode only)."""
    policy_action: int = -1
    """What the policy chose there when the turn was taken (-1: unknown)."""


@dataclass
class Conversation:
    """Everything needed to replay one conversation (in a lifetime session, one lifetime)."""

    episode: int
    """Episode index within the session's seed: same customer as episode i of a batch run."""
    noise: float
    mode: str = "simulate"
    opening: str | None = None
    """The customer's typed opening words (play-the-customer mode only)."""
    choices: list[Choice] = field(default_factory=list)

    def prefix(self, k: int) -> Conversation:
        return replace(self, choices=list(self.choices[:k]))


@dataclass(frozen=True)
class DecisionView:
    """The policy's view of one decision: what the why pane shows."""

    obs: np.ndarray
    mask: np.ndarray
    reasons: tuple[str, ...]
    """Per action, why it is masked ("" if allowed)."""
    scores: np.ndarray
    probs: np.ndarray
    action: int
    """The action the policy picks here."""


@dataclass(frozen=True)
class Turn:
    """One agent turn: the customer's words before it, the decision, the reply after it."""

    index: int
    decision: DecisionView
    action: int
    overridden: bool
    propensity: float
    policy_action: int
    """What the policy chose when the turn was taken (it may have learned since)."""
    user_acts: list
    observed_acts: list
    user_text: str
    system_text: str
    reward: float
    terminated: bool
    truncated: bool
    reply_acts: list
    reply_observed: list
    reply_text: str
    visit: int = 0
    """Which visit of the customer's lifetime the turn is in (0 outside lifetime sessions)."""
    visit_turn: int = 0
    """The turn's index within its visit (``index`` outside lifetime sessions)."""
    day: float = 0.0
    """Day of the turn's visit since the customer's first one."""
    ended: dict | None = None
    """Lifetime sessions: the visit this turn finished (outcome, satisfaction, day, trust after
    it, and the probability of coming back it left); None if the visit goes on."""


@dataclass(frozen=True)
class Replayed:
    """A conversation replayed: its turns, its outcome so far, and who the customer was."""

    turns: list[Turn]
    outcome: dict
    persona: str
    finished: bool


@dataclass
class Demo:
    """A labelled demonstration: the state where a person overrode the policy, and their choice."""

    conversation: Conversation
    """The conversation up to (not including) the overridden turn."""
    action: int
    policy_action: int
    """What the policy chose there when it was overridden."""
    obs: np.ndarray | None = None
    mask: np.ndarray | None = None
    visit: int = 0
    """Lifetime sessions: the visit the overridden turn was in."""

    def key(self) -> tuple:
        c = self.conversation
        return (c.episode, c.noise, c.mode, c.opening, tuple(c.choices))
