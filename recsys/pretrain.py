"""Train the shared FCN that every user's model starts from (Sacred experiment).

Run from the project root or from ``recsys/``::

    python recsys/pretrain.py with publish=True                 # models/shared.pt, used by init=shared
    python recsys/pretrain.py with n_steps=200 stem_shares=False
    python recsys/pretrain.py print_config

The network is the users' FCN with one output per catalogue target (genre, tags, tempo, loudness and,
with ``stem_shares=True`` on a catalogue with true stems, each stem's energy share in the crop heard;
see :mod:`recsys.pretraining`). It never sees a user's history. 10 % of the catalogue's tracks are
held out to choose the step kept.
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

from lemons.catalogue.base import Catalogue
from lemons.config import get_settings
from lemons.errors import ConfigError
from lemons.interactions import stable_seed
from lemons.io import atomic_path, write_json
from recsys.checkpoint import default_model_path, git_revision, save_checkpoint
from recsys.data import load_dataset, load_waveforms
from recsys.inference import resolve_device
from recsys.observers import prepare, run_commandline
from recsys.pretraining import SHARED_MODEL, PretrainConfig, catalogue_targets, pretrain, stem_energies

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
    val_every = 250  # score the held-out tracks every this many steps
    precision = "fp32"  # fp32 | bf16
    seed = 0
    num_workers = None  # threads decoding audio (None: the num_workers setting)
    device = None  # cpu | cuda | cuda:N | auto (None: the device setting)
    save_dir = ""  # '' = <runs_dir>/checkpoints/shared-<date>-<time>
    publish = False  # also copy the checkpoint to <models_dir>/shared.pt (init=shared starts from it)
    progress = True


def held_out(track_ids: list[str], seed: int, share: float = 0.1) -> set[str]:
    """A deterministic ``share`` of the tracks (at least one) kept out of pretraining for validation."""
    order = sorted(track_ids, key=lambda t: stable_seed("pretrain-val", seed, t))
    return set(order[: max(1, round(share * len(order)))])


def load_stem_energies(
    catalogue: Catalogue, track_ids: list[str], workers: int, progress: bool
) -> list[np.ndarray]:
    """Each track's stem energies ``[len(STEMS), n_blocks]`` (:func:`recsys.pretraining.stem_energies`)."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        jobs = pool.map(lambda t: stem_energies(catalogue.load_stems(t)), track_ids)
        return list(
            tqdm(jobs, total=len(track_ids), desc="stem energies", unit="track", disable=not progress)
        )


@ex.main
def main(
    _run, _config, dataset, stem_shares, min_tag_count, num_workers, device, save_dir, publish, progress
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
    energies = load_stem_energies(catalogue, ids, workers, progress) if stem_shares else None
    targets, values = catalogue_targets(tracks, energies, min_tag_count=min_tag_count)
    val_ids = held_out(ids, config.seed)
    is_val = np.array([t.id in val_ids for t in tracks])
    audio = load_waveforms(catalogue, ids, workers, progress, desc="load catalogue")
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
        train_energies=None
        if energies is None
        else [e for e, v in zip(energies, is_val, strict=True) if not v],
    )
    for entry in result.history:
        _run.log_scalar("val_loss", entry["val_loss"], int(entry["step"]))
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
