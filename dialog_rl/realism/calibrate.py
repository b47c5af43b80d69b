"""Fit a scenario's customer model to annotated real dialogues: ``dialog-rl calibrate``.

Each parameter is the probability (or distribution) of something a customer does when there is
occasion to, so each is fitted from the occasions the real dialogues show and what the customers
did then (``dialog_rl.realism.observe`` reads them from MultiWOZ's labels), by the estimator that
suits how the data were generated:

======================================  ====================================================
parameter                               estimator, and why
======================================  ====================================================
``goals.constraints.*``,                maximum likelihood, Bernoulli per goal: the corpus
``goals.requests.*``                    gives each customer's goal (``info``, ``reqt``), so the
                                        rate a slot is in a goal is counted directly.
``goals.on_no_match.*``                 maximum likelihood, categorical: what customers did
                                        next when the agent found nothing (drop, change, give
                                        up); turns that show none of the three are left out.
``goals.satisfiable``                   moment matching: MultiWOZ marks goals that start with
                                        constraints nothing meets (``fail_info``); the
                                        scenario's unsatisfiable goals are random values, which
                                        match by chance with probability 1 - q (q computed
                                        exactly from the KB and the fitted constraint rates),
                                        so the share f of failing goals gives 1 - f / q.
``behaviour.*`` rates                   maximum likelihood, Bernoulli per occasion: events /
                                        occasions, the occasions being exactly those on which
                                        the simulated customer draws (an agent stating a wrong
                                        value, an offer taken, a closing turn, ...).
``behaviour.slots_per_turn``            nonparametric maximum likelihood of a right-censored
                                        count (Kaplan-Meier): a customer who said all their goal
                                        still held might have said more, so such a turn says
                                        only "at least this many".
``goals.book.rate``,                    maximum likelihood, Bernoulli per goal (``book``), and
``goals.book.slots.*``                  per booking goal (the slots its ``book`` names).
``goals.book.available``                maximum likelihood, Bernoulli per booking goal: the
                                        share without a ``fail_book`` (the first booking finds
                                        room).
``goals.book.on_fail.*``                maximum likelihood, categorical: the slot each
                                        ``fail_book`` changes. Booking values (days, times,
                                        party sizes) keep the scenario's weights: 45 times from
                                        about 100 bookings would be noise.
``personas[*].cooperativeness``         maximum likelihood of the mean (answers / questions
                                        about slots the goal constrains), then moment matching:
                                        every persona shifted alike so the mix has that mean.
                                        With about one question per dialogue, only the mean is
                                        identified, not each persona's rate nor the weights.
``personas[*].patience``                a bound: nobody hangs up in MultiWOZ, so the data only
                                        say patience exceeds the longest conversation. The
                                        likelihood is 1 for every range above it; calibrate
                                        keeps the scenario's range, raised just enough.
``personas[*].weight``                  kept: no statistic of these dialogues depends on the mix
                                        once the mean cooperativeness is fitted (nobody hangs
                                        up, ``slots_per_turn`` replaces ``multi_slot``).
======================================  ====================================================

Every estimate has a 95% interval from a bootstrap over whole dialogues (the turns of one
dialogue are not independent), the number of occasions it rests on, and the scenario's own value
beside it. A rate with no occasion in the corpus keeps the scenario's value.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from dialog_rl.domain import Domain
from dialog_rl.realism.labels import Labels
from dialog_rl.realism.observe import Observed, observe
from dialog_rl.scenario.schema import Scenario

__all__ = ["Estimate", "Fit", "fit", "observe_all"]

ML = "ML, Bernoulli"
KEPT = "kept: no occasion in the corpus"
#: the most pieces a turn's distribution names (a longer tail adds nothing the data can show)
MAX_PIECES = 6


@dataclass(frozen=True)
class Estimate:
    """One fitted parameter."""

    key: str
    """Where it goes in the scenario file (``behaviour.closing.bye``)."""
    value: float | tuple
    """The fit (what the overlay writes)."""
    before: object
    """The scenario's own value."""
    ci95: tuple | None
    """95% bootstrap interval (per element for a distribution), or None."""
    n: int
    """Occasions (goals, turns, questions) it rests on."""
    events: int | None
    """Of those, the ones that went this way (for a rate)."""
    method: str


