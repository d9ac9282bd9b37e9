"""Evaluate recommenders on their users' test split (Sacred experiment).

Run from the project root or from ``recsys/``::

    python recsys/eval.py with user_name=all          # every user with a model in <models_dir>
    python recsys/eval.py with user_name=nina
    python recsys/eval.py with user_name=all recommendations=True   # + whole-catalogue top-5 and silence
    python recsys/eval.py with user_name=nina model_load_path=runs/checkpoints/nina-…/model.pt

Whole tracks are scored; AUC and average precision (the paper's MAP) are reported per user and as
mean ± std over users. ``<model>.eval.json`` and ``<model>.predictions.csv`` are written next to
each model, and for ``all`` the summary ``eval_report.json`` / ``eval_report.md`` next to the models,
with how well the shared model's embedding hears each stem when the models were made from it
(:mod:`recsys.hearing`; ``hearing=False`` leaves it out).
A model trained on other data than the dataset now holds is evaluated but reported as stale.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

from sacred import Experiment

from lemons.config import get_settings
from lemons.errors import ConfigError, ModelError
from lemons.io import atomic_open, read_json, write_json
from lemons.personas import DEMO_PERSONAS, PLANTED_PERSONAS
from recsys.checkpoint import load_checkpoint
from recsys.data import load_dataset
from recsys.evaluate import (
    StaleModelWarning,
    evaluate_user,
    recommendation_check,
    starting_point,
    summarise,
    summary_markdown,
    write_user_evaluation,
)
from recsys.hearing import shared_model_hearing
from recsys.inference import resolve_device
from recsys.observers import prepare, run_commandline
from recsys.pretraining import SHARED_MODEL

ex = prepare(Experiment("lemons-eval", save_git_info=False))


@ex.config
def config():
    """Sacred configuration of an evaluation run."""
    user_name = "all"  # a user (persona) name, or 'all' for every user that has a model
    dataset = "builtin"  # builtin | msd
    model_load_path = ""  # a checkpoint (one user) or a folder of <user>.pt ('' = the models_dir setting)
    split = "test"  # test | val | train
    num_workers = None  # threads decoding audio (None: the num_workers setting)
    device = None  # cpu | cuda | cuda:N | auto (None: the device setting)
    use_tensorboard = False  # also write the metrics as TensorBoard scalars next to the models
    recommendations = False  # also rank the whole catalogue (history left out): top-5 relevance, silence
    hearing = True  # user_name=all: how well the shared model's embedding hears each stem (recsys/hearing.py)
    progress = True


def model_paths(user_name: str, model_load_path: str, users: list[str]) -> dict[str, Path]:
    """``{user: checkpoint}`` for one user or for ``all``."""
    location = Path(model_load_path) if model_load_path else get_settings().models_dir
    if user_name != "all":
        return {user_name: location if location.suffix == ".pt" else location / f"{user_name}.pt"}
    if location.suffix == ".pt":
        raise ConfigError("user_name=all needs a folder of <user>.pt models as model_load_path, not one file")
    found = {user: location / f"{user}.pt" for user in users if (location / f"{user}.pt").is_file()}
    if not found:
        raise ModelError(
            f"no model of any user ({', '.join(users)}) in {location}; train one with "
            "`python recsys/experiment.py with user_name=NAME publish=True`"
        )
    return found


@ex.main
def evaluate(
    _run, user_name, dataset, model_load_path, split, num_workers, device, use_tensorboard, recommendations,
    hearing, progress,
):  # fmt: skip
    """Evaluate every chosen user's model on its split; write the reports; return the group means."""
    settings = get_settings()
    torch_device = resolve_device(device or settings.device)
    workers = settings.num_workers if num_workers is None else int(num_workers)
    data = load_dataset(dataset)
    if user_name != "all":
        data.user(user_name)  # unknown users fail before any model is read
    evaluations = []
    for user, path in model_paths(user_name, model_load_path, data.users).items():
        recommender = load_checkpoint(path, torch_device)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", StaleModelWarning)
            evaluation = evaluate_user(recommender, data, user, split, torch_device, workers, progress)
        for warning in caught:
            print(f"WARNING: {warning.message}", file=sys.stderr)
        if recommendations:
            evaluation.recommendations = recommendation_check(
                recommender, data, user, torch_device, workers=workers, progress=progress,
                cache_dir=settings.cache_dir,
            )  # fmt: skip
        cv_path = path.with_suffix(".cv.json")
        cross_validation = read_json(cv_path) if cv_path.is_file() else {}
        if cross_validation.get("model_sha256") == recommender.checksum:  # of this very model
            evaluation.cross_validation = cross_validation
        report_path, _ = write_user_evaluation(evaluation, data)
        _run.log_scalar("auc", evaluation.auc)
        _run.log_scalar("ap", evaluation.ap)
        _run.info.setdefault("users", {})[user] = evaluation.summary()
        stale = "  STALE" if evaluation.stale else ""
        print(
            f"{user:10s} AUC {evaluation.auc:.3f}  AP {evaluation.ap:.3f}  "
            f"({len(evaluation.track_ids)} {split} tracks){stale}  -> {report_path}"
        )
        evaluations.append(evaluation)

    groups = (
        {"demo personas": DEMO_PERSONAS, "planted-taste personas": PLANTED_PERSONAS}
        if dataset == "builtin"
        else {}
    )
    summary = summarise(evaluations, groups)
    summary.update({"dataset": dataset, "split": split})
    shared_path = evaluations[0].recommender.path.parent / f"{SHARED_MODEL}.pt"
    made_from_shared = any(starting_point(e.recommender) == "shared" for e in evaluations)
    if user_name == "all" and hearing and made_from_shared and shared_path.is_file():
        summary["hearing"] = shared_model_hearing(
            load_checkpoint(shared_path, torch_device), data.catalogue, settings.cache_dir, progress
        )
    for name, group in summary["groups"].items():
        print(
            f"{name}: AUC {group['auc_mean']:.3f} ± {group['auc_std']:.3f}, "
            f"AP {group['ap_mean']:.3f} ± {group['ap_std']:.3f} over {len(group['users'])} user(s)"
        )
    if user_name == "all":
        folder = evaluations[0].recommender.path.parent
        write_json(folder / "eval_report.json", summary)
        with atomic_open(folder / "eval_report.md", "w", encoding="utf-8") as handle:
            handle.write(summary_markdown(summary))
        print(f"report: {folder / 'eval_report.md'}")
    if use_tensorboard:
        from torch.utils.tensorboard import SummaryWriter

        with SummaryWriter(
            log_dir=str(evaluations[0].recommender.path.parent / "tensorboard-eval")
        ) as writer:
            for evaluation in evaluations:
                writer.add_scalar(f"{split}/auc/{evaluation.user}", evaluation.auc)
                writer.add_scalar(f"{split}/ap/{evaluation.user}", evaluation.ap)
    return {
        name: {k: v for k, v in group.items() if k != "users"} for name, group in summary["groups"].items()
    }


if __name__ == "__main__":
    run_commandline(ex, sys.argv)
