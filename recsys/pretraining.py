"""The shared FCN: one network trained on what a catalogue says about its tracks, to start users from.

Per-user histories are small, so each persona's FCN starts from a *shared* FCN (the same
architecture, :class:`recsys.model.FCN` with ``n_outputs`` heads) trained once on targets a real
catalogue has for every track, not on any user's taste:

- ``label`` targets (binary cross-entropy): the genre and every tag carried by at least
  ``min_tag_count`` tracks (the MSD has Last.fm tags; the built-in catalogue has its styles' tags);
- ``value`` targets (mean squared error on z-scores): tempo and loudness (the MSD has both);
- optionally, for a catalogue with true stems, ``share`` targets (squared error on the level,
  ``log10`` of the share): the energy share of each stem *in the crop the network hears*,
  computed from the stems' energies (:func:`stem_energies`). A track-level share would tell a 1 s
  crop in which the piano is silent that the piano is prominent; the crop's own share tells the
  network how prominent each source is at every moment, the very thing planted-taste personas
  like and source explanations switch on and off.

Training draws random 1 s crops like the per-user training. With stems, a share of the crops is
*remixed* (``remix``): each stem is muted or its gain changed, and the share targets follow the
new mix exactly. Muting stems is how source explanations perturb a track, so the network learns
to hear what is left when a source is switched off, and the 1 000-odd tracks of a catalogue give an
unlimited number of distinct mixes. The step kept is the one with the lowest loss on fixed crops
of held-out tracks (``val_crops`` evenly spaced per track, the mix as it is, share targets of the
crop), the very quantity training lowers. Each kind of target weighs the same in the loss, however
many targets it has.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from lemons.catalogue.base import STEMS, Track
from lemons.errors import ConfigError, DataError, ModelError
from lemons.interactions import stable_seed
from lemons.io import atomic_path
from recsys.inference import place
from recsys.model import FCN, ModelArgs
from recsys.train import autocast, random_crop_starts, random_crops

VALUE_ATTRIBUTES = ("tempo", "loudness")
TARGET_KINDS = ("label", "value", "share")
STEM_BLOCK = 400  # samples (25 ms at 16 kHz) per block of stem energy
SHARE_FLOOR = 1e-3  # shares below -30 dB count as -30 dB in the loss
REMIX_MUTE = 0.4  # chance that a remixed crop leaves a stem out
REMIX_GAIN_DB = 6.0  # the stems kept in a remix get a gain drawn uniformly within ± this
SHARED_MODEL = "shared"  # published as <models_dir>/shared.pt


@dataclass(frozen=True)
class Target:
    """One output of the shared model: ``kind`` is ``label`` (0/1), ``value`` (z-score) or ``share`` (0-1)."""

    name: str
    kind: str

    def to_dict(self) -> dict[str, str]:
        """Plain data for the checkpoint."""
        return {"name": self.name, "kind": self.kind}


def catalogue_targets(
    tracks: Sequence[Track], energies: Sequence[np.ndarray] | None = None, min_tag_count: int = 5
) -> tuple[list[Target], np.ndarray]:
    """The shared model's targets and their values per track, ``[len(tracks), len(targets)]`` float32.

    ``energies``: per track, the stems' energies ``[len(STEMS), n_blocks]`` (:func:`stem_energies`);
    given, the last ``len(STEMS)`` targets are the stems' shares of the whole track's energy.
    Missing values (a track without a tempo, a silent track's shares) are ``nan`` and left out of the loss.
    """
    if not tracks:
        raise DataError("the catalogue is empty: nothing to pretrain the shared model on")
    counts = Counter(tag for track in tracks for tag in set(track.tags))
    genres = sorted({t.genre for t in tracks if t.genre})
    tags = sorted(tag for tag, n in counts.items() if n >= min_tag_count and tag not in genres)
    targets = [Target(f"genre:{g}", "label") for g in genres] + [Target(f"tag:{t}", "label") for t in tags]
    columns = [[float(t.genre == g) for t in tracks] for g in genres]
    columns += [[float(tag in t.tags) for t in tracks] for tag in tags]
    for name in VALUE_ATTRIBUTES:
        column = np.array([np.nan if getattr(t, name) is None else float(getattr(t, name)) for t in tracks])
        finite = np.isfinite(column)
        if finite.sum() < 2 or column[finite].std() == 0:
            continue  # nothing to learn from a missing or constant attribute
        targets.append(Target(name, "value"))
        columns.append(list((column - column[finite].mean()) / column[finite].std()))
    if energies is not None:
        if len(energies) != len(tracks):
            raise DataError(f"{len(energies)} stem energies for {len(tracks)} tracks")
        shares = np.stack([energy_shares(e.sum(axis=1)) for e in energies])
        targets += [Target(f"share:{stem}", "share") for stem in STEMS]
        columns += list(shares.T)
    return targets, np.array(columns, dtype=np.float32).T


def stem_energies(stems: Mapping[str, np.ndarray]) -> np.ndarray:
    """``[len(STEMS), n_blocks]`` float32: each stem's energy (sum of squares) per :data:`STEM_BLOCK` samples.

    ``stems`` maps every name in :data:`STEMS` to a 16 kHz waveform ``[samples]``; a trailing
    partial block is dropped.
    """
    missing = [s for s in STEMS if s not in stems]
    if missing:
        raise DataError(f"stem energies need the stems {', '.join(STEMS)}; missing {', '.join(missing)}")
    n_blocks = min(len(stems[s]) for s in STEMS) // STEM_BLOCK
    return np.stack(
        [
            np.square(stems[s][: n_blocks * STEM_BLOCK], dtype=np.float64).reshape(n_blocks, -1).sum(axis=1)
            for s in STEMS
        ]
    ).astype(np.float32)


def energy_shares(energy: np.ndarray) -> np.ndarray:
    """Each stem's share of ``energy`` ``[len(STEMS), ...]`` (first axis); ``nan`` where all are silent."""
    total = energy.sum(axis=0, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, energy / total, np.nan)


def crop_shares(
    energies: Sequence[np.ndarray],
    indices: Sequence[int],
    starts: np.ndarray,
    length: int,
    gains: np.ndarray | None = None,
) -> np.ndarray:
    """``[len(indices), len(STEMS)]``: the stems' energy shares in crops of ``length`` samples at ``starts``.

    A crop counts the blocks of :data:`STEM_BLOCK` samples that start inside it. ``gains``
    ``[len(indices), len(STEMS)]``: the amplitude each stem was mixed at (:func:`remix_gains`; default 1).
    """
    first = -(-starts // STEM_BLOCK)
    last = (starts + length) // STEM_BLOCK
    energy = np.stack([energies[i][:, a:b].sum(axis=1) for i, a, b in zip(indices, first, last, strict=True)])
    if gains is not None:
        energy = energy * np.square(gains, dtype=np.float64)
    return energy_shares(energy.T).T.astype(np.float32)


def remix_gains(n_crops: int, probability: float, rng: np.random.Generator) -> np.ndarray:
    """``[n_crops, len(STEMS)]`` float32 amplitude gains: a row of ones keeps the mix as it is.

    With ``probability`` a row is a remix: each stem is left out with chance :data:`REMIX_MUTE`
    (at least one stays) and the others get a gain drawn uniformly within ±:data:`REMIX_GAIN_DB` dB.
    """
    gains = np.ones((n_crops, len(STEMS)), dtype=np.float32)
    for row in np.flatnonzero(rng.random(n_crops) < probability):
        kept = rng.random(len(STEMS)) >= REMIX_MUTE
        kept[rng.integers(len(STEMS))] = True
        decibels = rng.uniform(-REMIX_GAIN_DB, REMIX_GAIN_DB, len(STEMS))
        gains[row] = np.where(kept, 10 ** (decibels / 20), 0.0)
    return gains


def remix_crops(
    stems: Sequence[np.ndarray], indices: Sequence[int], starts: np.ndarray, length: int, gains: np.ndarray
) -> np.ndarray:
    """``[len(indices), length]`` float32: each crop mixed from its track's stems ``[len(STEMS), samples]``
    (16 kHz) at ``gains`` ``[len(indices), len(STEMS)]``."""
    crops = np.empty((len(indices), length), dtype=np.float32)
    for row, (index, start) in enumerate(zip(indices, starts, strict=True)):
        crops[row] = gains[row] @ stems[index][:, start : start + length].astype(np.float32)
    return crops


def evenly_spaced_starts(
    lengths: Sequence[int], per_track: int, length: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(indices, starts)``: ``per_track`` crop starts of ``length`` samples spread over each track."""
    indices = np.repeat(np.arange(len(lengths)), per_track)
    starts = np.concatenate([np.linspace(0, n - length, per_track).astype(np.int64) for n in lengths])
    return indices, starts


def kind_losses(outputs: torch.Tensor, values: torch.Tensor, kinds: Sequence[str]) -> dict[str, torch.Tensor]:
    """The mean loss of each kind of target present; ``nan`` values are ignored.

    ``label``: binary cross-entropy on the logit; ``value``: squared error; ``share``: squared error
    of the output against the share's level, ``log10(share)`` (bels relative to the mix) floored at
    :data:`SHARE_FLOOR`. Levels weigh a piano at 2 % of a metal track against one at 6 % (a 5 dB
    difference) as much as one at 20 % against 60 %: what sets a track apart within its genre.
    ``outputs`` and ``values`` are ``[batch, n_targets]``; ``kinds`` has one kind per target.
    """
    kind_of = np.array(kinds)
    known = torch.isfinite(values)
    clean = torch.where(known, values, torch.zeros_like(values))
    is_label = torch.from_numpy(kind_of == "label").to(outputs.device)
    is_share = torch.from_numpy(kind_of == "share").to(outputs.device)
    goal = torch.where(is_share, torch.log10(clean.clamp(min=SHARE_FLOOR)), clean)
    bce = nn.functional.binary_cross_entropy_with_logits(outputs, clean, reduction="none")
    losses = torch.where(is_label, bce, (outputs - goal) ** 2)
    by_kind = {}
    for kind in TARGET_KINDS:
        chosen = known & torch.from_numpy(kind_of == kind).to(outputs.device)
        if chosen.any():
            by_kind[kind] = losses[chosen].mean()
    return by_kind


def target_loss(
    outputs: torch.Tensor, values: torch.Tensor, kinds: Sequence[str], share_weight: float = 1.0
) -> torch.Tensor:
    """The sum of :func:`kind_losses`: each kind of target weighs the same, however many targets it
    has, but for ``share`` targets, which weigh ``share_weight``."""
    losses = kind_losses(outputs, values, kinds)
    return sum(
        (v * (share_weight if k == "share" else 1.0) for k, v in losses.items()), outputs.new_zeros(())
    )


@dataclass(frozen=True)
class PretrainConfig:
    """How the shared model is trained (see :func:`pretrain`)."""

    n_steps: int = 2000
    batch_size: int = 20
    input_length: int = 16_000  # samples at 16 kHz (1 s)
    lr: float = 1e-3
    wd: float = 1e-4
    seed: int = 0
    val_every: int = 250  # score the held-out crops every this many steps (and at the end)
    val_crops: int = 4  # crops per held-out track, evenly spaced
    remix: float = 0.5  # share of training crops remixed from their stems (with stems only)
    lr_decay: str = "cosine"  # cosine: the learning rate falls to 0 at n_steps | none
    precision: str = "fp32"
    share_weight: float = 1.0  # weight of the share targets' loss against the other kinds' (each 1)
    crop_seed: int | None = None  # seeds the crops and remixes (None: seed; the held-out tracks keep seed's)

    def __post_init__(self) -> None:
        for name in ("n_steps", "batch_size", "input_length", "val_every", "val_crops"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive whole number, got {value!r}")
        if not isinstance(self.remix, int | float) or not 0 <= self.remix <= 1:
            raise ConfigError(f"remix is the share of crops remixed, from 0 to 1; got {self.remix!r}")
        if self.lr_decay not in ("cosine", "none"):
            raise ConfigError(f"lr_decay must be 'cosine' or 'none', got {self.lr_decay!r}")
        weight = self.share_weight
        if not isinstance(weight, int | float) or isinstance(weight, bool) or not 0 <= weight < math.inf:
            raise ConfigError(f"share_weight must be a number from 0 up, got {weight!r}")
        seed = self.crop_seed
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ConfigError(f"crop_seed must be a whole number or None, got {seed!r}")


@dataclass(frozen=True)
class StemData:
    """What share targets and remixes need of a set of tracks, in the order of their waveforms.

    ``energies``: per track ``[len(STEMS), n_blocks]`` (:func:`stem_energies`); ``stems``: per track
    the stems ``[len(STEMS), samples]`` at 16 kHz (float16 to halve the memory; ``None``: no remixes).
    """

    energies: Sequence[np.ndarray]
    stems: Sequence[np.ndarray] | None = None


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
    train_stems: StemData | None = None,
    val_stems: StemData | None = None,
    state_path: Path | None = None,
    data_key: str = "",
    initial_state: Mapping[str, torch.Tensor] | None = None,
) -> PretrainResult:
    """Train a shared FCN with one output per target on 1 s crops; keep the best step on held-out crops.

    ``*_audio`` are 16 kHz mono waveforms ``[samples]``; ``*_values`` ``[n_tracks, len(targets)]``;
    ``*_stems`` (needed with ``share`` targets, the last ``len(STEMS)``): the tracks' stem energies,
    from which each crop's own shares are computed, and, for remixes, the training tracks' stems.
    With ``state_path`` the run's state is saved there after every validation and a run that finds
    one (same ``config`` and ``data_key``) goes on from it: an interrupted run loses at most
    ``val_every`` steps, and its result is the one an uninterrupted run would have had.
    ``initial_state``: a shared model's weights to go on training (same targets), instead of a new network.
    """
    if not len(train_audio) or not len(val_audio):
        raise DataError("pretraining needs tracks to train on and held-out tracks to validate on")
    kinds = [t.kind for t in targets]
    n_shares = kinds.count("share")
    if n_shares and (train_stems is None or val_stems is None or kinds[-n_shares:] != ["share"] * n_shares):
        raise DataError("share targets come last and need the tracks' stem energies")
    run = PretrainRun(config, len(targets), device, data_key)
    if initial_state is not None:
        run.model.load_state_dict(initial_state)
    if state_path is not None and state_path.is_file():
        run.resume(state_path)
        print(f"resuming the shared model's training at step {run.step} of {config.n_steps} ({state_path})")
    values = torch.from_numpy(train_values)
    val_batch, val_target = held_out_crops(val_audio, val_values, val_stems, kinds, config)
    started = time.perf_counter() - run.seconds
    bar = tqdm(range(run.step + 1, config.n_steps + 1), desc="pretrain", unit="step", disable=not progress)
    for step in bar:
        loss = run.train_step(
            *training_batch(train_audio, values, train_stems, kinds, config, run.rng), kinds
        )
        run.step = step
        bar.set_postfix(loss=f"{loss:.3f}")
        if step % config.val_every and step != config.n_steps:
            continue
        val_outputs = crop_outputs(run.model, val_batch, config, device)
        by_kind = {f"val_loss_{k}": float(v) for k, v in kind_losses(val_outputs, val_target, kinds).items()}
        run.validated({"step": step, "train_loss": loss, **by_kind})
        run.seconds = time.perf_counter() - started
        if state_path is not None:
            run.save(state_path)
        tqdm.write(
            f"step {step:5d}  train loss {loss:.4f}  val loss {run.history[-1]['val_loss']:.4f}  "
            + "  ".join(f"{k[4:]} {v:.4f}" for k, v in by_kind.items())
        )
    if run.best_state is None:
        raise DataError("pretraining ended before its first validation")
    run.model.load_state_dict(run.best_state)
    run.model.eval()
    return PretrainResult(run.model, run.best_step, run.best_loss, run.history, run.seconds)


class PretrainRun:
    """The state of a shared model's training: network, optimiser, schedule, random draws, best step.

    :meth:`save` writes all of it (tensors and JSON text, read back with ``torch.load(weights_only=True)``),
    :meth:`resume` reads it back, refusing a state saved with other settings or other data.
    """

    FORMAT = "lemons-pretrain-state/1"

    def __init__(self, config: PretrainConfig, n_outputs: int, device: torch.device, data_key: str) -> None:
        self.config, self.data_key, self.device = config, data_key, device
        crop_seed = config.seed if config.crop_seed is None else config.crop_seed
        self.rng = np.random.default_rng(stable_seed("pretrain-crops", crop_seed))
        torch.manual_seed(config.seed)
        self.model = place(FCN(ModelArgs(n_outputs=n_outputs)), device)
        self.optimiser = torch.optim.Adam(self.model.parameters(), lr=config.lr, weight_decay=config.wd)
        cosine = config.lr_decay == "cosine"
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimiser,
            lambda step: 0.5 * (1 + math.cos(math.pi * step / config.n_steps)) if cosine else 1.0,
        )
        self.step, self.seconds = 0, 0.0
        self.best_loss, self.best_step = float("inf"), 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.history: list[dict[str, float]] = []

    def train_step(self, batch: np.ndarray, batch_values: torch.Tensor, kinds: Sequence[str]) -> float:
        """One optimiser step on crops ``[batch_size, input_length]`` (16 kHz) and their targets
        ``[batch_size, n_targets]`` (:func:`training_batch`); returns the batch's loss."""
        self.model.train()
        with autocast(self.config.precision, self.device):
            outputs = self.model(torch.from_numpy(batch).to(self.device))
        loss = target_loss(outputs.float(), batch_values.to(self.device), kinds, self.config.share_weight)
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        self.optimiser.step()
        self.schedule.step()
        return loss.item()

    def validated(self, entry: dict[str, float]) -> None:
        """Record a validation (``val_loss_<kind>`` entries) and keep the weights if it is the best yet:
        the lowest ``val_loss``, the kinds' losses weighed as in training."""
        weight = {"val_loss_share": self.config.share_weight}
        entry["val_loss"] = sum(v * weight.get(k, 1.0) for k, v in entry.items() if k.startswith("val_loss_"))
        self.history.append(entry)
        if entry["val_loss"] < self.best_loss:
            self.best_loss, self.best_step = entry["val_loss"], self.step
            self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}

    def settings(self) -> str:
        """What a saved state must have been trained with to be resumed: the config and the data."""
        return json.dumps({"config": asdict(self.config), "data": self.data_key}, sort_keys=True)

    def save(self, path: Path) -> None:
        """Write the whole state to ``path`` atomically."""
        payload = {
            "format": self.FORMAT,
            "settings": self.settings(),
            "progress": json.dumps(
                {
                    "step": self.step,
                    "seconds": self.seconds,
                    "best_loss": self.best_loss,
                    "best_step": self.best_step,
                    "history": self.history,
                    "rng": self.rng.bit_generator.state,
                }
            ),
            "model": self.model.state_dict(),
            "best_state": self.best_state,
            "optimiser": self.optimiser.state_dict(),
            "schedule": self.schedule.state_dict(),
            "torch_rng": torch.get_rng_state(),
        }
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)

    def resume(self, path: Path) -> None:
        """Go on from the state saved at ``path``."""
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # a damaged or foreign file
            raise ModelError(
                f"cannot read the pretraining state {path} ({error}); delete it to start over"
            ) from None
        if not isinstance(payload, dict) or payload.get("format") != self.FORMAT:
            raise ModelError(f"{path} is not a pretraining state of this version; delete it to start over")
        if payload["settings"] != self.settings():
            raise ConfigError(
                f"{path} was saved by a run with other settings or data; use another save_dir, or the "
                "same settings to go on from it"
            )
        state = json.loads(payload["progress"])
        self.model.load_state_dict(payload["model"])
        self.optimiser.load_state_dict(payload["optimiser"])
        self.schedule.load_state_dict(payload["schedule"])
        torch.set_rng_state(payload["torch_rng"])
        self.rng.bit_generator.state = state["rng"]
        self.best_state = payload["best_state"]
        self.step, self.seconds, self.history = state["step"], state["seconds"], state["history"]
        self.best_loss, self.best_step = state["best_loss"], state["best_step"]


def training_batch(
    audio: Sequence[np.ndarray],
    values: torch.Tensor,
    stems: StemData | None,
    kinds: Sequence[str],
    config: PretrainConfig,
    rng: np.random.Generator,
) -> tuple[np.ndarray, torch.Tensor]:
    """Random crops ``[batch_size, input_length]`` of random tracks, some remixed, and their targets.

    A remixed crop keeps its track's labels, is left out of the ``value`` targets (muting the drums
    changes the loudness) and gets the shares of its own mix.
    """
    chosen = rng.integers(0, len(audio), config.batch_size)
    starts = random_crop_starts(audio, chosen, config.input_length, rng)
    batch = random_crops(audio, chosen, config.input_length, rng, starts)
    batch_values = values[chosen].clone()
    gains = None
    if stems is not None and stems.stems is not None and config.remix > 0:
        gains = remix_gains(len(chosen), config.remix, rng)
        remixed = np.flatnonzero((gains != 1).any(axis=1))
        batch[remixed] = remix_crops(
            stems.stems, chosen[remixed], starts[remixed], config.input_length, gains[remixed]
        )
        batch_values[np.ix_(remixed, np.flatnonzero(np.array(kinds) == "value"))] = torch.nan
    n_shares = list(kinds).count("share")
    if n_shares:
        assert stems is not None
        batch_values[:, -n_shares:] = torch.from_numpy(
            crop_shares(stems.energies, chosen, starts, config.input_length, gains)
        )
    return batch, batch_values


def held_out_crops(
    audio: Sequence[np.ndarray],
    values: np.ndarray,
    stems: StemData | None,
    kinds: Sequence[str],
    config: PretrainConfig,
) -> tuple[np.ndarray, torch.Tensor]:
    """Fixed validation crops ``[len(audio) × val_crops, input_length]`` (the mix as it is), their targets."""
    indices, starts = evenly_spaced_starts([len(a) for a in audio], config.val_crops, config.input_length)
    crops = random_crops(audio, indices, config.input_length, np.random.default_rng(0), starts)
    crop_values = torch.from_numpy(values[indices].copy())
    n_shares = list(kinds).count("share")
    if n_shares:
        assert stems is not None
        crop_values[:, -n_shares:] = torch.from_numpy(
            crop_shares(stems.energies, indices, starts, config.input_length)
        )
    return crops, crop_values


@torch.inference_mode()
def crop_outputs(model: FCN, crops: np.ndarray, config: PretrainConfig, device: torch.device) -> torch.Tensor:
    """The model's outputs ``[n_crops, n_outputs]`` (float32, on the CPU) for crops ``[n_crops, samples]``."""
    model.eval()
    outputs = []
    for first in range(0, len(crops), config.batch_size):
        batch = torch.from_numpy(crops[first : first + config.batch_size]).to(device)
        with autocast(config.precision, device):
            outputs.append(model(batch).float().cpu())
    return torch.cat(outputs)
