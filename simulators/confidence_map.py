"""The text NLU's confidence as a probability: what a parse saw, mapped to the chance it is right.

For every act it reads, ``RuleNLU`` keeps its evidence: how strong the kind of match is (a whole
known sentence, a value as written, a synonym, a cue word, a value reader, ...), how many of its
words the speller had to repair, and how much of the sentence the lexicon knows, plus what the
rest of the turn says (another value for the same slot, how many acts, how many unplaceable
words). ``ConfidenceMap`` turns that into a probability: a logistic
model over the features, then an isotonic correction of its output. Both are fitted on generated
utterances through word noise (``simulators.nlu_eval.fit_confidence_map``; right means the act is
among the customer's true acts), never on real dialogues, which stay held out to check it; the
fitted numbers ship as data (``nlu_confidence.json``) and are refitted with
``python benchmarks/nlu_calibration.py --fit``.
"""

from __future__ import annotations

import bisect
import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = [
    "FEATURES",
    "ConfidenceMap",
    "Evidence",
    "expected_calibration_error",
    "feature_row",
    "fit_isotonic",
    "fit_logistic",
    "ranking_auc",
    "reliability",
]

#: what a confidence is computed from. Only the strength of the evidence for the act itself: a
#: weight per act type or per kind of match would learn the simulated customers' mix of acts and
#: phrasings, which is what real customers differ in (on generated turns those weights did fit
#: better, and ranked the real turns' acts worse: ``benchmarks/nlu_calibration.py``).
FEATURES = (
    "raw_logit",  # the NLU's uncalibrated score, as a logit
    "base",  # the strength of the kind of match (a value as written 0.95, a synonym 0.85, ...)
    "repaired_words",  # words of the match the speller changed
    "unknown_share_sentence",  # share of the sentence's words the NLU could not place
    "unknown_share_turn",  # the same over the whole turn
    "conflicting_value",  # the turn also informs another value for the same slot
    "log_acts",  # how many acts the turn was read as (log)
)
DEFAULT_PATH = Path(__file__).with_name("nlu_confidence.json")


class Evidence(NamedTuple):
    """What the NLU saw of one act."""

    base: float
    """The strength of that kind of match before any penalty (a value 0.95, a synonym 0.85)."""
    raw: float
    """``base`` after the penalties for repaired and unknown words: the uncalibrated score."""
    repaired: int
    """Words of the match the speller changed."""
    known: float
    """Share of the sentence's words the lexicon knows or could repair."""


def feature_row(ev: Evidence, conflicting: bool, n_acts: int, unknown_turn: float) -> list[float]:
    """The features of one parsed act, in the order of ``FEATURES``."""
    raw = min(max(ev.raw, 1e-3), 1 - 1e-3)
    return [
        math.log(raw / (1 - raw)),
        ev.base,
        float(ev.repaired),
        1.0 - ev.known,
        unknown_turn,
        float(conflicting),
        math.log(n_acts),
    ]


