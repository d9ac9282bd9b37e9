"""Train one user's recommender (FCN) as a Sacred experiment.

Run from the project root or from ``recsys/``::

    python recsys/experiment.py with user_name=elizabeth
    python recsys/experiment.py with user_name=nina n_epochs=2
    python recsys/experiment.py with user_name=nina init=shared      # fine-tuned from models/shared.pt
    python recsys/experiment.py with user_name=nina publish=True   # becomes the model the app uses
    python recsys/experiment.py -m 127.0.0.1:27017:lemons with user_name=nina   # also log to MongoDB
    python recsys/experiment.py print_config

Each epoch trains on a fresh random 1 s crop of every training track and validates on whole tracks;
train loss, validation loss, AUC and average precision are logged to Sacred (and TensorBoard with
``use_tensorboard=True``). The best epoch (see ``recsys.train.SELECTION_RULE``) is saved as a
self-describing checkpoint in ``save_dir`` and attached to the run as the artifact ``model.pt``.
Runs are stored under the ``runs_dir`` setting (``runs/`` in the checkout) unless ``-F``/``-m`` say otherwise.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sacred import Experiment
from sacred.run import Run

from lemons.config import get_settings
from lemons.io import atomic_path, write_json
from recsys.checkpoint import default_model_path, git_revision, save_checkpoint
from recsys.data import load_dataset, load_split
from recsys.inference import resolve_device
from recsys.model import count_parameters
from recsys.observers import prepare, run_commandline
from recsys.train import SELECTION_RULE, EpochResult, TrainConfig, train_model
from recsys.transfer import calibrate, check_calibration, initial_model

ex = prepare(Experiment("lemons-train", save_git_info=False))


@ex.config
def config():
    """Sacred configuration of a user's training run."""
    user_name = "elizabeth"  # the user (persona) whose taste the model learns
    dataset = "builtin"  # builtin | msd
    use_tensorboard = False  # also write TensorBoard logs into save_dir/tensorboard
    log_step = 10  # log the training loss every this many batches
    val_every = 1  # validate (whole tracks) every this many epochs
    input_length = 16000  # training crop in samples at 16 kHz (1 s)
    init = "scratch"  # scratch: xavier init, as the paper | shared: fine-tune the shared FCN (transfer)
    shared_model = ""  # the shared FCN for init=shared ('' = <models_dir>/shared.pt)
    model_load_path = ""  # start from this user checkpoint instead (overrides init)
    batch_size = 20
    n_epochs = 1000  # upper bound; early stopping usually ends training sooner; 0: the probe alone
    n_steps = 0  # if > 0: train about this many batches whatever the data size (sets n_epochs)
    patience = 30  # stop after this many epochs without a better validation AUC/AP (0 = never)
    lr = 3e-4 if init == "shared" else 1e-3  # fine-tuning steps are smaller than the paper's
    wd = 1e-4
    silent_per_batch = 2  # silent / near-silent negative crops added to every batch
    freeze_blocks = 3 if init == "shared" else 0  # shared conv blocks kept as they are (0-4)
    head_init = "probe" if init == "shared" else "random"  # probe: output layer starts as a linear probe
    probe_c = 0.1  # the probe's inverse L2 strength | auto: chosen by the AUC of out-of-fold logits
    probe_tracks = "train"  # train | train+val: the probe alone (n_epochs=0) may fit the validation split too
    # validation: Platt scaling on the validation split | crossfit: on the probe's out-of-fold logits
    # (the probe alone, n_epochs=0) | prior | none
    calibration = "validation"
    num_workers = None  # threads decoding audio (None: the num_workers setting)
    device = None  # cpu | cuda | cuda:N | auto (None: the device setting, 'auto' by default)
    precision = "fp32"  # fp32 | bf16: bf16 autocast trains about 2x faster on CPUs with AMX/AVX512-BF16
    seed = 0  # initial weights, dropout, crops and batch order
    save_dir = ""  # '' = <runs_dir>/checkpoints/<user_name>-<date>-<time>
    publish = False  # also copy the checkpoint to <models_dir>/<user_name>.pt (used by eval and the app)
    progress = True  # progress bars


