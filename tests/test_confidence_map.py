"""The NLU's confidence map: fitting, scoring, and the map the package ships."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.confidence_map import (
    DEFAULT_PATH,
    FEATURES,
    ConfidenceMap,
    expected_calibration_error,
    fit,
    fit_isotonic,
    fit_logistic,
    ranking_auc,
    reliability,
)
from simulators.nlu import RuleNLU
from simulators.nlu_eval import confidence_data


def test_logistic_fit_recovers_the_weights_that_made_the_labels():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20_000, 3))
    true_w, true_b = np.array([1.5, -2.0, 0.0]), 0.5
    y = rng.random(20_000) < 1 / (1 + np.exp(-(x @ true_w + true_b)))
    w, b = fit_logistic(x, y.astype(float), l2=0.0)
    assert np.allclose(w, true_w, atol=0.08) and abs(b - true_b) < 0.08


def test_logistic_fit_stays_finite_when_a_feature_separates_or_never_varies():
    x = np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0], [3.0, 1.0]])
    w, b = fit_logistic(x, np.array([0.0, 0.0, 1.0, 1.0]))
    assert np.all(np.isfinite(w)) and np.isfinite(b)


def test_isotonic_fit_pools_adjacent_violators_into_a_non_decreasing_map():
    x = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.5])
    y = np.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.0])
    xs, ys = fit_isotonic(x, y)
    assert np.all(np.diff(xs) >= 0) and np.all(np.diff(ys) >= 0)
    # 0.2 and 0.3 pool to 0.5; the tie at 0.5 is one point of weight 2 (y 0.5), pooled with 0.4
    # to 2/3; the ends are extended to x = 0 and 1
    assert np.allclose(xs, [0.0, 0.1, 0.25, 1.4 / 3, 1.0])
    assert np.allclose(ys, [0.0, 0.0, 0.5, 2 / 3, 2 / 3])


def test_ece_is_zero_when_confidence_matches_the_share_right_and_the_gap_otherwise():
    conf = np.array([0.75] * 4 + [0.25] * 4)
    right = np.array([1, 1, 1, 0, 1, 0, 0, 0], dtype=bool)
    assert expected_calibration_error(conf, right) == pytest.approx(0.0)
    assert expected_calibration_error(np.full(8, 0.95), right) == pytest.approx(0.45)
    edges, acc, _, count = reliability(conf, right)
    assert len(edges) == 11 and count.sum() == 8 and np.isnan(acc[0])


def test_auc_counts_ties_as_half_and_is_nan_without_both_classes():
    assert ranking_auc(np.array([0.9, 0.8, 0.1]), np.array([True, True, False])) == 1.0
    assert ranking_auc(np.array([0.5, 0.5]), np.array([True, False])) == 0.5
    assert ranking_auc(np.array([0.2, 0.9, 0.5]), np.array([True, False, False])) == 0.0
    assert np.isnan(ranking_auc(np.array([0.5]), np.array([True])))


def test_a_map_survives_json_and_refuses_other_features(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, len(FEATURES)))
    m = fit(x, rng.random(500) < 0.7, {"seed": 1})
    back = ConfidenceMap.from_json(m.to_json())
    assert np.allclose(back(x), m(x), atol=1e-4) and back.fitted_on == {"seed": 1}
    bad = m.to_json().replace('"raw_logit"', '"something_else"')
    with pytest.raises(ValueError, match="refit it"):
        ConfidenceMap.from_json(bad)


def test_the_shipped_map_loads_and_is_what_the_nlu_uses_by_default(restaurant):
    shipped = ConfidenceMap.load()
    assert DEFAULT_PATH.name == "nlu_confidence.json"
    assert shipped.fitted_on["noise"] and "restaurant" in shipped.fitted_on["scenarios"]
    nlu, raw = RuleNLU(restaurant), RuleNLU(restaurant, confidence=None)
    text = "I want a cheap restaurant in the nrth."
    acts, rows = raw.features(text)
    assert [a[:3] for a in nlu.parse(text)] == acts
    assert [a[3] for a in nlu.parse(text)] == pytest.approx(shipped(rows).tolist(), abs=1e-3)
    assert [a[3] for a in raw.parse(text)] != [a[3] for a in nlu.parse(text)]


def test_shipped_map_is_calibrated_on_generated_turns_it_was_not_fitted_on(domains):
    """Held-out seed, 15% word noise: measured ECE 0.003-0.008 per scenario over 500
    conversations (raw scores: 0.08); here 120 conversations each."""
    shipped = ConfidenceMap.load()
    for d in domains.values():
        x, right = confidence_data(d, 120, 0.15, seed=7)
        assert expected_calibration_error(shipped(x), right) <= 0.05, d.name
        raw = 1 / (1 + np.exp(-x[:, 0]))
        assert expected_calibration_error(raw, right) > 0.05, d.name  # what the map fixes
