"""Cross-validated evaluation of the users' training recipe (Sacred experiment).

Run from the project root or from ``recsys/``::

    python recsys/crossval.py with user_name=all          # every user with a model in <models_dir>
    python recsys/crossval.py with user_name=nina folds=5

One test split holds a tenth of a user's history, too few tracks for a narrow confidence interval.
Here every labelled track of the user (train, validation and test) is dealt into ``folds`` stratified
folds (:func:`lemons.interactions.cross_validation_splits`); for each fold a model is trained with the
configuration of the user's published model on the other folds and scores the held-out fold. The
pooled held-out scores give an AUC and average precision over the whole history, with bootstrap 95 %
intervals and the balanced-prior calibration, written to ``<models_dir>/<user>.cv.json`` and read
by ``eval.py``'s report. The published models themselves are not changed.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch
from sacred import Experiment

from lemons.config import get_settings
from lemons.interactions import cross_validation_splits
from lemons.io import write_json
from lemons.personas import PERSONA_NAMES, get_persona, taste_ceiling
from recsys.checkpoint import Recommender, load_checkpoint
from recsys.data import Dataset, LabelledAudio, load_dataset, load_waveforms
from recsys.eval import model_paths
from recsys.features import FeatureStore
from recsys.inference import resolve_device, score_waveforms, sigmoid
from recsys.metrics import balanced_weights, bootstrap_intervals, ranking_metrics, reliability
from recsys.observers import prepare, run_commandline
from recsys.train import TrainConfig, train_model
from recsys.transfer import calibrate, initial_model

ex = prepare(Experiment("lemons-crossval", save_git_info=False))


@ex.config
def config():
    """Sacred configuration: which users, how many folds, where the models are."""
    user_name = "all"  # a user (persona) name, or 'all' for every user that has a model
    dataset = "builtin"  # builtin | msd
    folds = 5
    seed = 0  # how the tracks are dealt into folds
    model_load_path = ""  # a folder of <user>.pt whose recipes are cross-validated ('' = models_dir)
    num_workers = None  # threads decoding audio (None: the num_workers setting)
    device = None  # cpu | cuda | cuda:N | auto (None: the device setting)
    progress = True


def cross_validate_user(
    recommender: Recommender,
    data: Dataset,
    user: str,
    folds: int,
    seed: int,
    device: torch.device,
    workers: int,
    progress: bool,
) -> dict:
    """Train one model per fold with ``recommender``'s recipe; the pooled held-out scores and metrics."""
    recipe = recommender.config
    config = TrainConfig(**{k: recipe[k] for k in TrainConfig.__dataclass_fields__ if k in recipe})
    shared_model = recipe.get("shared_model", "")
    init = recipe.get("init", "scratch")  # models from before transfer learning were trained from scratch
    calibration = recipe.get("calibration", "prior" if recipe.get("prior_correction") else "none")
    fold_splits = cross_validation_splits(data.user(user), folds, seed)
    ids = sorted({t for fold in fold_splits for t, _ in fold.test})
    audio = dict(
        zip(ids, load_waveforms(data.catalogue, ids, workers, progress, f"load {user}"), strict=True)
    )
    track_ids, labels, logits, seconds = [], [], [], []

    def labelled(items) -> LabelledAudio:
        return LabelledAudio(
            tuple(t for t, _ in items),
            tuple(audio[t] for t, _ in items),
            np.array([y for _, y in items], dtype=np.float32),
        )

    for k, fold in enumerate(fold_splits, 1):
        torch.manual_seed(config.seed)
        model, _ = initial_model(init, shared_model, "")
        started = time.perf_counter()
        train, val = labelled(fold.train), labelled(fold.val)
        result = train_model(
            model, train, val, config, device, progress=progress, feature_cache=get_settings().cache_dir
        )
        calibrate(
            model,
            calibration,
            train.labels,
            val.labels,
            result.best_val_logits,
            result.probe_labels,
            result.probe_logits,
        )
        test = labelled(fold.test)
        if config.freeze_blocks:  # through the frozen blocks' cached outputs
            store = FeatureStore(model, config.freeze_blocks, get_settings().cache_dir)
            fold_logits = store.score(store.features(test.waveforms), model)
        else:
            fold_logits = score_waveforms(model, test.waveforms, device)
        seconds.append(time.perf_counter() - started)
        track_ids += test.track_ids
        labels += list(test.labels)
        logits += list(fold_logits)
        print(f"{user}: fold {k}/{folds} AUC {ranking_metrics(test.labels, fold_logits)['auc']:.3f}")
    label_array, logit_array = np.array(labels), np.array(logits)
    metrics = ranking_metrics(label_array, logit_array, f"the cross-validated folds of {user}")
    curve, ece = reliability(label_array, sigmoid(logit_array), weights=balanced_weights(label_array))
    intervals = bootstrap_intervals(label_array, logit_array)
    ceiling = None
    if data.name == "builtin" and user in PERSONA_NAMES:
        ceiling = taste_ceiling(
            get_persona(user), data.catalogue, list(zip(track_ids, map(int, labels), strict=True))
        )
    return {
        "user": user,
        "model_sha256": recommender.checksum,  # the published model whose recipe was cross-validated
        "folds": folds,
        "seed": seed,
        "init": init,
        "n_tracks": len(track_ids),
        "n_positives": int(label_array.sum()),
        "auc": metrics["auc"],
        "auc_ci95": list(intervals["auc"]),
        "ap": metrics["ap"],
        "ap_ci95": list(intervals["ap"]),
        "taste_ceiling": ceiling,
        "ece_balanced": ece,
        "reliability_balanced": curve,
        "train_seconds_per_fold": [round(s, 1) for s in seconds],
        "predictions": [
            {"track_id": t, "label": int(y), "logit": float(z)}
            for t, y, z in zip(track_ids, labels, logits, strict=True)
        ],
    }


@ex.main
def main(_run, user_name, dataset, folds, seed, model_load_path, num_workers, device, progress):
    """Cross-validate every chosen user's recipe; write ``<model>.cv.json`` and return a summary."""
    settings = get_settings()
    torch_device = resolve_device(device or settings.device)
    workers = settings.num_workers if num_workers is None else int(num_workers)
    data = load_dataset(dataset)
    if user_name != "all":
        data.user(user_name)
    results = {}
    for user, path in model_paths(user_name, model_load_path, data.users).items():
        recommender = load_checkpoint(path, torch_device)
        result = cross_validate_user(recommender, data, user, folds, seed, torch_device, workers, progress)
        write_json(path.with_suffix(".cv.json"), result)
        _run.log_scalar("auc", result["auc"])
        low, high = result["auc_ci95"]
        print(
            f"{user:10s} cross-validated AUC {result['auc']:.3f} [{low:.3f}, {high:.3f}]  "
            f"AP {result['ap']:.3f}  ECE {result['ece_balanced']:.3f}  ({result['n_tracks']} tracks)"
        )
        results[user] = {k: v for k, v in result.items() if k not in ("predictions", "reliability_balanced")}
    return results


if __name__ == "__main__":
    run_commandline(ex, sys.argv)
