"""The agent's NLG: a system action realised as an utterance from the scenario's templates.

The customer's words come from ``simulators/customer_nlg.py``.
"""

from __future__ import annotations

import base64
import hashlib
import re

from dialog_rl.acts import SYS_BOOK, SYS_CONFIRM, SYS_INFORM, SYS_OFFER, SYS_REQUEST
from dialog_rl.domain.compiled import Domain


def system_text(
    domain: Domain, action: int, value: int, entity: int, template_index: int, beliefs: list[int]
) -> str:
    """Realise a system action as an utterance, filling slot, value and entity placeholders.

    ``beliefs`` (top value per informable slot) fills slot names in no-match messages,
    confirmations and bookings; ``entity`` (or -1) fills the entity's columns. A booking
    (``value`` 1: made, 0: no room) has a reference number, ``{ref}``; an inform without a slot
    says the attributes in the bits of ``value`` (``{answers}``), a request without one the slots
    it asks for (``{slots}``).
    """
    kind = domain.act_kind[action]
    templates = domain.act_templates[action]
    D = domain.domains
    # placeholders are the slot names of the action's domain (``{area}``, not ``{hotel-area}``)
    own = D.act[action]
    if own < 0 and D.n > 1:
        own = D.entity[entity] if entity >= 0 else -1
    fields: dict[str, str] = {}
    for s, name in enumerate(D.inf_local):
        if own < 0 or D.slot[s] == own or s == domain.task_slot:
            fields[name] = domain.value_name(s, beliefs[s]) if beliefs[s] >= 0 else "any"
    if kind == SYS_OFFER and entity < 0 and domain.act_no_match[action]:
        templates = domain.act_no_match[action]
    if kind == SYS_BOOK:
        if value != 1 and domain.act_no_match[action]:
            templates = domain.act_no_match[action]
        dom = int(D.entity[entity]) if entity >= 0 else 0
        params = tuple(int(beliefs[s]) for s in domain.booking.slots if D.slot[s] == dom)
        fields["ref"] = booking_reference(entity, params)
    if entity >= 0:
        fields.update({k: v or "not listed" for k, v in domain.kb_rows[entity].items()})
        fields["name"] = domain.kb_names[entity]
    else:
        fields.setdefault("name", "it")
    slot = domain.act_slot[action]
    if kind == SYS_CONFIRM:
        fields["slot"] = D.inf_local[slot]
        fields["value"] = domain.value_name(slot, value)
    elif kind == SYS_INFORM and slot < 0:  # every attribute asked about: the bits of ``value``
        said = [
            f"the {D.req_local[r]} is {fields.get(D.req_local[r]) or 'not listed'}"
            for r in range(domain.n_req)
            if value >= 0 and (value >> r) & 1
        ]
        fields["answers"] = _listed(said, "nothing was asked")
    elif kind == SYS_REQUEST and slot < 0:  # the slots asked for: the bits of ``value``
        asked = [D.inf_local[s] for s in range(domain.n_inf) if value >= 0 and (value >> s) & 1]
        fields["slots"] = _listed(asked, "anything")
    task = domain.act_task[action]
    if task >= 0:
        fields["task"] = domain.task_names[task].replace("_", " ")
    for name in D.req_local:
        fields.setdefault(name, "unknown")
    template = templates[template_index % len(templates)]
    return with_articles(template.format(**fields))


def _listed(items: list[str], none: str) -> str:
    """``a``, ``a and b``, ``a, b and c``; ``none`` for no items."""
    if len(items) < 2:
        return items[0] if items else none
    return f"{', '.join(items[:-1])} and {items[-1]}"


def booking_reference(entity: int, params: tuple[int, ...]) -> str:
    """A booking's reference number: eight letters and digits, fixed by the entity and the
    booking's parameters (like MultiWOZ's "YF86GE4J")."""
    digest = hashlib.blake2b(repr((entity, params)).encode(), digest_size=5).digest()
    return base64.b32encode(digest).decode()


#: "a" before a vowel sound: "a expensive" -> "an expensive", but "a european", "a unit", "a one"
_A_BEFORE_VOWEL = re.compile(r"\b([Aa]) (?=(?!eu|Eu|uni|Uni|use|Use|one|One)[aeiouAEIOU])")


def with_articles(text: str) -> str:
    """``text`` with "a" turned into "an" before a vowel sound.

    Why: templates say "a {food} restaurant" and values come from the scenario, so only the
    filled-in text can tell "a european restaurant" from "an expensive one".
    """
    return _A_BEFORE_VOWEL.sub(r"\1n ", text)
