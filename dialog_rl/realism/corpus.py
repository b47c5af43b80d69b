"""Annotated real dialogues in the MultiWOZ JSON format, read and checked.

The format (that of ``../shared/data/multiwoz/``): one JSON object mapping a dialogue id to
``{"goal": {...}, "turns": [{"speaker": "user" | "system", "text": str, "dialog_act": {label:
[[slot, value], ...]}}]}``. Labels are MultiWOZ's (``Restaurant-Inform``, ``general-thank``, ...);
an empty ``dialog_act`` is an unannotated turn. The goal is kept as it is (a single-domain corpus
has ``{"info", "book", ...}``, a multi-domain one ``{"restaurant": {...}, "hotel": {...}}``).

A file not in this format is refused with one line naming the file, the first bad dialogue (in
file order), the turn and what is wrong: ``CorpusError``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

__all__ = ["CorpusError", "Dialogue", "Turn", "default_domain", "dialogues_about", "load_corpus"]

SPEAKERS = ("user", "system")
#: label prefixes that are no domain of their own (closings, and the booking a domain does)
NOT_DOMAINS = frozenset({"general", "booking"})
_FORMAT = 'id -> {"goal": {...}, "turns": [{"speaker", "text", "dialog_act"}]}'


class CorpusError(ValueError):
    """A corpus file that cannot be read as annotated dialogues (one line, exit code 2)."""


class Turn(NamedTuple):
    """One turn of a real dialogue."""

    speaker: str
    """``user`` or ``system``."""
    text: str
    labels: dict[str, list[tuple[str, str]]]
    """MultiWOZ act label -> its ``(slot, value)`` pairs; empty if the turn is unannotated."""


@dataclass(frozen=True)
class Dialogue:
    """One annotated real dialogue."""

    id: str
    goal: dict
    turns: tuple[Turn, ...]

    @property
    def user_turns(self) -> tuple[Turn, ...]:
        return tuple(t for t in self.turns if t.speaker == "user")

    @property
    def domains(self) -> frozenset[str]:
        """The domains the customer's labels are about, lower case (``restaurant``); the agent's
        are left out, as they hold the annotators' slips (a restaurant labelled a hotel)."""
        return frozenset(
            label.split("-", 1)[0].lower()
            for t in self.user_turns
            for label in t.labels
            if "-" in label and label.split("-", 1)[0].lower() not in NOT_DOMAINS
        )


def load_corpus(path: str | Path) -> dict[str, Dialogue]:
    """Read and check a corpus file; raises ``CorpusError`` naming the first bad dialogue."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        why = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise CorpusError(f"{path}: cannot read the corpus: {why}") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as err:
        raise CorpusError(f"{path}:{err.lineno}: not valid JSON: {err.msg}") from None
    return parse_corpus(data, str(path))


def parse_corpus(data: object, source: str) -> dict[str, Dialogue]:
    """Check parsed JSON against the format; ``source`` names it in errors."""
    if not isinstance(data, dict) or not data:
        got = "an empty object" if isinstance(data, dict) else f"a JSON {_kind(data)}"
        raise CorpusError(f"{source}: expected a JSON object of dialogues ({_FORMAT}), got {got}")
    out = {}
    for key, dialogue in data.items():
        try:
            out[key] = _dialogue(key, dialogue)
        except CorpusError as err:
            raise CorpusError(f"{source}: dialogue {key!r}: {err}") from None
    return out


def _dialogue(key: str, d: object) -> Dialogue:
    if not isinstance(d, dict):
        raise CorpusError(f"expected an object with goal and turns ({_FORMAT}), got a {_kind(d)}")
    goal = d.get("goal", {})
    if not isinstance(goal, dict):
        raise CorpusError(f"goal: expected an object, got a {_kind(goal)}")
    turns = d.get("turns")
    if not isinstance(turns, list) or not turns:
        got = "none" if turns is None else f"a {_kind(turns)}" if turns else "an empty list"
        raise CorpusError(f"turns: expected a non-empty list of turns ({_FORMAT}), got {got}")
    return Dialogue(key, goal, tuple(_turn(i, t) for i, t in enumerate(turns)))


def _turn(i: int, t: object) -> Turn:
    where = f"turn {i}"
    if not isinstance(t, dict):
        raise CorpusError(f"{where}: expected an object with speaker, text, dialog_act")
    speaker, text, acts = t.get("speaker"), t.get("text"), t.get("dialog_act")
    if speaker not in SPEAKERS:
        raise CorpusError(f"{where}: speaker must be 'user' or 'system', got {speaker!r}")
    if not isinstance(text, str):
        raise CorpusError(f"{where}: text must be a string, got {_kind(text)}")
    if not isinstance(acts, dict):
        raise CorpusError(f"{where}: dialog_act must be an object of labels, got {_kind(acts)}")
    labels = {}
    for label, pairs in acts.items():
        ok = isinstance(pairs, list) and all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p)
            for p in pairs
        )
        if not ok:
            raise CorpusError(
                f"{where}: dialog_act {label!r} must be a list of [slot, value] string pairs"
            )
        labels[label] = [(s, v) for s, v in pairs]
    return Turn(speaker, text, labels)


def dialogues_about(corpus: dict[str, Dialogue], domain: str) -> list[Dialogue]:
    """The dialogues whose labels are about ``domain`` and no other, in file order.

    Multi-domain dialogues are left out: their length and closings are those of several tasks,
    and a simulated conversation is one.
    """
    return [d for d in corpus.values() if d.domains == {domain}]


def default_domain(corpus: dict[str, Dialogue], names: tuple[str, ...]) -> str:
    """The corpus's domain a one-domain scenario is about when not told: the first of its
    ``names`` (its own name, then those of the scenarios it extends) that some dialogue is about
    alone; else its own name."""
    for name in names:
        if dialogues_about(corpus, name.lower()):
            return name.lower()
    return names[0].lower()


def _kind(x: object) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(x), "number")
