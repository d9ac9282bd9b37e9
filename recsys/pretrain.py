"""Train the shared FCN that every user's model starts from (Sacred experiment).

Run from the project root or from ``recsys/``::

    python recsys/pretrain.py with publish=True                 # models/shared.pt, used by init=shared
    python recsys/pretrain.py with n_steps=200 stem_shares=False
    python recsys/pretrain.py print_config
    python recsys/pretrain.py with save_dir=runs/checkpoints/shared-long n_steps=6000   # resumable
    python recsys/pretrain.py with init=shared share_weight=4 lr=5e-4 publish=True   # train it further

The network is the users' FCN with one output per catalogue target (genre, tags, tempo, loudness and,
with ``stem_shares=True`` on a catalogue with true stems, each stem's energy share in the crop heard;
see :mod:`recsys.pretraining`). It never sees a user's history. 10 % of the catalogue's tracks are
held out to choose the step kept. The run's state is saved in ``save_dir`` (``state.pt``) after every
validation: started again with the same ``save_dir`` and settings, an interrupted run goes on from there.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from sacred import Experiment
from tqdm import tqdm

from lemons.catalogue.base import STEMS, Catalogue
from lemons.config import get_settings
from lemons.errors import ConfigError, ModelError
from lemons.interactions import stable_seed
from lemons.io import atomic_path, write_json
from recsys.checkpoint import Recommender, default_model_path, git_revision, load_checkpoint, save_checkpoint
from recsys.data import load_dataset, load_waveforms
from recsys.inference import resolve_device
from recsys.observers import prepare, run_commandline
from recsys.pretraining import (
    SHARED_MODEL,
    PretrainConfig,
    StemData,
    Target,
    catalogue_targets,
    pretrain,
    stem_energies,
)

ex = prepare(Experiment("lemons-pretrain", save_git_info=False))


@ex.config
def config():
    """Sacred configuration of the shared model's training."""
    dataset = "builtin"  # builtin | msd: whose catalogue the shared model learns from
    stem_shares = True  # also learn each stem's energy share in the crop (needs a catalogue with stems)
    min_tag_count = 5  # tags carried by fewer tracks are not targets
    n_steps = 2000
    batch_size = 20
    input_length = 16000  # training crop in samples at 16 kHz (1 s)
    lr = 1e-3
    wd = 1e-4
    val_every = 250  # score the held-out crops every this many steps
    val_crops = 4  # crops per held-out track, evenly spaced
    remix = 0.5  # share of training crops remixed from their stems (stems muted or louder/quieter)
    share_weight = 1.0  # weight of the stem shares' loss against the labels' and the values' (1 each)
    init = ""  # '' = a new network | shared (models/shared.pt) | a shared model's checkpoint to train further
    lr_decay = "cosine"  # cosine | none
    precision = "fp32"  # fp32 | bf16
    seed = 0
    crop_seed = None  # seeds the random crops and remixes (None: seed); a further stage's own: new crops
    num_workers = None  # threads decoding audio (None: the num_workers setting)
    device = None  # cpu | cuda | cuda:N | auto (None: the device setting)
    save_dir = ""  # '' = <runs_dir>/checkpoints/shared-<date>-<time>
    publish = False  # also copy the checkpoint to <models_dir>/shared.pt (init=shared starts from it)
    progress = True


def held_out(track_ids: list[str], seed: int, share: float = 0.1) -> set[str]:
    """A deterministic ``share`` of the tracks (at least one) kept out of pretraining for validation."""
    order = sorted(track_ids, key=lambda t: stable_seed("pretrain-val", seed, t))
    return set(order[: max(1, round(share * len(order)))])


def load_stem_data(
    catalogue: Catalogue, track_ids: list[str], keep_stems: bool, workers: int, progress: bool
) -> StemData:
    """The tracks' stem energies (:func:`recsys.pretraining.stem_energies`) and, with ``keep_stems``,
    their stems ``[len(STEMS), samples]`` as float16 for remixes."""

    def load(track_id: str) -> tuple[np.ndarray, np.ndarray | None]:
        stems = catalogue.load_stems(track_id)
        packed = np.stack([stems[s] for s in STEMS]).astype(np.float16) if keep_stems else None
        return stem_energies(stems), packed

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        jobs = pool.map(load, track_ids)
        loaded = list(tqdm(jobs, total=len(track_ids), desc="stems", unit="track", disable=not progress))
    return StemData([e for e, _ in loaded], [s for _, s in loaded] if keep_stems else None)


