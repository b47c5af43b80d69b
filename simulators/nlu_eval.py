"""How well the text channel's NLU recovers what the customer meant: scores and a turn generator.

``nlu_accuracy`` plays simulated customers against a scripted, deliberately erratic agent (it asks,
confirms right and wrong values, offers good and bad entities, informs, performs, repeats), so that
every kind of customer turn occurs; each turn's true acts are compared with what ``RuleNLU`` reads
from the (noisy) utterance. In a scenario of several domains the NLU is told the domain the
conversation is in as the agent's tracker would know it (``ActiveDomain``). The agent lives here, not in ``dialog_rl.policies``, because
simulators must not import policies (DESIGN.md layering).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from dialog_rl.acts import (
    INFORM,
    N_USER_ACTS,
    REQUEST,
    SYS_CONFIRM,
    SYS_INFORM,
    SYS_OFFER,
    SYS_REQUEST,
    USER_ACT_NAMES,
)
from dialog_rl.domain import Domain, first_match
from simulators import customer
from simulators.confidence_map import ConfidenceMap
from simulators.confidence_map import fit as fit_map
from simulators.customer_nlg import UserNLG
from simulators.customer_state import ONGOING, Customers, as_struct, customers, tables
from simulators.nlu import RuleNLU, TextNoise


@dataclass(frozen=True)
class NLUScore:
    """Agreement between true and parsed acts over a set of customer turns."""

    turns: int
    """Turns scored (turns with no true act, such as silence at a hand-over, are skipped)."""
    act_type_accuracy: float
    """Share of turns whose set of act types (inform, request, affirm, ...) is exactly right."""
    slot_precision: float
    """Of the parsed slot items (inform slot=value, request slot), the share that are true."""
    slot_recall: float
    """Of the true slot items, the share the NLU found."""
    slot_f1: float
    """Harmonic mean of slot precision and recall."""
    exact_turn: float
    """Share of turns whose whole set of acts (type, slot, value) is exactly right."""
    type_f1: dict[str, float] = field(default_factory=dict)
    """Per act type, F1 of detecting it in a turn."""
    conf_right: float = float("nan")
    """Mean confidence of parsed acts that are true (when parsed acts carry a confidence)."""
    conf_wrong: float = float("nan")
    """Mean confidence of parsed acts that are not: well below ``conf_right`` if it is useful."""


def slot_items(acts: Iterable[Sequence[int]]) -> set[tuple[int, int, int]]:
    """The slot-bearing part of a turn: inform (slot, value) and request (slot) items."""
    return {(a[0], a[1], a[2] if a[0] == INFORM else -1) for a in acts if a[0] in (INFORM, REQUEST)}


def score_turns(
    truth: Sequence[Iterable[Sequence[int]]], parsed: Sequence[Iterable[Sequence[int]]]
) -> NLUScore:
    """Score parsed turns against true turns (acts are ``(type, slot, value[, confidence])``)."""
    if len(truth) != len(parsed):
        raise ValueError(f"{len(truth)} true turns but {len(parsed)} parsed ones")
    n = type_ok = exact = tp = fp = fn = 0
    type_counts = np.zeros((N_USER_ACTS, 3), dtype=np.int64)  # tp, fp, fn per act type
    conf_right: list[float] = []
    conf_wrong: list[float] = []
    for true_acts, got_acts in zip(truth, parsed):
        true_acts, got_acts = list(true_acts), list(got_acts)
        if not true_acts:
            continue
        n += 1
        t_types, g_types = {a[0] for a in true_acts}, {a[0] for a in got_acts}
        type_ok += t_types == g_types
        for k in range(N_USER_ACTS):
            type_counts[k] += (
                k in t_types and k in g_types,
                k in g_types - t_types,
                k in t_types - g_types,
            )
        t_items, g_items = slot_items(true_acts), slot_items(got_acts)
        tp += len(t_items & g_items)
        fp += len(g_items - t_items)
        fn += len(t_items - g_items)
        true_set = {tuple(a[:3]) for a in true_acts}
        exact += true_set == {tuple(a[:3]) for a in got_acts}
        for a in got_acts:
            if len(a) > 3:
                (conf_right if tuple(a[:3]) in true_set else conf_wrong).append(a[3])
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    type_f1 = {}
    for k, (a, b, c) in enumerate(type_counts):
        if a + b + c:
            type_f1[USER_ACT_NAMES[k]] = float(2 * a / (2 * a + b + c))
    return NLUScore(
        turns=n,
        act_type_accuracy=type_ok / max(n, 1),
        slot_precision=precision,
        slot_recall=recall,
        slot_f1=f1,
        exact_turn=exact / max(n, 1),
        type_f1=type_f1,
        conf_right=float(np.mean(conf_right)) if conf_right else float("nan"),
        conf_wrong=float(np.mean(conf_wrong)) if conf_wrong else float("nan"),
    )


def generate_turns(
    domain: Domain, episodes: int, seed: int
) -> list[tuple[list[tuple[int, int, int]], str]]:
    """Customer turns ``(true acts, utterance)`` from ``episodes`` conversations with an erratic
    scripted agent; one seed decides everything."""
    return [(acts, text) for acts, text, _ in conversation_turns(domain, episodes, seed)]


def conversation_turns(
    domain: Domain, episodes: int, seed: int
) -> list[tuple[list[tuple[int, int, int]], str, int]]:
    """``generate_turns`` with the agent's action each turn answers: ``(true acts, utterance,
    action)``, action -1 on a conversation's opening turn."""
    d = domain
    streams = np.random.SeedSequence(seed).spawn(3)
    user_seed, agent_rng, text_rng = (np.random.default_rng(s) for s in streams)
    c, nlg = customers(d, 1), UserNLG(d)
    t, ref = as_struct(tables(d, 0.0)), as_struct(c)

    def said() -> list[tuple[int, int, int]]:
        return [tuple(a) for a in c.out[0, : c.out_n[0]].tolist()]

    turns = []
    for _ in range(episodes):
        customer.start(t, ref, 0, np.uint64(user_seed.integers(1 << 63)), True, -1, 1.0, 0.0)
        verbosity = d.personas[int(c.persona[0])].verbosity
        turns.append((said(), nlg.realise(said(), text_rng, verbosity), -1))
        for turn in range(1, d.max_turns + 1):
            action = int(agent_rng.integers(d.n_actions))
            value, entity = _arguments(d, c, action, agent_rng)
            c.ukey[0], c.ctr[0] = turn, 0
            customer.respond(t, ref, 0, action, value, entity, c.cons[0].copy())
            turns.append((said(), nlg.realise(said(), text_rng, verbosity), action))
            if c.outcome[0] != ONGOING:
                break
    return turns


