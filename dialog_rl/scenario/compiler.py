"""Compile a validated scenario into plain indexed data (ints, tuples, numpy arrays) for hot loops.

Names become indices once, here; the simulator, tracker and policies then only see ints.
Informable slots are numbered in file order; if the scenario has tasks, one extra informable
pseudo-slot named ``task`` (values: the task names) comes last, so telling the agent what you
want done is an ordinary ``inform``. Each informable slot ``s`` has a ``dontcare`` value with index
``len(values[s])``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dialog_rl.scenario.loader import LoadedScenario
from dialog_rl.scenario.schema import ACT_KINDS, Lifetime

TASK_SLOT_NAME = "task"


@dataclass(frozen=True)
class PersonaParams:
    """One persona, as plain numbers."""

    name: str
    patience: tuple[int, int]
    cooperativeness: float
    verbosity: float
    multi_slot: float


@dataclass(frozen=True)
class LifetimeParams:
    """Returning-customer model, as plain numbers (see ``schema.Lifetime`` for meanings)."""

    horizon_days: int
    max_visits: int
    day_discount: float  # per-day discount: annual_discount ** (1 / 365)
    # per persona (scenario order): (success, failure, handover, turn, annoyance) weights of the
    # satisfaction score, the persona's own where `persona_satisfaction` sets them
    satisfaction: tuple[tuple[float, float, float, float, float], ...]
    memory: float
    return_bias: float
    return_slope: float
    mean_gap_days: float
    gap_slope: float
    patience_slope: float
    cooperativeness_slope: float
    persistent: tuple[int, ...]  # informable slots a customer keeps across visits

    @classmethod
    def from_schema(
        cls, lt: Lifetime, inf_names: list[str], persona_names: list[str]
    ) -> LifetimeParams:
        common = lt.satisfaction.model_dump()  # in field order: success ... annoyance
        per_persona = []
        for name in persona_names:
            own = lt.persona_satisfaction.get(name)
            mine = own.model_dump(exclude_none=True) if own is not None else {}
            per_persona.append(tuple({**common, **mine}.values()))
        return cls(
            lt.horizon_days,
            lt.max_visits,
            lt.annual_discount ** (1 / 365),
            tuple(per_persona),
            lt.memory,
            lt.return_bias,
            lt.return_slope,
            lt.mean_gap_days,
            lt.gap_slope,
            lt.patience_slope,
            lt.cooperativeness_slope,
            tuple(inf_names.index(n) for n in lt.persistent),
        )


@dataclass(frozen=True)
class Domain:
    """A compiled scenario: everything the simulator, environment and policies need, as plain data."""

    name: str
    path: str
    content_hash: str
    # slots
    inf_names: tuple[str, ...]
    inf_values: tuple[tuple[str, ...], ...]
    kb_slots: tuple[int, ...]  # informable slots that are KB columns
    task_slot: int  # index of the task pseudo-slot, or -1
    req_names: tuple[str, ...]
    task_names: tuple[str, ...]
    # knowledge base
    kb_values: np.ndarray  # int32 [n_entities, n_informable], -1 where the row has no value
    kb_rows: tuple[dict[str, str], ...]  # text of each row, for NLG and inform
    kb_names: tuple[str, ...]
    kb_eq: tuple[tuple[np.ndarray, ...], ...]  # kb_eq[s][v]: bool mask of entities with value v
    # action catalog
    act_kind: tuple[int, ...]
    act_slot: tuple[int, ...]  # informable (request/confirm) or requestable (inform) index, or -1
    act_task: tuple[int, ...]
    act_requires: tuple[tuple[int, ...], ...]
    act_names: tuple[str, ...]
    act_templates: tuple[tuple[str, ...], ...]
    act_no_match: tuple[tuple[str, ...], ...]
    # goals
    constraint_prob: tuple[float, ...]  # per informable slot (0 for the task slot)
    min_constraints: int
    request_prob: tuple[float, ...]
    task_prob: tuple[float, ...]
    satisfiable: float
    change_mind: float
    relax: float
    # personas
    personas: tuple[PersonaParams, ...]
    persona_weights: np.ndarray
    # noise
    error_rate: float
    confusion: tuple[float, float, float]  # act, slot, value; normalised
    conf_correct: tuple[float, float]
    conf_wrong: tuple[float, float]
    # reward
    r_success: float
    r_failure: float
    r_turn: float
    r_handover: float
    max_turns: int
    # language
    inf_templates: tuple[tuple[str, ...], ...]
    req_templates: tuple[tuple[str, ...], ...]
    req_keywords: tuple[tuple[str, ...], ...]
    synonyms: tuple[dict[str, tuple[str, ...]], ...]
    user_phrases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # returning customers (None when the scenario has no `lifetime` section)
    lifetime: LifetimeParams | None = None

    @property
    def n_inf(self) -> int:
        return len(self.inf_names)

    @property
    def n_req(self) -> int:
        return len(self.req_names)

    @property
    def n_actions(self) -> int:
        return len(self.act_kind)

    @property
    def n_entities(self) -> int:
        return len(self.kb_rows)

    def dontcare(self, slot: int) -> int:
        """The value index meaning "any value" for an informable slot."""
        return len(self.inf_values[slot])

    def value_name(self, slot: int, value: int) -> str:
        values = self.inf_values[slot]
        return values[value] if 0 <= value < len(values) else "dontcare"

    def action_index(self, name: str) -> int:
        """Index of an action by its catalog name, such as ``request(area)``."""
        try:
            return self.act_names.index(name)
        except ValueError:
            raise KeyError(f"no action {name!r} in scenario {self.name!r}") from None


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
