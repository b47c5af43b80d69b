"""Returning customers: how one conversation's experience shapes the next visit.

After each conversation the customer scores it (success, turns, annoyances, hand-over, with the
scenario's weights). Trust is a running average of those scores; it sets the probability and the
timing of the next visit, and the patience and cooperativeness the customer brings to it. Trust is
hidden: the agent only ever sees the customer's visit history (what a CRM would show).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dialog_rl.domain import LifetimeParams


@dataclass
class CustomerHistory:
    """One customer's state across visits."""

    trust: float = 0.0
    """Running average of satisfaction (hidden from the agent)."""
    day: float = 0.0
    """Day of the current visit since the first one."""
    visits: int = 0
    """Conversations so far."""
    value: float = 0.0
    """Lifetime value so far: rewards discounted by the day they happened."""


def satisfaction(params: LifetimeParams, outcome: dict, annoyances: int, persona: int) -> float:
    """The score a customer of this persona (its index in the scenario) gives one finished
    conversation: the persona's own weights where the scenario sets them, else the common ones."""
    w_success, w_failure, w_handover, w_turn, w_annoyance = params.satisfaction[persona]
    if outcome["success"]:
        score = w_success
    elif outcome["handover"]:
        score = w_handover
    else:
        score = w_failure
    return score + w_turn * outcome["turns"] + w_annoyance * annoyances


def next_visit(
    params: LifetimeParams, history: CustomerHistory, score: float, rng: np.random.Generator
) -> float | None:
    """Update trust with this conversation's score; return the gap in days to the next visit,
    or None if the customer does not come back."""
    history.trust = (1 - params.memory) * history.trust + params.memory * score
    p_return = 1.0 / (1.0 + math.exp(-(params.return_bias + params.return_slope * history.trust)))
    if rng.random() >= p_return:
        return None
    mean_gap = params.mean_gap_days * math.exp(-params.gap_slope * history.trust)
    return 1.0 + float(rng.exponential(mean_gap))


def visit_modifiers(params: LifetimeParams, trust: float) -> tuple[float, float]:
    """(patience scale, cooperativeness shift) a customer with this trust brings to a visit."""
    scale = min(max(1.0 + params.patience_slope * trust, 0.5), 1.5)
    return scale, params.cooperativeness_slope * trust


def return_probability(params: LifetimeParams, trust: float) -> float:
    return 1.0 / (1.0 + math.exp(-(params.return_bias + params.return_slope * trust)))