def publish_checkpoint(path: Path, user: str) -> Path:
    """Copy a checkpoint to ``<models_dir>/<user>.pt`` atomically; the old model's eval files go."""
    target = default_model_path(user)
    with atomic_path(target) as tmp:
        shutil.copyfile(path, tmp)
    for stale in (target.with_suffix(s) for s in (".eval.json", ".predictions.csv", ".cv.json")):
        stale.unlink(missing_ok=True)
    return target


class RunLog:
    """Training losses and metrics to the Sacred run, and to TensorBoard in ``folder`` when given."""

    def __init__(self, run: Run, folder: Path | None) -> None:
        self.run, self.writer = run, None
        if folder is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(folder))

    def step(self, step: int, loss: float) -> None:
        """Log a training batch's loss."""
        self.run.log_scalar("train.batch_loss", loss, step)
        if self.writer is not None:
            self.writer.add_scalar("train/batch_loss", loss, step)

    def epoch(self, result: EpochResult) -> None:
        """Log an epoch's losses and validation metrics."""
        for name, value in result.metrics().items():
            self.run.log_scalar(name, value, result.epoch)
            if self.writer is not None:
                self.writer.add_scalar(name.replace("_", "/", 1), value, result.epoch)

    def close(self) -> None:
        """Flush and close TensorBoard's files."""
        if self.writer is not None:
            self.writer.close()


@ex.main
def train(_run, _config, user_name, dataset, use_tensorboard, init, shared_model, model_load_path,
          calibration, num_workers, device, save_dir, publish, progress):  # fmt: skip
    """Train one user's model, save it as a self-describing checkpoint, and publish it if asked."""
    settings = get_settings()
    config = TrainConfig(**{k: _config[k] for k in TrainConfig.__dataclass_fields__})
    check_calibration(calibration, config)
    torch_device = resolve_device(device or settings.device)
    workers = settings.num_workers if num_workers is None else int(num_workers)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed % 2**32)

    data = load_dataset(dataset)
    fingerprint = data.fingerprint(user_name)
    train_audio = load_split(data, user_name, "train", workers, progress)
    val_audio = load_split(data, user_name, "val", workers, progress)
    model, transfer = initial_model(init, shared_model, model_load_path)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_dir = Path(save_dir) if save_dir else settings.runs_dir / "checkpoints" / f"{user_name}-{stamp}"
    print(
        f"training {user_name} on {dataset}: {len(train_audio.labels)} train / {len(val_audio.labels)} "
        f"validation tracks, {count_parameters(model):,} parameters, device {torch_device}"
    )

    log = RunLog(_run, out_dir / "tensorboard" if use_tensorboard else None)
    try:
        result = train_model(
            model,
            train_audio,
            val_audio,
            config,
            torch_device,
            log.epoch,
            log.step,
            progress,
            settings.cache_dir,
        )
    finally:
        log.close()

    calibration_done = calibrate(
        model,
        calibration,
        train_audio.labels,
        val_audio.labels,
        result.best_val_logits,
        result.probe_labels,
        result.probe_logits,
    )
    metrics = {
        "val_auc": result.best.val_auc,
        "val_ap": result.best.val_ap,
        "val_loss": result.best.val_loss,
        "epochs_run": result.history[-1].epoch,
        "train_seconds": round(result.seconds, 1),
        "device": str(torch_device),
        "torch_threads": torch.get_num_threads(),
    }
    path = save_checkpoint(
        out_dir / "model.pt",
        model,
        user=user_name,
        dataset=dataset,
        data_fingerprint=fingerprint,
        config=dict(_config),
        metrics=metrics,
        selection=SELECTION_RULE,
        epoch=result.best_epoch,
        revision=git_revision(),
        calibration=calibration_done,
        transfer=transfer,
    )
    summary = {
        "user": user_name,
        "dataset": dataset,
        "checkpoint": str(path),
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "selection": SELECTION_RULE,
        **metrics,
    }
    write_json(out_dir / "training.json", {**summary, "history": [vars(h) for h in result.history]})
    _run.add_artifact(str(path), "model.pt")
    if publish:
        summary["published"] = str(publish_checkpoint(path, user_name))
    print(
        f"best epoch {result.best_epoch} of {result.history[-1].epoch}: val AUC {result.best.val_auc:.3f}, "
        f"val AP {result.best.val_ap:.3f}; {result.seconds:.0f} s; checkpoint {path}"
        + (f"; published as {summary['published']}" if publish else "")
    )
    return summary


if __name__ == "__main__":
    run_commandline(ex, sys.argv)
