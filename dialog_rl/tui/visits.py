"""What the TUI shows of a returning customer's visits: headings, visit ends, the lifetime block.

Plain data and rich Text, no textual: the transcript pane, the state pane and the Markdown
transcript all word a visit the same way from here. Trust and the probability of coming back are
the simulator's hidden state, so the state pane shows them only when the person reveals the goal.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text

from dialog_rl.tui.session import Session
from simulators.lifetime import return_probability, satisfaction


@dataclass(frozen=True)
class LifeView:
    """The lifetime block of the state pane."""

    visit: int
    """The current visit, counted from 0."""
    max_visits: int
    day: float
    horizon_days: int
    value: float
    """Lifetime value so far (rewards discounted by their day)."""
    last: dict | None
    """The last finished visit (outcome, turns, satisfaction...), None before the first ends."""
    trust: float
    """The customer's trust now (hidden)."""
    p_return: float
    """Probability of coming back at this trust (hidden)."""
    p_if: tuple[tuple[str, float], ...]
    """Probability of coming back if the visit ended next turn, per way of ending (hidden)."""
    outcome: dict | None
    """The lifetime's summary once it is over."""


def life_view(session: Session) -> LifeView | None:
    """The lifetime block of a lifetime session (None for single conversations)."""
    if not session.lifetime:
        return None
    env = session.env
    params = env.params
    trust = float(env.history.trust)
    ended = [t.ended for t in session.turns if t.ended is not None]
    p_if: tuple[tuple[str, float], ...] = ()
    if not session.finished:
        # What is at stake in this visit: the trust each ending would leave, as a return chance.
        turns = len(session.visit_turns) + 1
        annoyances = session.conv_env.user.annoyances
        ways = (("success", True, False), ("failure", False, False), ("hand-over", False, True))
        p_if = tuple(
            (
                name,
                return_probability(
                    params,
                    (1 - params.memory) * trust
                    + params.memory
                    * satisfaction(
                        params,
                        {"success": success, "handover": handover, "turns": turns},
                        annoyances,
                        env.persona,
                    ),
                ),
            )
            for name, success, handover in ways
        )
    return LifeView(
        visit=session.visit,
        max_visits=params.max_visits,
        day=session.day,
        horizon_days=params.horizon_days,
        value=float(env.history.value),
        last=ended[-1] if ended else None,
        trust=trust,
        p_return=return_probability(params, trust),
        p_if=p_if,
        outcome=session.life_outcome,
    )


def visit_heading(visit: int, day: float) -> str:
    """ "Visit 3 — day 47" (visits counted from 1 for people, days rounded)."""
    return f"Visit {visit + 1} — day {day:.0f}"


def visit_end(ended: dict) -> str:
    """How one visit ended, with the customer's (hidden, after the fact) satisfaction."""
    return (
        f"{ended['outcome']} after {ended['turns']} turns, reward {ended['reward']:+g}, "
        f"satisfaction {ended['satisfaction']:+.2f}"
    )


def lifetime_end(outcome: dict) -> str:
    """The lifetime summary: churned or retained, visits, days, value, success."""
    how = (
        "churned: did not come back"
        if outcome["churned"]
        else "retained: still a customer at the end of the horizon"
    )
    return (
        f"{how} · {outcome['visits']} visits over {outcome['days']:.0f} days · "
        f"{outcome['successes']} of {outcome['visits']} conversations succeeded · "
        f"lifetime value {outcome['lifetime_value']:+.2f}"
    )


def render_life(view: LifeView, reveal: bool) -> Text:
    """The state pane's lifetime block."""
    out = Text()
    out.append(
        f"visit {view.visit + 1} of ≤{view.max_visits} · day {view.day:.0f} of "
        f"{view.horizon_days}\n",
        style="bold",
    )
    out.append(f"lifetime value {view.value:+.2f}\n")
    if view.last is None:
        out.append("last visit: - (this is the first)\n")
    else:
        last = view.last
        out.append(
            f"last visit: {last['outcome']}, satisfaction {last['satisfaction']:+.2f}\n",
            style="green" if last["success"] else "red",
        )
    if view.outcome is not None:
        o = view.outcome
        if o["churned"]:
            out.append("customer churned\n", style="bold red")
        else:
            out.append("customer retained\n", style="bold green")
        out.append(
            f"  {o['visits']} visits, {o['days']:.0f} days, {o['successes']} succeeded\n"
            f"  lifetime value {o['lifetime_value']:+.2f}\n"
        )
    if reveal:
        out.append("hidden customer\n", style="bold yellow")
        out.append(
            f"  trust {view.trust:+.2f} · comes back with p {view.p_return:.2f}\n", style="yellow"
        )
        if view.p_if:
            ifs = " · ".join(f"{name} {p:.2f}" for name, p in view.p_if)
            out.append(f"  p if this visit ended next turn:\n    {ifs}\n", style="yellow")
    return out
