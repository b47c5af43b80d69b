"""Compile a validated scenario into a Domain of plain indexed data, and load one in a call.

Why here, beside the Domain, and not in ``dialog_rl/scenario/``: the compiler builds a Domain, and
the scenario layer sits below the domain layer (it may import nothing of it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dialog_rl.domain.compiled import TASK_SLOT_NAME, Domain, LifetimeParams, PersonaParams
from dialog_rl.scenario.loader import LoadedScenario, load_scenario
from dialog_rl.scenario.schema import ACT_KINDS


def compile_scenario(loaded: LoadedScenario) -> Domain:
    """Turn a validated scenario into a Domain of plain, indexed data."""
    sc = loaded.scenario
    rows = loaded.kb_rows
    tasks = tuple(dict.fromkeys(a.task for a in sc.actions if a.task))
    inf_names = [s.name for s in sc.slots.informable]
    inf_values = []
    for s in sc.slots.informable:
        if s.values is not None:
            inf_values.append(tuple(s.values))
        else:
            inf_values.append(tuple(sorted({r[s.name] for r in rows if r.get(s.name)})))
    kb_slots = tuple(range(len(inf_names)))
    task_slot = -1
    if tasks:
        task_slot = len(inf_names)
        inf_names.append(TASK_SLOT_NAME)
        inf_values.append(tasks)
    req_names = tuple(s.name for s in sc.slots.requestable)

    n_inf = len(inf_names)
    kb_values = np.full((len(rows), n_inf), -1, dtype=np.int32)
    index = [{v: i for i, v in enumerate(vals)} for vals in inf_values]
    for e, row in enumerate(rows):
        for s in kb_slots:
            value = row.get(inf_names[s])
            if value:
                kb_values[e, s] = index[s][value]
    kb_eq = tuple(
        tuple(np.ascontiguousarray(kb_values[:, s] == v) for v in range(len(inf_values[s]) + 1))
        for s in range(n_inf)
    )

    inf_idx = {n: i for i, n in enumerate(inf_names)}
    req_idx = {n: i for i, n in enumerate(req_names)}
    task_idx = {t: i for i, t in enumerate(tasks)}
    act_kind, act_slot, act_task, act_requires, act_names = [], [], [], [], []
    for a in sc.actions:
        act_kind.append(ACT_KINDS.index(a.act))
        if a.act == "inform":
            act_slot.append(req_idx[a.slot])
        else:
            act_slot.append(inf_idx[a.slot] if a.slot else -1)
        act_task.append(task_idx[a.task] if a.task else -1)
        act_requires.append(tuple(inf_idx[r] for r in a.requires))
        arg = a.slot or a.task
        act_names.append(f"{a.act}({arg})" if arg else a.act)

    goals = sc.goals
    constraint_prob = tuple(goals.constraints.get(n, 0.0) for n in inf_names)
    request_prob = tuple(goals.requests.get(n, 0.0) for n in req_names)
    task_prob = tuple(goals.tasks.get(t, 0.0) for t in tasks)
    weights = np.array([p.weight for p in sc.personas], dtype=np.float64)
    conf = sc.noise.confusion
    total = conf.act + conf.slot + conf.value
    confusion = (
        (1 / 3, 1 / 3, 1 / 3)
        if total == 0
        else (conf.act / total, conf.slot / total, conf.value / total)
    )
    inf_templates = [tuple(s.user_templates) for s in sc.slots.informable]
    synonyms = [{k: tuple(v) for k, v in s.synonyms.items()} for s in sc.slots.informable]
    if tasks:
        inf_templates.append(())
        synonyms.append({})
    return Domain(
        name=sc.name,
        path=str(loaded.path),
        content_hash=loaded.content_hash,
        inf_names=tuple(inf_names),
        inf_values=tuple(inf_values),
        kb_slots=kb_slots,
        task_slot=task_slot,
        req_names=req_names,
        task_names=tasks,
        kb_values=kb_values,
        kb_rows=tuple(rows),
        kb_names=tuple(r[sc.kb.name_field] for r in rows),
        kb_eq=kb_eq,
        act_kind=tuple(act_kind),
        act_slot=tuple(act_slot),
        act_task=tuple(act_task),
        act_requires=tuple(act_requires),
        act_names=tuple(act_names),
        act_templates=tuple(tuple(a.templates) for a in sc.actions),
        act_no_match=tuple(tuple(a.no_match_templates) for a in sc.actions),
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
        r_success=sc.reward.success,
        r_failure=sc.reward.failure,
        r_turn=sc.reward.turn,
        r_handover=sc.reward.handover,
        max_turns=sc.reward.max_turns,
        inf_templates=tuple(inf_templates),
        req_templates=tuple(tuple(s.user_templates) for s in sc.slots.requestable),
        req_keywords=tuple(tuple(s.keywords) for s in sc.slots.requestable),
        synonyms=tuple(synonyms),
        user_phrases={k: tuple(v) for k, v in sc.user_phrases.items()},
        lifetime=(
            LifetimeParams.from_schema(sc.lifetime, inf_names, [p.name for p in sc.personas])
            if sc.lifetime
            else None
        ),
    )


def load_domain(path: str, kb_roots: Sequence[str | Path] = ()) -> Domain:
    """Load, validate and compile a scenario file (or a shipped scenario's name) in one call
    (``kb_roots``: see ``load_scenario``)."""
    return compile_scenario(load_scenario(path, kb_roots))
