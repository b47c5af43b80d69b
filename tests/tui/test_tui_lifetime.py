"""Returning customers in the TUI: stepping through visits, rewinding across them, saving them.

Customer 2 of seed 0 in order_support, under the greedy rule policy, has four visits: turns 0-7
(day 0), 8-12 (day 15), 13-16 (day 49) and 17-24 (day 57), then does not come back.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dialog_rl.cli import main
from dialog_rl.env import LifetimeEnv
from dialog_rl.rollout.logs import read_log
from dialog_rl.rollout.runner import run_episode
from dialog_rl.tui.dialogs import OverrideScreen, RewindScreen
from dialog_rl.tui.export import save_all, transcript_markdown
from dialog_rl.tui.render import render_state, render_transcript, state_view, transcript_view
from dialog_rl.tui.session import Session, SessionError
from dialog_rl.tui.widgets import StatePane, TranscriptPane

ROOT = Path(__file__).resolve().parents[2]
TERMINAL = (120, 36)
CUSTOMER = 6


@pytest.fixture
def lifetime_session(make_session, domains):
    def make(**kwargs) -> Session:
        return make_session(
            domain=domains["order_support"], episode=CUSTOMER, lifetime=True, **kwargs
        )

    return make


def play_out(session: Session) -> None:
    while session.pending is not None:
        session.step()


def other_action(session: Session) -> int:
    pending = session.pending
    return next(a for a in range(len(pending.mask)) if pending.mask[a] and a != pending.action)


def test_a_lifetime_is_the_greedy_batch_lifetime_turn_for_turn(lifetime_session, domains):
    s = lifetime_session()
    play_out(s)
    env = LifetimeEnv(domains["order_support"], text=True)
    rec = run_episode(env, s.policy, CUSTOMER, 0, explore=False, record=True)
    assert [s.domain.act_names[t.action] for t in s.turns] == rec.turns["action_name"]
    assert [t.visit for t in s.turns] == rec.turns["visit"]
    assert [t.user_text for t in s.turns] == rec.turns["user_text"]
    assert np.allclose([t.reward for t in s.turns], rec.turns["reward"])
    assert np.array_equal(np.stack([t.decision.obs for t in s.turns]), np.stack(rec.turns["obs"]))
    assert s.outcome() == rec.outcome and s.finished
    ends = [t.index for t in s.turns if t.ended is not None]
    assert ends == [7, 12, 16, 22, 29, 32] and max(rec.turns["visit"]) == 5


def test_rewind_across_a_visit_boundary_replays_and_forks(lifetime_session):
    s = lifetime_session()
    play_out(s)
    lived = [(t.visit, t.system_text, t.reply_text) for t in s.turns]
    s.rewind(10)  # two turns into visit 2
    assert (s.visit, len(s.visit_turns)) == (1, 2) and round(s.day) == 15
    s.rewind(5)  # back across the boundary into visit 1
    assert (s.visit, s.day, len(s.visit_turns)) == (0, 0.0, 5) and s.pending is not None
    play_out(s)
    assert [(t.visit, t.system_text, t.reply_text) for t in s.turns] == lived
    s.rewind(5)
    s.step(other_action(s))  # a fork in visit 1 changes the customer's whole future
    play_out(s)
    assert [(t.visit, t.system_text, t.reply_text) for t in s.turns] != lived
    assert s.turns[5].overridden and s.demos[-1].visit == 0


def test_save_and_reopen_keep_the_visits_in_session_transcripts_and_log(
    lifetime_session, domains, tmp_path
):
    s = lifetime_session()
    while s.visit == 0:
        s.step()
    s.step(other_action(s))  # an override in the second visit
    saved = save_all(s, tmp_path / "out")
    assert {p.name for p in saved.files} == {
        "session.json",
        f"lifetime-0-{CUSTOMER}.json",
        f"lifetime-0-{CUSTOMER}.md",
        "log",
        "demos.parquet",
    }
    again = Session.load(tmp_path / "out/session.json", domains["order_support"], s.policy)
    assert again.lifetime and again.to_dict() == s.to_dict()
    assert [(t.visit, t.action) for t in again.turns] == [(t.visit, t.action) for t in s.turns]
    log = read_log(tmp_path / "out/log")
    assert log.column("visit").to_pylist() == [0] * 8 + [1]
    assert log.column("overridden").to_pylist() == [False] * 8 + [True]
    assert set(log.column("outcome").to_pylist()) == {"unfinished"}
    assert log.schema.field("obs").type.list_size == s.env.spec_obs.size
    data = json.loads((tmp_path / f"out/lifetime-0-{CUSTOMER}.json").read_text())
    assert [v["visit"] for v in data["lifetime"]["visits"]] == [0]
    assert data["turns"][7]["visit_end"]["outcome"] == "success"
    md = transcript_markdown(s)
    assert "## Visit 1 — day 0" in md and "## Visit 2 — day 15" in md
    assert "*Visit over:* success after 8 turns" in md and "**Unfinished** lifetime" in md
    play_out(s)
    assert "**Lifetime:** churned: did not come back" in transcript_markdown(s)


def test_panes_show_visits_and_reveal_trust_only_on_demand(lifetime_session):
    s = lifetime_session()
    while s.visit == 0:
        s.step()
    text = render_transcript(transcript_view(s), show_acts=False).plain
    assert "── Visit 1 — day 0" in text and "── Visit 2 — day 15" in text
    assert "■ success after 8 turns, reward +12, satisfaction +0.52" in text
    view = state_view(s)
    hidden = render_state(view, reveal=False).plain
    assert "visit 2 of ≤20 · day 15 of 365" in hidden
    assert "last visit: success, satisfaction +0.52" in hidden
    assert "trust +" not in hidden and "comes back" not in hidden
    assert "goal, persona and trust hidden (g)" in hidden
    shown = render_state(view, reveal=True).plain
    assert "trust +0.26 · comes back with p 0.81" in shown
    assert "p if this visit ended next turn:\n    success" in shown
    play_out(s)
    end = render_transcript(transcript_view(s), show_acts=False).plain
    assert "■■ churned: did not come back · 6 visits over 105 days" in end
    assert "customer churned" in render_state(state_view(s), reveal=False).plain


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--scenario", "scenarios/restaurant.yaml"], "needs a `lifetime` section"),
        (["--scenario", "scenarios/order_support.yaml", "--customer"], "--customer with"),
    ],
)
def test_lifetime_without_a_lifetime_section_or_with_a_typed_customer_exits_2(
    capsys, monkeypatch, argv, message
):
    monkeypatch.chdir(ROOT)
    assert main(["tui", *argv, "--lifetime"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_lifetime_session_file_on_a_scenario_without_lifetime_is_refused(
    lifetime_session, restaurant, tmp_path
):
    data = lifetime_session().to_dict()
    data["scenario_hash"] = restaurant.content_hash
    with pytest.raises(SessionError, match="lifetime: the session follows returning customers"):
        Session.from_dict(data, restaurant, None, source="s.json")


async def test_pilot_steps_two_visits_with_an_override_and_rewinds_across(make_app, domains):
    app = make_app(domain=domains["order_support"], episode=CUSTOMER, lifetime=True)
    async with app.run_test(size=TERMINAL) as pilot:
        s = app.session
        await pilot.press("v")  # the policy plays visit 1 to its end
        assert s.visit == 1 and len(s.turns) == 8 and not s.visit_turns
        await pilot.press("space", "o")
        assert isinstance(app.screen, OverrideScreen)
        await pilot.press(*"repeat", "enter")
        assert s.turns[-1].overridden and s.turns[-1].visit == 1
        assert s.domain.act_names[s.turns[-1].action] == "repeat"
        await pilot.pause()
        blocks = [str(w.render()) for w in app.screen.query("#transcript Static")]
        assert len(blocks) == 2 and blocks[1].startswith("\n── Visit 2 — day 15")
        text = render_transcript(app.screen.query_one(TranscriptPane).view, False).plain
        assert "── Visit 2 — day 15" in text and "overridden" in text
        status = str(app.screen.query_one("#status").render())
        assert f"customer {CUSTOMER} · visit 2 · day 15" in status
        pane = app.screen.query_one(StatePane)
        assert "comes back with p" not in render_state(pane.view, pane.reveal).plain
        await pilot.press("g")
        assert "comes back with p" in render_state(pane.view, pane.reveal).plain
        visits_before = s.visit
        await pilot.press("r")
        assert isinstance(app.screen, RewindScreen)
        await pilot.press("home", "down", "down", "enter")  # before visit 1's third turn
        assert (s.visit, len(s.turns), s.pending is not None) == (0, 2, True)
        assert (
            visits_before == 1
            and "Visit 2"
            not in render_transcript(app.screen.query_one(TranscriptPane).view, False).plain
        )
        await pilot.press("c")  # a returning customer is always the simulator
        assert s.mode == "simulate"
