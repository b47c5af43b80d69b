"""Cross-references of a scenario: every slot, task and domain it names must be declared.

The pydantic models in ``schema.py`` check each field on its own; these checks see the whole
file, and raise ``ScenarioRefError`` with the dotted path of the offending field.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from dialog_rl.scenario.schema import (
    COMMON_PLACEHOLDERS,
    Action,
    DomainGoals,
    Goals,
    InformableSlot,
    KnowledgeBase,
    Scenario,
    Slots,
)


@dataclass(frozen=True)
class Part:
    """One domain of a scenario as the checks and the compiler see it (``loc``: where it is)."""

    name: str
    slots: Slots
    kb: KnowledgeBase
    actions: list[Action]
    goals: Goals | DomainGoals
    loc: tuple[str | int, ...]


def parts(scenario: Scenario) -> list[Part]:
    """The scenario's domains: itself, or each of its ``domains``."""
    if scenario.domains is None:
        assert scenario.slots is not None and scenario.kb is not None
        s = scenario
        return [Part(s.name, s.slots, s.kb, s.actions, s.goals, ())]
    return [
        Part(d.name, d.slots, d.kb, d.actions, d.goals, ("domains", i))
        for i, d in enumerate(scenario.domains)
    ]


#: slots an inform (request) without a slot can answer (ask for): they are the bits of an int64
MAX_ANSWERED = 62


def check_references(scenario: Scenario) -> None:
    """Check that every slot, task and domain a scenario names is declared; raise
    ScenarioRefError."""
    domains = parts(scenario)
    for part in domains:
        _check_part(scenario, part)
    n_req = sum(len(p.slots.requestable) for p in domains)
    n_inf = sum(len(p.slots.informable) + len(p.slots.booking) for p in domains) + 1  # the task
    for p in domains:
        for j, action in enumerate(p.actions):
            if action.act == "inform" and action.slot is None and n_req > MAX_ANSWERED:
                _bad(
                    (*p.loc, "actions", j, "slot"),
                    f"an inform without a slot answers up to {MAX_ANSWERED} requestable slots; "
                    f"the scenario has {n_req}: give it a slot",
                )
            if action.act == "request" and action.slot is None and n_inf > MAX_ANSWERED:
                _bad(
                    (*p.loc, "actions", j, "slot"),
                    f"a request without a slot asks for up to {MAX_ANSWERED} informable slots; "
                    f"the scenario has {n_inf}: give it a slot",
                )
    if scenario.domains is not None:
        _check_domains(scenario, domains)
    if scenario.lifetime is not None:
        informable = {s.name for p in domains for s in _flat_informable(scenario, p)}
        for i, slot in enumerate(scenario.lifetime.persistent):
            if slot not in informable:
                _bad(("lifetime", "persistent", i), f"{slot!r} is not a declared informable slot")
        personas = {p.name for p in scenario.personas}
        for name in scenario.lifetime.persona_satisfaction:
            if name not in personas:
                where = ("lifetime", "persona_satisfaction", name)
                _bad(where, f"{name!r} is not a declared persona ({', '.join(sorted(personas))})")


def flat_name(scenario: Scenario, domain: str, slot: str) -> str:
    """A slot's name across the scenario: itself in one domain, ``<domain>-<slot>`` in several."""
    return slot if scenario.domains is None else f"{domain}-{slot}"


def _flat_informable(scenario: Scenario, part: Part):
    for s in [*part.slots.informable, *part.slots.booking]:
        yield s.model_copy(update={"name": flat_name(scenario, part.name, s.name)})


def _check_domains(scenario: Scenario, domains: list[Part]) -> None:
    names = [p.name for p in domains]
    for i, name in enumerate(names):
        if name in names[:i]:
            _bad(("domains", i, "name"), f"domain {name!r} is declared twice")
    first: dict[str, tuple[InformableSlot, str]] = {}
    for p in domains:
        for key in ("informable", "booking"):
            for j, slot in enumerate(getattr(p.slots, key)):
                if slot.values is None:  # values from the domain's own KB: its own slot
                    continue
                seen = first.setdefault(slot.name, (slot, p.name))
                if seen[0].values != slot.values:
                    _bad(
                        (*p.loc, "slots", key, j, "values"),
                        f"slot {slot.name!r} has other values here than in domain {seen[1]!r}",
                    )
    for i, action in enumerate(scenario.actions):
        if action.act in ("request", "confirm", "offer", "inform", "perform", "book"):
            _bad(("actions", i, "act"), f"a `{action.act}` action belongs in a domain's actions")
        for j, template in enumerate(action.templates):
            _check_template(template, set(), ("actions", i, "templates", j))
    for p in domains:
        for j, action in enumerate(p.actions):
            if action.act not in ("request", "confirm", "offer", "inform", "book"):
                _bad((*p.loc, "actions", j, "act"), f"a `{action.act}` action goes in `actions`")
    for i, mix in enumerate(scenario.goals.mix):
        for j, name in enumerate(mix.domains):
            if name not in names:
                _bad(("goals", "mix", i, "domains", j), f"{name!r} is not a declared domain")
            if name in mix.domains[:j]:
                _bad(("goals", "mix", i, "domains", j), f"domain {name!r} appears twice")
    for i, carry in enumerate(scenario.goals.carry):
        if sum(carry.slot in {s.name for s in p.slots.informable} for p in domains) < 2:
            _bad(("goals", "carry", i, "slot"), f"{carry.slot!r} is not a slot of two domains")
    for key in ("constraints", "requests", "tasks"):
        if getattr(scenario.goals, key):
            _bad(("goals", key), "in a multi-domain scenario, each domain's `goals` has these")


