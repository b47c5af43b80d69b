"""Every key path of the TUI, driven by Textual's pilot."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from dialog_rl.tui.dialogs import (
    HelpScreen,
    NoiseScreen,
    OverrideScreen,
    RewindScreen,
    TeachScreen,
)
from dialog_rl.tui.render import render_state
from dialog_rl.tui.screens import SPEEDS, MainScreen
from dialog_rl.tui.widgets import CustomerInput, StatePane, TranscriptPane

TERMINAL = (120, 36)


def notes(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_space_steps_one_turn_and_stops_at_the_end(make_app):
    app = make_app(seed=0)
    async with app.run_test(size=TERMINAL) as pilot:
        await pilot.press("space")
        assert len(app.session.turns) == 1
        for _ in range(30):
            await pilot.press("space")
        assert app.session.finished
        assert "The conversation is over" in notes(app)[-1]


async def test_autoplay_runs_to_the_end_and_a_pauses(make_app):
    app = make_app(seed=0)
    async with app.run_test(size=TERMINAL) as pilot:
        screen = app.screen
        await pilot.press("a")
        assert screen.playing
        await pilot.press("a")
        assert not screen.playing
        for _ in range(5):
            await pilot.press("plus")
        assert screen.speed == len(SPEEDS) - 1
        await pilot.press("a")
        for _ in range(100):
            if app.session.finished:
                break
            await pilot.pause(0.05)
        await pilot.pause(0.1)
        assert app.session.finished and not screen.playing


async def test_speed_keys_clamp(make_app):
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        for _ in range(10):
            await pilot.press("minus")
        assert app.screen.speed == 0
        await pilot.press("equals_sign")
        assert app.screen.speed == 1


async def test_override_with_type_to_filter_takes_the_picked_action(make_app):
    app = make_app(seed=0)
    async with app.run_test(size=TERMINAL) as pilot:
        await pilot.press("o")
        assert isinstance(app.screen, OverrideScreen)
        await pilot.press(*"req food", "enter")
        assert isinstance(app.screen, MainScreen)
        turn = app.session.turns[0]
        assert app.session.domain.act_names[turn.action] == "request(food)"
        assert turn.overridden and len(app.session.demos) == 1


async def test_override_arrows_move_and_escape_cancels(make_app):
    app = make_app(seed=0)
    async with app.run_test(size=TERMINAL) as pilot:
        await pilot.press("o", "down", "up", "down", "escape")
        assert isinstance(app.screen, MainScreen) and not app.session.turns
        await pilot.press("o", "down", "enter")
        assert app.session.turns[0].overridden


async def test_override_cannot_pick_a_masked_action(make_app):
    app = make_app(seed=0)
    async with app.run_test(size=TERMINAL) as pilot:
        await pilot.press("space", "o", *"greet", "enter")
        assert isinstance(app.screen, OverrideScreen)
        assert "No allowed action matches" in notes(app)[-1]
        await pilot.press("escape")
        assert len(app.session.turns) == 1


async def test_rewind_picks_a_turn_and_the_next_override_forks(make_app):
    app = make_app(seed=0)
    async with app.run_test(size=TERMINAL) as pilot:
        await pilot.press("space", "space", "space", "r")
        assert isinstance(app.screen, RewindScreen)
        await pilot.press("up", "enter")  # the list opens on the last turn; up = turn 2
        assert len(app.session.turns) == 1
        await pilot.press("o", *"food", "enter")
        assert app.session.turns[1].overridden


async def test_rewind_escape_cancels_and_nothing_to_rewind_says_so(make_app):
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await pilot.press("r")
        assert isinstance(app.screen, MainScreen)
        assert "Nothing to rewind" in notes(app)[-1]
        await pilot.press("space", "r", "escape")
        assert len(app.session.turns) == 1


async def test_n_brings_the_next_customer_and_shift_n_the_same_one(make_app):
    app = make_app(seed=0)
    async with app.run_test(size=TERMINAL) as pilot:
        await pilot.press("space", "N")
        assert app.session.episode == 0 and not app.session.turns
        await pilot.press("n")
        assert app.session.episode == 1


async def test_noise_dialog_rejects_nonsense_and_applies_a_number(make_app):
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await pilot.press("e", "ctrl+a", "ctrl+k", *"lots", "enter")
        assert isinstance(app.screen, NoiseScreen)
        assert "not a number between 0 and 1" in str(app.screen.query_one("#noise-error").render())
        await pilot.press("ctrl+a", "ctrl+k", *"0.3", "enter")
        assert isinstance(app.screen, MainScreen) and app.session.noise == 0.3
        await pilot.press("e", "escape")
        assert app.session.noise == 0.3


async def test_d_shows_acts_and_g_reveals_the_hidden_goal(make_app):
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        transcript = app.screen.query_one(TranscriptPane)
        state = app.screen.query_one(StatePane)
        assert not transcript.show_acts and not state.reveal
        await pilot.press("d", "g")
        assert transcript.show_acts and state.reveal
        text = render_state(state.view, state.reveal).plain
        assert "hidden goal" in text and "persona" in text
        await pilot.press("d", "g")
        assert not transcript.show_acts and not state.reveal


async def test_teach_with_the_rule_policy_explains_it_cannot_learn(make_app):
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await pilot.press("o", *"food", "enter", "t")
        assert isinstance(app.screen, TeachScreen)
        assert "cannot learn" in app.screen.report.message
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_teach_updates_a_learner_and_shows_the_change(make_app):
    app = make_app(policy="memo")
    async with app.run_test(size=TERMINAL) as pilot:
        await pilot.press("o", *"food", "enter", "t")
        assert isinstance(app.screen, TeachScreen) and app.screen.report.learned
        assert app.screen.report.rows[0].after == "request(food)"
        await pilot.press("enter")
        assert isinstance(app.screen, MainScreen)


async def test_customer_mode_takes_typed_words_through_to_the_end(make_app):
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await pilot.press("c")
        say = app.screen.query_one(CustomerInput)
        assert app.session.mode == "customer" and say.display and say.has_focus
        await pilot.press(*"cheap north", "enter")
        assert app.session.pending is not None
        await pilot.press("escape", "o", *"area", "enter")  # leave the box, override, reply
        assert app.screen.next_action is not None
        await pilot.press("i", *"north", "enter")
        assert app.session.turns[0].overridden
        await pilot.press(*"bye", "enter")
        assert app.session.finished and app.session.outcome()["outcome"] == "success"
        await pilot.press(*"hi", "enter")  # after the end: a note, no crash
        assert "The conversation is over" in notes(app)[-1]
        await pilot.press("escape", "space")  # space in customer mode goes to the text box
        assert say.has_focus
        await pilot.press("escape", "a")
        assert not app.screen.playing and "Auto-play needs" in notes(app)[-1]
        await pilot.press("c")
        assert app.session.mode == "simulate" and not say.display


async def test_save_writes_files_and_a_read_only_place_shows_a_message(make_app, tmp_path):
    app = make_app(out=tmp_path / "saved")
    async with app.run_test(size=TERMINAL) as pilot:
        await pilot.press("space", "s")
        assert (tmp_path / "saved" / "session.json").exists()
        assert "Saved" in notes(app)[-1] and not app.session.dirty
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    app = make_app(out=blocker / "saved")
    async with app.run_test(size=TERMINAL) as pilot:
        await pilot.press("space", "s")
        assert "Could not save" in notes(app)[-1]
        assert app.is_running and app.session.dirty


async def test_save_on_a_read_only_filesystem_shows_a_message(make_app, tmp_path, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    app = make_app(out=tmp_path / "ro")
    async with app.run_test(size=TERMINAL) as pilot:
        monkeypatch.setattr(Path, "mkdir", refuse)
        await pilot.press("space", "s")
        assert "Could not save" in notes(app)[-1] and "Read-only" in notes(app)[-1]


async def test_save_on_a_full_disk_shows_a_message_and_leaves_no_half_written_file(
    make_app, tmp_path, monkeypatch
):
    real_write_text = Path.write_text

    def fill_up(self, data, *args, **kwargs):
        real_write_text(self, data[: len(data) // 2], *args, **kwargs)  # the disk fills mid-file
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    out = tmp_path / "full"
    app = make_app(out=out)
    async with app.run_test(size=TERMINAL) as pilot:
        monkeypatch.setattr(Path, "write_text", fill_up)
        await pilot.press("space", "s")
        assert "Could not save" in notes(app)[-1] and "No space" in notes(app)[-1]
        assert app.is_running and app.session.dirty
    assert not [p.name for p in out.rglob("*") if p.is_file()]


async def test_help_opens_and_closes(make_app):
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark")  # pressing help again closes it
        assert isinstance(app.screen, MainScreen)
        await pilot.press("f1", "escape")
        assert isinstance(app.screen, MainScreen)


async def test_q_quits_at_once_when_saved_and_asks_again_when_not(make_app):
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await pilot.press("q")
        assert not app.is_running
    app = make_app()
    async with app.run_test(size=TERMINAL) as pilot:
        await pilot.press("space", "q")
        assert app.is_running and "Unsaved conversation" in notes(app)[-1]
        await pilot.press("q")
        assert not app.is_running


@pytest.mark.slow
async def test_tiny_terminals_do_not_crash_on_any_screen(make_app):
    # (the fuzz test also resizes to tiny sizes at random while keys are pressed)
    app = make_app(seed=0)
    async with app.run_test(size=(1, 1)) as pilot:
        for size in [(1, 1), (12, 4), (40, 12)]:
            await pilot.resize_terminal(*size)
            keys = ["N", "space", "o", "down", "enter", "r", "escape", "question_mark", "escape"]
            keys += ["e", "escape", "t", "escape", "g", "c", "escape", "c"]
            await pilot.press(*keys)
            # switching to the typed customer and back restarted the conversation
            assert app.is_running and not app.session.turns
            assert [c.overridden for c in app.session.history[-1].choices] == [False, True]
