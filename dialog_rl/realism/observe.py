"""What one annotated real dialogue shows of the customer model: counts to fit it with.

Each of the customer's rates is a probability of doing something when there is occasion to, so a
dialogue is read as ``(events, occasions)`` per rate, in the scenario's terms (its slots and
values, through ``dialog_rl.realism.labels``). ``dialog_rl.realism.calibrate`` sums the counts
over dialogues, and resamples dialogues for intervals.

MultiWOZ labels informs, requests, thanks and good-byes; it leaves yes, no and hello unlabelled.
Those three are read from the first words of the turn (``YES``, ``NO``, ``HELLO`` below), and a
request for another entity from a few phrases (``ALTERNATIVE``): short, plain lists, never the
NLU under test, so that the NLU is measured against data it was not fitted to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dialog_rl.realism.corpus import Dialogue, Turn
from dialog_rl.realism.labels import Labels

__all__ = ["ALTERNATIVE", "BYE", "HELLO", "NO", "YES", "Observed", "goal_part", "observe"]

#: a turn opening with one of these says yes (an offer taken, a question answered)
YES = (
    "yes",
    "yeah",
    "yep",
    "yup",
    "sure",
    "ok",
    "okay",
    "alright",
    "all right",
    "sounds good",
    "sounds great",
    "sounds perfect",
    "that sounds",
    "that would be",
    "perfect",
    "great",
    "excellent",
    "absolutely",
)
#: a closing turn with one of these says good-bye (MultiWOZ often labels "thank you, goodbye"
#: or "thanks, have a nice day" a thanks alone)
BYE = (
    "bye",
    "goodbye",
    "good bye",
    "have a nice day",
    "have a good day",
    "have a great day",
    "have a wonderful day",
    "have a good one",
    "enjoy your day",
)
#: a turn opening with one of these says no
NO = ("no", "nope", "nah", "not really")
#: a first turn opening with one of these greets
HELLO = ("hi", "hello", "hey", "good morning", "good afternoon", "good evening", "greetings")
#: a turn after an offer with one of these (and no new constraint) asks for another entity
ALTERNATIVE = (
    "another",
    "any other",
    "other options",
    "other one",
    "others",
    "something else",
    "anything else",
    "what else",
    "different one",
    "different restaurant",
    "alternative",
    "alternatives",
)
#: labels of the agent that name an entity it offers (with a ``Name`` pair)
_OFFERS = ("inform", "recommend", "select")
_CLOSING = frozenset({"general-thank", "general-bye"})
_WORD = re.compile(r"[a-z0-9]+")


@dataclass
class Observed:
    """One real dialogue's evidence; each rate as ``[events, occasions]``."""

    user_turns: int = 0
    agent_turns: int = 0
    goal_slots: frozenset[int] = frozenset()
    """The scenario's informable slots the goal constrains (``info`` and ``fail_info``)."""
    goal_requests: frozenset[int] = frozenset()
    """The scenario's requestable slots the goal asks for (``reqt``)."""
    failed: bool = False
    """The goal starts with constraints nothing meets (``fail_info`` on the scenario's slots)."""
    books: bool = False
    """The goal books (MultiWOZ's ``book``)."""
    book_slots: frozenset[int] = frozenset()
    """The scenario's booking slots the booking names (day, time, people, ...)."""
    book_fail: frozenset[int] = frozenset()
    """The booking slots the customer changes when the first booking finds no room
    (``fail_book``); empty if it finds room."""
    correct: list[int] = field(default_factory=lambda: [0, 0])
    """Turns after the agent stated a value other than the customer's: the customer restates
    theirs (or says no)."""
    dontcare: list[int] = field(default_factory=lambda: [0, 0])
    """Slots the goal leaves free: the customer says "any" without being asked."""
    alternative: list[int] = field(default_factory=lambda: [0, 0])
    """Offers, up to the first request for another entity: such a request."""
    affirm_offer: list[int] = field(default_factory=lambda: [0, 0])
    """Offers taken (no alternative, no change, no "no"): taken with a yes."""
    hello: list[int] = field(default_factory=lambda: [0, 0])
    """The first turn: a greeting."""
    restate_booking: list[int] = field(default_factory=lambda: [0, 0])
    """Turns after the customer said a parameter of the booking and before the agent tries to
    book: the customer says one again, unchanged (real agents book at once, so few occasions)."""
    affirm_rebook: list[int] = field(default_factory=lambda: [0, 0])
    """Turns after a booking found no room that change a parameter of it: opens with yes."""
    book_early: list[int] = field(default_factory=lambda: [0, 0])
    """A booking dialogue's first turn with a parameter of the booking, unless the agent asked
    for one: said before anything was offered."""
    book_together: list[int] = field(default_factory=lambda: [0, 0])
    """Turns that volunteer a parameter of the booking (not asked for one, not after a booking
    failed) while two or more were unsaid: every unsaid one said."""
    affirm_answer: list[int] = field(default_factory=lambda: [0, 0])
    """Questions for a constraint the goal has, answered: the answer opens with yes."""
    bye: list[int] = field(default_factory=lambda: [0, 0])
    """Closing turns (as for ``closing_negate``: the first, thanks or good-bye only, and the
    next if it closes again, unlabelled ones included, "You have a nice day too"): a good-bye,
    labelled or in the words (annotators often label "thank you, goodbye" a thanks alone)."""
    closing_negate: list[int] = field(default_factory=lambda: [0, 0])
    """Closing turns: opens with no ("no, that's all")."""
    closing_again: list[int] = field(default_factory=lambda: [0, 0])
    """A dialogue that closes: the customer's next turn closes again (thanks or good-bye only,
    or unlabelled)."""
    answered: list[int] = field(default_factory=lambda: [0, 0])
    """The agent asks for a constraint the goal has: the customer's next turn gives it (a
    question about a free slot is left out: "surprise me" goes unlabelled)."""
    no_match: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    """After the agent finds nothing: the customer drops a constraint ("any"), changes one,
    gives up (closes), or neither (not counted in the fit)."""
    pieces: list[tuple[int, bool]] = field(default_factory=list)
    """Per turn with content: constraints, questions and a leading yes/no said, and whether the
    goal had no more to say then (censored: the customer might have said more)."""