def _arguments(d: Domain, c: Customers, action: int, rng: np.random.Generator) -> tuple:
    """The value a confirm asks about and the entity an act is about: right about half the time."""
    kind, slot = d.act_kind[action], d.act_slot[action]
    value = -1
    goal = c.cons[0].tolist()
    accepted = int(c.accepted[0, 0])
    entity = accepted if accepted >= 0 else int(rng.integers(d.n_entities))
    if kind == SYS_CONFIRM:
        wanted = goal[slot]
        value = (
            wanted
            if wanted >= 0 and rng.random() < 0.5
            else int(rng.integers(len(d.inf_values[slot]) + 1))
        )
    elif kind == SYS_REQUEST and slot < 0:  # asks for every slot that narrows the search
        value = sum(1 << s for s in d.kb_slots if d.constraint_prob[s] > 0)
    elif kind == SYS_INFORM and slot < 0:  # answers all the customer wants
        value = sum(1 << r for r in range(d.n_req) if c.req[0, r])
    elif kind == SYS_OFFER:
        u = rng.random()
        entity = first_match(d, goal) if u < 0.6 else entity if u < 0.9 else -1
    return value, entity


class ActiveDomain:
    """The domain a conversation is in, kept the way the agent's tracker keeps it
    (``dialog_rl.env.tracker``: ``system_act`` and ``observe``): the domain of the agent's last
    act that has one (an inform of a requestable does not move it), or of the customer's last
    inform or request as the NLU read it. ``hint`` is the hint for the NLU (``RuleNLU.parse``):
    None before the customer's first words, as in ``DialogueEnv``."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self.dom = 0
        self.hint: int | None = None

    def reset(self) -> None:
        self.dom, self.hint = 0, None

    def agent(self, action: int) -> None:
        """The agent's act (-1: none, the conversation's opening)."""
        d = self.domain
        if action < 0:
            self.reset()
            return
        own = d.domains.act[action] if d.domains is not None else -1
        if d.act_kind[action] != SYS_INFORM and own >= 0:
            self.dom = own
        self.hint = self.dom

    def heard(self, acts: Iterable[Sequence[int]]) -> None:
        """The customer's acts as the NLU read them."""
        ds = self.domain.domains
        for a in acts if ds is not None else ():
            if a[0] == INFORM and a[1] != self.domain.task_slot:
                self.dom = ds.slot[a[1]]
            elif a[0] == REQUEST:
                self.dom = ds.req[a[1]]
        self.hint = self.dom


