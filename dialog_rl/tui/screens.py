"""The main screen: transcript, why and state panes, and the keys that drive the session."""

from __future__ import annotations

from pathlib import Path

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Static

from dialog_rl.tui.customer import NLUMissing
from dialog_rl.tui.dialogs import NoiseScreen, OverrideScreen, RewindScreen, TeachScreen
from dialog_rl.tui.messages import CustomerSaid, SessionChanged
from dialog_rl.tui.render import state_view, transcript_view, why_view
from dialog_rl.tui.session import CUSTOMER_LIFETIME, Session
from dialog_rl.tui.teach import teach
from dialog_rl.tui.widgets import CustomerInput, StatePane, TranscriptPane, WhyPane

#: terminal width below which only the transcript is shown
NARROW = 60
#: seconds between turns in auto-play, slowest to fastest
SPEEDS = (2.0, 1.0, 0.5, 0.25, 0.1, 0.03)


class MainScreen(Screen):
    """Step through one conversation at a time; every key here is in the footer."""

    BINDINGS = [
        Binding("space", "step", "Step", key_display="spc"),
        Binding("v", "play_visit", "Visit"),
        Binding("a", "autoplay", "Auto"),
        Binding("plus", "speed(1)", "Speed", key_display="+/-"),
        Binding("equals_sign", "speed(1)", "Faster", show=False),
        Binding("minus", "speed(-1)", "Slower", show=False),
        Binding("o", "override", "Override"),
        Binding("r", "rewind", "Rewind"),
        Binding("n", "new(False)", "New"),
        Binding("N", "new(True)", "Same", key_display="N"),
        Binding("e", "noise", "Noise"),
        Binding("d", "acts", "Acts"),
        Binding("g", "goal", "Goal"),
        Binding("t", "teach", "Teach"),
        Binding("c", "customer", "Customer"),
        Binding("s", "save", "Save"),
        Binding("escape", "leave_input", "Keys"),
        Binding("i", "focus_input", "Type"),
    ]

    def __init__(self, session: Session, out_dir: Path) -> None:
        super().__init__()
        self.session = session
        self.out_dir = out_dir
        self.speed = 2
        self.playing = False
        self.next_action: int | None = None
        """Customer mode: an override waiting for the customer's typed reply."""
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        with Horizontal(id="body"):
            yield TranscriptPane(id="transcript")
            with Vertical(id="side"):
                yield WhyPane(id="why")
                yield StatePane(id="state")
        yield CustomerInput(
            placeholder="Type the customer's words, Enter to say them · Esc for the keys", id="say"
        )
        yield Footer(compact=True, show_command_palette=False)

    def on_resize(self, event: events.Resize) -> None:
        # Below NARROW columns the why and state panes would squeeze the transcript to nothing
        # (and text wrapped at a width of one or two cells is slow to lay out): show it alone.
        self.set_class(event.size.width < NARROW, "narrow")

    def on_mount(self) -> None:
        self.query_one("#transcript").border_title = "Conversation"
        self.query_one("#why").border_title = "Why"
        self.query_one("#state").border_title = "State"
        self.refresh_view()

    # -- attributes down ---------------------------------------------------------------------

    def refresh_view(self) -> None:
        s = self.session
        tv = transcript_view(s)
        if s.mode == "customer" and self.next_action is not None and s.pending is not None:
            name = s.domain.act_names[self.next_action]
            tv = type(tv)(
                **{
                    **tv.__dict__,
                    "awaiting": f"Agent will say ({name}, ✎ your pick): "
                    f"{s.preview(self.next_action)}",
                }
            )
        self.query_one(TranscriptPane).view = tv
        self.query_one(WhyPane).view = why_view(s)
        self.query_one(StatePane).view = state_view(s)
        say = self.query_one(CustomerInput)
        say.display = s.mode == "customer"
        if s.mode == "customer" and not s.finished:
            say.focus()
        where = f"conversation {s.episode}"
        if s.lifetime:
            where = f"customer {s.episode} · visit {s.visit + 1} · day {s.day:.0f}"
        status = (
            f"{s.domain.name} · policy {s.policy_name} · seed {s.seed} · {where} · "
            f"noise {s.noise:.2f} · turn {len(s.visit_turns)}"
            + (" · you are the customer" if s.mode == "customer" else "")
            + (f" · ▶ auto {SPEEDS[self.speed]:g}s" if self.playing else "")
            + (" · unsaved" if s.dirty else "")
        )
        self.query_one("#status", Static).update(status)
        self.post_message(SessionChanged(s.dirty, status))

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """Show "Keys" (Esc) only while typing, and "Type" (i) only in customer mode."""
        if action == "leave_input":
            return self._typing()
        if action == "focus_input":
            return self.session.mode == "customer" and not self._typing()
        if action == "play_visit":
            return self.session.lifetime
        if action == "customer":
            return not self.session.lifetime  # a returning customer is always the simulator
        return True

    def _typing(self) -> bool:
        return isinstance(self.focused, CustomerInput)

    def on_descendant_focus(self) -> None:
        self.refresh_bindings()

    def on_descendant_blur(self) -> None:
        self.refresh_bindings()

    # -- keys --------------------------------------------------------------------------------

    def action_step(self) -> None:
        s = self.session
        if s.mode == "customer":
            self.action_focus_input()
            self.notify("Type the customer's reply and press Enter.")
            return
        if s.finished:
            self._pause()
            self.notify(self._over())
            return
        s.step()
        self.refresh_view()

    def _over(self) -> str:
        if self.session.lifetime:
            return "The customer's lifetime is over: n next customer, N same customer, r rewind."
        return "The conversation is over: n new, N same customer, r rewind."

    def action_play_visit(self) -> None:
        """Lifetime sessions: play the policy to the end of the current visit."""
        s = self.session
        if s.finished:
            self.notify(self._over())
            return
        self._pause()
        visit = s.visit
        while s.pending is not None and s.visit == visit:
            s.step()
        self.refresh_view()

    def action_autoplay(self) -> None:
        if self.playing:
            self._pause()
        elif self.session.mode == "customer":
            self.notify("Auto-play needs the simulated customer (c to switch).", severity="warning")
            return
        else:
            self.playing = True
            self._start_timer()
        self.refresh_view()

    def action_speed(self, delta: int) -> None:
        self.speed = max(0, min(len(SPEEDS) - 1, self.speed + delta))
        if self.playing:
            self._start_timer()
        self.notify(f"Auto-play: one turn every {SPEEDS[self.speed]:g} s")
        self.refresh_view()

    def _start_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_interval(SPEEDS[self.speed], self._tick)

    def _pause(self) -> None:
        self.playing = False
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def _tick(self) -> None:
        s = self.session
        if s.finished or s.pending is None or s.mode == "customer":
            self._pause()
        else:
            s.step()
        self.refresh_view()

    def action_override(self) -> None:
        s = self.session
        if s.pending is None:
            self.notify("Nothing to override: the conversation is over or has not begun.")
            return
        self._pause()
        self.app.push_screen(OverrideScreen(why_view(s)), self._overridden)

    def _overridden(self, action: int | None) -> None:
        if action is None:
            return
        s = self.session
        if s.mode == "customer":
            self.next_action = action
            self.notify(f"Next agent action: {s.domain.act_names[action]}. Type the reply.")
        else:
            s.step(action)
        self.refresh_view()

    def action_rewind(self) -> None:
        s = self.session
        if not s.turns:
            self.notify("Nothing to rewind: no agent turn yet.")
            return
        self._pause()
        names = s.domain.act_names
        labels = [
            (f"visit {t.visit + 1}, " if s.lifetime else "")
            + f"turn {t.visit_turn + 1:>2}: redo {names[t.action]}"
            + (" ✎" if t.overridden else "")
            for t in s.turns
        ]
        self.app.push_screen(RewindScreen(labels), self._rewound)

    def _rewound(self, k: int | None) -> None:
        if k is None:
            return
        s = self.session
        s.rewind(k)
        self.next_action = None
        where = f"agent turn {len(s.visit_turns) + 1}"
        if s.lifetime:
            where = f"visit {s.visit + 1}, {where}"
        self.notify(f"Back before {where}: step to replay, o to fork.")
        self.refresh_view()

    def action_new(self, same_seed: bool) -> None:
        self._pause()
        self.next_action = None
        self.session.new_conversation(same_seed=same_seed)
        self.refresh_view()

    def action_noise(self) -> None:
        self._pause()
        self.app.push_screen(NoiseScreen(self.session.noise), self._noise_set)

    def _noise_set(self, value: float | None) -> None:
        if value is None:
            return
        self.session.set_noise(value)
        self.next_action = None
        self.notify(f"Noise {value:g}: same customer, conversation restarted.")
        self.refresh_view()

    def action_acts(self) -> None:
        pane = self.query_one(TranscriptPane)
        pane.show_acts = not pane.show_acts

    def action_goal(self) -> None:
        pane = self.query_one(StatePane)
        pane.reveal = not pane.reveal

    def action_teach(self) -> None:
        self._pause()
        report = teach(self.session)
        self.refresh_view()
        self.app.push_screen(TeachScreen(report))

    def action_customer(self) -> None:
        self._pause()
        s = self.session
        if s.lifetime:
            self.notify(f"Not in this session: {CUSTOMER_LIFETIME}.", severity="warning", timeout=8)
            return
        try:
            s.set_mode("simulate" if s.mode == "customer" else "customer")
        except NLUMissing as err:
            self.notify(str(err), severity="error", timeout=8)
            return
        self.next_action = None
        self.refresh_view()

    def action_save(self) -> None:
        self._pause()
        from dialog_rl.outputs import OutputError
        from dialog_rl.tui.export import save_all  # pyarrow: imported on the first save only

        try:
            saved = save_all(self.session, self.out_dir)
        except OutputError as err:
            self.notify(f"Not saved: {err}", severity="error", timeout=8)
            return
        except OSError as err:
            where = err.filename or self.out_dir
            self.notify(
                f"Could not save to {where}: {err.strerror or err}. Nothing was changed; "
                "start with --out DIR to save elsewhere.",
                severity="error",
                timeout=8,
            )
            return
        self.notify(f"Saved {len(saved.files)} files to {saved.directory}/")
        self.refresh_view()

    def action_focus_input(self) -> None:
        if self.session.mode == "customer":
            self.query_one(CustomerInput).focus()

    def action_leave_input(self) -> None:
        self.query_one(TranscriptPane).focus()

    def on_customer_said(self, message: CustomerSaid) -> None:
        s = self.session
        if s.awaiting_opening:
            s.open(message.text)
        elif s.pending is None:
            self.notify(self._over())
            return
        else:
            s.step(self.next_action, text=message.text)
            self.next_action = None
        self.refresh_view()
