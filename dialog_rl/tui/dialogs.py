"""Modal screens: pick an override, a turn to rewind to, a noise level; help; teach report."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from dialog_rl.tui.render import WhyView, ranked
from dialog_rl.tui.teach import TeachReport


class OverrideScreen(ModalScreen[int | None]):
    """The action catalog with type-to-filter; Enter picks, Escape cancels."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("down", "move(1)", "Down", show=False),
        Binding("up", "move(-1)", "Up", show=False),
    ]

    def __init__(self, view: WhyView) -> None:
        super().__init__()
        self.view = view

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="override-dialog"):
            yield Label("Override the agent's next action. Type to filter, Enter to pick.")
            yield Input(placeholder="filter actions…", id="override-filter")
            yield OptionList(id="override-options")
            yield Label("↑/↓ move · Enter pick · Esc cancel", classes="hint")

    def on_mount(self) -> None:
        self._fill("")
        self.query_one("#override-filter", Input).focus()

    def _fill(self, text: str) -> None:
        dec = self.view.decision
        names = self.view.domain.act_names
        options = self.query_one("#override-options", OptionList)
        options.clear_options()
        words = text.lower().split()
        first_enabled = None
        for a in ranked(dec):
            name = names[a]
            if words and not all(w in name.lower() for w in words):
                continue
            if not dec.mask[a]:
                label = Text.assemble((f"{name:<24}", "dim"), (f" masked: {dec.reasons[a]}", "dim"))
                options.add_option(Option(label, id=str(a), disabled=True))
                continue
            mark = "▶" if a == dec.action else " "
            label = Text(f"{mark} {name:<22} p={dec.probs[a]:.2f}")
            options.add_option(Option(label, id=str(a)))
            if first_enabled is None:
                first_enabled = options.option_count - 1
        options.highlighted = first_enabled

    def on_input_changed(self, event: Input.Changed) -> None:
        self._fill(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        options = self.query_one("#override-options", OptionList)
        if options.highlighted is None:
            self.notify("No allowed action matches the filter.", severity="warning")
            return
        self._pick(options.get_option_at_index(options.highlighted))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._pick(event.option)

    def _pick(self, option: Option) -> None:
        if option.disabled or option.id is None:
            return
        self.dismiss(int(option.id))

    def action_move(self, delta: int) -> None:
        options = self.query_one("#override-options", OptionList)
        if delta > 0:
            options.action_cursor_down()
        else:
            options.action_cursor_up()

    def action_cancel(self) -> None:
        self.dismiss(None)


class RewindScreen(ModalScreen[int | None]):
    """Pick the turn to go back to; the conversation continues (or forks) from there."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, labels: list[str]) -> None:
        super().__init__()
        self.labels = labels

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="rewind-dialog"):
            yield Label("Rewind to just before agent turn… (then step, or override to fork)")
            yield OptionList(
                *[Option(label, id=str(k)) for k, label in enumerate(self.labels)],
                id="rewind-options",
            )
            yield Label("↑/↓ move · Enter rewind · Esc cancel", classes="hint")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = len(self.labels) - 1
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(int(event.option.id or 0))

    def action_cancel(self) -> None:
        self.dismiss(None)


class NoiseScreen(ModalScreen[float | None]):
    """Type a new semantic error rate for the channel (0 to 1)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, current: float) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="noise-dialog"):
            yield Label("Noise: semantic error rate of the channel, 0 to 1 (PyDial: 0, 0.15, 0.3)")
            yield Input(value=f"{self.current:g}", id="noise-input")
            yield Label("Enter apply (restarts this customer) · Esc cancel", classes="hint")
            yield Label("", id="noise-error", classes="error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            value = float(event.value)
        except ValueError:
            value = -1.0
        if not 0.0 <= value <= 1.0:
            self.query_one("#noise-error", Label).update(
                f"{event.value!r} is not a number between 0 and 1"
            )
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class HelpScreen(ModalScreen[None]):
    """Every key, what it does, and the commands that go with the TUI."""

    BINDINGS = [
        Binding("escape,q,question_mark,f1", "close", "Close"),
    ]

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        table = Table(box=None, padding=(0, 2), show_header=False)
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for key, what in self.keys:
            table.add_row(key, what)
        with VerticalScroll(classes="dialog", id="help-dialog"):
            yield Label("dialog-rl TUI: keys", classes="title")
            yield Static(table)
            yield Static(
                "Overrides are kept as demonstrations. s saves session.json, the transcript "
                "(JSON, Markdown), log/ (Parquet) and demos.parquet; train a learner with\n"
                "  dialog-rl train --scenario S --algo dqn --demos DIR/demos.parquet --out runs/N\n"
                "and reopen a saved session with dialog-rl tui --open DIR/session.json.",
                classes="hint",
            )
            yield Label("Esc close", classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)


class TeachScreen(ModalScreen[None]):
    """How the policy's choice changed in the states where a person overrode it."""

    BINDINGS = [Binding("escape,enter,t", "close", "Close")]

    def __init__(self, report: TeachReport) -> None:
        super().__init__()
        self.report = report

    def compose(self) -> ComposeResult:
        r = self.report
        table = Table(expand=True, box=None, padding=(0, 1))
        for col in ("conversation", "turn", "person chose", "policy before", "after", "p(person)"):
            table.add_column(col, no_wrap=True)
        for row in r.rows:
            style = "green" if row.after == row.wanted else ""
            table.add_row(
                str(row.episode),
                str(row.turn + 1),
                row.wanted,
                row.before,
                row.after,
                f"{row.p_wanted_before:.2f} → {row.p_wanted_after:.2f}",
                style=style,
            )
        with VerticalScroll(classes="dialog", id="teach-dialog"):
            yield Label("Teach", classes="title")
            yield Static(r.message, id="teach-message")
            if r.rows:
                yield Static(table)
            yield Label("Esc close", classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)
