"""Evaluating user models on a held-out split: AUC and average precision per user, mean ± std.

Per user, the report and the predictions are written next to the model::

    <model>.eval.json          metrics, split sizes, checkpoint facts, whether the model is stale
    <model>.predictions.csv    track_id, label, relevance, logit, title, artist, genre

and for several users a summary ``eval_report.json`` / ``eval_report.md`` in the models' folder.
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lemons.errors import ModelError
from lemons.io import atomic_open, write_json
from lemons.personas import PERSONA_NAMES, PERSONAS, get_persona, taste_ceiling
from recsys.checkpoint import Recommender
from recsys.data import Dataset, load_split, load_waveforms
from recsys.inference import score_waveforms, sigmoid
from recsys.metrics import balanced_weights, bootstrap_intervals, check_labels, ranking_metrics, reliability
from recsys.ranking import rank_tracks


class StaleModelWarning(UserWarning):
    """A model was trained on other data than the dataset now holds for its user."""


def stale_warning(recommender: Recommender, data: Dataset, user: str) -> str | None:
    """A message when the model no longer matches the dataset's data for ``user``, else ``None``."""
    if user not in data.splits or not recommender.is_stale(data.fingerprint(user)):
        return None
    return (
        f"the model of {user} ({recommender.path}) was trained on other data than the current "
        f"{recommender.dataset} dataset holds for {user} (data fingerprint differs), so its scores are "
        "not a held-out evaluation; retrain it with "
        f"`python recsys/experiment.py with user_name={user} publish=True` (or `make models`)"
    )


def starting_point(recommender: Recommender) -> str | None:
    """Where training started: ``shared`` (the shared model), ``checkpoint`` (a user checkpoint) or
    ``scratch``; ``None`` for a checkpoint that does not say how it was trained."""
    if recommender.transfer.get("sha256"):
        return "shared"
    if recommender.transfer:
        return "checkpoint"
    return "scratch" if recommender.config else None


@dataclass
class UserEvaluation:
    """One user's scores on a split, with the metrics, intervals and calibration computed from them."""

    user: str
    split: str
    track_ids: list[str]
    labels: np.ndarray
    logits: np.ndarray
    auc: float
    ap: float
    stale: bool
    recommender: Recommender
    taste_ceiling: float | None = None  # personas only: see lemons.personas.taste_ceiling
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)  # bootstrap 95 % of auc, ap
    reliability_curve: list[dict[str, float]] = field(default_factory=list)
    ece: float | None = None  # expected calibration error under a balanced prior
    recommendations: dict[str, Any] | None = None  # recommendation_check, when asked for
    cross_validation: dict[str, Any] | None = None  # <model>.cv.json of recsys/crossval.py, when present

    @property
    def relevance(self) -> np.ndarray:
        """``sigmoid(logits)``: the relevance of each track, ``[n]``."""
        return sigmoid(self.logits)

    def summary(self) -> dict[str, Any]:
        """The evaluation as plain values (what ``<model>.eval.json`` holds)."""
        rec = self.recommender
        return {
            "user": self.user,
            "split": self.split,
            "n_tracks": len(self.track_ids),
            "n_positives": int(self.labels.sum()),
            "auc": self.auc,
            "auc_ci95": list(self.intervals.get("auc", ())),
            "ap": self.ap,
            "ap_ci95": list(self.intervals.get("ap", ())),
            "ece_balanced": self.ece,
            "reliability_balanced": self.reliability_curve,
            "init": starting_point(rec),
            "prior_logit_offset": rec.calibration.get("prior_logit_offset"),
            "logit_scale": rec.calibration.get("logit_scale"),
            "logit_offset": rec.calibration.get("logit_offset"),
            "stale": self.stale,
            "taste_ceiling": self.taste_ceiling,
            "checkpoint": rec.path.name if rec.path else None,  # beside this report
            "dataset": rec.dataset,
            "data_fingerprint": rec.data_fingerprint,
            "best_epoch": rec.epoch,
            "epochs_run": rec.metrics.get("epochs_run"),
            "train_seconds": rec.metrics.get("train_seconds"),
            "train_device": rec.metrics.get("device"),
            "val_auc": rec.metrics.get("val_auc"),
            "val_ap": rec.metrics.get("val_ap"),
            "val_fitted": rec.config.get("probe_tracks") == "train+val",  # not held out
            "git_revision": rec.git_revision,
            "recommendations": self.recommendations,
            "cross_validation": {
                k: v
                for k, v in self.cross_validation.items()
                if k not in ("predictions", "reliability_balanced")
            }
            if self.cross_validation
            else None,
        }


