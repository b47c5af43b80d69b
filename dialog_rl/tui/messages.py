"""Messages the TUI's widgets and screens post upwards ("attributes down, messages up")."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class CustomerSaid(Message):
    """The person, playing the customer, submitted an utterance."""

    text: str


@dataclass
class SessionChanged(Message):
    """The session moved (a step, rewind, new conversation...): the app refreshes its title."""

    dirty: bool
    summary: str
