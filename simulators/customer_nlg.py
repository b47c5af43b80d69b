"""Template NLG for the customer: several paraphrases per act, with realised slot values.

Phrasings come from the scenario (per-slot ``user_templates``, ``user_phrases`` per act or task)
and fall back to the generic ones below, so that a new scenario reads naturally with no code.
Paraphrases are drawn from their own random stream, so turning text on or off never changes
what happens in the conversation.
"""

from __future__ import annotations

import numpy as np

from dialog_rl.acts import (
    AFFIRM,
    BYE,
    HANGUP,
    HELLO,
    INFORM,
    NEGATE,
    REQUEST,
    THANK,
    USER_ACT_NAMES,
    UserAct,
)
from dialog_rl.domain import Domain, with_articles

DEFAULT_PHRASES: dict[str, tuple[str, ...]] = {
    "hello": ("Hi.", "Hello.", "Hi there."),
    "affirm": ("Yes.", "Yes, that's right.", "Correct.", "Yes please.", "That sounds good."),
    "negate": ("No.", "No, that's not right.", "No, that's wrong.", "No, that is not what I want."),
    "thank": ("Thank you.", "Thanks a lot.", "Great, thanks.", "Thank you so much."),
    "bye": ("Goodbye.", "Bye.", "That's all I need, bye.", "Have a nice day, goodbye."),
    "hangup": ("This is taking too long. Goodbye!", "Forget it, I'll go elsewhere.", "I give up."),
    "dontcare": (
        "I don't mind about the {slot}.",
        "Any {slot} is fine.",
        "The {slot} doesn't matter.",
    ),
    "inform": ("The {slot} should be {value}.", "I'd like the {slot} to be {value}.", "{value}."),
    "request": ("What is the {slot}?", "Can you tell me the {slot}?", "Could I have the {slot}?"),
    "task": ("I want to {task}.", "I'd like to {task}, please.", "Can you {task} for me?"),
    "filler": ("Well, ", "Okay. ", "Right, so ", "Hmm, "),
}


class UserNLG:
    """Turns user acts into an utterance."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self.phrases = dict(DEFAULT_PHRASES)
        self.phrases.update(domain.user_phrases)

    def _pick(self, options: tuple[str, ...], rng: np.random.Generator) -> str:
        return options[int(rng.integers(len(options)))]

    def act_text(self, act: UserAct, rng: np.random.Generator) -> str:
        d = self.domain
        kind, slot, value = act[0], act[1], act[2]
        if kind == INFORM:
            slot_name = slot_label(d, slot)
            if slot == d.task_slot:
                task = d.task_names[value] if 0 <= value < len(d.task_names) else "get help"
                options = self.phrases.get(task) or self.phrases["task"]
                return self._pick(options, rng).format(task=task.replace("_", " "))
            if value >= len(d.inf_values[slot]):
                return self._pick(self.phrases["dontcare"], rng).format(slot=slot_name)
            options = d.inf_templates[slot] or self.phrases["inform"]
            return _sentence(
                self._pick(options, rng).format(value=d.inf_values[slot][value], slot=slot_name)
            )
        if kind == REQUEST:
            options = d.req_templates[slot] or self.phrases["request"]
            return _sentence(self._pick(options, rng).format(slot=req_label(d, slot)))
        name = USER_ACT_NAMES[kind]
        return self._pick(self.phrases[name], rng)

    def realise(self, acts: list[UserAct], rng: np.random.Generator, verbosity: float = 0.0) -> str:
        """One utterance for a turn's acts; a verbose customer adds a filler now and then."""
        parts = [self.act_text(a, rng) for a in acts]
        text = with_articles(" ".join(parts))
        if parts and rng.random() < verbosity * 0.5:
            filler = self._pick(self.phrases["filler"], rng)
            keep = filler.rstrip().endswith((".", "!", "?")) or text.startswith(("I ", "I'"))
            text = filler + (text if keep else text[0].lower() + text[1:])
        return text


def multi_domain(d: Domain) -> bool:
    """Whether the scenario has several domains (whose slots are named ``<domain>-<slot>``)."""
    return d.domains is not None and d.domains.n > 1


def slot_label(d: Domain, slot: int) -> str:
    """How a customer names informable ``slot``: its name, or in a scenario of several domains
    its domain and its name there ("hotel parking" for ``hotel-parking``)."""
    if not multi_domain(d) or slot == d.task_slot:
        return d.inf_names[slot].replace("_", " ")
    ds = d.domains
    return f"{ds.names[ds.slot[slot]]} {ds.inf_local[slot]}".replace("_", " ")


def req_label(d: Domain, slot: int) -> str:
    """How a customer names requestable ``slot`` (see ``slot_label``)."""
    if not multi_domain(d):
        return d.req_names[slot].replace("_", " ")
    ds = d.domains
    return f"{ds.names[ds.req[slot]]} {ds.req_local[slot]}".replace("_", " ")


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".?!" else text + "."


__all__ = [
    "AFFIRM",
    "BYE",
    "DEFAULT_PHRASES",
    "HANGUP",
    "HELLO",
    "NEGATE",
    "THANK",
    "UserNLG",
    "multi_domain",
    "req_label",
    "slot_label",
]
