"""Readers for values customers write in many ways: days, times of day, and counts of people or
nights ("7:30pm", "half past seven", "19:15", "1300hrs", "party of seven", "for 4", "2 nights").

A gazetteer cannot list these, so the NLU reads a slot's values with a reader when the slot is of
one of these kinds. The kind comes from the slot's name (``SLOT_KINDS``: ``day``, ``time``,
``people``, ``nights`` and a few spellings of them), so a scenario needs no code and no new key:
a slot named ``time`` whose values are ``["11:00", "11:15", ...]`` (or ``"7:30 pm"``: values are
read the same way) is read by the time reader. Readers work on one normalised sentence (lower
case, apostrophes dropped) and return canonical values: weekday names, ``HH:MM`` on a 24-hour
clock, counts as digits.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = [
    "DAY",
    "KINDS",
    "NIGHTS",
    "PEOPLE",
    "SLOT_KINDS",
    "TIME",
    "VOCABULARY",
    "Reading",
    "canonical",
    "kind_of_slot",
    "read_values",
]

DAY, TIME, PEOPLE, NIGHTS = "day", "time", "people", "nights"
KINDS = (DAY, TIME, PEOPLE, NIGHTS)
#: slot names (lower case, ``_`` and spaces dropped) -> the kind of value read for them
SLOT_KINDS = {
    "day": DAY, "bookday": DAY, "arrivalday": DAY, "weekday": DAY,
    "time": TIME, "booktime": TIME, "arrivaltime": TIME,
    "people": PEOPLE, "bookpeople": PEOPLE, "partysize": PEOPLE, "guests": PEOPLE,
    "nights": NIGHTS, "stay": NIGHTS, "bookstay": NIGHTS,
}  # fmt: skip

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
}  # fmt: skip
_UNIT_WORDS = (
    "people person persons guests guest adults diners seat seats nights night days day party table group "
    "half quarter past noon midday midnight oclock thirty forty fortyfive pm am hrs hours evening"
)
#: the words readers need, for the NLU's spelling repair
VOCABULARY = frozenset(DAYS) | frozenset(NUMBER_WORDS) | frozenset(_UNIT_WORDS.split())

_NUM = r"(\d{1,2}|" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")"
_DAY_RE = re.compile(r"\b(" + "|".join(DAYS) + r")s?\b")
_DAY_CUE = re.compile(r"\b(on|for|from|starting|this|next|arriving|until|by)\s+$")
_MERIDIEM = r"\s*(am|pm|a\.m\.?|p\.m\.?)?"
# times, strongest first; each finds (hour, minute, meridiem) groups by name
_TIMES = [
    (re.compile(r"\b(?P<h>\d{1,2})[:.](?P<m>\d{2})" + _MERIDIEM.replace("(", "(?P<x>", 1)), 0.95),
    (re.compile(r"\b(?P<h>\d{1,2})(?P<m>\d{2})\s*(hrs|hours|h)\b"), 0.9),
    (re.compile(r"\b(?P<h>" + _NUM[1:-1] + r")\s*(?P<x>am|pm|a\.m\.?|p\.m\.?)(?![a-z])"), 0.9),
    (re.compile(r"\bhalf past (?P<h>" + _NUM[1:-1] + r")\b"), 0.9),
    (re.compile(r"\b(?P<q>quarter) (?P<r>past|to) (?P<h>" + _NUM[1:-1] + r")\b"), 0.9),
    (re.compile(r"\b(?P<h>" + _NUM[1:-1] + r")\s*(oclock|o clock)\b"), 0.9),
    (re.compile(r"\b(?P<noon>noon|midday|midnight)\b"), 0.85),
    (re.compile(r"\b(at|around|about|for) (?P<h>" + _NUM[1:-1] + r") (?P<w>thirty|fifteen|forty five|fortyfive)\b"), 0.85),
    (re.compile(r"\bat (?P<h>\d{2})(?P<m>\d{2})\b"), 0.8),
    # "at 7" / "at seven": an hour with nothing else said is a time only after "at"
    (re.compile(r"\bat (?P<h>" + _NUM[1:-1] + r")\b(?!\s*(people|persons?|guests?|of us|nights?|days?))"), 0.7),
]  # fmt: skip
_EVENING = re.compile(r"^\s*(in the (evening|afternoon)|at night|tonight|this evening)")
_MORNING = re.compile(r"^\s*(in the morning|this morning)")
_PEOPLE_UNIT = r"(people|persons?|guests?|adults?|diners?|seats?|pax|of us)"
_NOT_PEOPLE = r"(?!\s*(:|\.\d|nights?|days?|stars?|am\b|pm\b|oclock|o clock|hrs|hours|weeks?|[a-z]*\s*(night|day)s?\b))"
_N = r"(?P<n>" + _NUM[1:-1] + r")"
_PEOPLE = [
    (re.compile(r"\b" + _N + r"\s*" + _PEOPLE_UNIT + r"\b"), 0.95),
    (re.compile(r"\b(party|table|group|booking|reservation) (of|for) " + _N + r"\b" + _NOT_PEOPLE), 0.9),
    # "for 4" alone; "for one" only where it cannot be a pronoun ("for one of them")
    (re.compile(r"\bfor " + _N + r"\b" + _NOT_PEOPLE + r"(?<!\bone)"), 0.7),
    (re.compile(r"\bfor (?P<n>one)(?=\s*(on|at|please|person|$|,))"), 0.7),
]  # fmt: skip
_NIGHTS = [
    (re.compile(r"\b" + _N + r"\s*(nights?)\b"), 0.95),
    (re.compile(r"\b" + _N + r"\s*(days?)\b"), 0.8),
]


class Reading(NamedTuple):
    """One value found in a sentence."""

    kind: str
    values: tuple[str, ...]
    """Canonical values it may be, the likeliest first ("7:30" is ``("19:30", "07:30")``)."""
    start: int
    """Where it was said: character offsets into the sentence read."""
    end: int
    cue: float
    """How plainly it was said, in (0, 1]: "4 people" is plainer than "for 4"."""


def kind_of_slot(name: str) -> str | None:
    """The reader kind of a slot, from its name; None for slots the gazetteer reads."""
    return SLOT_KINDS.get(name.lower().replace("_", "").replace(" ", ""))


def read_values(text: str, kinds: frozenset[str] | set[str]) -> list[Reading]:
    """The values of the given kinds said in one normalised sentence, in order of position.

    Stronger patterns claim their words first, so "for 4 at 7pm" is four people at 19:00, not
    also a time "for 4".
    """
    out: list[Reading] = []
    taken = [False] * len(text)

    def free(a: int, b: int) -> bool:
        return not any(taken[a:b])

    def claim(kind: str, values: tuple[str, ...], a: int, b: int, cue: float) -> None:
        taken[a:b] = [True] * (b - a)
        out.append(Reading(kind, values, a, b, cue))

    if TIME in kinds:
        for pattern, cue in _TIMES:
            for m in pattern.finditer(text):
                values = _time_of(m, text[m.end() :])
                if values and free(*m.span()):
                    claim(TIME, values, *m.span(), cue)
    if NIGHTS in kinds:
        for pattern, cue in _NIGHTS:
            for m in pattern.finditer(text):
                n = _number(m.group("n"))
                if n and free(*m.span()):
                    claim(NIGHTS, (str(n),), *m.span(), cue)
    if PEOPLE in kinds:
        for pattern, cue in _PEOPLE:
            for m in pattern.finditer(text):
                n = _number(m.group("n"))
                if n and free(*m.span()):
                    claim(PEOPLE, (str(n),), *m.span(), cue)
    if DAY in kinds:
        for m in _DAY_RE.finditer(text):
            if free(*m.span()):
                cue = 0.95 if _DAY_CUE.search(text[: m.start()]) else 0.85
                claim(DAY, (m.group(1),), *m.span(), cue)
    return sorted(out, key=lambda r: r.start)


def canonical(kind: str, text: str) -> tuple[str, ...]:
    """A value as written in a scenario or an annotation ("Friday", "7", "19:15", "7:30 pm"),
    in canonical form; empty if it is not one (MultiWOZ's "?" or "those days")."""
    t = text.strip().lower()
    if kind == DAY:
        t = t.rstrip("s")
        return (t,) if t in DAYS else ()
    if kind in (PEOPLE, NIGHTS):
        n = _number(t)
        return (str(n),) if n else ()
    if kind == TIME:
        for pattern, _ in _TIMES[:3]:
            m = pattern.fullmatch(t)
            if m:
                # a value or a label is literal: "7:30" in a list of values is 07:30
                return _time_of(m, "", literal=True)[:1]
    return ()


def _number(word: str) -> int:
    if word.isdigit():
        return int(word)
    return NUMBER_WORDS.get(word, 0)


def _time_of(m: re.Match, after: str, literal: bool = False) -> tuple[str, ...]:
    """Canonical ``HH:MM`` readings of a time match, the likeliest first."""
    groups = m.groupdict()
    if groups.get("noon"):
        return ("00:00",) if groups["noon"] == "midnight" else ("12:00",)
    h = _number(groups["h"]) if groups.get("h") is not None else -1
    if groups.get("h") is not None and groups["h"].isdigit():
        h = int(groups["h"])
    minute = int(groups["m"]) if groups.get("m") else 0
    if groups.get("w"):
        minute = {"thirty": 30, "fifteen": 15}.get(groups["w"], 45)
    elif "half past" in m.group(0):
        minute = 30
    elif groups.get("q"):
        if groups["r"] == "past":
            minute = 15
        else:
            h, minute = h - 1, 45
    if not (0 <= h <= 24 and 0 <= minute < 60):
        return ()
    meridiem = (groups.get("x") or "").replace(".", "")
    if meridiem == "pm" and h < 12:
        h += 12
    elif meridiem == "am" and h == 12:
        h = 0
    elif not meridiem and _EVENING.match(after) and 1 <= h < 12:
        h += 12
    hour_written = groups.get("h") or ""
    ambiguous = (
        not meridiem
        and not literal
        and 1 <= h <= 9
        and not hour_written.startswith("0")
        and not _MORNING.match(after)
        and not _EVENING.match(after)
    )
    if h == 24:
        h = 0
    if ambiguous:  # "at 7:30" to book a table is in the evening more often than not
        return (f"{h + 12:02d}:{minute:02d}", f"{h:02d}:{minute:02d}")
    return (f"{h:02d}:{minute:02d}",)