def starting_model(init: str, targets: list[Target]) -> Recommender | None:
    """The shared model ``init`` names (``shared``: the published one; else a checkpoint's path), to be
    trained further, or ``None`` for a new network. Its outputs must be ``targets``."""
    if not init:
        return None
    path = default_model_path(SHARED_MODEL) if init == SHARED_MODEL else Path(init)
    if not path.is_file():
        raise ModelError(
            f"init={init!r}: no shared model at {path}; train one with "
            "`python recsys/pretrain.py with publish=True`, or leave init empty to start a new one"
        )
    start = load_checkpoint(path)
    if start.targets != [t.to_dict() for t in targets]:
        raise ConfigError(
            f"init={init!r}: {path} was trained on other targets than this catalogue's "
            f"({len(start.targets)} against {len(targets)}); leave init empty to start a new one"
        )
    return start


@ex.main
def main(
    _run, _config, dataset, stem_shares, min_tag_count, init, num_workers, device, save_dir, publish, progress
):
    """Train the shared FCN, save it (and publish it with ``publish=True``); returns a summary."""
    settings = get_settings()
    config = PretrainConfig(**{k: _config[k] for k in PretrainConfig.__dataclass_fields__})
    torch_device = resolve_device(device or settings.device)
    workers = settings.num_workers if num_workers is None else int(num_workers)
    catalogue = load_dataset(dataset).catalogue
    tracks = catalogue.tracks
    if stem_shares and not catalogue.has_stems:
        raise ConfigError(
            f"stem_shares=True needs a catalogue with true stems and {dataset} has none; "
            "run with stem_shares=False"
        )
    ids = [t.id for t in tracks]
    val_ids = held_out(ids, config.seed)
    is_val = np.array([t.id in val_ids for t in tracks])
    train_ids, held_out_ids = [t for t in ids if t not in val_ids], [t for t in ids if t in val_ids]
    train_stems = val_stems = None
    if stem_shares:
        train_stems = load_stem_data(catalogue, train_ids, config.remix > 0, workers, progress)
        val_stems = load_stem_data(catalogue, held_out_ids, False, workers, progress)
    energies = None
    if train_stems is not None and val_stems is not None:
        by_id = dict(zip(train_ids + held_out_ids, [*train_stems.energies, *val_stems.energies], strict=True))
        energies = [by_id[t] for t in ids]
    targets, values = catalogue_targets(tracks, energies, min_tag_count=min_tag_count)
    start = starting_model(init, targets)
    audio = load_waveforms(catalogue, ids, workers, progress, desc="load catalogue")
    fingerprint = hashlib.sha256(
        json.dumps(
            {"audio": [catalogue.audio_checksum(t.id) for t in tracks], "targets": values.tolist()},
            sort_keys=True,
        ).encode()
    ).hexdigest()
    out_dir = (
        Path(save_dir)
        if save_dir
        else (settings.runs_dir / "checkpoints" / f"{SHARED_MODEL}-{time.strftime('%Y%m%d-%H%M%S')}")
    )
    print(
        f"pretraining the shared model on {dataset}: {(~is_val).sum()} tracks, {is_val.sum()} held out, "
        f"{len(targets)} targets ({sum(t.kind == 'label' for t in targets)} labels), device {torch_device}"
    )
    result = pretrain(
        [a for a, v in zip(audio, is_val, strict=True) if not v],
        values[~is_val],
        [a for a, v in zip(audio, is_val, strict=True) if v],
        values[is_val],
        targets,
        config,
        torch_device,
        progress,
        train_stems=train_stems,
        val_stems=val_stems,
        state_path=out_dir / "state.pt",
        data_key=fingerprint + (f"/init:{start.checksum}" if start else ""),
        initial_state=start.model.state_dict() if start else None,
    )
    for entry in result.history:
        _run.log_scalar("val_loss", entry["val_loss"], int(entry["step"]))
    metrics = {
        "val_loss": result.val_loss,
        "train_seconds": round(result.seconds, 1),
        "device": str(torch_device),
        "torch_threads": torch.get_num_threads(),
    }
    path = save_checkpoint(
        out_dir / "model.pt",
        result.model,
        user="",
        dataset=dataset,
        data_fingerprint=fingerprint,
        config=dict(_config),
        metrics=metrics,
        selection="min loss on the held-out tracks",
        epoch=result.best_step,
        revision=git_revision(),
        targets=[t.to_dict() for t in targets],
        transfer={"from": init, "sha256": start.checksum} if start else None,
    )
    write_json(
        out_dir / "training.json", {"best_step": result.best_step, **metrics, "history": result.history}
    )
    _run.add_artifact(str(path), "model.pt")
    summary = {"checkpoint": str(path), "best_step": result.best_step, **metrics}
    if publish:
        target = default_model_path(SHARED_MODEL)
        with atomic_path(target) as tmp:
            shutil.copyfile(path, tmp)
        summary["published"] = str(target)
    print(
        f"best step {result.best_step}: held-out loss {result.val_loss:.4f}; {result.seconds:.0f} s; "
        f"checkpoint {path}" + (f"; published as {summary['published']}" if publish else "")
    )
    return summary


if __name__ == "__main__":
    run_commandline(ex, sys.argv)
