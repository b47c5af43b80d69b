"""Summary statistics of a batch of conversations, each with a 95% confidence interval.

Outcomes come as a list of dicts (one per conversation) or as ``OutcomeColumns`` (one array per
field, as a batched worker makes them): the same numbers either way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

Z95 = 1.959963984540054


class OutcomeColumns(Sequence):
    """The outcomes of consecutive episodes, one array per field: a read-only sequence of the
    dicts ``DialogueEnv.outcome()`` gives (``outcomes[i]``, iteration, slices, ``==`` with a
    list), which travels between processes and is summarised without a Python object per
    episode (``summarize``, ``rollout.rundir``).

    Every column has one entry per episode; numbers and flags as numpy arrays, names as object
    arrays of ``str``. A dict's values are the columns' ``tolist()`` entries (Python types).
    """

    def __init__(self, columns: dict[str, np.ndarray]) -> None:
        self.columns = columns

    @classmethod
    def concat(cls, parts: Iterable[OutcomeColumns]) -> OutcomeColumns:
        """The parts end to end (they share their fields)."""
        parts = list(parts)
        return cls({k: np.concatenate([p.columns[k] for p in parts]) for k in parts[0].columns})

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def __getitem__(self, index):
        if isinstance(index, slice):
            return OutcomeColumns({k: v[index] for k, v in self.columns.items()})
        i = range(len(self))[index]  # IndexError past the end, negative indices from it
        return {k: v[i : i + 1].tolist()[0] for k, v in self.columns.items()}

    def __iter__(self) -> Iterator[dict]:
        keys = list(self.columns)
        for values in zip(*(v.tolist() for v in self.columns.values())):
            yield dict(zip(keys, values))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (OutcomeColumns, list, tuple)):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"OutcomeColumns({len(self)} episodes: {', '.join(self.columns)})"


def concat_outcomes(parts: Sequence[Sequence[dict]]) -> Sequence[dict]:
    """Outcome sequences end to end: ``OutcomeColumns`` if every part is one, else a list."""
    if parts and all(isinstance(p, OutcomeColumns) for p in parts):
        return OutcomeColumns.concat(parts)
    return [o for p in parts for o in p]


def outcome_column(outcomes: Sequence[dict], key: str, default=None) -> np.ndarray:
    """Field ``key`` of every outcome as an array: the column itself for ``OutcomeColumns``
    (never a dict per episode), else ``np.array`` of the values (the same dtype and values).
    With a ``default``, outcomes saved before the field existed read as it."""
    if isinstance(outcomes, OutcomeColumns):
        if default is not None and key not in outcomes.columns:
            return np.full(len(outcomes), default)
        return outcomes.columns[key]
    if default is not None:
        return np.array([o.get(key, default) for o in outcomes])
    return np.array([o[key] for o in outcomes])


def mean_ci(values: np.ndarray) -> dict:
    """Mean with a normal-approximation 95% CI (n is in the thousands in practice)."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    mean = float(values.mean()) if n else float("nan")
    half = float(Z95 * values.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    return {"mean": mean, "ci95": [mean - half, mean + half]}


def rate_ci(hits: np.ndarray) -> dict:
    """A proportion with its Wilson 95% interval (sound near 0 and 1, unlike the normal one)."""
    hits = np.asarray(hits, dtype=bool)
    n = len(hits)
    if n == 0:
        return {"mean": float("nan"), "ci95": [float("nan"), float("nan")]}
    p = hits.mean()
    denom = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denom
    return {"mean": float(p), "ci95": [float(centre - half), float(centre + half)]}


def summarize(outcomes: Sequence[dict]) -> dict:
    """Success, reward, turns, hang-ups, hand-overs and truncations over episodes, and
    ConvLab/MultiWOZ's metrics of the same conversations (``convlab``)."""
    out = {
        "episodes": len(outcomes),
        "success": rate_ci(outcome_column(outcomes, "success")),
        "reward": mean_ci(outcome_column(outcomes, "reward")),
        "turns": mean_ci(outcome_column(outcomes, "turns")),
        "hangup": rate_ci(outcome_column(outcomes, "hangup")),
        "handover": rate_ci(outcome_column(outcomes, "handover")),
        "truncated": rate_ci(outcome_column(outcomes, "truncated")),
    }
    if isinstance(outcomes, OutcomeColumns):
        has_counts = len(outcomes) > 0 and "inform_tp" in outcomes.columns
    else:
        has_counts = bool(outcomes) and all("inform_tp" in o for o in outcomes)
    if has_counts:
        out["convlab"] = convlab_metrics(outcomes)
    return out


def convlab_metrics(outcomes: Sequence[dict]) -> dict:
    """ConvLab-2's evaluation of conversations (``MultiWozEvaluator`` in
    ``convlab2/evaluator/multiwoz_eval.py``), from each one's counts.

    Per conversation, as ConvLab-2 computes them: inform recall TP / (TP + FN), undefined when
    the customer asked nothing; precision TP / (TP + FP) (0 when nothing was told); F1 their
    harmonic mean; the match rate, the share of the goal's domains whose entity on offer meets
    the final goal; the book rate, the share of the goal's bookings made as the goal says (on
    an entity that meets it, with its day, time, people ...), undefined without a booking. Each
    is averaged over the conversations where it is defined. Task success: every domain matched,
    and recall and book rate 1 where defined; one deviation: a conversation where neither is
    defined (no question, no booking) counts as met where ConvLab-2 counts it as failed.
    """
    tp, fp, fn, matched, domains = (
        np.asarray(outcome_column(outcomes, k), dtype=np.float64)
        for k in ("inform_tp", "inform_fp", "inform_fn", "match_domains", "goal_domains")
    )
    made, bookings = (
        np.asarray(outcome_column(outcomes, k, default=0), dtype=np.float64)
        for k in ("book_made", "book_domains")
    )
    asked = tp + fn > 0
    recall = tp[asked] / (tp + fn)[asked]
    told = tp[asked] + fp[asked] > 0
    precision = np.where(told, tp[asked] / np.maximum(tp + fp, 1)[asked], 0.0)
    both = precision + recall > 0
    f1 = np.where(both, 2 * precision * recall / np.where(both, precision + recall, 1), 0.0)
    match = matched / np.maximum(domains, 1)
    full_recall = np.ones(len(outcomes), dtype=bool)
    full_recall[asked] = recall >= 1.0
    booking = bookings > 0
    out = {
        "inform_precision": mean_ci(precision),
        "inform_recall": mean_ci(recall),
        "inform_f1": mean_ci(f1),
        "match_rate": mean_ci(match),
        "task_success": rate_ci((match >= 1.0) & full_recall & (made >= bookings)),
        "dialogues_with_requests": int(asked.sum()),
    }
    if booking.any():
        out["book_rate"] = mean_ci(made[booking] / bookings[booking])
        out["dialogues_with_bookings"] = int(booking.sum())
    return out


def summarize_lifetimes(outcomes: list[dict]) -> dict:
    """Retention, visits, lifetime value and per-conversation success over customer lifetimes."""
    visits = np.array([o["visits"] for o in outcomes])
    successes = np.array([o["successes"] for o in outcomes])
    # Per-conversation success is a ratio estimate over customers (conversations within one
    # customer are not independent), with a delta-method CI.
    total = visits.sum()
    ratio = successes.sum() / total
    resid = successes - ratio * visits
    half = Z95 * math.sqrt(resid.var(ddof=1) / len(outcomes)) / visits.mean()
    return {
        "customers": len(outcomes),
        "retention": rate_ci(np.array([o["returned"] for o in outcomes])),
        "churn": rate_ci(np.array([o["churned"] for o in outcomes])),
        "visits": mean_ci(visits),
        "lifetime_value": mean_ci(np.array([o["lifetime_value"] for o in outcomes])),
        "conversation_success": {"mean": float(ratio), "ci95": [ratio - half, ratio + half]},
        "turns": mean_ci(np.array([o["turns"] for o in outcomes])),
        "by_persona": _by_persona(outcomes),
    }


def _by_persona(outcomes: list[dict]) -> dict:
    """Retention and lifetime value per persona (in order of first appearance), so that what a
    scenario's persona-specific satisfaction does can be read off; {} for logs without personas."""
    if not outcomes or not all("persona" in o for o in outcomes):
        return {}
    names = list(dict.fromkeys(o["persona"] for o in outcomes))
    out = {}
    for name in names:
        group = [o for o in outcomes if o["persona"] == name]
        out[name] = {
            "customers": len(group),
            "retention": rate_ci(np.array([o["returned"] for o in group])),
            "lifetime_value": mean_ci(np.array([o["lifetime_value"] for o in group])),
        }
    return out


def format_metric(m: dict, pct: bool = False) -> str:
    lo, hi = m["ci95"]
    if pct:
        return f"{100 * m['mean']:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"
    return f"{m['mean']:.2f} [{lo:.2f}, {hi:.2f}]"
