# Whole on purpose: the scenario format in one place, keys in the order `validate --help` prints.
"""The scenario file format: pydantic models, validated strictly, with a docstring on every field.

A scenario is everything that makes one domain: slots, knowledge base, the agent's action catalog,
how customers' goals and personas are drawn, the noise between customer and agent, and the reward.
Cross-references (a slot named in a template, a goal or a KB row) are checked in
``model_validator``s so that the error carries the dotted path of the offending field.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
#: a slot across the scenario: its name, or in a multi-domain scenario ``<domain>-<slot>``
SlotRef = Annotated[
    str,
    Field(
        min_length=1, max_length=129, pattern=r"^[A-Za-z_][A-Za-z0-9_]*(-[A-Za-z_][A-Za-z0-9_]*)?$"
    ),
]

#: Placeholders every template may use besides slot names.
COMMON_PLACEHOLDERS = frozenset({"name", "value", "slot", "task", "ref", "answers", "slots"})

ACT_KINDS = (
    "greet",
    "request",
    "confirm",
    "offer",
    "inform",
    "perform",
    "reqmore",
    "repeat",
    "handover",
    "bye",
    "book",
)


class Strict(BaseModel):
    # allow_inf_nan=False: YAML's .nan and .inf (and 1e999) are refused where they are written,
    # rather than surfacing as a NaN reward or probability mid-run
    model_config = ConfigDict(
        extra="forbid", use_attribute_docstrings=True, frozen=True, allow_inf_nan=False
    )


class InformableSlot(Strict):
    """A constraint the customer may state, with the values it can take."""

    name: Name
    """Slot name, used by KB columns, templates, goals and actions."""
    values: list[str] | None = Field(default=None, min_length=1)
    """Values the slot can take. Omit to take the distinct values of the KB column."""
    user_templates: list[str] = Field(default_factory=list)
    """Customer phrasings of this constraint; `{value}` is the value. Several give paraphrases."""
    synonyms: dict[str, list[str]] = Field(default_factory=dict)
    """Other words customers use for a value (value -> phrases), for the text-level NLU."""


class RequestableSlot(Strict):
    """A piece of information about an entity the customer may ask for."""

    name: Name
    """Slot name; a KB column of the same name holds each entity's answer."""
    user_templates: list[str] = Field(default_factory=list)
    """Customer phrasings of the question, such as "what is the phone number?"."""
    keywords: list[str] = Field(default_factory=list)
    """Words that signal a question about this slot, for the text-level NLU."""


class Slots(Strict):
    """The slots of the domain."""

    informable: list[InformableSlot] = Field(min_length=1)
    """Constraints the customer states and the agent can request or confirm."""
    requestable: list[RequestableSlot] = Field(default_factory=list)
    """Facts about an entity that the customer may ask for and the agent can inform."""
    booking: list[InformableSlot] = Field(default_factory=list)
    """A booking's parameters (day, time, people, ...): informable slots the knowledge base does
    not hold, which the customer gives when asked or after choosing an entity, and a `book`
    action needs. `values` are required."""


class KnowledgeBase(Strict):
    """The entities the agent can query: inline rows or a CSV file beside the scenario."""

    file: str | None = None
    """CSV file (path relative to the scenario) with one column per slot plus the name column."""
    entities: list[dict[str, str | int | float]] | None = None
    """Inline rows: slot name -> value."""
    name_field: Name = "name"
    """Column that names an entity in offers."""

    @model_validator(mode="after")
    def _exactly_one_source(self) -> KnowledgeBase:
        if (self.file is None) == (self.entities is None):
            raise ValueError("give exactly one of `file` or `entities`")
        if self.entities is not None and not self.entities:
            raise ValueError("`entities` is empty: a knowledge base needs at least one row")
        return self