def read_turns(
    domain: Domain,
    turns: Sequence[tuple[list, str, int]],
    noise: float,
    seed: int,
    read: Callable[[str, int | None], list],
) -> list[list]:
    """``read(utterance, domain_hint)`` of each of ``conversation_turns``'s turns through
    ``TextNoise(noise)`` (seed ``[seed, 1]``), the hint kept by ``ActiveDomain`` from what was
    read; ``read`` returns the acts read (or ``(acts, ...)``)."""
    corrupt, rng = TextNoise(noise), np.random.default_rng([seed, 1])
    active = ActiveDomain(domain)
    out = []
    for _, text, action in turns:
        active.agent(action)
        got = read(corrupt(text, rng), active.hint)
        active.heard(got[0] if isinstance(got, tuple) else got)
        out.append(got)
    return out


def nlu_accuracy(
    domain: Domain, episodes: int = 200, noise: float = 0.0, seed: int = 0
) -> NLUScore:
    """Score ``RuleNLU`` on customer turns from ``episodes`` conversations through
    ``TextNoise(noise)``."""
    turns = conversation_turns(domain, episodes, seed)
    nlu = RuleNLU(domain)
    parsed = read_turns(domain, turns, noise, seed, nlu.parse)
    return score_turns([acts for acts, _, _ in turns], parsed)


def confidence_data(
    domain: Domain, episodes: int, noise: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows of the acts ``RuleNLU`` reads in generated customer turns through
    ``TextNoise(noise)``, and whether each act is right (among the turn's true acts): what a
    confidence map is fitted and checked on. The same turns and noise as ``nlu_accuracy``."""
    turns = conversation_turns(domain, episodes, seed)
    nlu = RuleNLU(domain, confidence=None)
    rows, right = [], []
    for (true_acts, _, _), (acts, x) in zip(
        turns, read_turns(domain, turns, noise, seed, nlu.features)
    ):
        truth = {tuple(a) for a in true_acts}
        rows.append(x)
        right.extend(a in truth for a in acts)
    return np.vstack(rows), np.array(right, dtype=bool)


def fit_confidence_map(
    domains: Sequence[Domain], episodes: int, noises: Sequence[float], seed: int
) -> ConfidenceMap:
    """Fit the NLU's confidence map on generated turns of every scenario at every noise rate
    (``episodes`` conversations each, seeds from ``seed`` on)."""
    xs, ys = [], []
    for k, d in enumerate(domains):
        for j, noise in enumerate(noises):
            x, y = confidence_data(d, episodes, noise, seed + 100 * k + j)
            xs.append(x)
            ys.append(y)
    fitted_on = {
        "scenarios": [d.name for d in domains],
        "noise": list(noises),
        "conversations": episodes,
        "seed": seed,
        "acts": int(sum(len(y) for y in ys)),
        "source": "simulators.nlu_eval.generate_turns (customers facing an erratic agent)",
    }
    return fit_map(np.vstack(xs), np.concatenate(ys), fitted_on)