def goal_part(dialogue: Dialogue, corpus_domain: str) -> dict:
    """The goal's part about ``corpus_domain`` (a one-domain corpus has it at the top)."""
    goal = dialogue.goal
    part = goal.get(corpus_domain)
    return part if isinstance(part, dict) else goal


def observe(labels: Labels, dialogue: Dialogue, corpus_domain: str) -> Observed:
    """Read one dialogue's evidence (``labels``: the scenario's reading of MultiWOZ's labels)."""
    d = labels.domain
    prefix = corpus_domain.lower()
    goal = goal_part(dialogue, corpus_domain)
    info = _dict(goal.get("info")) | _dict(goal.get("fail_info"))
    reqt = goal.get("reqt", [])
    slots = {labels.informable(k) for k in info} - {None}
    wants = {labels.requestable(k) for k in reqt if isinstance(k, str)}
    fail = {labels.informable(k) for k in _dict(goal.get("fail_info"))} - {None}
    book = {k: v for k, v in _dict(goal.get("book")).items() if k not in ("invalid", "pre_invalid")}
    ob = Observed(
        user_turns=len(dialogue.user_turns),
        agent_turns=sum(t.speaker == "system" for t in dialogue.turns),
        goal_slots=frozenset(slots),
        goal_requests=frozenset(wants - {None}),
        failed=bool(fail),
        books=bool(book),
        book_slots=frozenset({labels.informable(k) for k in book} - {None}),
        book_fail=frozenset({labels.informable(k) for k in _dict(goal.get("fail_book"))} - {None}),
    )
    stated: dict[int, int] = {}  # the customer's constraints as said (scenario values)
    said: dict[int, str] = {}  # ... as written (values the scenario lacks too)
    asked: set[int] = set()
    offered: set[str] = set()
    free_said: set[int] = set()
    alt_asked = False
    booking_tried = False
    booking_said = False
    turns: list[tuple[bool, bool, bool, bool]] = []  # closing, unlabelled, no, good-bye
    prev: Turn | None = None  # the agent's turn before the customer's
    n = -1
    for turn in dialogue.turns:
        if turn.speaker == "system":
            prev = turn
            continue
        n += 1
        words = _words(turn.text)
        yes, no = _opens(words, YES), _opens(words, NO)
        informs, raw, requests = _user_acts(labels, turn, prefix)
        closing = bool(turn.labels) and set(turn.labels) <= _CLOSING
        if n == 0:
            ob.hello[0] += _opens(words, HELLO)
            ob.hello[1] += 1
        sys = _system_acts(labels, prev, prefix)
        informed = {s for s, _ in informs}
        changed = any(s in said and said[s] != v for s, v in raw.items())
        if sys.requested & slots:  # a question the goal has an answer to
            ob.answered[1] += 1
            if sys.requested & slots & set(raw):
                ob.answered[0] += 1
                ob.affirm_answer[1] += 1
                ob.affirm_answer[0] += yes
        wrong = {s for s, v in sys.stated.items() if s in stated and stated[s] != v}
        wrong -= {s for s in wrong if stated[s] >= d.dontcare(s)}
        if wrong:
            ob.correct[1] += 1
            restated = any((s, stated[s]) in informs for s in wrong)
            ob.correct[0] += restated or (no and not wrong & informed)
        if sys.no_offer:
            relax = any(v >= d.dontcare(s) for s, v in informs)
            kind = 1 if changed else 0 if relax else 2 if closing else 3
            ob.no_match[kind] += 1
        if sys.names - offered:
            alternative = _has(words, ALTERNATIVE) and not changed and not closing
            if not alt_asked:
                ob.alternative[1] += 1
                ob.alternative[0] += alternative
                alt_asked = alternative
            if not (alternative or changed or no):
                ob.affirm_offer[1] += 1
                ob.affirm_offer[0] += yes
            offered |= sys.names
        bye = "general-bye" in turn.labels or _has(words, BYE)
        turns.append((closing, not turn.labels, no, bye))
        for s, v in informs:
            if v >= d.dontcare(s) and s not in sys.requested and s not in slots:
                free_said.add(s)
        agent = {k.lower() for k in prev.labels} if prev is not None else set()
        booking_tried |= bool({"booking-book", "booking-nobook"} & agent)
        book_now = ob.book_slots & set(raw)
        if book_now and not booking_said:
            booking_said = True
            if "booking-request" not in agent:
                ob.book_early = [int(not offered and not booking_tried), 1]
        if "booking-nobook" in agent and any(
            s in ob.book_slots and s in said and said[s] != v for s, v in raw.items()
        ):
            ob.affirm_rebook[0] += yes
            ob.affirm_rebook[1] += 1
        unsaid = ob.book_slots - set(said)
        together = False  # the rest of the booking in one breath: one piece, as simulated
        if (
            book_now & unsaid
            and len(unsaid) > 1
            and not {"booking-request", "booking-nobook"} & agent
        ):
            together = unsaid <= book_now
            ob.book_together[0] += together
            ob.book_together[1] += 1
        if ob.book_slots and not booking_tried and ob.book_slots & set(said):
            ob.restate_booking[1] += 1
            ob.restate_booking[0] += any(
                s in ob.book_slots and said.get(s) == v for s, v in raw.items()
            )
        if not closing:
            count = len(raw) + len(requests) + (yes or no) - (len(book_now) - 1 if together else 0)
            if count:  # censored when all the goal still had to say was said
                left = len(slots - set(said)) + (len(wants - asked) if offered else 0)
                new = len((set(raw) & slots) - set(said)) + len(requests & (wants - asked))
                ob.pieces.append((count, new >= left))
        for s, v in informs:
            stated[s] = v
        said.update(raw)
        asked |= requests
    first = next((k for k, t in enumerate(turns) if t[0]), None)
    if first is not None:
        closings = [turns[first]]
        ob.closing_again[1] = 1
        if first + 1 < len(turns) and (turns[first + 1][0] or turns[first + 1][1]):
            ob.closing_again[0] = 1
            closings.append(turns[first + 1])
        ob.closing_negate = [sum(t[2] for t in closings), len(closings)]
        ob.bye = [sum(t[3] for t in closings), len(closings)]
    if slots:  # a goal about the scenario's slots: the others are free
        free = {s for s in d.kb_slots if d.constraint_prob[s] > 0} - slots
        ob.dontcare = [len(free_said & free), len(free)]
    return ob


