"""Ranking metrics of one user's split: ROC AUC and average precision (the paper's MAP per user)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

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
    return {"auc": float(roc_auc_score(labels, scores)), "ap": float(average_precision_score(labels, scores))}