@dataclass(frozen=True)
class Fit:
    """A scenario's customer model fitted to a corpus."""

    scenario: str
    dialogues: int
    estimates: tuple[Estimate, ...]
    overlay: dict
    """The keys the overlay sets, nested as in a scenario file."""

    def get(self, key: str) -> Estimate:
        return next(e for e in self.estimates if e.key == key)


def observe_all(domain: Domain, dialogues: list, corpus_domain: str) -> list[Observed]:
    """Each dialogue's evidence (``observe``) in the terms of the scenario ``domain``."""
    labels = Labels(domain, corpus_domain)
    return [observe(labels, d, corpus_domain) for d in dialogues]


def fit(
    scenario: Scenario,
    domain: Domain,
    observed: list[Observed],
    bootstrap: int = 200,
    seed: int = 0,
) -> Fit:
    """Fit ``scenario``'s customer model (compiled as ``domain``) to the dialogues' evidence.

    Args:
        scenario: the scenario as written (its personas and values are the ``before`` column).
        domain: the same scenario compiled.
        observed: one ``Observed`` per real dialogue (``observe_all``).
        bootstrap: resamples of whole dialogues for the intervals.
        seed: of the resampling.
    """
    if domain.domains.n > 1:
        raise ValueError(
            f"calibrate fits one-domain scenarios; {domain.name!r} has {domain.domains.n} domains"
        )
    if not observed:
        raise ValueError("no dialogue to fit")
    point, counts = _estimates(scenario, domain, observed)
    rng = np.random.default_rng(seed)
    reps = []
    for _ in range(bootstrap):
        pick = rng.integers(len(observed), size=len(observed))
        reps.append(_estimates(scenario, domain, [observed[j] for j in pick], nan=True)[0])
    estimates = []
    for key, (value, method) in point.items():
        n, events = counts.get(key, (0, None))
        bounded = method == KEPT or method.startswith("bound")
        ci = None if bounded or not reps else _interval([r[key][0] for r in reps])
        if method.startswith("ML") and events is not None and n and events in (0, n):
            ci = _boundary_interval(events, n)
        estimates.append(
            Estimate(key, value, _before(scenario, domain, key), ci, n, events, method)
        )
    return Fit(scenario.name, len(observed), tuple(estimates), _nest(scenario, point))


# -- the estimators ------------------------------------------------------------------------------