class Action(Strict):
    """One entry of the agent's action catalog."""

    act: Literal[ACT_KINDS]  # type: ignore[valid-type]
    """What the agent does: one of the act kinds greet, request, confirm, offer, inform, ..."""
    slot: Name | None = None
    """The slot it is about: informable for request and confirm, requestable for inform. An
    `inform` without one answers, in one turn, every attribute the agent heard the customer ask
    about (its templates say them with `{answers}`: "the address is ... and the phone is ...");
    a `request` without one asks, in one turn, for every slot that narrows the search and that
    the agent does not know yet (`{slots}`: "area, food and pricerange")."""
    task: Name | None = None
    """For `perform`: the task performed (start_return, refund, purchase, ...)."""
    requires: list[Name] = Field(default_factory=list)
    """For `perform`, `offer` and `book`: informable or booking slots the agent must know first
    (identity, say, or the day of a booking)."""
    templates: list[str] = Field(min_length=1)
    """Agent phrasings; placeholders are slot names, `{name}`, `{value}`, `{slot}`, `{task}`, and
    for `book` the booking's reference number `{ref}`; for an `inform` without a slot, the answers
    `{answers}`; for a `request` without one, the slots asked for, `{slots}`."""
    no_match_templates: list[str] = Field(default_factory=list)
    """For `offer`: what the agent says when no entity matches; for `book`: when the entity has
    nothing free for the booking's parameters."""

    @model_validator(mode="after")
    def _fields_fit_act(self) -> Action:
        needs_slot = self.act == "confirm"
        if needs_slot and self.slot is None:
            raise ValueError(f"a `{self.act}` action needs a `slot`")
        if not needs_slot and self.act not in ("inform", "request") and self.slot is not None:
            raise ValueError(f"a `{self.act}` action takes no `slot`")
        if (self.act == "perform") != (self.task is not None):
            raise ValueError("`task` goes with `perform` actions, and every `perform` needs one")
        if self.requires and self.act not in ("perform", "offer", "book"):
            raise ValueError("`requires` goes with `perform`, `offer` and `book` actions only")
        return self


class NoMatchBehaviour(Strict):
    """What the customer does when nothing in the KB meets their constraints (after checking
    that the agent understood them); the three probabilities sum to 1."""

    relax: Probability = 0.7
    """Probability of dropping one constraint ("any area is fine") and going on."""
    change: Probability = 0.0
    """Probability of changing one constraint to another value that some entity has with the
    rest of the goal ("how about Chinese instead?", MultiWOZ's ``fail_info``) and going on; when
    no single change would match, the customer drops the constraint instead."""
    hang_up: Probability = 0.3
    """Probability of giving up and hanging up."""

    @model_validator(mode="after")
    def _sums_to_one(self) -> NoMatchBehaviour:
        if abs(self.relax + self.change + self.hang_up - 1.0) > 1e-6:
            raise ValueError("`relax`, `change` and `hang_up` must sum to 1")
        return self


