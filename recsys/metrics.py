"""Ranking metrics of one user's split: ROC AUC and average precision (the paper's MAP per user)."""

from __future__ import annotations

import numpy as np

from lemons.errors import EvaluationError


def check_labels(labels: np.ndarray, what: str = "split") -> np.ndarray:
    """``labels`` as float64 ``[n]`` once they hold both classes, 0 and 1 only (AUC is defined).

    Raises:
        EvaluationError: when the split is empty, holds one class only or has other labels.
    """
    labels = np.asarray(labels, dtype=np.float64).ravel()
    if labels.size == 0:
        raise EvaluationError(f"{what} is empty: AUC and average precision are undefined")
    n_pos = int((labels == 1).sum())
    if n_pos + int((labels == 0).sum()) != labels.size:
        raise EvaluationError(f"{what}: labels must be 0 or 1")
    if n_pos in (0, labels.size):
        kind = "positives (played tracks)" if n_pos else "negatives (unplayed tracks)"
        raise EvaluationError(
            f"{what} holds only {kind}: AUC and average precision are undefined; "
            "the split needs both played and unplayed tracks (a user with at least 3 played tracks)"
        )
    return labels


def ranking_metrics(labels: np.ndarray, scores: np.ndarray, what: str = "split") -> dict[str, float]:
    """``{"auc", "ap"}`` of ``scores`` (higher = more relevant) against binary ``labels``, both ``[n]``.

    Raises:
        EvaluationError: when the labels fail :func:`check_labels` or a score is not finite.
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if np.size(labels) != scores.size:
        raise EvaluationError(f"{what}: {np.size(labels)} labels but {scores.size} scores")
    labels = check_labels(labels, what)
    if not np.isfinite(scores).all():
        raise EvaluationError(f"{what}: the model returned non-finite scores")
    from sklearn.metrics import average_precision_score, roc_auc_score  # on first use: a slow import

    return {"auc": float(roc_auc_score(labels, scores)), "ap": float(average_precision_score(labels, scores))}


def bootstrap_intervals(
    labels: np.ndarray, scores: np.ndarray, n_resamples: int = 2000, level: float = 0.95, seed: int = 0
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals of AUC and average precision, ``{"auc": (lo, hi), "ap": (lo, hi)}``.

    Positives and negatives are resampled separately (a stratified bootstrap), so every resample holds
    both classes in the split's proportions. ``labels`` and ``scores`` are ``[n]``.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    labels = check_labels(labels, "the bootstrapped split")
    scores = np.asarray(scores, dtype=np.float64).ravel()
    pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    rng = np.random.default_rng(seed)
    draws = np.empty((n_resamples, 2))
    for row in range(n_resamples):
        chosen = np.concatenate((rng.choice(pos, pos.size), rng.choice(neg, neg.size)))
        resampled = labels[chosen]
        draws[row] = (
            roc_auc_score(resampled, scores[chosen]),
            average_precision_score(resampled, scores[chosen]),
        )
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(draws, [tail, 100 - tail], axis=0)
    return {"auc": (float(low[0]), float(high[0])), "ap": (float(low[1]), float(high[1]))}


def balanced_weights(labels: np.ndarray) -> np.ndarray:
    """Per-item weights ``[n]`` that give both classes the same total weight (a balanced prior)."""
    labels = check_labels(labels)
    n_pos = labels.sum()
    return np.where(labels == 1, 0.5 / n_pos, 0.5 / (labels.size - n_pos)) * labels.size


def reliability(
    labels: np.ndarray, probabilities: np.ndarray, n_bins: int = 10, weights: np.ndarray | None = None
) -> tuple[list[dict[str, float]], float]:
    """Reliability curve and expected calibration error (ECE) of predicted probabilities.

    ``probabilities`` ``[n]`` are binned into ``n_bins`` equal-width bins of [0, 1]; each non-empty bin
    reports its mean prediction, its (weighted) share of positives and its weight. The ECE is the
    weight-averaged gap between the two. With ``weights`` from :func:`balanced_weights` it measures
    calibration under a balanced prior, whatever the split's class ratio.
    """
    labels = np.asarray(labels, dtype=np.float64).ravel()
    probabilities = np.asarray(probabilities, dtype=np.float64).ravel()
    weights = np.ones_like(labels) if weights is None else np.asarray(weights, dtype=np.float64)
    bins = np.minimum((probabilities * n_bins).astype(int), n_bins - 1)
    curve, ece = [], 0.0
    total = weights.sum()
    for b in range(n_bins):
        inside = bins == b
        weight = weights[inside].sum()
        if weight == 0:
            continue
        predicted = float(np.average(probabilities[inside], weights=weights[inside]))
        observed = float(np.average(labels[inside], weights=weights[inside]))
        curve.append(
            {"bin_low": b / n_bins, "predicted": predicted, "observed": observed, "weight": weight / total}
        )
        ece += weight / total * abs(predicted - observed)
    return curve, float(ece)