def evaluate_user(
    recommender: Recommender,
    data: Dataset,
    user: str,
    split: str = "test",
    device: torch.device | None = None,
    workers: int = 2,
    progress: bool = True,
) -> UserEvaluation:
    """Score the user's ``split`` with whole tracks and compute AUC and average precision.

    Raises:
        ModelError: the checkpoint belongs to another user.
        EvaluationError: the split is empty or holds one class only.
    """
    if recommender.user and recommender.user != user:
        raise ModelError(f"{recommender.path} is the model of {recommender.user!r}, not of {user!r}")
    splits = data.user(user)
    message = stale_warning(recommender, data, user)
    if message:
        warnings.warn(message, StaleModelWarning, stacklevel=2)
    what = f"the {split} split of {user}"
    check_labels(splits.labels(split), what)  # before any audio is decoded
    audio = load_split(data, user, split, workers, progress)
    logits = score_waveforms(
        recommender.model, audio.waveforms, device, progress=progress, desc=f"score {user}"
    )
    metrics = ranking_metrics(audio.labels, logits, what)
    curve, ece = reliability(audio.labels, sigmoid(logits), weights=balanced_weights(audio.labels))
    ceiling = None
    if data.name == "builtin" and user in PERSONA_NAMES:
        ceiling = taste_ceiling(get_persona(user), data.catalogue, getattr(splits, split))
    return UserEvaluation(
        user,
        split,
        list(audio.track_ids),
        audio.labels,
        logits,
        metrics["auc"],
        metrics["ap"],
        message is not None,
        recommender,
        ceiling,
        bootstrap_intervals(audio.labels, logits),
        curve,
        ece,
    )