class BookingGoal(Strict):
    """How customers book (MultiWOZ's `book` and `fail_book`): who books, with what parameters,
    and what they change when the entity has nothing free."""

    rate: Probability
    """Probability that a customer books (in the domain) once they have chosen an entity."""
    slots: dict[Name, Probability] = Field(default_factory=dict)
    """Probability that a booking names each booking slot (default: every slot, always)."""
    values: dict[Name, dict[str, Annotated[float, Field(ge=0)]]] = Field(default_factory=dict)
    """Relative frequency of each value of a booking slot (default: uniform)."""
    available: Probability = 1.0
    """Probability that the customer's first choice (the entity, with the day, time, people ...
    of their goal) has room: a fixed draw per conversation, entity and parameters, so asking
    again gets the same answer (MultiWOZ's `fail_book` share)."""
    available_after_change: Probability = 1.0
    """The same for a booking with parameters other than the first choice (after the customer
    changed one): 1, as in MultiWOZ's goals, where the changed booking always finds room."""
    on_fail: dict[Name, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    """When a booking fails: relative frequency of the booking slot the customer changes to
    another value (default: each named slot alike)."""


class GoalMix(Strict):
    """One kind of multi-domain goal: the domains it spans, in the order the customer takes them."""

    domains: list[Name] = Field(min_length=1)
    """Domain names, in order (each at most once)."""
    weight: float = Field(gt=0)
    """Relative frequency of this kind of goal."""


class Carry(Strict):
    """A value a customer carries from one domain to a later one ("a hotel in the same area as
    the restaurant")."""

    slot: Name
    """A slot name declared by several domains."""
    prob: Probability
    """Probability that a later domain's constraint on it takes the value of the latest earlier
    domain that constrains it."""


class Goals(Strict):
    """How a customer's hidden goal is sampled."""

    constraints: dict[Name, Probability] = Field(default_factory=dict)
    """Probability that a customer constrains each informable slot."""
    min_constraints: int = Field(default=1, ge=0)
    """At least this many constraints per goal."""
    requests: dict[Name, Probability] = Field(default_factory=dict)
    """Probability that a customer asks for each requestable slot."""
    tasks: dict[Name, Probability] = Field(default_factory=dict)
    """Probability of each task; the rest of the mass is customers who only want information."""
    satisfiable: Probability = 0.9
    """Probability that the constraints are drawn from a real KB entity (else drawn at random)."""
    change_mind: Probability = 0.03
    """Per-turn probability that the customer changes one constraint."""
    on_no_match: NoMatchBehaviour = Field(default_factory=NoMatchBehaviour)
    """What the customer does when nothing matches."""
    mix: list[GoalMix] = Field(default_factory=list)
    """Multi-domain scenarios: the kinds of goal (domains, in order) and their frequencies."""
    carry: list[Carry] = Field(default_factory=list)
    """Multi-domain scenarios: values a customer carries from one domain to the next."""
    book: BookingGoal | None = None
    """Booking (a scenario with `slots.booking`): who books and how."""

    @model_validator(mode="after")
    def _task_mass(self) -> Goals:
        if sum(self.tasks.values()) > 1.0 + 1e-6:
            raise ValueError("task probabilities sum to more than 1")
        return self


class Closing(Strict):
    """How a customer whose goal is met ends the conversation: thanks, sometimes more."""

    bye: Probability = 0.3
    """Per closing turn: probability of an explicit good-bye after the thanks (real customers
    mostly thank alone)."""
    negate: Probability = 0.0
    """Per closing turn that is a turn of its own: probability of opening it with "no, that's
    all" (the answer to "anything else?", which real agents ask along with their last
    answer)."""
    again: Probability = 0.0
    """Probability that a customer who thanked (without a good-bye) waits for the agent's reply
    and closes again ("Thanks!" "Anything else?" "No, that's all."): the conversation then ends
    on the second closing (or on the agent's good-bye), not the first."""


class Behaviour(Strict):
    """What real customers do besides pursuing their goal, each a rate fitted to annotated
    dialogues by ``dialog-rl calibrate``. Every default keeps the customer as it was before the
    rate existed (and draws no random number), so a scenario without this section plays the same
    conversations."""

    correct: Probability = 0.0
    """Per turn, when the agent's belief holds a wrong value for a slot the customer has spoken
    of (and nothing in the turn corrects it already): probability of saying "no" and the right
    value, unprompted ("no, I said cheap"), even though the agent did not ask to confirm."""
    dontcare: Probability = 0.0
    """Per slot a customer could constrain but whose goal leaves it free: probability of saying
    "any <slot> is fine" unprompted, among the constraints (else only when asked)."""
    slots_per_turn: list[Annotated[float, Field(ge=0)]] = Field(default_factory=list, max_length=8)
    """Relative weights of saying 1, 2, ... pieces (constraints or questions, an answer to the
    agent's question included) in one turn, as far as the agenda has them; given, it replaces
    every persona's `multi_slot`. Empty: each persona's `multi_slot`."""
    alternative: Probability = 0.0
    """When offered an entity that meets their goal while others do too: probability of turning
    it down to hear another ("no, anything else?"), once per domain."""
    affirm_offer: Probability = 1.0
    """When accepting an offer: probability of saying "yes" (else the customer goes straight on
    to their next question or their thanks)."""
    affirm_answer: Probability = 0.0
    """When answering the agent's question (a request for a value their goal holds):
    probability of opening with "yes" ("Yes, in the centre"), as real customers answer a
    question put as "do you have an area in mind?"."""
    restate_booking: Probability = 1.0
    """When the agent answers a question or makes an offer while the booking it has every
    parameter of is not made yet: probability of saying the parameters again ("for 4, at 7pm,
    on Friday"); else the customer thanks for the answer or says yes to the offer, and waits.
    When the agent does anything else without booking, they always say them again."""
    affirm_rebook: Probability = 0.0
    """When the booking found no room and the customer changes a parameter: probability of
    opening with "yes" ("Yes, try 19:00"), as real customers answer "would another time work?"."""
    book_early: Probability = 1.0
    """For a customer who books: probability of giving the booking's parameters as soon as
    their constraints are said, before anything is offered (one draw per conversation and
    domain); else they hold them until they take an offer ("Yes, for 4 on Friday at 7pm"),
    unless the agent asks for them first."""
    book_together: Probability = 0.0
    """When volunteering a parameter of the booking (not asked for it): probability of saying
    every parameter not said yet in the same breath ("a table for 4 on Friday at 7pm"), which
    counts as one piece of the turn (`slots_per_turn`); else one parameter, a piece like any."""
    hello: Probability = 0.0
    """Probability of opening the conversation with a greeting ("Hi, ...")."""
    closing: Closing = Field(default_factory=Closing)
    """How a satisfied customer ends the conversation."""

    @model_validator(mode="after")
    def _some_weight(self) -> Behaviour:
        if self.slots_per_turn and not sum(self.slots_per_turn) > 0:
            raise ValueError("`slots_per_turn` needs at least one weight above 0")
        return self


class Persona(Strict):
    """A kind of customer."""

    name: Name
    """Label shown in logs and the TUI."""
    weight: float = Field(default=1.0, gt=0)
    """Relative frequency in the persona mix."""
    patience: tuple[int, int] = (15, 25)
    """Range (inclusive) of the patience budget: turns before hanging up; annoyances cost extra."""
    cooperativeness: Probability = 0.9
    """Probability of answering the agent's question rather than following their own agenda."""
    verbosity: Probability = 0.5
    """Probability of using a long phrasing (pleasantries around the content)."""
    multi_slot: Probability = 0.4
    """Probability of adding one more piece of information to a turn (repeatable); unused when
    `behaviour.slots_per_turn` is given."""

    @model_validator(mode="after")
    def _patience_range(self) -> Persona:
        lo, hi = self.patience
        if not 1 <= lo <= hi:
            raise ValueError("`patience` must be [low, high] with 1 <= low <= high")
        return self


class Confusion(Strict):
    """Relative weights of the kinds of error the channel makes."""

    act: float = Field(default=0.2, ge=0)
    """Weight of confusing the act type (inform heard as negate, say)."""
    slot: float = Field(default=0.3, ge=0)
    """Weight of confusing the slot."""
    value: float = Field(default=0.5, ge=0)
    """Weight of confusing the value."""


class Confidence(Strict):
    """Beta distributions of the confidence scores attached to observed acts."""

    correct: tuple[float, float] = (6.0, 1.5)
    """Beta(a, b) for acts that came through correctly."""
    wrong: tuple[float, float] = (2.0, 2.5)
    """Beta(a, b) for acts the channel corrupted."""
    calibrated: bool = False
    """Report each act's probability of being right instead of the raw score: the posterior
    given the score, the two Betas and the error rate (expected calibration error near 0). Off
    by default: the shipped scenarios' figures were measured with raw scores."""

    @model_validator(mode="after")
    def _positive(self) -> Confidence:
        for name in ("correct", "wrong"):
            if min(getattr(self, name)) <= 0:
                raise ValueError(f"`{name}`: both Beta parameters must be > 0")
        return self


class Noise(Strict):
    """The channel between what the customer means and what the agent observes."""

    error_rate: Probability = 0.15
    """Probability that each user act is corrupted (PyDial benchmarks 0, 0.15, 0.3)."""
    confusion: Confusion = Field(default_factory=Confusion)
    """Kinds of corruption."""
    confidence: Confidence = Field(default_factory=Confidence)
    """Confidence scores the agent sees."""


class Reward(Strict):
    """Reward the agent receives."""

    success: float = 20.0
    """Bonus when the conversation ends with the customer's goal met."""
    failure: float = 0.0
    """Added when the conversation ends (bye or hang-up) without the goal met."""
    turn: float = -1.0
    """Added every turn (a cost, so negative)."""
    handover: float = 0.0
    """Added when the agent hands the customer over to a human."""
    max_turns: int = Field(default=25, ge=1, le=1000)
    """Turn limit; reaching it truncates the conversation (it does not terminate it)."""


class Satisfaction(Strict):
    """How one conversation moves a customer's satisfaction (weights of a linear score)."""

    success: float = 1.0
    """Added when the conversation met the goal."""
    failure: float = -1.0
    """Added when it ended without meeting the goal (hang-up, bye, turn limit)."""
    handover: float = -0.3
    """Added when the customer was handed over to a human."""
    turn: float = -0.04
    """Added per turn: long conversations tire customers."""
    annoyance: float = -0.15
    """Added per annoyance: repeated questions, wrong offers, wrong actions, "say that again"."""


class PersonaSatisfaction(Strict):
    """How one persona scores a conversation where it differs from ``lifetime.satisfaction``:
    each weight given replaces the common one for that persona."""

    success: float | None = None
    """This persona's weight for a conversation that met the goal."""
    failure: float | None = None
    """... for one that ended without meeting it."""
    handover: float | None = None
    """... for a hand-over to a human."""
    turn: float | None = None
    """... per turn."""
    annoyance: float | None = None
    """... per annoyance."""


class Lifetime(Strict):
    """Returning customers: each conversation's experience changes whether, when and how the
    customer comes back. A customer's lifetime is the sequence of their conversations."""

    horizon_days: int = Field(default=365, ge=1, le=10_000)
    """Length of a lifetime in days: no visit happens after it."""
    max_visits: int = Field(default=20, ge=1, le=1000)
    """At most this many conversations per lifetime (reaching it truncates the lifetime)."""
    annual_discount: float = Field(default=0.9, gt=0, le=1)
    """Discount of value per year; lifetime value discounts each visit's reward by its day."""
    satisfaction: Satisfaction = Field(default_factory=Satisfaction)
    """Weights of the satisfaction score of one conversation."""
    persona_satisfaction: dict[Name, PersonaSatisfaction] = Field(default_factory=dict)
    """Per persona, the weights that differ from ``satisfaction``: a frustrated customer minds
    each turn more (``frustrated: {turn: -0.12}``). Keys are persona names."""
    memory: Probability = 0.5
    """How much the latest conversation moves trust: trust <- (1-m) trust + m satisfaction."""
    return_bias: float = 0.5
    """Log-odds of coming back at neutral trust."""
    return_slope: float = 2.5
    """Change in the log-odds of coming back per unit of trust."""
    mean_gap_days: float = Field(default=30.0, gt=0)
    """Mean days to the next visit at neutral trust (exponentially distributed)."""
    gap_slope: float = 0.5
    """Trusting customers come back sooner: the mean gap is scaled by exp(-gap_slope * trust)."""
    patience_slope: float = 0.3
    """Next visit's patience is scaled by 1 + patience_slope * trust (clipped to [0.5, 1.5])."""
    cooperativeness_slope: float = 0.1
    """Next visit's cooperativeness shifts by cooperativeness_slope * trust."""
    persistent: list[SlotRef] = Field(default_factory=list)
    """Informable slots that stay the customer's own across visits (their email, say); in a
    multi-domain scenario named ``<domain>-<slot>`` (``hotel-type``)."""


class DomainGoals(Strict):
    """How a goal's part in one domain of a multi-domain scenario is drawn."""

    constraints: dict[Name, Probability]
    """Probability that a customer constrains each informable slot of the domain."""
    min_constraints: int = Field(default=1, ge=0)
    """At least this many constraints in the domain."""
    requests: dict[Name, Probability] = Field(default_factory=dict)
    """Probability that a customer asks for each requestable slot of the domain."""
    satisfiable: Probability = 0.9
    """Probability that the constraints are drawn from a real entity of the domain's KB."""
    book: BookingGoal | None = None
    """Booking (a domain with `slots.booking`): who books and how."""


class DomainSpec(Strict):
    """One domain of a multi-domain scenario: its slots, knowledge base and actions."""

    name: Name
    """Domain name (restaurant, hotel, ...): goals name it, and its slots are named
    ``<domain>-<slot>`` in action names, observations and logs."""
    slots: Slots
    """The domain's informable and requestable slots. A slot name another domain also lists
    `values` for must list the same values there (the hotel's and the restaurant's `area`); a
    slot whose values come from the domain's KB is the domain's own."""
    kb: KnowledgeBase
    """The domain's entities."""
    actions: list[Action] = Field(min_length=1)
    """The domain's actions (request, confirm, offer, inform); the shared ones (greet, reqmore,
    repeat, handover, bye) go in the scenario's own `actions`."""
    goals: DomainGoals
    """How a goal's part in this domain is drawn."""


class Scenario(Strict):
    """A whole scenario, as written in ``scenarios/*.yaml``: one domain (``slots``, ``kb``,
    ``actions``, ``goals``) or several (``domains``, shared ``actions``, ``goals.mix``)."""

    extends: str | None = None
    """A scenario this file is an overlay of (a path relative to this file, e.g.
    `restaurant.yaml`): its keys are read first, then this file's replace them; mappings are
    merged key by key, `actions` action by action (by act, slot and task: a new one is added),
    other lists and values replaced whole. Errors name the file that wrote the key."""
    name: Name
    """Short name of the scenario."""
    description: str = ""
    """What the scenario models."""
    slots: Slots | None = None
    """Informable and requestable slots (one-domain scenarios)."""
    kb: KnowledgeBase | None = None
    """Entities the agent queries (one-domain scenarios)."""
    domains: list[DomainSpec] | None = Field(default=None, min_length=2)
    """The domains of a multi-domain scenario (instead of `slots` and `kb`)."""
    actions: list[Action] = Field(min_length=1)
    """The agent's action catalog (in a multi-domain scenario: the actions all domains share)."""
    goals: Goals
    """How customers' goals are drawn."""
    personas: list[Persona] = Field(min_length=1)
    """The persona mix."""
    noise: Noise = Field(default_factory=Noise)
    """The channel between customer and agent."""
    reward: Reward = Field(default_factory=Reward)
    """Reward and turn limit."""
    user_phrases: dict[str, list[str]] = Field(default_factory=dict)
    """Extra customer phrasings per act (hello, affirm, negate, bye, thank, dontcare), for NLG."""
    lifetime: Lifetime | None = None
    """Returning customers (optional): how experience drives their next visits."""
    behaviour: Behaviour = Field(default_factory=Behaviour)
    """What customers do besides pursuing their goal: corrections, "don't care", several slots a
    turn, asking for alternatives, greetings and closings (defaults: none of these)."""

    @model_validator(mode="after")
    def _one_or_several_domains(self) -> Scenario:
        if self.domains is None:
            if self.slots is None or self.kb is None:
                missing = "slots" if self.slots is None else "kb"
                raise ValueError(f"a scenario needs `{missing}` (or `domains`)")
            if not self.goals.constraints:
                raise ValueError("`goals.constraints` is empty: name at least one slot")
        elif self.slots is not None or self.kb is not None:
            raise ValueError("a multi-domain scenario declares `slots` and `kb` in each domain")
        elif not self.goals.mix:
            raise ValueError("a multi-domain scenario needs `goals.mix`")
        return self
