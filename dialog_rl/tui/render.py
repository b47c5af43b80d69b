"""Rich renderables for the TUI's panes, built from plain views of the session.

Widgets call these with the data they were handed; nothing here imports textual, so what a pane
shows can be tested as text, and the panes stay thin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rich.text import Text

from dialog_rl.acts import format_user_acts
from dialog_rl.domain import Domain
from dialog_rl.env.tracker import (
    BOOK_FAILED,
    BOOK_MADE,
    OFFER_ACCEPTED,
    OFFER_PENDING,
    OFFER_REJECTED,
)
from dialog_rl.tui.session import DecisionView, Session, Turn
from dialog_rl.tui.visits import (
    LifeView,
    life_view,
    lifetime_end,
    render_life,
    visit_end,
    visit_heading,
)

OFFER_STATES = {OFFER_PENDING: "pending", OFFER_ACCEPTED: "accepted", OFFER_REJECTED: "rejected"}
BOOK_STATES = {BOOK_MADE: ", booked", BOOK_FAILED: ", no room"}


@dataclass(frozen=True)
class TranscriptView:
    """What the transcript pane shows."""

    domain: Domain
    opening_text: str
    opening_acts: str
    opening_heard: str
    turns: tuple[Turn, ...]
    mode: str
    outcome: dict | None
    awaiting: str
    """A hint for what comes next ("" when nothing is awaited)."""
    lifetime: bool = False
    """Returning customers: turns run across visits, each opened by a heading."""
    next_visit: tuple[int, float, str, str, str] | None = None
    """A visit begun with no agent turn yet: (visit, day, text, acts said, acts heard)."""


@dataclass(frozen=True)
class WhyView:
    """What the why pane shows: one decision, and the action taken there if it was taken."""

    domain: Domain
    decision: DecisionView | None
    taken: int = -1
    overridden: bool = False
    turn: int = 0
    visit: int | None = None
    """The visit of the decision (None outside lifetime sessions)."""


@dataclass(frozen=True)
class StateView:
    """What the state pane shows."""

    belief: tuple[tuple[str, str, float, bool], ...]
    requested: tuple[str, ...]
    informed: tuple[str, ...]
    offered: str
    turn: int
    max_turns: int
    reward: float
    outcome: dict | None
    agenda_said: int
    agenda_total: int
    agenda_left: tuple[str, ...]
    goal: dict | None
    persona: str
    patience: str
    mode: str
    demos: int
    life: LifeView | None = None
    domain: str = ""
    """The active domain (several domains only)."""
    offers: tuple[tuple[str, str], ...] = ()
    """Each domain and what is on offer in it (several domains only)."""


def transcript_view(session: Session) -> TranscriptView:
    d = session.domain
    if session.turns:
        first = session.turns[0]
        opening = (first.user_text, first.user_acts, first.observed_acts)
    else:
        said, heard, text = session.customer_words
        opening = (text, said, heard)
    if session.awaiting_opening:
        awaiting = "Type the customer's opening words below, then Enter."
    elif session.finished:
        awaiting = ""
    elif session.mode == "customer":
        awaiting = f"Agent will say: {session.preview(session.pending.action)}"
    else:
        awaiting = ""
    next_visit = None
    if session.lifetime and session.turns and not session.visit_turns:
        said, heard, text = session.customer_words
        next_visit = (
            session.visit,
            session.day,
            text,
            format_user_acts(d, said),
            format_user_acts(d, heard),
        )
    return TranscriptView(
        domain=d,
        opening_text=opening[0],
        opening_acts=format_user_acts(d, opening[1]),
        opening_heard=format_user_acts(d, opening[2]),
        turns=tuple(session.turns),
        mode=session.mode,
        outcome=session.outcome() if session.finished else None,
        awaiting=awaiting,
        lifetime=session.lifetime,
        next_visit=next_visit,
    )


def why_view(session: Session) -> WhyView:
    visit = session.visit if session.lifetime else None
    if session.pending is not None:
        return WhyView(session.domain, session.pending, turn=len(session.visit_turns), visit=visit)
    if session.turns:
        t = session.turns[-1]
        return WhyView(session.domain, t.decision, t.action, t.overridden, t.visit_turn, visit)
    return WhyView(session.domain, None)


def state_view(session: Session) -> StateView:
    d = session.domain
    tr = session.env.tracker
    belief = []
    for s, name in enumerate(d.inf_names):
        v = tr.values[s]
        belief.append(
            (name, d.value_name(s, v) if v >= 0 else "", float(tr.conf[s]), tr.confirmed[s])
        )
    offered = ""
    bookings = tr.bookings

    def booked(k: int) -> str:  # the booking of domain k's offer, if the scenario books
        return BOOK_STATES.get(int(bookings[k]), "") if d.booking.on else ""

    if tr.offered >= 0:
        state = OFFER_STATES.get(tr.offer_state, "made") + booked(int(tr.dom))
        offered = f"{d.kb_names[tr.offered]} ({state})"
    elif tr.no_match:
        offered = "nothing matches"
    domain, offers = "", ()
    if d.domains.n > 1:
        active = int(tr.dom)
        domain = d.domains.names[active]
        offers = tuple(
            (
                name,
                f"{d.kb_names[e]} ({OFFER_STATES.get(int(tr.offer_states[k]), 'made')}{booked(k)})"
                if (e := int(tr.offers[k])) >= 0
                else ("nothing matches" if k == active and tr.no_match else ""),
            )
            for k, name in enumerate(d.domains.names)
        )
    user = session.conv_env.user
    simulated = session.mode == "simulate"
    said, total = session.agenda_progress() if simulated else (0, 0)
    return StateView(
        belief=tuple(belief),
        requested=tuple(n for n, r in zip(d.req_names, tr.requested) if r),
        informed=tuple(n for n, r in zip(d.req_names, tr.informed) if r),
        offered=offered,
        turn=len(session.visit_turns),
        max_turns=session.conv_env.max_turns,
        reward=session.reward(),
        outcome=session.outcome() if session.finished else None,
        agenda_said=said,
        agenda_total=total,
        agenda_left=tuple(format_user_acts(d, [a]) for a in reversed(user.agenda))
        if simulated
        else (),
        goal=user.goal.describe(d) if simulated and user.goal is not None else None,
        persona=user.persona.name if simulated and user.persona is not None else "you",
        patience=f"{user.patience:g} of {user.start_patience:g}" if simulated else "",
        mode=session.mode,
        demos=len(session.demos),
        life=life_view(session),
        domain=domain,
        offers=offers,
    )


# -- renderables ---------------------------------------------------------------------------


def render_transcript(view: TranscriptView, show_acts: bool) -> Text:
    """The whole transcript as one Text."""
    blocks = transcript_blocks(view, show_acts)
    return Text("\n").join(blocks) if view.lifetime else blocks[0]


def transcript_blocks(view: TranscriptView, show_acts: bool) -> list[Text]:
    """The transcript in blocks: one per visit of a lifetime, the closing lines in the last.

    A finished visit's block never changes again, so the pane lays out only the current visit
    on each step, however many visits came before. A single conversation is one block.
    """
    blocks = [Text()]

    def customer(text: str, said: str, heard: str) -> None:
        out = blocks[-1]
        out.append("Customer  ", style="bold cyan")
        out.append((text or "…") + "\n")
        if show_acts and (said or heard):
            if view.mode == "simulate":
                out.append(f"          said  {said}\n", style="dim cyan")
            out.append(f"          heard {heard}\n", style="dim cyan")

    def heading(visit: int, day: float) -> None:
        if blocks[-1]:
            blocks.append(Text("\n"))
        title = f"── {visit_heading(visit, day)} "
        blocks[-1].append(title + "─" * max(40 - len(title), 3) + "\n", "bold")

    if view.lifetime:
        heading(0, 0.0)
    if view.opening_text or view.opening_acts:
        customer(view.opening_text, view.opening_acts, view.opening_heard)
    d = view.domain
    visit = 0
    for t in view.turns:
        if t.visit != visit:
            visit = t.visit
            heading(t.visit, t.day)
            customer(
                t.user_text, format_user_acts(d, t.user_acts), format_user_acts(d, t.observed_acts)
            )
        out = blocks[-1]
        style = "bold magenta" if t.overridden else "bold green"
        out.append(f"Agent {t.visit_turn + 1:>2}  ", style=style)
        out.append(t.system_text + "\n")
        if show_acts or t.overridden:
            line = f"          {d.act_names[t.action]}"
            if t.overridden and t.policy_action == t.action:
                line += "  ✎ your pick (the policy agreed)"
            elif t.overridden:
                line += f"  ✎ overridden (policy chose {d.act_names[t.policy_action]})"
            out.append(line + "\n", style="dim magenta" if t.overridden else "dim green")
        reply = format_user_acts(d, t.reply_acts)
        heard = format_user_acts(d, t.reply_observed)
        if t.reply_text or reply:
            customer(t.reply_text, reply, heard)
        if t.ended is not None:
            out.append(f"■ {visit_end(t.ended)}\n", "green" if t.ended["success"] else "red")
    if view.next_visit is not None:
        visit, day, text, said, heard = view.next_visit
        heading(visit, day)
        customer(text, said, heard)
    out = blocks[-1]
    if view.outcome is not None and view.lifetime:
        o = view.outcome
        style = "bold red" if o["churned"] else "bold green"
        out.append(f"\n■■ {lifetime_end(o)}\n", style=style)
    elif view.outcome is not None:
        o = view.outcome
        style = "bold green" if o["success"] else "bold red"
        out.append(
            f"\n■ {o['outcome']} after {o['turns']} turns, reward {o['reward']:+g}\n", style=style
        )
    if view.awaiting:
        out.append("\n" + view.awaiting + "\n", style="italic yellow")
    if view.lifetime:
        for block in blocks:
            block.rstrip()  # blocks stack as separate widgets: no trailing blank lines
    return blocks


def ranked(decision: DecisionView) -> list[int]:
    """Actions in the order the why pane lists them: allowed by probability, then masked."""
    n = len(decision.mask)
    allowed = [a for a in range(n) if decision.mask[a]]
    masked = [a for a in range(n) if not decision.mask[a]]
    allowed.sort(key=lambda a: (-decision.probs[a], -decision.scores[a], a))
    return allowed + masked


def render_why(view: WhyView) -> Text:
    # Plain Text with padded columns, not a rich Table: a Table costs ~10x more to lay out,
    # and the why pane is redrawn on every step.
    if view.decision is None:
        return Text("No decision yet: the customer has not spoken.", style="dim")
    dec = view.decision
    d = view.domain
    chosen = view.taken if view.taken >= 0 else dec.action
    allowed = dec.mask.astype(bool)
    # Scores only add information when they are not the probabilities (Q-values, priorities).
    show_scores = not np.allclose(dec.scores[allowed], dec.probs[allowed])
    width = min(max(len(n) for n in d.act_names), 26)
    out = Text()
    visit = f"visit {view.visit + 1} · " if view.visit is not None else ""
    out.append(
        f"{visit}turn {view.turn + 1}: "
        + (
            "the policy's choice"
            if view.taken < 0
            else f"what was chosen ({'lifetime' if view.visit is not None else 'conversation'} over)"
        )
        + "\n",
        style="italic",
    )
    header = f"   {'action':<{width}} " + (f"{'score':>7} " if show_scores else "") + "prob\n"
    out.append(header, style="bold")
    masked = Text()
    for a in ranked(dec):
        name = d.act_names[a]
        if not dec.mask[a]:
            masked.append(f"  {name}  ", style="dim")
            masked.append(f"{dec.reasons[a]}\n", style="dim italic")
            continue
        p = float(dec.probs[a])
        mark, style = ("▶", "bold reverse") if a == chosen else (" ", "")
        if a == view.taken and view.overridden:
            mark, style = "✎", "bold reverse magenta"
        score = f"{_fmt(dec.scores[a]):>7} " if show_scores else ""
        line = f" {mark} {name[:width]:<{width}} {score}{p:4.2f} "
        out.append(line, style=style)
        out.append("█" * round(p * 8) + "\n", style="green")
    if masked:
        out.append("\nmasked\n", style="bold dim")
        out.append_text(masked)
    out.rstrip()
    return out


def render_state(view: StateView, reveal: bool) -> Text:
    out = Text()
    width = max(len(name) for name, *_ in view.belief)
    out.append(f"{'slot':<{width}}  {'belief':<18} conf\n", style="bold")
    for name, value, conf, confirmed in view.belief:
        out.append(f"{name:<{width}}  ", style="bold")
        out.append(f"{(value or '-')[:18]:<18} {conf:.2f}" + (" ✓" if confirmed else "") + "\n")
    lines = out
    if view.requested:
        lines.append(f"asked for: {', '.join(view.requested)}\n")
    if view.informed:
        lines.append(f"told: {', '.join(view.informed)}\n")
    if view.domain:
        lines.append(f"domain: {view.domain}\n", style="bold")
        for name, offered in view.offers:
            lines.append(f"offer ({name}): {offered or '-'}\n")
    else:
        lines.append(f"offer: {view.offered or '-'}\n")
    lines.append(f"turn {view.turn}/{view.max_turns}   reward {view.reward:+g}\n", style="bold")
    if view.outcome is not None and view.life is None:
        o = view.outcome
        lines.append(
            f"outcome: {o['outcome']}\n", style="bold green" if o["success"] else "bold red"
        )
    if view.life is not None:
        lines.append_text(render_life(view.life, reveal))
    if view.mode == "simulate":
        lines.append(f"agenda: {view.agenda_said} of {view.agenda_total} said\n")
        if reveal:
            g = view.goal or {}
            wants = ", ".join(f"{k}={v}" for k, v in (g.get("constraints") or {}).items())
            lines.append("hidden goal\n", style="bold yellow")
            lines.append(f"  wants {wants or 'anything'}\n", style="yellow")
            if g.get("requests"):
                lines.append(f"  will ask {', '.join(g['requests'])}\n", style="yellow")
            if g.get("task"):
                lines.append(f"  task {g['task']}\n", style="yellow")
            lines.append(f"  persona {view.persona}, patience {view.patience}\n", style="yellow")
            if view.agenda_left:
                lines.append(f"  still to say: {' · '.join(view.agenda_left)}\n", style="yellow")
        else:
            hidden = "goal, persona and trust" if view.life is not None else "goal and persona"
            lines.append(f"{hidden} hidden (g)\n", style="dim")
    else:
        lines.append("you are the customer\n", style="yellow")
    if view.demos:
        lines.append(f"demonstrations: {view.demos} (t to teach)\n", style="magenta")
    out.rstrip()
    return out


def _fmt(x: float) -> str:
    if not np.isfinite(x):
        return "-inf" if x < 0 else "inf"
    return f"{x:.2f}"