def _estimates(scenario: Scenario, d: Domain, observed: list[Observed], nan: bool = False):
    """``{key: (value, method)}`` and ``{key: (occasions, events)}`` for one sample; where the
    sample has no occasion, the scenario's value (or NaN, with ``nan``: a bootstrap replicate
    in which the estimate is undefined, left out of the interval)."""
    out: dict[str, tuple] = {}
    counts: dict[str, tuple[int, int | None]] = {}

    def kept(before):
        return (math.nan, KEPT) if nan and not isinstance(before, tuple) else (before, KEPT)

    def rate(key: str, pairs: list, before: float, method: str = ML) -> None:
        events, n = (int(x) for x in np.sum(pairs, axis=0)) if pairs else (0, 0)
        counts[key] = (n, events)
        out[key] = (events / n, method) if n else kept(before)

    goals = [o for o in observed if o.goal_slots]
    per_goal = ML + " per goal"
    for s in d.kb_slots:
        key = f"goals.constraints.{d.inf_names[s]}"
        rate(key, [(s in o.goal_slots, 1) for o in goals], d.constraint_prob[s], per_goal)
    for r, name in enumerate(d.req_names):
        key = f"goals.requests.{name}"
        rate(key, [(r in o.goal_requests, 1) for o in goals], d.request_prob[r], per_goal)
    constraint = np.array([out[f"goals.constraints.{d.inf_names[s]}"][0] for s in d.kb_slots])
    q = _chance_of_no_match(d, constraint)
    failing = sum(o.failed for o in goals)
    counts["goals.satisfiable"] = (len(goals), failing)
    if goals and q > 0:
        out["goals.satisfiable"] = (
            min(max(1.0 - failing / len(goals) / q, 0.0), 1.0),
            f"moment: 1 - f / q, q = {q:.3f}",
        )
    else:
        out["goals.satisfiable"] = kept(d.satisfiable)
    nm = np.sum([o.no_match[:3] for o in observed], axis=0)
    total = int(nm.sum())
    for k, name in enumerate(("relax", "change", "hang_up")):
        key = f"goals.on_no_match.{name}"
        counts[key] = (total, int(nm[k]))
        before = (d.relax, d.change, 1.0 - d.relax - d.change)[k]
        out[key] = (nm[k] / total, "ML, categorical") if total else kept(before)
    if d.booking.on and scenario.goals.book is not None:
        _booking_estimates(d, goals, rate, out, counts, kept)
    b = d.behaviour
    for key in (
        *("correct", "dontcare", "alternative", "affirm_offer", "affirm_answer"),
        *("restate_booking", "affirm_rebook", "book_early", "book_together", "hello"),
        *("closing.bye", "closing.negate", "closing.again"),
    ):  # the observation's field and the parameter's have one name
        field = "bye" if key == "closing.bye" else key.replace(".", "_")
        rate(f"behaviour.{key}", [getattr(o, field) for o in observed], getattr(b, field))
    pieces = [p for o in observed for p in o.pieces]
    counts["behaviour.slots_per_turn"] = (len(pieces), sum(not c for _, c in pieces))
    out["behaviour.slots_per_turn"] = (
        (_censored_counts(pieces), "NPML, right-censored counts (Kaplan-Meier)")
        if pieces
        else (b.slots_per_turn, KEPT)
    )
    answered = np.sum([o.answered for o in observed], axis=0)
    counts["personas.cooperativeness"] = (int(answered[1]), int(answered[0]))
    weights = np.array([p.weight for p in scenario.personas], dtype=np.float64)
    weights /= weights.sum()
    coop = np.array([p.cooperativeness for p in scenario.personas])
    if answered[1]:
        mean = answered[0] / answered[1]
        fitted = _shift_to_mean(coop, weights, mean)
        out["personas.cooperativeness"] = (mean, "ML of the mean, personas shifted alike")
        for p, c in zip(scenario.personas, fitted):
            out[f"personas.{p.name}.cooperativeness"] = (float(c), "shifted to the fitted mean")
    else:
        out["personas.cooperativeness"] = kept(float(weights @ coop))
        for p in scenario.personas:
            out[f"personas.{p.name}.cooperativeness"] = kept(p.cooperativeness)
    longest = max(o.agent_turns for o in observed)
    counts["personas.patience"] = (len(observed), 0)
    for p in scenario.personas:
        lo = max(p.patience[0], longest + 1)
        out[f"personas.{p.name}.patience"] = (
            (lo, max(p.patience[1], lo)),
            f"bound: above the longest conversation ({longest} agent turns, no hang-up)",
        )
    return out, counts


def _booking_estimates(d: Domain, goals: list[Observed], rate, out: dict, counts: dict, kept):
    """Who books, with which slots, how often there is room, and what changes when not."""
    bk = d.booking
    rate("goals.book.rate", [(o.books, 1) for o in goals], bk.rate[0], ML + " per goal")
    booking = [o for o in goals if o.books]
    per_booking = ML + " per booking goal"
    rate(
        "goals.book.available",
        [(not o.book_fail, 1) for o in booking],
        bk.available[0],
        per_booking,
    )
    for s in bk.slots:
        name = d.inf_names[s]
        rate(
            f"goals.book.slots.{name}",
            [(s in o.book_slots, 1) for o in booking],
            bk.prob[s],
            per_booking,
        )
    changed = [s for o in booking for s in o.book_fail if s in bk.slots]
    for s in bk.slots:
        key = f"goals.book.on_fail.{d.inf_names[s]}"
        counts[key] = (len(changed), changed.count(s))
        total = sum(bk.on_fail[t] for t in bk.slots) or 1.0
        out[key] = (
            (changed.count(s) / len(changed), "ML, categorical")
            if changed
            else kept(bk.on_fail[s] / total)
        )