@dataclass(frozen=True)
class ConfidenceMap:
    """Features of a parsed act -> the probability that it is right."""

    weights: np.ndarray
    bias: float
    iso_x: np.ndarray
    """The isotonic correction: logistic outputs (increasing) and the probabilities they map to,
    interpolated linearly in between."""
    iso_y: np.ndarray
    fitted_on: dict = field(default_factory=dict)
    """How the map was fitted (scenarios, noise rates, conversations, seed), for the record."""

    def __post_init__(self) -> None:
        if self.weights.shape != (len(FEATURES),):
            raise ValueError(
                f"a confidence map needs {len(FEATURES)} weights, got {self.weights.shape}: "
                "refit it with `python benchmarks/nlu_calibration.py --fit`"
            )
        if self.iso_x.shape != self.iso_y.shape or np.any(np.diff(self.iso_x) < 0):
            raise ValueError("the isotonic correction needs increasing x and as many y values")

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """Probabilities for a ``[n, len(FEATURES)]`` array of feature rows."""
        p = _sigmoid(np.asarray(features, dtype=np.float64) @ self.weights + self.bias)
        return np.interp(p, self.iso_x, self.iso_y)

    def of_rows(self, rows: list[list[float]]) -> list[float]:
        """The same for a few rows as lists, in plain Python: a turn has a handful of acts, and
        numpy's overhead for so few would cost the NLU a third of its speed."""
        w, xs, ys = self._plain
        out = []
        for row in rows:
            z = self.bias + sum(a * b for a, b in zip(w, row))
            p = 1.0 / (1.0 + math.exp(-min(max(z, -40.0), 40.0)))
            k = bisect.bisect_right(xs, p)
            if k <= 0:
                out.append(ys[0])
            elif k >= len(xs):
                out.append(ys[-1])
            else:
                x0, x1 = xs[k - 1], xs[k]
                t = (p - x0) / (x1 - x0) if x1 > x0 else 0.0
                out.append(ys[k - 1] + t * (ys[k] - ys[k - 1]))
        return out

    @cached_property
    def _plain(self) -> tuple[list[float], list[float], list[float]]:
        return self.weights.tolist(), self.iso_x.tolist(), self.iso_y.tolist()

    def to_json(self) -> str:
        return json.dumps(
            {
                "features": list(FEATURES),
                "weights": [round(float(w), 6) for w in self.weights],
                "bias": round(float(self.bias), 6),
                "isotonic": {
                    "x": [round(float(x), 6) for x in self.iso_x],
                    "y": [round(float(y), 6) for y in self.iso_y],
                },
                "fitted_on": self.fitted_on,
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> ConfidenceMap:
        data = json.loads(text)
        if data.get("features") != list(FEATURES):
            raise ValueError(
                "the confidence map was fitted on other features than the NLU computes: refit it "
                "with `python benchmarks/nlu_calibration.py --fit`"
            )
        return cls(
            np.array(data["weights"], dtype=np.float64),
            float(data["bias"]),
            np.array(data["isotonic"]["x"], dtype=np.float64),
            np.array(data["isotonic"]["y"], dtype=np.float64),
            data.get("fitted_on", {}),
        )

    @classmethod
    def load(cls, path: str | Path = DEFAULT_PATH) -> ConfidenceMap:
        """The map shipped with the package (or another one written by ``to_json``)."""
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


def fit(features: np.ndarray, right: np.ndarray, fitted_on: dict | None = None) -> ConfidenceMap:
    """Fit a map: logistic regression on ``features``, then isotonic regression of ``right`` on
    its output (which fixes what a linear logit cannot, e.g. near 0 and 1)."""
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(right, dtype=np.float64)
    w, b = fit_logistic(x, y)
    iso_x, iso_y = fit_isotonic(_sigmoid(x @ w + b), y)
    return ConfidenceMap(w, b, iso_x, iso_y, dict(fitted_on or {}))


def fit_logistic(
    x: np.ndarray, y: np.ndarray, l2: float = 1e-3, iterations: int = 100
) -> tuple[np.ndarray, float]:
    """Logistic regression by Newton's method (IRLS), with a small ridge on the weights (not the
    intercept) so that a feature that never varies, or separates perfectly, stays finite.

    ``x`` [n, k] features, ``y`` [n] 0/1 labels; returns weights [k] and the intercept.
    """
    n, k = x.shape
    a = np.hstack([x, np.ones((n, 1))])
    theta = np.zeros(k + 1)
    ridge = np.full(k + 1, l2 * n)
    ridge[-1] = 0.0
    for _ in range(iterations):
        p = _sigmoid(a @ theta)
        grad = a.T @ (p - y) + ridge * theta
        hess = (a * (p * (1 - p))[:, None]).T @ a + np.diag(ridge) + 1e-9 * np.eye(k + 1)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return theta[:-1], float(theta[-1])


def fit_isotonic(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Isotonic (non-decreasing) regression of ``y`` on ``x`` by pooling adjacent violators.

    Returns the pooled blocks as points ``(mean x, mean y)``, increasing in x, for linear
    interpolation; the ends are extended to 0 and 1 on the x axis. Equal x values are pooled
    first, so a block never splits them.
    """
    xs, inverse, counts = np.unique(
        np.asarray(x, dtype=np.float64), return_inverse=True, return_counts=True
    )
    ys = np.bincount(inverse, weights=np.asarray(y, dtype=np.float64)) / counts
    blocks: list[list[float]] = []  # per block: sum of weighted x, sum of weighted y, weight
    for xi, yi, w in zip(xs, ys, counts):
        blocks.append([xi * w, yi * w, float(w)])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][2] >= blocks[-1][1] / blocks[-1][2]:
            sx, sy, c = blocks.pop()
            blocks[-1][0] += sx
            blocks[-1][1] += sy
            blocks[-1][2] += c
    bx = np.maximum.accumulate(np.array([b[0] / b[2] for b in blocks]))
    by = np.array([b[1] / b[2] for b in blocks])
    lo, hi = min(0.0, bx[0]), max(1.0, bx[-1])
    return np.concatenate([[lo], bx, [hi]]), np.concatenate([[by[0]], by, [by[-1]]])


def expected_calibration_error(conf: np.ndarray, right: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: over ``bins`` equal-width confidence bins, the gap between
    the share right and the mean confidence, weighted by how many acts fall in the bin."""
    conf, right = np.asarray(conf, dtype=np.float64), np.asarray(right, dtype=np.float64)
    if len(conf) == 0:
        return float("nan")
    _, acc, mean_conf, count = reliability(conf, right, bins)
    used = count > 0
    return float(np.sum(count[used] * np.abs(acc[used] - mean_conf[used])) / len(conf))


def reliability(
    conf: np.ndarray, right: np.ndarray, bins: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per equal-width bin: its edges [bins + 1], share right, mean confidence and count [bins]
    (share and mean are nan in an empty bin)."""
    conf, right = np.asarray(conf, dtype=np.float64), np.asarray(right, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=False), 0, bins - 1)
    count = np.bincount(idx, minlength=bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.bincount(idx, weights=right, minlength=bins) / count
        mean_conf = np.bincount(idx, weights=conf, minlength=bins) / count
    return edges, acc, mean_conf, count


def ranking_auc(conf: np.ndarray, right: np.ndarray) -> float:
    """Area under the ROC curve of confidence separating right from wrong acts: the chance a
    right act gets a higher confidence than a wrong one (ties count half); nan without both."""
    conf, right = np.asarray(conf, dtype=np.float64), np.asarray(right, dtype=bool)
    n_right, n_wrong = int(right.sum()), int((~right).sum())
    if n_right == 0 or n_wrong == 0:
        return float("nan")
    order = np.argsort(conf, kind="stable")
    ranks = np.empty(len(conf))
    sorted_conf = conf[order]
    # average ranks over ties (1-based)
    start = 0
    while start < len(conf):
        end = start
        while end + 1 < len(conf) and sorted_conf[end + 1] == sorted_conf[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return float((ranks[right].sum() - n_right * (n_right + 1) / 2) / (n_right * n_wrong))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))
