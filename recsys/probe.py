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

from recsys.model import FCN

#: Inverse L2 strength of the probe's logistic regression (on standardised features).
PROBE_C = 0.1
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


def probe_output_layer(
    model: FCN,
    embeddings: np.ndarray,
    labels: np.ndarray,
    c: float = PROBE_C,
    silent: np.ndarray | None = None,
) -> dict[str, Any]:
    """Fit the probe on ``embeddings`` ``[n, 2 × last channels]`` and ``labels`` ``[n]`` (0/1) and write
    it into ``model``'s output layer; returns what was fitted.

    ``silent`` ``[m, 2 × last channels]``: embeddings of silent or near-silent inputs, fitted as
    negatives weighing :data:`SILENT_WEIGHT` of the unplayed tracks in all. The features are
    standardised on the tracks alone.
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
    bias = float(fit.intercept_[0] - weight @ mean)
    with torch.no_grad():
        model.dense.weight.copy_(torch.from_numpy(weight[None]).to(model.dense.weight))
        model.dense.bias.fill_(bias)
    return {
        "c": c,
        "train_tracks": int(labels.size),
        "train_positives": n_positives,
        "silent_negatives": 0 if silent is None else len(silent),
        "silent_weight": SILENT_WEIGHT,
    }
