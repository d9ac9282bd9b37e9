"""Where a user's model starts from (transfer) and how its relevance is calibrated on a balanced prior."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lemons.errors import ConfigError, ModelError
from recsys.checkpoint import default_model_path, load_checkpoint
from recsys.model import FCN, ModelArgs
from recsys.pretraining import SHARED_MODEL

INITS = ("shared", "scratch")
CALIBRATIONS = ("validation", "prior", "none")


def initial_model(init: str, shared_model: str, model_load_path: str) -> tuple[FCN, dict]:
    """The network training starts from, and what it was transferred from (``{}`` for none)."""
    if model_load_path:
        return load_checkpoint(model_load_path).model, {"from": str(model_load_path)}
    if init == "scratch":
        return FCN(ModelArgs()), {}
    if init not in INITS:
        raise ConfigError(f"init must be one of {', '.join(INITS)}, got {init!r}")
    path = Path(shared_model) if shared_model else default_model_path(SHARED_MODEL)
    if not path.is_file():
        raise ModelError(
            f"init=shared needs the shared model {path}; train it with "
            "`python recsys/pretrain.py with publish=True`, or train from scratch with init=scratch"
        )
    shared = load_checkpoint(path)
    model = FCN(ModelArgs())
    model.load_backbone(shared.model)
    return model, {"from": path.name, "sha256": shared.checksum, "targets": len(shared.targets)}


def prior_offset(labels: np.ndarray) -> float:
    """Logit shift from the training prior to a balanced one: ``log(n_negatives / n_positives)``."""
    n_pos = float(labels.sum())
    return float(np.log((labels.size - n_pos) / n_pos))


def prior_calibration(model: FCN, train_labels: np.ndarray) -> dict[str, Any]:
    """Shift ``model``'s logit by :func:`prior_offset` of its training labels; returns what was done.

    A model trained with three unplayed tracks per played one learns a posterior under that prior;
    the shifted logit is the posterior under a balanced prior, so a relevance of 0.5 means "as likely
    liked as not", whatever ratio the training split had.
    """
    offset = prior_offset(train_labels)
    model.transform_logit(offset=offset)
    return {
        "prior_logit_offset": offset,
        "train_positives": int(train_labels.sum()),
        "train_negatives": int(train_labels.size - train_labels.sum()),
        "rule": "logit + log(negatives / positives) of the training split: a balanced prior",
    }


def check_calibration(method: str) -> None:
    """Refuse an unknown calibration method before anything is trained."""
    if method not in CALIBRATIONS:
        raise ConfigError(f"calibration must be one of {', '.join(CALIBRATIONS)}, got {method!r}")


def validation_calibration(
    model: FCN, val_logits: np.ndarray, val_labels: np.ndarray, train_labels: np.ndarray
) -> dict[str, Any]:
    """Platt scaling on the validation split under a balanced prior; returns what was done.

    Fits ``relevance = sigmoid(scale × logit + offset)`` to the validation tracks' labels, each class
    weighing the same, and writes it into ``model``'s output layer. A model trained on 1 s crops and
    scored on whole tracks is overconfident, and the prior correction alone cannot say by how much.
    Where the fit cannot be trusted (a non-positive scale: the validation logits do not rank the
    labels), the prior correction is used instead.
    """
    from sklearn.linear_model import LogisticRegression

    fit = LogisticRegression(class_weight="balanced").fit(np.asarray(val_logits)[:, None], val_labels)
    scale, offset = float(fit.coef_[0, 0]), float(fit.intercept_[0])
    if not scale > 0:
        return {**prior_calibration(model, train_labels), "fallback": "validation fit had scale ≤ 0"}
    model.transform_logit(scale, offset)
    return {
        "logit_scale": scale,
        "logit_offset": offset,
        "val_positives": int(val_labels.sum()),
        "val_negatives": int(val_labels.size - val_labels.sum()),
        "rule": "Platt scaling on the validation split, both classes weighing the same: a balanced prior",
    }


def calibrate(
    model: FCN, method: str, train_labels: np.ndarray, val_labels: np.ndarray, val_logits: np.ndarray
) -> dict[str, Any]:
    """Calibrate ``model``'s relevance in place by ``method`` (one of :data:`CALIBRATIONS`)."""
    check_calibration(method)
    if method == "validation":
        return validation_calibration(model, val_logits, val_labels, train_labels)
    return prior_calibration(model, train_labels) if method == "prior" else {}
