"""Confidence intervals and calibration of a split's scores, on data whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.metrics import balanced_weights, bootstrap_intervals, reliability


def test_perfectly_separated_scores_have_a_point_interval_at_one() -> None:
    labels = np.array([1, 1, 1, 0, 0, 0, 0])
    intervals = bootstrap_intervals(labels, labels + 0.1 * np.arange(7), n_resamples=200)
    assert intervals["auc"] == (1.0, 1.0) and intervals["ap"] == (1.0, 1.0)


def test_intervals_narrow_with_more_tracks_and_cover_the_true_auc() -> None:
    rng = np.random.default_rng(0)
    widths = []
    for n in (20, 400):
        labels = np.repeat([1, 0], [n, 3 * n])
        scores = rng.normal(labels * 1.5)  # true AUC = Φ(1.5 / √2) ≈ 0.856
        low, high = bootstrap_intervals(labels, scores, n_resamples=500)["auc"]
        assert low < 0.856 < high
        widths.append(high - low)
    assert widths[1] < widths[0] / 3


def test_intervals_are_repeatable_for_a_seed() -> None:
    labels = np.array([1, 0, 1, 0, 0, 1, 0, 0])
    scores = np.linspace(0, 1, 8)
    assert bootstrap_intervals(labels, scores, seed=3) == bootstrap_intervals(labels, scores, seed=3)


def test_calibrated_probabilities_have_a_small_ece_and_overconfident_ones_a_large_one() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(size=20_000)
    labels = (rng.uniform(size=p.size) < p).astype(float)
    curve, ece = reliability(labels, p)
    assert ece < 0.02 and len(curve) == 10
    assert all(abs(b["predicted"] - b["observed"]) < 0.05 for b in curve)
    _, overconfident = reliability(labels, np.where(p > 0.5, 0.99, 0.01))
    assert overconfident > 0.2


def test_balanced_weights_undo_a_one_to_three_class_ratio() -> None:
    rng = np.random.default_rng(2)
    labels = np.repeat([1.0, 0.0], [5000, 15000])
    weights = balanced_weights(labels)
    assert weights[labels == 1].sum() == pytest.approx(weights[labels == 0].sum())
    # scores whose balanced-prior posterior is known: logit = x for x ~ N(±1, 1)... shifted by the prior
    x = rng.normal(np.where(labels == 1, 1.0, -1.0))
    balanced = 1 / (1 + np.exp(-2 * x))  # exact posterior at a 1:1 prior for these Gaussians
    _, ece_balanced = reliability(labels, balanced, weights=weights)
    _, ece_unweighted = reliability(labels, balanced)
    assert ece_balanced < 0.02 < ece_unweighted