def recommendation_check(
    recommender: Recommender,
    data: Dataset,
    user: str,
    device: torch.device | None = None,
    top: int = 10,
    workers: int = 2,
    progress: bool = True,
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """What the user is recommended from the whole catalogue, history left out, and how silence compares.

    The catalogue is ranked by :func:`recsys.ranking.rank_tracks` (through the cached outputs of the
    model's frozen blocks when it has any). ``silence_at_or_above`` counts the top ``top`` tracks that
    digital silence of the same length scores at least as high as: silence is the all-off input of
    every explanation.
    """
    listened = data.listened(user)
    ranking = rank_tracks(
        recommender, data.catalogue, device=device, cache_dir=cache_dir, progress=progress, history=listened
    )
    best = ranking.top(top)
    chosen, exact = [r.track_id for r in best], np.array([r.logit for r in best])
    waveforms = load_waveforms(data.catalogue, chosen, workers, False)
    model = recommender.model
    silence = {
        n: float(score_waveforms(model, [np.zeros(n, np.float32)], device)[0]) for n in map(len, waveforms)
    }
    at_or_above = [silence[len(w)] >= z for w, z in zip(waveforms, exact, strict=True)]
    return {
        "n_candidates": len(ranking.tracks) + len(ranking.skipped),
        "n_history_excluded": ranking.n_excluded,
        "top": [
            {
                "track_id": t,
                "relevance": float(sigmoid(z)),
                "silence_relevance": float(sigmoid(silence[len(w)])),
            }
            for t, z, w in zip(chosen, exact, waveforms, strict=True)
        ],
        "top5_min_relevance": float(sigmoid(exact[:5]).min()),
        "silence_at_or_above": int(sum(at_or_above)),
    }


def write_user_evaluation(evaluation: UserEvaluation, data: Dataset) -> tuple[Path, Path]:
    """Write ``<model>.eval.json`` and ``<model>.predictions.csv`` beside the model; returns both paths."""
    model_path = evaluation.recommender.path
    if model_path is None:
        raise ModelError("the recommender was not loaded from a file; there is nowhere to write its report")
    report_path = model_path.with_suffix(".eval.json")
    predictions_path = model_path.with_suffix(".predictions.csv")
    write_json(report_path, evaluation.summary())
    order = np.argsort(-evaluation.logits, kind="stable")
    with atomic_open(predictions_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["track_id", "label", "relevance", "logit", "title", "artist", "genre"])
        for i in order:
            track = data.catalogue[evaluation.track_ids[i]]
            writer.writerow(
                [
                    track.id,
                    int(evaluation.labels[i]),
                    f"{evaluation.relevance[i]:.6f}",
                    f"{evaluation.logits[i]:.6f}",
                    track.title,
                    track.artist,
                    track.genre,
                ]
            )
    return report_path, predictions_path


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and population standard deviation (as the paper reports ``mean ± std`` over users)."""
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), float(array.std())


def summarise(evaluations: Sequence[UserEvaluation], groups: dict[str, Sequence[str]]) -> dict[str, Any]:
    """Per-user rows and mean ± std of AUC and AP over all users and over each named group present."""
    rows = [e.summary() for e in evaluations]
    summary: dict[str, Any] = {"users": rows, "groups": {}}
    named = {"all users": [e.user for e in evaluations], **groups}
    for name, members in named.items():
        chosen = [e for e in evaluations if e.user in set(members)]
        if not chosen:
            continue
        auc_mean, auc_std = mean_std([e.auc for e in chosen])
        ap_mean, ap_std = mean_std([e.ap for e in chosen])
        summary["groups"][name] = {
            "users": [e.user for e in chosen],
            "auc_mean": auc_mean,
            "auc_std": auc_std,
            "ap_mean": ap_mean,
            "ap_std": ap_std,
        }
    summary["stale_users"] = [e.user for e in evaluations if e.stale]
    return summary


def _interval(row: dict[str, Any], name: str) -> str:
    interval = row.get(f"{name}_ci95") or ()
    return f" [{interval[0]:.2f}, {interval[1]:.2f}]" if len(interval) == 2 else ""


def _recommendation_table(rows: list[dict[str, Any]]) -> list[str]:
    """Cross-validated AUC and what the whole catalogue recommends, for users that have them."""
    rows = [r for r in rows if r.get("cross_validation") or r.get("recommendations")]
    if not rows:
        return []
    lines = [
        "| user | cross-validated AUC [95 % CI] (tracks) | taste ceiling | CV ECE "
        "| top-5 new: lowest relevance | silence ≥ track in the top 10 |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        cv, rec = row.get("cross_validation") or {}, row.get("recommendations") or {}
        auc = f"{cv['auc']:.3f}{_interval(cv, 'auc')} ({cv['n_tracks']})" if cv else "–"
        ece = f"{cv['ece_balanced']:.3f}" if cv else "–"
        ceiling = f"{cv['taste_ceiling']:.3f}" if cv.get("taste_ceiling") is not None else "–"
        top5 = f"{rec['top5_min_relevance']:.3f}" if rec else "–"
        silence = f"{rec['silence_at_or_above']} / {len(rec['top'])}" if rec else "–"
        lines.append(f"| {row['user']} | {auc} | {ceiling} | {ece} | {top5} | {silence} |")
    return lines


def _hearing_table(hearing: dict[str, Any]) -> list[str]:
    """How well the shared model's embedding hears each stem's level (:mod:`recsys.hearing`)."""
    planted = {p.planted: p.name for p in PERSONAS if p.planted}
    lines = [
        f"| stem | level heard by {hearing['model']}: r | r within a genre (mean) | the planted taste of |",
        "|---|---|---|---|",
    ]
    for stem, row in hearing["stems"].items():
        within = f"{row['r_within_genre']:.2f}" if row.get("r_within_genre") is not None else "–"
        lines.append(f"| {stem} | {row['r']:.2f} | {within} | {planted.get(stem, '–')} |")
    return ["", *lines, ""]


def summary_markdown(summary: dict[str, Any]) -> str:
    """The evaluation as a markdown table (per user, then mean ± std per group)."""
    lines = [
        "| user | init | test tracks (played) | AUC [95 % CI] | taste ceiling | AP [95 % CI] | ECE | val AUC "
        "| best epoch / run | CPU train time |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in summary["users"]:
        train = f"{row['train_seconds'] / 60:.1f} min" if row.get("train_seconds") is not None else "?"
        if row.get("train_device") not in (None, "cpu"):
            train += f" ({row['train_device']})"
        stale = " (stale)" if row["stale"] else ""
        ceiling = f"{row['taste_ceiling']:.3f}" if row.get("taste_ceiling") is not None else "–"
        ece = f"{row['ece_balanced']:.3f}" if row.get("ece_balanced") is not None else "–"
        lines.append(
            f"| {row['user']}{stale} | {row.get('init') or '?'} | {row['n_tracks']} ({row['n_positives']}) "
            f"| {row['auc']:.3f}{_interval(row, 'auc')} | {ceiling} | {row['ap']:.3f}{_interval(row, 'ap')} "
            f"| {ece} | {row['val_auc']:.3f}{'*' if row.get('val_fitted') else ''} "
            f"| {row['best_epoch']} / {row['epochs_run']} | {train} |"
        )
    lines += ["", *_recommendation_table(summary["users"]), ""]
    if summary.get("hearing"):
        lines[-1:] = _hearing_table(summary["hearing"])
    for name, group in summary["groups"].items():
        lines.append(
            f"- {name} ({len(group['users'])}): AUC {group['auc_mean']:.3f} ± {group['auc_std']:.3f}, "
            f"AP (MAP) {group['ap_mean']:.3f} ± {group['ap_std']:.3f}"
        )
    lines.append(
        "- [95 % CI]: stratified bootstrap of the test split (2000 resamples); ECE: expected calibration "
        "error of the relevance in 10 bins, played and unplayed tracks weighted equally (a balanced prior)"
    )
    if any(row.get("val_fitted") for row in summary["users"]):
        lines.append(
            "- val AUC*: the probe was fitted on the validation split too (`probe_tracks=train+val`), so it "
            "is not a held-out score"
        )
    if any(row.get("cross_validation") for row in summary["users"]):
        lines.append(
            "- cross-validated: the recipe of each published model retrained on 5 stratified folds of the "
            "whole history, each fold scored by the model that did not see it (`recsys/crossval.py`)"
        )
    if any(row.get("recommendations") for row in summary["users"]):
        lines.append(
            "- top-5 new / silence: the whole built-in catalogue ranked with the listening history left out; "
            "silence is scored at the length of each track"
        )
    if any(row.get("taste_ceiling") is not None for row in summary["users"]):
        lines.append(
            "- taste ceiling: AUC of the persona's own taste model, told only what can be heard, on the "
            "same split; the histories are drawn with noise, so no recommender should expect more"
        )
    if summary.get("hearing"):
        lines.append(
            f"- level heard: a ridge regression from the pooled embedding of {summary['hearing']['model']} "
            "to log10 of each stem's energy share of the track (floored at -30 dB), fitted on 4 of 5 folds "
            f"of the {summary['hearing']['n_tracks']} catalogue tracks and scored by Pearson's r on the "
            "fifth; a model made from the shared model is a linear read-out of that embedding, so a "
            "planted persona's model ranks by its stem's prominence within a genre only as well as that r"
        )
    if summary["stale_users"]:
        lines.append(f"- stale models (trained on other data): {', '.join(summary['stale_users'])}")
    return "\n".join(lines) + "\n"
