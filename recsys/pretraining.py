"""The shared FCN: one network trained on what a catalogue says about its tracks, to start users from.

Per-user histories are small, so each persona's FCN starts from a *shared* FCN (the same
architecture, :class:`recsys.model.FCN` with ``n_outputs`` heads) trained once on targets a real
catalogue has for every track, not on any user's taste:

- ``label`` targets (binary cross-entropy): the genre and every tag carried by at least
  ``min_tag_count`` tracks (the MSD has Last.fm tags; the built-in catalogue has its styles' tags);
- ``value`` targets (mean squared error on z-scores): tempo and loudness (the MSD has both);
- optionally (``stem_shares=True``) the energy share of each stem, which only a multitrack catalogue
  knows: it tells the network how prominent each source is, the very thing planted-taste personas like.

Training draws random 1 s crops like the per-user training and keeps the step with the lowest loss
on whole held-out tracks.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from lemons.catalogue.base import STEMS, Track
from lemons.errors import ConfigError, DataError
from lemons.interactions import stable_seed
from recsys.inference import place, score_waveforms
from recsys.model import FCN, ModelArgs
from recsys.train import autocast, random_crops

VALUE_ATTRIBUTES = ("tempo", "loudness")
SHARED_MODEL = "shared"  # published as <models_dir>/shared.pt


@dataclass(frozen=True)
class Target:
    """One output of the shared model: ``kind`` is ``label`` (0/1) or ``value`` (a z-score)."""

    name: str
    kind: str

    def to_dict(self) -> dict[str, str]:
        """Plain data for the checkpoint."""
        return {"name": self.name, "kind": self.kind}


def catalogue_targets(
    tracks: Sequence[Track], stem_shares: bool = False, min_tag_count: int = 5
) -> tuple[list[Target], np.ndarray]:
    """The shared model's targets and their values per track, ``[len(tracks), len(targets)]`` float32.

    Missing values (a track without a tempo) are ``nan`` and left out of the loss.
    """
    if not tracks:
        raise DataError("the catalogue is empty: nothing to pretrain the shared model on")
    counts = Counter(tag for track in tracks for tag in set(track.tags))
    genres = sorted({t.genre for t in tracks if t.genre})
    tags = sorted(tag for tag, n in counts.items() if n >= min_tag_count and tag not in genres)
    targets = [Target(f"genre:{g}", "label") for g in genres] + [Target(f"tag:{t}", "label") for t in tags]
    columns = [[float(t.genre == g) for t in tracks] for g in genres]
    columns += [[float(tag in t.tags) for t in tracks] for tag in tags]
    values = {a: [getattr(t, a) for t in tracks] for a in VALUE_ATTRIBUTES}
    if stem_shares:
        values.update({f"share_{s}": [t.extra.get(f"share_{s}") for t in tracks] for s in STEMS})
    for name, raw in values.items():
        column = np.array([np.nan if v is None else float(v) for v in raw])
        finite = np.isfinite(column)
        if finite.sum() < 2 or column[finite].std() == 0:
            continue  # nothing to learn from a missing or constant attribute
        targets.append(Target(name, "value"))
        columns.append(list((column - column[finite].mean()) / column[finite].std()))
    return targets, np.array(columns, dtype=np.float32).T


def target_loss(outputs: torch.Tensor, values: torch.Tensor, is_label: torch.Tensor) -> torch.Tensor:
    """Mean BCE over the label targets plus mean squared error over the value targets.

    ``outputs`` and ``values`` are ``[batch, n_targets]``; ``is_label`` ``[n_targets]`` is boolean;
    ``nan`` values are ignored.
    """
    known = torch.isfinite(values)
    clean = torch.where(known, values, torch.zeros_like(values))
    bce = nn.functional.binary_cross_entropy_with_logits(outputs, clean, reduction="none")
    squared = (outputs - clean) ** 2
    losses = torch.where(is_label, bce, squared)
    total = outputs.new_zeros(())
    for mask in (is_label, ~is_label):
        chosen = known & mask
        if chosen.any():
            total = total + losses[chosen].mean()
    return total


@dataclass(frozen=True)
class PretrainConfig:
    """How the shared model is trained (see :func:`pretrain`)."""

    n_steps: int = 2000
    batch_size: int = 20
    input_length: int = 16_000  # samples at 16 kHz (1 s)
    lr: float = 1e-3
    wd: float = 1e-4
    seed: int = 0
    val_every: int = 250  # score the held-out tracks every this many steps (and at the end)
    precision: str = "fp32"

    def __post_init__(self) -> None:
        for name in ("n_steps", "batch_size", "input_length", "val_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive whole number, got {value!r}")


@dataclass
class PretrainResult:
    """The shared model at its best step, with the step's validation loss, the history and the time."""

    model: FCN
    best_step: int
    val_loss: float
    history: list[dict[str, float]]
    seconds: float


def pretrain(
    train_audio: Sequence[np.ndarray],
    train_values: np.ndarray,
    val_audio: Sequence[np.ndarray],
    val_values: np.ndarray,
    targets: Sequence[Target],
    config: PretrainConfig,
    device: torch.device,
    progress: bool = True,
) -> PretrainResult:
    """Train a shared FCN with one output per target on 1 s crops; keep the best step on whole val tracks.

    ``*_audio`` are 16 kHz mono waveforms ``[samples]``; ``*_values`` ``[n_tracks, len(targets)]``.
    """
    if not len(train_audio) or not len(val_audio):
        raise DataError("pretraining needs tracks to train on and held-out tracks to validate on")
    rng = np.random.default_rng(stable_seed("pretrain-crops", config.seed))
    torch.manual_seed(config.seed)
    model = place(FCN(ModelArgs(n_outputs=len(targets))), device)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.wd)
    is_label = torch.tensor([t.kind == "label" for t in targets], device=device)
    values = torch.from_numpy(train_values)
    val_target = torch.from_numpy(val_values)
    history: list[dict[str, float]] = []
    best_loss, best_step, best_state = float("inf"), 0, None
    started = time.perf_counter()
    bar = tqdm(range(1, config.n_steps + 1), desc="pretrain", unit="step", disable=not progress)
    for step in bar:
        model.train()
        chosen = rng.integers(0, len(train_audio), config.batch_size)
        batch = torch.from_numpy(random_crops(train_audio, chosen, config.input_length, rng)).to(device)
        with autocast(config.precision, device):
            outputs = model(batch)
        loss = target_loss(outputs.float(), values[chosen].to(device), is_label)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
        if step % config.val_every and step != config.n_steps:
            continue
        with autocast(config.precision, device):
            val_outputs = score_waveforms(model, val_audio, device)
        val_loss = float(target_loss(torch.from_numpy(val_outputs), val_target, is_label.cpu()))
        history.append({"step": step, "train_loss": loss.item(), "val_loss": val_loss})
        if val_loss < best_loss:
            best_loss, best_step = val_loss, step
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        tqdm.write(f"step {step:5d}  train loss {loss.item():.4f}  val loss {val_loss:.4f}")
    assert best_state is not None
    model.load_state_dict(best_state)
    model.eval()
    return PretrainResult(model, best_step, best_loss, history, time.perf_counter() - started)