def _check_part(scenario: Scenario, part: Part) -> None:
    loc = part.loc
    searched = {s.name for s in part.slots.informable}
    booking = {s.name for s in part.slots.booking}
    informable = searched | booking
    requestable = {s.name for s in part.slots.requestable}
    for i, slot in enumerate(part.slots.requestable):
        if slot.name in informable:
            _bad((*loc, "slots", "requestable", i, "name"), f"{slot.name!r} is also informable")
    for i, slot in enumerate(part.slots.booking):
        if slot.name in searched:
            _bad((*loc, "slots", "booking", i, "name"), f"{slot.name!r} is also informable")
        if slot.values is None:
            where = (*loc, "slots", "booking", i, "values")
            _bad(where, f"booking slot {slot.name!r} needs `values` (no KB column holds it)")
    known = informable | requestable
    tasks = {a.task for a in part.actions if a.task}
    seen: set[tuple[str, str | None]] = set()
    for i, action in enumerate(part.actions):
        where: tuple[str | int, ...] = (*loc, "actions", i)
        key = (action.act, action.slot or action.task)
        if key in seen:
            _bad(where, f"the catalog already has this action ({action.act} {key[1] or ''})")
        seen.add(key)
        if action.act == "confirm" and action.slot not in informable:
            _bad((*where, "slot"), f"{action.slot!r} is not a declared informable slot")
        if action.act == "request" and action.slot is not None and action.slot not in informable:
            _bad((*where, "slot"), f"{action.slot!r} is not a declared informable slot")
        if action.act == "inform" and action.slot is not None and action.slot not in requestable:
            _bad((*where, "slot"), f"{action.slot!r} is not a declared requestable slot")
        for j, slot in enumerate(action.requires):
            if slot not in informable:
                _bad((*where, "requires", j), f"{slot!r} is not a declared informable slot")
        for key in ("templates", "no_match_templates"):
            for j, template in enumerate(getattr(action, key)):
                _check_template(template, known, (*where, key, j))
        if action.act == "book" and not booking:
            _bad((*where, "act"), "a `book` action needs booking slots (`slots.booking`)")
    goals = part.goals
    _check_booking(part, booking, loc)
    for slot in goals.constraints:
        if slot not in searched:
            _bad(
                (*loc, "goals", "constraints", slot), f"{slot!r} is not a declared informable slot"
            )
    for slot in goals.requests:
        if slot not in requestable:
            _bad((*loc, "goals", "requests", slot), f"{slot!r} is not a declared requestable slot")
    for task in getattr(goals, "tasks", {}):
        if task not in tasks:
            _bad((*loc, "goals", "tasks", task), f"no `perform` action has task {task!r}")
    for key in ("informable", "booking"):
        for i, slot in enumerate(getattr(part.slots, key)):
            for j, template in enumerate(slot.user_templates):
                _check_template(template, known, (*loc, "slots", key, i, "user_templates", j))
            if slot.values is not None:
                for value in slot.synonyms:
                    if value not in slot.values:
                        where = (*loc, "slots", key, i, "synonyms", value)
                        _bad(where, f"{value!r} is not one of the slot's values")
    for i, slot in enumerate(part.slots.requestable):
        for j, template in enumerate(slot.user_templates):
            _check_template(template, known, (*loc, "slots", "requestable", i, "user_templates", j))


def _check_booking(part: Part, booking: set[str], loc: tuple[str | int, ...]) -> None:
    """``goals.book`` names only booking slots and their values, and needs a `book` action."""
    book = part.goals.book
    if book is None:
        return
    where = (*loc, "goals", "book")
    if not any(a.act == "book" for a in part.actions):
        _bad(where, "customers book, but no `book` action is declared")
    values = {s.name: s.values or [] for s in part.slots.booking}
    for key in ("slots", "values", "on_fail"):
        for slot in getattr(book, key):
            if slot not in booking:
                _bad((*where, key, slot), f"{slot!r} is not a declared booking slot")
    for slot, weights in book.values.items():
        for value in weights:
            if value not in values[slot]:
                _bad((*where, "values", slot, value), f"{value!r} is not one of the slot's values")
        if weights and sum(weights.values()) <= 0:
            _bad((*where, "values", slot), "the weights sum to 0")


class ScenarioRefError(ValueError):
    """A cross-reference error with the dotted location of the offending field."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


def _bad(loc: tuple[str | int, ...], message: str) -> None:
    raise ScenarioRefError(loc, message)


def _check_template(template: str, known: set[str], loc: tuple[str | int, ...]) -> None:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as err:
        _bad(loc, f"template {template!r} is malformed: {err}")
    for field in fields:
        if field not in known and field not in COMMON_PLACEHOLDERS:
            _bad(loc, f"template names {{{field}}}, which is not a declared slot")
