"""MultiWOZ's act labels in a scenario's terms: what a real customer's turn says, as acts.

A label is ``Domain-Act`` (``Restaurant-Inform``) with ``(slot, value)`` pairs, or ``general-*``
(thank, bye, greet). Slots are matched to the scenario's by name, through MultiWOZ's
abbreviations (``Addr`` is ``address``, ``Price`` is ``pricerange``, ``Stay`` is ``nights``), so
any scenario whose slots are named like MultiWOZ's reads its labels with no code. Values are
matched through the scenario's values and synonyms and, for days, times and counts, through the
canonical forms of ``simulators.value_readers``; a close spelling catches the annotation's own
misspellings ("portugese"). Never through the NLU under test.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from dialog_rl.acts import BYE, HELLO, INFORM, REQUEST, THANK
from dialog_rl.domain import Domain
from simulators.lexicon import tokens
from simulators.value_readers import canonical, kind_of_slot

__all__ = ["BOOKING_SLOTS", "GENERAL_ACTS", "LabelledTurn", "Labels"]

#: MultiWOZ's slot names -> the names scenarios use (others are lower-cased)
SLOT_NAMES = {
    "Addr": "address",
    "Post": "postcode",
    "Price": "pricerange",
    "Stay": "nights",
    "Fee": "entrance_fee",
}
#: the slots of a booking (MultiWOZ's ``book`` goals): day, time, people, nights, reference
BOOKING_SLOTS = frozenset({"Day", "Time", "People", "Stay", "Ref"})
GENERAL_ACTS = {"general-thank": THANK, "general-bye": BYE, "general-greet": HELLO}
#: the user act types MultiWOZ annotates (it leaves yes, no and hanging up unlabelled)
ANNOTATED_TYPES = (INFORM, REQUEST, THANK, BYE, HELLO)

SCORED, UNANNOTATED, OUT_OF_SCENARIO, VALUE_NOT_IN_SCENARIO = (
    "scored",
    "unannotated",
    "booking / name only",
    "value not in scenario",
)


@dataclass(frozen=True)
class LabelledTurn:
    """One real user turn as its labels say it."""

    category: str
    """``scored`` (some label maps onto the scenario's acts), ``unannotated``, ``booking / name
    only`` (labels only about slots the scenario lacks) or ``value not in scenario``."""
    acts: tuple[tuple[int, int, int], ...] = ()
    """The labels that map onto the scenario, as ``(type, slot, value)`` acts."""
    types: frozenset[int] = frozenset()
    """Act types the labels say, whatever the slot (``Restaurant-Inform`` of a name is inform)."""
    inform_slots: int = 0
    """Distinct slots informed in the labels, the scenario's or not."""
    booking: bool = False
    """The labels mention a booking slot (day, time, people, nights, reference)."""


@dataclass
class Labels:
    """Reads the labels of one MultiWOZ domain (``restaurant``) in one scenario's terms; of a
    multi-domain scenario, the labels of each of its domains (``Hotel-Inform`` of ``Area`` is
    ``hotel-area``), whatever ``corpus_domain`` says."""

    domain: Domain
    corpus_domain: str
    _inform: dict[str, int] = field(init=False, default_factory=dict)
    _request: dict[str, int] = field(init=False, default_factory=dict)
    _values: dict[int, dict[str, int]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        d = self.domain
        self._inform = {_key(n): s for s, n in enumerate(d.inf_names) if s != d.task_slot}
        self._request = {_key(n): r for r, n in enumerate(d.req_names)}
        for s in self._inform.values():
            names: dict[str, int] = {}
            kind = kind_of_slot(d.inf_names[s])
            for v, value in enumerate(d.inf_values[s]):
                names.setdefault(" ".join(tokens(value)), v)
                for form in canonical(kind, value) if kind else ():
                    names.setdefault(form, v)
            for value, syns in d.synonyms[s].items():
                for syn in syns:
                    names.setdefault(" ".join(tokens(syn)), d.inf_values[s].index(value))
            self._values[s] = names

    def turn(self, labels: dict[str, list[tuple[str, str]]]) -> LabelledTurn:
        """What one user turn's labels say in the scenario's terms."""
        if not labels:
            return LabelledTurn(UNANNOTATED)
        names = self.domain.domains.names
        multi = len(names) > 1
        prefixes = names if multi else (self.corpus_domain.lower(),)
        acts: set[tuple[int, int, int]] = set()
        types: set[int] = set()
        informed: set[str] = set()
        booking = missing_value = False
        for label, pairs in labels.items():
            if label in GENERAL_ACTS:
                acts.add((GENERAL_ACTS[label], -1, -1))
                types.add(GENERAL_ACTS[label])
                continue
            own, _, act = label.lower().partition("-")
            if own not in prefixes:
                continue
            scope = f"{own}-" if multi else ""  # a multi-domain scenario's slot names
            if act not in ("inform", "request"):
                continue
            types.add(INFORM if act == "inform" else REQUEST)
            for slot, value in pairs:
                booking |= slot in BOOKING_SLOTS
                if act == "request":
                    r = self._request.get(_key(scope + SLOT_NAMES.get(slot, slot)))
                    if r is not None:
                        acts.add((REQUEST, r, -1))
                    continue
                if slot.lower() != "none":
                    informed.add(slot)
                s = self._inform.get(_key(scope + SLOT_NAMES.get(slot, slot)))
                if s is None:
                    continue
                v = self.value(s, value)
                if v >= 0:
                    acts.add((INFORM, s, v))
                else:
                    missing_value = True
        category = SCORED if acts else VALUE_NOT_IN_SCENARIO if missing_value else OUT_OF_SCENARIO
        return LabelledTurn(category, tuple(sorted(acts)), frozenset(types), len(informed), booking)

    def informable(self, name: str) -> int | None:
        """The scenario's informable slot for a MultiWOZ slot name (``Price``, ``pricerange``),
        or None (one-domain scenarios; a multi-domain one names ``<domain>-<slot>``)."""
        return self._inform.get(_key(SLOT_NAMES.get(name, name)))

    def requestable(self, name: str) -> int | None:
        """The scenario's requestable slot for a MultiWOZ slot name (``Addr``, ``address``)."""
        return self._request.get(_key(SLOT_NAMES.get(name, name)))

    def value(self, slot: int, text: str) -> int:
        """The scenario's value index for an annotated value, or -1 if it has none like it."""
        d = self.domain
        text = text.strip().lower()
        if text in ("dontcare", "dont care", "don't care", "any"):
            return d.dontcare(slot)
        names = self._values[slot]
        kind = kind_of_slot(d.inf_names[slot])
        if kind:
            return next((names[f] for f in canonical(kind, text) if f in names), -1)
        key = " ".join(tokens(text))
        if key in names:
            return names[key]
        close = difflib.get_close_matches(key, list(names), n=1, cutoff=0.85)
        return names[close[0]] if close else -1


def _key(name: str) -> str:
    return name.lower().replace("_", "").replace(" ", "")
