"""Reusable panes: transcript, why (the policy's candidates), state (belief, goal, reward)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.reactive import var
from textual.widgets import Input, Static

from dialog_rl.tui.messages import CustomerSaid
from dialog_rl.tui.render import (
    StateView,
    TranscriptView,
    WhyView,
    render_state,
    render_why,
    transcript_blocks,
)


class TranscriptPane(VerticalScroll):
    """The conversation turn by turn; dialogue acts beneath each utterance on demand.

    One Static per visit of a returning customer: only blocks whose text changed are updated,
    so a step re-lays-out the current visit, not the customer's whole history.
    """

    view: var[TranscriptView | None] = var(None, always_update=True)
    show_acts: var[bool] = var(False)

    def compose(self) -> ComposeResult:
        yield Static(id="transcript-text")

    def on_mount(self) -> None:
        self._shown: list[Text | None] = [None]

    def _render_view(self) -> None:
        if self.view is None:
            return
        blocks = transcript_blocks(self.view, self.show_acts)
        statics = [self.query_one("#transcript-text", Static), *self.query(".transcript-block")]
        for extra in statics[len(blocks) :]:
            extra.remove()
        del self._shown[len(blocks) :]
        for i, text in enumerate(blocks):
            if i >= len(statics):
                self.mount(Static(text, classes="transcript-block"))
                self._shown.append(text)
            elif self._shown[i] != text:
                statics[i].update(text)
                self._shown[i] = text
        self.scroll_end(animate=False)

    def watch_view(self) -> None:
        self._render_view()

    def watch_show_acts(self) -> None:
        self._render_view()


class WhyPane(VerticalScroll):
    """The policy's candidate actions ranked, masked ones greyed with the reason."""

    view: var[WhyView | None] = var(None, always_update=True)

    def compose(self) -> ComposeResult:
        yield Static(id="why-text")

    def watch_view(self, view: WhyView | None) -> None:
        if view is not None:
            self.query_one("#why-text", Static).update(render_why(view))


class StatePane(VerticalScroll):
    """Belief as the agent sees it; the hidden goal and persona when revealed; reward, outcome."""

    view: var[StateView | None] = var(None, always_update=True)
    reveal: var[bool] = var(False)

    def compose(self) -> ComposeResult:
        yield Static(id="state-text")

    def _render_view(self) -> None:
        if self.view is not None:
            self.query_one("#state-text", Static).update(render_state(self.view, self.reveal))

    def watch_view(self) -> None:
        self._render_view()

    def watch_reveal(self) -> None:
        self._render_view()


class CustomerInput(Input):
    """Where the person types the customer's words in play-the-customer mode."""

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if text:
            self.value = ""
            self.post_message(CustomerSaid(text))