def _censored_counts(pieces: list[tuple[int, bool]]) -> tuple[float, ...]:
    """P(K = 1), P(K = 2), ... from counts ``(k, censored)``: censored means K >= k.

    Kaplan-Meier on a discrete count: the hazard at k is exact counts at k over those known to
    reach k (exact ones >= k, censored ones > k, as a censored k says only K > k - 1). The mass
    left after the last count with data goes to that count (the agenda caps K anyway).
    """
    top = min(max(k for k, _ in pieces), MAX_PIECES)
    exact = np.zeros(top + 2)
    cens = np.zeros(top + 2)
    for k, c in pieces:
        (cens if c else exact)[min(k, top)] += 1
    probs, survive = [], 1.0
    for k in range(1, top + 1):
        at_risk = exact[k:].sum() + cens[k + 1 :].sum()
        h = exact[k] / at_risk if at_risk else 0.0
        probs.append(survive * h)
        survive *= 1.0 - h
    probs[-1] += survive
    while len(probs) > 1 and probs[-1] < 1e-12:
        probs.pop()
    return tuple(probs)


def _chance_of_no_match(d: Domain, constraint: np.ndarray) -> float:
    """q: the probability that a goal of random values (the scenario's unsatisfiable branch)
    matches no entity, over which slots it constrains (independent, at least ``min_constraints``
    by adding one at random, as ``simulators.customer.sample_goal`` does)."""
    slots = list(d.kb_slots)
    kb = np.asarray(d.kb_values)
    n_vals = [len(d.inf_values[s]) for s in slots]
    total = 0.0
    weights = 0.0
    for subset in itertools.product((False, True), repeat=len(slots)):
        chosen = [s for s, c in zip(range(len(slots)), subset) if c]
        p = math.prod(constraint[j] if c else 1 - constraint[j] for j, c in enumerate(subset))
        if not chosen:
            if d.min_constraints < 1:
                continue
            # one slot added at random: spread this mass over the singletons
            for j in range(len(slots)):
                total += p / len(slots) * _no_match(kb, [slots[j]], [n_vals[j]])
            weights += p
            continue
        total += p * _no_match(kb, [slots[j] for j in chosen], [n_vals[j] for j in chosen])
        weights += p
    return total / weights if weights else 0.0


def _no_match(kb: np.ndarray, slots: list[int], n_vals: list[int]) -> float:
    """Share of value tuples on ``slots`` (uniform) that no KB row has."""
    rows = kb[:, slots]
    present = {tuple(r) for r in rows.tolist() if min(r) >= 0}
    return 1.0 - len(present) / math.prod(n_vals)


def _shift_to_mean(values: np.ndarray, weights: np.ndarray, mean: float) -> np.ndarray:
    """``values + delta``, clipped to [0, 1], with ``delta`` such that the weighted mean is
    ``mean`` (bisection: the clipped mean rises with delta)."""
    lo, hi = -1.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if weights @ np.clip(values + mid, 0.0, 1.0) < mean:
            lo = mid
        else:
            hi = mid
    return np.clip(values + (lo + hi) / 2, 0.0, 1.0)


def _interval(replicates: list) -> tuple | None:
    """The 95% percentile interval of bootstrap replicates (per element for tuples)."""
    if not replicates:
        return None
    if isinstance(replicates[0], tuple):
        width = max(len(r) for r in replicates)
        padded = np.array([tuple(r) + (0.0,) * (width - len(r)) for r in replicates])
        lo, hi = np.percentile(padded, [2.5, 97.5], axis=0)
        return tuple((round(float(a), 4), round(float(b), 4)) for a, b in zip(lo, hi))
    values = np.asarray(replicates, dtype=np.float64)
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    lo, hi = np.percentile(values, [2.5, 97.5])
    return round(float(lo), 4), round(float(hi), 4)


