"""The TUI application: global keys (help, quit) and the main screen over one session."""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.binding import Binding

from dialog_rl.tui.dialogs import HelpScreen
from dialog_rl.tui.messages import SessionChanged
from dialog_rl.tui.screens import MainScreen
from dialog_rl.tui.session import Session

#: the keys the help screen lists, in the order a newcomer needs them
KEYS = [
    ("space", "step one turn (the policy acts, the customer replies)"),
    ("v", "returning customers (--lifetime): play to the end of this visit"),
    ("a", "auto-play / pause"),
    ("+ / -", "auto-play faster / slower"),
    ("o", "override the agent's next action (type to filter, Enter to pick)"),
    ("r", "rewind to an earlier turn; step to replay, or override to fork"),
    ("n", "new conversation with the next customer (new seed)"),
    ("N", "same customer again (same seed)"),
    ("e", "change the noise level of the channel"),
    ("d", "show / hide the dialogue acts under each utterance"),
    ("g", "reveal / hide the customer's hidden goal, persona, agenda (and trust)"),
    ("t", "teach: update the policy from your overrides, show what changed"),
    ("c", "play the customer yourself (type their words) / back to the simulator"),
    ("i / Esc", "customer mode: go to / leave the text box"),
    ("s", "save session, transcript (JSON, Markdown), Parquet log, demonstrations"),
    ("?", "this help"),
    ("q", "quit (asks again if there is unsaved work)"),
]


class DialogApp(App):
    """Step through simulated conversations, see why the policy acts, override it, teach it."""

    # Absolute, so subclasses defined elsewhere (tests, benchmarks) find the stylesheet too.
    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "dialog-rl"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("q", "quit_app", "Quit"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("f1", "help", "Help", show=False),
    ]

    def __init__(self, session: Session, out_dir: str | Path = "tui-session") -> None:
        super().__init__()
        self.session = session
        self.out_dir = Path(out_dir)
        self._quit_warned = False

    def on_mount(self) -> None:
        self.push_screen(MainScreen(self.session, self.out_dir))

    def on_session_changed(self, message: SessionChanged) -> None:
        if message.dirty:
            self._quit_warned = False

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(KEYS))

    def action_quit_app(self) -> None:
        if self.session.dirty and not self._quit_warned:
            self._quit_warned = True
            self.notify("Unsaved conversation: s to save, q again to quit without saving.")
            return
        self.exit()