@dataclass(frozen=True)
class _Sys:
    requested: frozenset[int] = frozenset()
    stated: dict[int, int] = field(default_factory=dict)
    names: frozenset[str] = frozenset()
    no_offer: bool = False


def _system_acts(labels: Labels, turn: Turn | None, prefix: str) -> _Sys:
    """What the agent's turn asked, stated, offered, and whether it found nothing."""
    if turn is None:
        return _Sys()
    requested, stated, names, no_offer = set(), {}, set(), False
    for label, pairs in turn.labels.items():
        own, _, act = label.lower().partition("-")
        if own != prefix:
            continue
        no_offer |= act == "nooffer"
        for slot, value in pairs:
            s = labels.informable(slot)
            if act == "request" and s is not None:
                requested.add(s)
            elif act in ("inform", "recommend", "nooffer") and s is not None:
                v = labels.value(s, value)
                if v >= 0:
                    stated[s] = v
            if act in _OFFERS and slot.lower() == "name":
                names.add(value.strip().lower())
    return _Sys(frozenset(requested), stated, frozenset(names), no_offer)


def _user_acts(
    labels: Labels, turn: Turn, prefix: str
) -> tuple[set[tuple[int, int]], dict[int, str], set[int]]:
    """The customer's informs in the scenario's values, every inform of a scenario slot as
    written, and the questions."""
    informs, raw, requests = set(), {}, set()
    for label, pairs in turn.labels.items():
        own, _, act = label.lower().partition("-")
        if own != prefix:
            continue
        for slot, value in pairs:
            if act == "inform":
                s = labels.informable(slot)
                if s is None:
                    continue
                raw[s] = value.strip().lower()
                v = labels.value(s, value)
                if v >= 0:
                    informs.add((s, v))
            elif act == "request":
                r = labels.requestable(slot)
                if r is not None:
                    requests.add(r)
    return informs, raw, requests


def _words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(text.lower().replace("'", "").replace("\u2019", "")))


def _opens(words: tuple[str, ...], cues: tuple[str, ...]) -> bool:
    return any(words[: len(c.split())] == tuple(c.split()) for c in cues)


def _has(words: tuple[str, ...], cues: tuple[str, ...]) -> bool:
    text = f" {' '.join(words)} "
    return any(f" {c} " in text for c in cues)


def _dict(x: object) -> dict:
    return x if isinstance(x, dict) else {}
