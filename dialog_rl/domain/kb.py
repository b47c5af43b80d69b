"""Knowledge-base queries over a compiled Domain: which entities match a set of slot values."""

from __future__ import annotations

import numpy as np

from dialog_rl.domain.compiled import Domain


def match_mask(domain: Domain, values: list[int] | tuple[int, ...], dom: int = 0) -> np.ndarray:
    """Boolean mask of the KB entities of domain ``dom`` consistent with ``values`` (per
    informable slot; -1 = unknown).

    Unknown and ``dontcare`` values constrain nothing; the task pseudo-slot is not a KB column.
    """
    mask = domain.domains.entity == dom
    for s in domain.kb_slots:
        v = values[s]
        if domain.domains.slot[s] == dom and 0 <= v < len(domain.inf_values[s]):
            eq = domain.kb_eq[s][v]
            mask = mask & eq
    return mask


def first_match(
    domain: Domain, values: list[int] | tuple[int, ...], exclude: tuple[int, ...] = (), dom: int = 0
) -> int:
    """The first entity of domain ``dom`` consistent with ``values``, skipping ``exclude``; -1 if
    none."""
    hits = np.flatnonzero(match_mask(domain, values, dom))
    for e in hits:
        if int(e) not in exclude:
            return int(e)
    return -1


def mismatches(domain: Domain, entity: int, constraints: list[int] | tuple[int, ...]) -> list[int]:
    """Informable KB slots of its domain where ``entity`` violates ``constraints`` (-1 /
    dontcare ignored)."""
    row = domain.kb_values[entity]
    dom = domain.domains.entity[entity]
    out = []
    for s in domain.kb_slots:
        v = constraints[s]
        if domain.domains.slot[s] == dom and 0 <= v < len(domain.inf_values[s]) and row[s] != v:
            out.append(s)
    return out
