"""The act channel's calibrated confidences (``noise.confidence.calibrated``): probabilities that
the act is right, in the order of the raw scores."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np

from dialog_rl.env.engine import Engine
from simulators import noise

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from act_confidence import auc, ece, scores


def test_calibrated_confidences_are_probabilities_and_raw_ones_are_not(restaurant):
    raw = scores(restaurant, 0.15, 300)
    calibrated = scores(dataclasses.replace(restaurant, conf_calibrated=True), 0.15, 300)
    # (the agent reads the scores, so the two runs' conversations part ways)
    assert ece(*raw) > 0.08 and ece(*calibrated) < 0.03
    assert auc(*raw) > 0.85 and auc(*calibrated) > 0.85  # a monotone map: as informative


def test_the_posterior_rises_with_the_score_and_follows_the_error_rate(restaurant):
    t = Engine(restaurant, 1).refs[0]
    grid = np.linspace(0.01, 0.99, 99)
    at15 = [noise.posterior(t, c, 0.15) for c in grid]
    at30 = [noise.posterior(t, c, 0.30) for c in grid]
    assert all(np.diff(at15) > 0) and all(a > b for a, b in zip(at15, at30))
    assert noise.posterior(t, 0.5, 1.0) == 0.0
