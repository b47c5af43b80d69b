"""Teach: update the policy from the person's overrides and show how its choices changed.

Every override is a labelled demonstration (state, mask, the person's action). A learner that
supports behaviour cloning (``Learner.clone``) is updated from them in place; the rule and random
policies cannot learn, and the report says so and points to ``dialog-rl train --demos``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dialog_rl.policies import Policy
from dialog_rl.tui.session import Demo, Session

#: weight of each override in the cloning loss (the trainer weighs TUI overrides above rule rows)
OVERRIDE_WEIGHT = 1.0


@dataclass(frozen=True)
class Changed:
    """How the policy's choice moved in one overridden state."""

    episode: int
    turn: int
    wanted: str
    """The action the person picked."""
    before: str
    """The policy's choice there just before this update."""
    after: str
    """Its choice after the update."""
    p_wanted_before: float
    p_wanted_after: float


@dataclass(frozen=True)
class TeachReport:
    """What one teach step did."""

    learned: bool
    message: str
    rows: tuple[Changed, ...] = ()
    metrics: dict | None = None


def greedy(policy: Policy, obs: np.ndarray, mask: np.ndarray) -> tuple[int, np.ndarray]:
    probs = np.asarray(policy.distribution(obs, mask, explore=False)[1], dtype=np.float64)
    return int(np.argmax(probs)), probs


def teach(session: Session, save_hint: str = "s") -> TeachReport:
    """Update ``session.policy`` from ``session.demos``; refreshes the session's view after."""
    demos: list[Demo] = session.demos
    if not demos:
        return TeachReport(False, "No demonstrations yet: override the agent (o) first.")
    for d in demos:
        if d.obs is None:
            session.fill_demo(d)
    obs = np.stack([d.obs for d in demos]).astype(np.float32)
    masks = np.stack([d.mask for d in demos]).astype(np.int8)
    actions = np.array([d.action for d in demos], dtype=np.int64)
    weights = np.full(len(demos), OVERRIDE_WEIGHT, dtype=np.float64)
    before = [greedy(session.policy, o, m) for o, m in zip(obs, masks)]
    clone = getattr(session.policy, "clone", None)
    cannot = (
        f"The {session.policy_name} policy cannot learn. Save the session ({save_hint}) and train "
        "a learner from the overrides: dialog-rl train --scenario SCENARIO --algo dqn "
        "--demos DIR/demos.parquet --out runs/NAME, then reopen with --policy runs/NAME."
    )
    if clone is None:
        return TeachReport(False, cannot, _rows(session, demos, before, before))
    try:
        metrics = clone(obs, masks, actions, weights)
    except NotImplementedError:
        return TeachReport(False, cannot, _rows(session, demos, before, before))
    after = [greedy(session.policy, o, m) for o, m in zip(obs, masks)]
    session.refresh()
    rows = _rows(session, demos, before, after)
    agree = sum(r.after == r.wanted for r in rows)
    flipped = sum(r.before != r.wanted and r.after == r.wanted for r in rows)
    msg = (
        f"Updated {session.policy_name} from {len(demos)} override(s): it now agrees in "
        f"{agree} of {len(demos)} states ({flipped} changed to the person's choice)."
    )
    return TeachReport(True, msg, rows, dict(metrics or {}))


def _rows(
    session: Session, demos: list[Demo], before: list[tuple], after: list[tuple]
) -> tuple[Changed, ...]:
    names = session.domain.act_names
    return tuple(
        Changed(
            episode=d.conversation.episode,
            turn=len(d.conversation.choices),
            wanted=names[d.action],
            before=names[b[0]],
            after=names[a[0]],
            p_wanted_before=float(b[1][d.action]),
            p_wanted_after=float(a[1][d.action]),
        )
        for d, b, a in zip(demos, before, after)
    )
