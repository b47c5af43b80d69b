"""Compile a validated scenario into a Domain of plain indexed data, and load one in a call.

Why here, beside the Domain, and not in ``dialog_rl/scenario/``: the compiler builds a Domain, and
the scenario layer sits below the domain layer (it may import nothing of it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dialog_rl.domain.compiled import (
    TASK_SLOT_NAME,
    BehaviourParams,
    Booking,
    Domain,
    Domains,
    LifetimeParams,
    PersonaParams,
)
from dialog_rl.scenario.checks import flat_name, parts
from dialog_rl.scenario.loader import LoadedScenario, load_scenario
from dialog_rl.scenario.schema import ACT_KINDS


def compile_scenario(loaded: LoadedScenario) -> Domain:
    """Turn a validated scenario into a Domain of plain, indexed data.

    A multi-domain scenario becomes one flat catalog: domain after domain, its informable and
    requestable slots (named ``<domain>-<slot>``), its entities and its actions, each tagged with
    its domain; the shared actions come first. One domain is the same with one tag.
    """
    sc = loaded.scenario
    multi = sc.domains is not None
    domain_parts = parts(sc)
    part_rows = loaded.part_rows or (loaded.kb_rows,)
    rows = [row for rs in part_rows for row in rs]
    entity_domain = np.concatenate(
        [np.full(len(rs), d, dtype=np.int64) for d, rs in enumerate(part_rows)]
    )
    actions = [(a, -1) for a in sc.actions] if multi else []
    actions += [(a, d) for d, p in enumerate(domain_parts) for a in p.actions]
    tasks = tuple(dict.fromkeys(a.task for a, _ in actions if a.task))

    inf_names, inf_local, inf_values, slot_domain, slot_defs = [], [], [], [], []
    req_names, req_local, req_domain, req_defs = [], [], [], []
    is_book: list[bool] = []  # per informable slot: a booking parameter (not a KB column)
    for d, p in enumerate(domain_parts):
        for s in [*p.slots.informable, *p.slots.booking]:
            inf_names.append(flat_name(sc, p.name, s.name))
            inf_local.append(s.name)
            slot_domain.append(d)
            slot_defs.append(s)
            is_book.append(s in p.slots.booking)
            if s.values is not None:
                inf_values.append(tuple(s.values))
            else:
                inf_values.append(tuple(sorted({r[s.name] for r in part_rows[d] if r.get(s.name)})))
        for s in p.slots.requestable:
            req_names.append(flat_name(sc, p.name, s.name))
            req_local.append(s.name)
            req_domain.append(d)
            req_defs.append(s)
    kb_slots = tuple(s for s in range(len(inf_names)) if not is_book[s])
    task_slot = -1
    if tasks:
        task_slot = len(inf_names)
        inf_names.append(TASK_SLOT_NAME)
        inf_local.append(TASK_SLOT_NAME)
        inf_values.append(tasks)
        slot_domain.append(0)

    n_inf = len(inf_names)
    kb_values = np.full((len(rows), n_inf), -1, dtype=np.int32)
    index = [{v: i for i, v in enumerate(vals)} for vals in inf_values]
    for e, row in enumerate(rows):
        for s in kb_slots:
            if slot_domain[s] == entity_domain[e]:
                value = row.get(inf_local[s])
                if value:
                    kb_values[e, s] = index[s][value]
    kb_eq = tuple(
        tuple(np.ascontiguousarray(kb_values[:, s] == v) for v in range(len(inf_values[s]) + 1))
        for s in range(n_inf)
    )

    def slot_of(name: str, d: int, names: list[str], domains: list[int]) -> int:
        return next(i for i, n in enumerate(names) if n == name and domains[i] == d)

    task_idx = {t: i for i, t in enumerate(tasks)}
    act_kind, act_slot, act_task, act_requires, act_names = [], [], [], [], []
    for a, d in actions:
        act_kind.append(ACT_KINDS.index(a.act))
        if a.act == "inform" and a.slot:
            act_slot.append(slot_of(a.slot, d, req_local, req_domain))
        else:
            act_slot.append(slot_of(a.slot, d, inf_local, slot_domain) if a.slot else -1)
        act_task.append(task_idx[a.task] if a.task else -1)
        act_requires.append(tuple(slot_of(r, d, inf_local, slot_domain) for r in a.requires))
        arg = flat_name(sc, domain_parts[d].name, a.slot) if a.slot else a.task
        if multi and (
            a.act in ("offer", "book") or (a.act in ("inform", "request") and not a.slot)
        ):
            arg = domain_parts[d].name
        act_names.append(f"{a.act}({arg})" if arg else a.act)

    goals = sc.goals
    constraint_prob = tuple(
        domain_parts[slot_domain[s]].goals.constraints.get(inf_local[s], 0.0)
        if s != task_slot
        else 0.0
        for s in range(n_inf)
    )
    request_prob = tuple(
        domain_parts[req_domain[r]].goals.requests.get(req_local[r], 0.0)
        for r in range(len(req_names))
    )
    task_prob = tuple(goals.tasks.get(t, 0.0) for t in tasks)
    names = [p.name for p in domain_parts]
    if multi:
        mix = tuple(tuple(names.index(n) for n in m.domains) for m in goals.mix)
        mix_weights = np.array([m.weight for m in goals.mix], dtype=np.float64)
    else:
        mix, mix_weights = ((0,),), np.ones(1)
    carry_slots = np.full((len(goals.carry), len(names)), -1, dtype=np.int64)
    for c, carry in enumerate(goals.carry):
        for s in kb_slots:
            if inf_local[s] == carry.slot:
                carry_slots[c, slot_domain[s]] = s
    booking = _booking(domain_parts, inf_local, inf_values, slot_domain, is_book)
    weights = np.array([p.weight for p in sc.personas], dtype=np.float64)
    conf = sc.noise.confusion
    total = conf.act + conf.slot + conf.value
    confusion = (
        (1 / 3, 1 / 3, 1 / 3)
        if total == 0
        else (conf.act / total, conf.slot / total, conf.value / total)
    )
    inf_templates = [tuple(s.user_templates) for s in slot_defs]
    synonyms = [{k: tuple(v) for k, v in s.synonyms.items()} for s in slot_defs]
    if tasks:
        inf_templates.append(())
        synonyms.append({})
    name_fields = [p.kb.name_field for p in domain_parts]
    return Domain(
        name=sc.name,
        path=str(loaded.path),
        content_hash=loaded.content_hash,
        inf_names=tuple(inf_names),
        inf_values=tuple(inf_values),
        kb_slots=kb_slots,
        task_slot=task_slot,
        req_names=tuple(req_names),
        task_names=tasks,
        kb_values=kb_values,
        kb_rows=tuple(rows),
        kb_names=tuple(r[name_fields[entity_domain[e]]] for e, r in enumerate(rows)),
        kb_eq=kb_eq,
        act_kind=tuple(act_kind),
        act_slot=tuple(act_slot),
        act_task=tuple(act_task),
        act_requires=tuple(act_requires),
        act_names=tuple(act_names),
        act_templates=tuple(tuple(a.templates) for a, _ in actions),
        act_no_match=tuple(tuple(a.no_match_templates) for a, _ in actions),
        constraint_prob=constraint_prob,
        min_constraints=goals.min_constraints,
        request_prob=request_prob,
        task_prob=task_prob,
        satisfiable=goals.satisfiable,
        change_mind=goals.change_mind,
        relax=goals.on_no_match.relax,
        personas=tuple(
            PersonaParams(p.name, p.patience, p.cooperativeness, p.verbosity, p.multi_slot)
            for p in sc.personas
        ),
        persona_weights=weights / weights.sum(),
        error_rate=sc.noise.error_rate,
        confusion=confusion,
        conf_correct=sc.noise.confidence.correct,
        conf_wrong=sc.noise.confidence.wrong,
        conf_calibrated=sc.noise.confidence.calibrated,
        r_success=sc.reward.success,
        r_failure=sc.reward.failure,
        r_turn=sc.reward.turn,
        r_handover=sc.reward.handover,
        max_turns=sc.reward.max_turns,
        inf_templates=tuple(inf_templates),
        req_templates=tuple(tuple(s.user_templates) for s in req_defs),
        req_keywords=tuple(tuple(s.keywords) for s in req_defs),
        synonyms=tuple(synonyms),
        user_phrases={k: tuple(v) for k, v in sc.user_phrases.items()},
        lifetime=(
            LifetimeParams.from_schema(sc.lifetime, inf_names, [p.name for p in sc.personas])
            if sc.lifetime
            else None
        ),
        domains=Domains(
            names=tuple(names),
            slot=tuple(slot_domain),
            req=tuple(req_domain),
            entity=entity_domain,
            act=tuple(-1 if d < 0 or not multi else d for _, d in actions),
            inf_local=tuple(inf_local),
            req_local=tuple(req_local),
            mix=mix,
            mix_weights=mix_weights / mix_weights.sum(),
            carry_slots=carry_slots,
            carry_prob=tuple(c.prob for c in goals.carry),
            min_constraints=tuple(
                getattr(p.goals, "min_constraints", goals.min_constraints) for p in domain_parts
            ),
            satisfiable=tuple(p.goals.satisfiable for p in domain_parts),
        ),
        change=goals.on_no_match.change,
        booking=booking,
        behaviour=BehaviourParams.from_schema(sc.behaviour),
        bases=loaded.bases,
    )


def _booking(domain_parts, inf_local, inf_values, slot_domain, is_book) -> Booking:
    """Each domain's booking model as plain numbers, per informable slot and per domain."""
    n_inf = len(inf_local)
    prob, on_fail = [0.0] * n_inf, [0.0] * n_inf
    weights: list[tuple[float, ...]] = [()] * n_inf
    for s in range(n_inf):
        if s >= len(is_book) or not is_book[s]:
            continue
        book = domain_parts[slot_domain[s]].goals.book
        if book is None:
            continue
        name = inf_local[s]
        prob[s] = book.slots.get(name, 1.0) if book.slots else 1.0
        on_fail[s] = book.on_fail.get(name, 0.0) if book.on_fail else 1.0
        given = book.values.get(name, {})
        w = [float(given.get(v, 0.0 if given else 1.0)) for v in inf_values[s]]
        weights[s] = tuple(x / sum(w) for x in w)
    books = [p.goals.book for p in domain_parts]
    return Booking(
        slots=tuple(s for s in range(len(is_book)) if is_book[s]),
        rate=tuple(b.rate if b else 0.0 for b in books),
        available=tuple(b.available if b else 1.0 for b in books),
        available_after=tuple(b.available_after_change if b else 1.0 for b in books),
        prob=tuple(prob),
        weights=tuple(weights),
        on_fail=tuple(on_fail),
    )


def load_domain(path: str, kb_roots: Sequence[str | Path] = ()) -> Domain:
    """Load, validate and compile a scenario file (or a shipped scenario's name) in one call
    (``kb_roots``: see ``load_scenario``)."""
    return compile_scenario(load_scenario(path, kb_roots))
