"""Where a user's model starts from (transfer) and how its relevance is calibrated on a balanced prior."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lemons.errors import ConfigError, ModelError
from recsys.checkpoint import default_model_path, load_checkpoint
from recsys.model import FCN, ModelArgs
from recsys.pretraining import SHARED_MODEL
from recsys.train import TrainConfig

INITS = ("shared", "scratch")
CALIBRATIONS = ("validation", "crossfit", "prior", "none")


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


def check_calibration(method: str, config: TrainConfig | None = None) -> None:
    """Refuse an unknown calibration method, or one ``config`` cannot give, before anything is trained."""
    if method not in CALIBRATIONS:
        raise ConfigError(f"calibration must be one of {', '.join(CALIBRATIONS)}, got {method!r}")
    if method == "crossfit" and config is not None and (config.head_init != "probe" or config.n_epochs):
        raise ConfigError(
            "calibration=crossfit calibrates on the probe's out-of-fold logits: it needs the probe alone "
            "(head_init=probe, n_epochs=0)"
        )


def platt_calibration(
    model: FCN, logits: np.ndarray, labels: np.ndarray, train_labels: np.ndarray, where: str
) -> dict[str, Any]:
    """Platt scaling on ``logits`` ``[n]`` of tracks labelled ``labels`` ``[n]``, under a balanced
    prior; returns what was done (``where``: which tracks, for the record).

    Fits ``relevance = sigmoid(scale × logit + offset)`` to the labels, each class weighing the same,
    and writes it into ``model``'s output layer. A model trained on 1 s crops and scored on whole
    tracks is overconfident, and the prior correction alone cannot say by how much. Where the fit
    cannot be trusted (a non-positive scale: the logits do not rank the labels), the prior
    correction is used instead.
    """
    from sklearn.linear_model import LogisticRegression

    fit = LogisticRegression(class_weight="balanced").fit(np.asarray(logits)[:, None], labels)
    scale, offset = float(fit.coef_[0, 0]), float(fit.intercept_[0])
    if not scale > 0:
        return {**prior_calibration(model, train_labels), "fallback": f"the fit on {where} had scale ≤ 0"}
    model.transform_logit(scale, offset)
    return {
        "logit_scale": scale,
        "logit_offset": offset,
        "fit_positives": int(labels.sum()),
        "fit_negatives": int(labels.size - labels.sum()),
        "rule": f"Platt scaling on {where}, both classes weighing the same: a balanced prior",
    }


def calibrate(
    model: FCN,
    method: str,
    train_labels: np.ndarray,
    val_labels: np.ndarray,
    val_logits: np.ndarray,
    probe_labels: np.ndarray | None = None,
    probe_logits: np.ndarray | None = None,
) -> dict[str, Any]:
    """Calibrate ``model``'s relevance in place by ``method`` (one of :data:`CALIBRATIONS`).

    ``validation``: Platt scaling on the validation split's logits. ``crossfit``: Platt scaling on
    the out-of-fold logits ``probe_logits`` of the tracks the probe alone was fitted on
    (:class:`recsys.train.TrainResult`), more tracks than a validation split, none scored by a probe
    that saw it; where there are none (classes too small for two folds), the prior correction.
    """
    check_calibration(method)
    if method == "validation":
        return platt_calibration(model, val_logits, val_labels, train_labels, "the validation split")
    if method == "crossfit":
        if probe_logits is None or probe_labels is None:
            return {**prior_calibration(model, train_labels), "fallback": "no out-of-fold probe logits"}
        return platt_calibration(
            model, probe_logits, probe_labels, train_labels, "the probe's out-of-fold logits of its tracks"
        )
    return prior_calibration(model, train_labels) if method == "prior" else {}
