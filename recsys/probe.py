"""A linear probe of the shared model's whole-track embedding, written into a user's output layer.

A user's FCN fine-tuned from the shared model starts with a random output layer, and the first
fine-tuning steps spend the little data a user has on finding a direction the shared embedding
already holds. A *probe* finds it first: a logistic regression on the pooled embedding
``[2 × last channels]`` of each whole training track (what the output layer sees when a track is
scored), on standardised features, both classes weighing the same. Its weights, mapped back to the
unstandardised embedding, become the output layer's, so the model before any fine-tuning step
already ranks tracks as the probe does (linear probing, then fine-tuning).

A probe fitted on tracks alone has never heard silence, and silence is the all-off input every
explanation starts from: for a taste the embedding holds weakly, silence can land on the liked side
of the probe's direction and outscore the very tracks it recommends. Silent and near-silent inputs
(:func:`recsys.train.silent_crops`) are therefore negatives of the fit too, weighing together
:data:`SILENT_WEIGHT` of what the unplayed tracks weigh.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from lemons.errors import DataError
from lemons.interactions import stable_seed
from recsys.model import FCN

#: Inverse L2 strength of the probe's logistic regression (on standardised features).
PROBE_C = 0.1
#: The strengths ``probe_c="auto"`` chooses from, by the AUC of out-of-fold logits.
PROBE_CS = (0.01, 0.03, 0.1, 0.3, 1.0)
#: Folds of the probe's own tracks for its out-of-fold logits (fewer where a class is smaller).
PROBE_FOLDS = 5
#: Weight of all silent negatives together, as a share of the unplayed tracks' weight.
SILENT_WEIGHT = 0.25


@torch.inference_mode()
def pooled_embeddings(model: FCN, features: Sequence[np.ndarray], depth: int) -> np.ndarray:
    """``[len(features), 2 × last channels]`` float64: the pooled embedding of each whole track.

    ``features`` are block-``depth`` feature maps ``[channels, mels, time]``
    (:class:`recsys.features.FeatureStore`). The blocks after ``depth`` run in eval mode and are left
    in the mode they were in.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    rows = [
        model.pool(model.blocks[depth:](torch.from_numpy(f[None].astype(np.float32)).to(device)))[0]
        for f in features
    ]
    model.train(was_training)
    return torch.stack(rows).double().cpu().numpy()


def fit_probe(
    embeddings: np.ndarray, labels: np.ndarray, c: float, silent: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """The probe's weight ``[2 × last channels]`` and bias on the unstandardised embedding.

    A logistic regression of ``labels`` ``[n]`` (0/1) on ``embeddings`` ``[n, 2 × last channels]``
    standardised on the tracks, both classes weighing the same, with inverse L2 strength ``c``.
    ``silent`` ``[m, 2 × last channels]``: embeddings of silent or near-silent inputs, fitted as
    negatives weighing :data:`SILENT_WEIGHT` of the unplayed tracks in all.
    """
    from sklearn.linear_model import LogisticRegression

    mean, std = embeddings.mean(axis=0), embeddings.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    n_positives = int(labels.sum())
    n_negatives = labels.size - n_positives
    weights = np.where(labels == 1, labels.size / (2 * n_positives), labels.size / (2 * n_negatives))
    inputs, targets = embeddings, labels
    if silent is not None and len(silent):
        inputs, targets = np.vstack((embeddings, silent)), np.concatenate((labels, np.zeros(len(silent))))
        each = SILENT_WEIGHT * labels.size / 2 / len(silent)  # the unplayed tracks weigh labels.size / 2
        weights = np.concatenate((weights, np.full(len(silent), each)))
    fit = LogisticRegression(C=c, max_iter=5000)
    fit.fit((inputs - mean) / std, targets, sample_weight=weights)
    weight = fit.coef_[0] / std
    return weight, float(fit.intercept_[0] - weight @ mean)


def probe_folds(labels: np.ndarray, seed: int, n_folds: int = PROBE_FOLDS) -> np.ndarray | None:
    """``[n]``: the fold of each track, played and unplayed tracks dealt separately (stratified);
    ``None`` where a class has fewer tracks than two folds need."""
    n_folds = min(n_folds, int(labels.sum()), int(labels.size - labels.sum()))
    if n_folds < 2:
        return None
    rng = np.random.default_rng(stable_seed("probe-folds", seed))
    folds = np.empty(labels.size, dtype=int)
    for label in (0, 1):
        members = np.flatnonzero(labels == label)
        folds[members[rng.permutation(len(members))]] = np.arange(len(members)) % n_folds
    return folds


def out_of_fold_logits(
    embeddings: np.ndarray, labels: np.ndarray, c: float, folds: np.ndarray, silent: np.ndarray | None = None
) -> np.ndarray:
    """``[n]``: each track's logit from a probe fitted on the other folds (the silent negatives in all)."""
    logits = np.empty(labels.size)
    for fold in np.unique(folds):
        held_out = folds == fold
        weight, bias = fit_probe(embeddings[~held_out], labels[~held_out], c, silent)
        logits[held_out] = embeddings[held_out] @ weight + bias
    return logits


def probe_output_layer(
    model: FCN,
    embeddings: np.ndarray,
    labels: np.ndarray,
    c: float | str = PROBE_C,
    silent: np.ndarray | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Fit the probe (:func:`fit_probe`) on ``embeddings`` ``[n, 2 × last channels]`` and ``labels``
    ``[n]`` (0/1) and write it into ``model``'s output layer; returns what was fitted.

    ``c`` ``"auto"`` chooses the inverse L2 strength among :data:`PROBE_CS` by the AUC of the
    out-of-fold logits (:func:`out_of_fold_logits`, :data:`PROBE_FOLDS` folds dealt with ``seed``).
    The returned ``out_of_fold_logits`` ``[n]`` (``None`` where the classes are too small for two
    folds) are those of the chosen ``c``: each track scored by a probe that never saw it, what a
    calibration on the probe's own tracks needs (``calibration=crossfit``, :func:`recsys.transfer.calibrate`).
    """
    from sklearn.metrics import roc_auc_score

    folds = probe_folds(labels, seed)
    if c == "auto" and folds is None:
        raise DataError(
            f"probe_c='auto' needs at least 2 played and 2 unplayed tracks; got {int(labels.sum())} "
            f"of {labels.size} played: set probe_c to a number"
        )
    candidates = PROBE_CS if c == "auto" else (float(c),)
    held_out = (
        {}
        if folds is None
        else {k: out_of_fold_logits(embeddings, labels, k, folds, silent) for k in candidates}
    )
    held_out_auc = {k: float(roc_auc_score(labels, v)) for k, v in held_out.items()}
    if c == "auto":
        c = max(held_out_auc, key=held_out_auc.__getitem__)  # ties: the stronger regularisation
    weight, bias = fit_probe(embeddings, labels, float(c), silent)
    with torch.no_grad():
        model.dense.weight.copy_(torch.from_numpy(weight[None]).to(model.dense.weight))
        model.dense.bias.fill_(bias)
    return {
        "c": float(c),
        "held_out_auc": {str(k): round(v, 4) for k, v in held_out_auc.items()},
        "train_tracks": int(labels.size),
        "train_positives": int(labels.sum()),
        "silent_negatives": 0 if silent is None else len(silent),
        "silent_weight": SILENT_WEIGHT,
        "out_of_fold_logits": held_out.get(float(c)),
    }
