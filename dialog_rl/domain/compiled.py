"""The compiled Domain: a scenario as plain indexed data (ints, tuples, numpy arrays) for hot loops.

Names became indices once, in ``compiler.py``; the simulator, tracker and policies only see ints.
Informable slots are numbered in file order; if the scenario has tasks, one extra informable
pseudo-slot named ``task`` (values: the task names) comes last, so telling the agent what you
want done is an ordinary ``inform``. Each informable slot ``s`` has a ``dontcare`` value with index
``len(values[s])``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dialog_rl.scenario.schema import Behaviour, Lifetime

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
class BehaviourParams:
    """What customers do besides pursuing their goal, as plain numbers (see
    ``schema.Behaviour``); the defaults are a customer without any of it."""

    correct: float = 0.0
    dontcare: float = 0.0
    slots_per_turn: tuple[float, ...] = ()  # normalised weights of 1, 2, ... pieces; () none
    alternative: float = 0.0
    affirm_offer: float = 1.0
    affirm_answer: float = 0.0
    restate_booking: float = 1.0
    affirm_rebook: float = 0.0
    book_early: float = 1.0
    book_together: float = 0.0
    hello: float = 0.0
    bye: float = 0.3
    closing_negate: float = 0.0
    closing_again: float = 0.0

    @classmethod
    def from_schema(cls, b: Behaviour) -> BehaviourParams:
        total = sum(b.slots_per_turn)
        return cls(
            correct=b.correct,
            dontcare=b.dontcare,
            slots_per_turn=tuple(w / total for w in b.slots_per_turn) if total > 0 else (),
            alternative=b.alternative,
            affirm_offer=b.affirm_offer,
            affirm_answer=b.affirm_answer,
            restate_booking=b.restate_booking,
            affirm_rebook=b.affirm_rebook,
            book_early=b.book_early,
            book_together=b.book_together,
            hello=b.hello,
            bye=b.closing.bye,
            closing_negate=b.closing.negate,
            closing_again=b.closing.again,
        )


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
class Booking:
    """How customers book, as plain numbers (see ``schema.BookingGoal``); empty: no booking."""

    slots: tuple[int, ...] = ()  # the informable slots that are booking parameters
    rate: tuple[float, ...] = (0.0,)  # per domain: probability a customer books there
    available: tuple[float, ...] = (1.0,)  # per domain: probability the first choice has room
    available_after: tuple[float, ...] = (1.0,)  # per domain: the same for other parameters
    prob: tuple[float, ...] = ()  # per informable slot: probability a booking names it
    weights: tuple[tuple[float, ...], ...] = ()  # per informable slot: its values' probabilities
    on_fail: tuple[float, ...] = ()  # per informable slot: weight of changing it after a failure

    @property
    def on(self) -> bool:
        """Whether the scenario has booking at all."""
        return bool(self.slots)


@dataclass(frozen=True)
class Domains:
    """Which domain each slot, entity and action belongs to (one domain: every tag 0), and how
    goals span domains."""

    names: tuple[str, ...]
    slot: tuple[int, ...]  # per informable slot (the task pseudo-slot: 0)
    req: tuple[int, ...]  # per requestable slot
    entity: np.ndarray  # int64 per entity
    act: tuple[int, ...]  # per action; -1: shared by every domain (greet, bye, ...)
    inf_local: tuple[str, ...]  # each informable slot's name within its domain (``area``)
    req_local: tuple[str, ...]
    mix: tuple[tuple[int, ...], ...]  # kinds of goal: the domains, in order
    mix_weights: np.ndarray  # their probabilities
    carry_slots: np.ndarray  # int64 [n_carry, n_domains]: the carried slot in each domain, -1
    carry_prob: tuple[float, ...]
    min_constraints: tuple[int, ...]  # per domain
    satisfiable: tuple[float, ...]  # per domain

    @property
    def n(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class Domain:
    """A compiled scenario: everything the simulator, environment and policies need, as plain data."""

    name: str
    path: str
    content_hash: str
    # slots
    inf_names: tuple[str, ...]
    inf_values: tuple[tuple[str, ...], ...]
    kb_slots: tuple[int, ...]  # informable slots that are KB columns (not booking parameters)
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
    relax: float  # on no match: drop a constraint; then ``change`` one; the rest hang up
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
    # the domains (one for a one-domain scenario)
    domains: Domains | None = None
    # the act channel reports calibrated confidences (``noise.confidence.calibrated``)
    conf_calibrated: bool = False
    # on no match: probability of changing a constraint (after ``relax``, before hanging up)
    change: float = 0.0
    # what customers do besides pursuing their goal
    behaviour: BehaviourParams = field(default_factory=BehaviourParams)
    # the names of the scenarios this one extends (an overlay's), the nearest first
    bases: tuple[str, ...] = ()
    # how customers book (empty: the scenario has no booking)
    booking: Booking = field(default_factory=Booking)

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