def _boundary_interval(events: int, n: int) -> tuple[float, float]:
    """The exact (Clopper-Pearson) 95% interval of a rate observed at 0 or n of n, where the
    bootstrap's collapses to a point: [0, 1 - 0.025^(1/n)] or [0.025^(1/n), 1]."""
    edge = round(0.025 ** (1 / n), 4)
    return (0.0, round(1 - edge, 4)) if events == 0 else (edge, 1.0)


def _before(scenario: Scenario, d: Domain, key: str) -> object:
    """The scenario's own value of ``key``."""
    parts = key.split(".")
    if parts[0] == "personas":
        if parts[1] == "cooperativeness":
            w = np.array([p.weight for p in scenario.personas])
            c = np.array([p.cooperativeness for p in scenario.personas])
            return round(float(w @ c / w.sum()), 4)
        persona = next(p for p in scenario.personas if p.name == parts[1])
        return getattr(persona, parts[2])
    if parts[:2] == ["goals", "book"]:  # as compiled: the defaults filled in
        bk = d.booking
        if len(parts) == 3:
            return getattr(bk, parts[2])[0]
        s = d.inf_names.index(parts[3])
        if parts[2] == "slots":
            return bk.prob[s]
        return round(bk.on_fail[s] / (sum(bk.on_fail[t] for t in bk.slots) or 1.0), 4)
    node: object = scenario
    for part in parts:
        node = node.get(part, 0.0) if isinstance(node, dict) else getattr(node, part)
    if isinstance(node, list):
        total = sum(node)
        return tuple(round(w / total, 4) for w in node) if total else ()
    return node


def _nest(scenario: Scenario, point: dict) -> dict:
    """The overlay's keys, nested as in a scenario file, values rounded as written."""
    out: dict = {"goals": {"constraints": {}, "requests": {}, "on_no_match": {}}}
    g = out["goals"]
    for key, (value, _) in point.items():
        parts = key.split(".")
        if parts[0] == "goals" and parts[1] in ("constraints", "requests"):
            g[parts[1]][parts[2]] = _round(value)
        elif key == "goals.satisfiable":
            g["satisfiable"] = _round(value)
    relax = _round(point["goals.on_no_match.relax"][0])
    change = _round(point["goals.on_no_match.change"][0])
    g["on_no_match"] = {"relax": relax, "change": change, "hang_up": _round(1 - relax - change)}
    personas = []
    for p in scenario.personas:
        row = p.model_dump()
        coop = point.get(f"personas.{p.name}.cooperativeness")
        if coop is not None:
            row["cooperativeness"] = _round(coop[0])
        row["patience"] = list(point[f"personas.{p.name}.patience"][0])
        personas.append(row)
    out["personas"] = personas
    behaviour: dict = {"closing": {}}
    for key, (value, _) in point.items():
        if key.startswith("behaviour.closing."):
            behaviour["closing"][key.rsplit(".", 1)[1]] = _round(value)
        elif key == "behaviour.slots_per_turn":
            behaviour["slots_per_turn"] = [_round(w) for w in value]
        elif key.startswith("behaviour."):
            behaviour[key.split(".", 1)[1]] = _round(value)
    out["behaviour"] = behaviour
    book: dict = {}
    for key, (value, _) in point.items():
        parts = key.split(".")
        if key.startswith("goals.book.") and len(parts) == 3:
            book[parts[2]] = _round(value)
        elif key.startswith("goals.book."):
            book.setdefault(parts[2], {})[parts[3]] = _round(value)
    if book:
        g["book"] = book
    return out


def _round(x: float) -> float:
    return round(float(x), 3) + 0.0  # + 0.0: no "-0.0" in the file
