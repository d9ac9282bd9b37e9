"""A linear probe of the shared model's whole-track embedding, written into a user's output layer.

A user's FCN fine-tuned from the shared model starts with a random output layer, and the first
fine-tuning steps spend the little data a user has on finding a direction the shared embedding
already holds. A *probe* finds it first: a logistic regression on the pooled embedding
``[2 × last channels]`` of each whole training track (what the output layer sees when a track is
scored), on standardised features, both classes weighing the same. Its weights, mapped back to the
unstandardised embedding, become the output layer's, so the model before any fine-tuning step
already ranks tracks as the probe does (linear probing, then fine-tuning).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from recsys.model import FCN

#: Inverse L2 strength of the probe's logistic regression (on standardised features).
PROBE_C = 0.1


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
    model: FCN, embeddings: np.ndarray, labels: np.ndarray, c: float = PROBE_C
) -> dict[str, Any]:
    """Fit the probe on ``embeddings`` ``[n, 2 × last channels]`` and ``labels`` ``[n]`` (0/1) and write
    it into ``model``'s output layer; returns what was fitted."""
    from sklearn.linear_model import LogisticRegression

    mean, std = embeddings.mean(axis=0), embeddings.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    fit = LogisticRegression(C=c, class_weight="balanced", max_iter=5000)
    fit.fit((embeddings - mean) / std, labels)
    weight = fit.coef_[0] / std
    bias = float(fit.intercept_[0] - weight @ mean)
    with torch.no_grad():
        model.dense.weight.copy_(torch.from_numpy(weight[None]).to(model.dense.weight))
        model.dense.bias.fill_(bias)
    return {"c": c, "train_tracks": int(labels.size), "train_positives": int(labels.sum())}
