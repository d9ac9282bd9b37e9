"""Training one user's FCN: random 1 s crops each epoch, whole-track validation, early stopping.

The epoch kept is the best by validation AUC, ties broken by validation average precision and then
by lower validation loss (:data:`SELECTION_RULE`). Every random choice (initial weights, dropout,
crop positions, batch order) follows ``seed``, so a CPU run is repeatable.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from lemons.errors import AudioError, ConfigError, DataError
from lemons.interactions import stable_seed
from recsys.data import LabelledAudio
from recsys.features import FeatureStore, feature_width, freeze_prefix, random_feature_crops
from recsys.inference import place, score_waveforms
from recsys.metrics import check_labels, ranking_metrics
from recsys.model import FCN
from recsys.probe import PROBE_C, pooled_embeddings, probe_output_layer

#: Silent and near-silent inputs the probe is fitted on as negatives (see :mod:`recsys.probe`).
PROBE_SILENT_INPUTS = 8
SELECTION_RULE = "max validation AUC, then max validation average precision, then min validation loss"
#: Arithmetic of the forward passes in training and validation; weights and optimiser stay float32.
PRECISIONS = ("fp32", "bf16")
HEAD_INITS = ("random", "probe")
PROBE_TRACKS = ("train", "train+val")


def autocast(precision: str, device: torch.device) -> torch.autocast:
    """Mixed-precision context for ``precision`` (a no-op for ``fp32``)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


@dataclass(frozen=True)
class TrainConfig:
    """How one user's FCN is trained (the Sacred configuration's training part)."""

    input_length: int = 16_000  # training crop, samples at 16 kHz (1 s)
    batch_size: int = 20
    n_epochs: int = 1000  # 0 with head_init=probe: the probe alone, no fine-tuning step
    n_steps: int = (
        0  # if > 0, train for about this many batches instead: n_epochs = ⌈n_steps / batches per epoch⌉
    )
    patience: int = 30  # stop after this many epochs without a better validation score; 0 = never
    lr: float = 1e-3
    wd: float = 1e-4
    seed: int = 0
    log_step: int = 10  # report the training loss every this many batches
    val_every: int = 1  # validate every this many epochs (the last epoch is always validated)
    precision: str = "fp32"  # fp32 | bf16 (autocast; about 2x faster on CPUs with AMX/AVX512-BF16)
    silent_per_batch: int = 2  # silent or near-silent crops added to every batch as negatives
    freeze_blocks: int = 0  # conv blocks kept as they are (transfer); trained on their cached outputs
    head_init: str = "random"  # random | probe: the output layer starts as a linear probe (recsys.probe)
    probe_c: float | str = PROBE_C  # the probe's inverse L2 strength; auto: chosen by out-of-fold AUC
    probe_tracks: str = "train"  # train | train+val (the probe alone, n_epochs=0: nothing to select)

    def __post_init__(self) -> None:
        for name in ("input_length", "batch_size", "n_epochs", "log_step", "val_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{name} must be a positive whole number, got {value!r}")
            if value == 0 and name == "n_epochs":
                if self.head_init != "probe" or self.n_steps:
                    raise ConfigError("n_epochs=0 (the probe alone) needs head_init=probe and n_steps=0")
            elif value == 0:
                raise ConfigError(f"{name} must be a positive whole number, got 0")
        if not isinstance(self.n_steps, int) or self.n_steps < 0:
            raise ConfigError(f"n_steps must be a whole number ≥ 0, got {self.n_steps!r}")
        if not isinstance(self.freeze_blocks, int) or not 0 <= self.freeze_blocks <= 4:
            raise ConfigError(f"freeze_blocks must be a whole number from 0 to 4, got {self.freeze_blocks!r}")
        if not isinstance(self.silent_per_batch, int) or self.silent_per_batch < 0:
            raise ConfigError(f"silent_per_batch must be a whole number ≥ 0, got {self.silent_per_batch!r}")
        if not isinstance(self.patience, int) or self.patience < 0:
            raise ConfigError(f"patience must be a whole number ≥ 0, got {self.patience!r}")
        if self.head_init not in HEAD_INITS:
            raise ConfigError(f"head_init must be one of {', '.join(HEAD_INITS)}, got {self.head_init!r}")
        if self.head_init == "probe" and not self.freeze_blocks:
            raise ConfigError("head_init=probe fits the output layer on frozen blocks: set freeze_blocks ≥ 1")
        if self.probe_c != "auto" and (
            not isinstance(self.probe_c, int | float)
            or isinstance(self.probe_c, bool)
            or not self.probe_c > 0
        ):
            raise ConfigError(f"probe_c must be a number > 0 or 'auto', got {self.probe_c!r}")
        if self.probe_tracks not in PROBE_TRACKS:
            raise ConfigError(
                f"probe_tracks must be one of {', '.join(PROBE_TRACKS)}, got {self.probe_tracks!r}"
            )
        if self.probe_tracks == "train+val" and self.n_epochs:
            raise ConfigError(
                "probe_tracks=train+val fits the probe on the validation split, which then cannot choose "
                "among fine-tuning epochs: use it with n_epochs=0 (the probe alone)"
            )
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if not self.lr > 0 or not self.wd >= 0:
            raise ConfigError(f"lr must be > 0 and wd ≥ 0, got lr={self.lr!r}, wd={self.wd!r}")


@dataclass(frozen=True)
class EpochResult:
    """What one epoch measured; validation values are ``None`` on epochs without validation."""

    epoch: int
    train_loss: float
    val_loss: float | None  # None on epochs without validation
    val_auc: float | None
    val_ap: float | None
    seconds: float
    best: bool

    def metrics(self) -> dict[str, float]:
        """The measured values of this epoch (validation ones only when it was validated)."""
        return {
            k: v for k, v in asdict(self).items() if k not in ("epoch", "best") and v is not None and v == v
        }  # v == v: not NaN (the training loss of epoch 0, before any step)


@dataclass
class TrainResult:
    """The kept epoch, its weights and the whole history of a training run."""

    best_epoch: int
    best: EpochResult
    best_state: dict[str, torch.Tensor]
    best_val_logits: np.ndarray  # [n validation tracks], the kept epoch's
    #: With head_init=probe: the labels ``[n]`` of the tracks the probe was fitted on and their
    #: out-of-fold logits ``[n]`` (``None`` where the classes were too small for two folds).
    probe_labels: np.ndarray | None = None
    probe_logits: np.ndarray | None = None
    history: list[EpochResult] = field(default_factory=list)
    stopped_early: bool = False
    seconds: float = 0.0


def random_crop_starts(
    waveforms: Sequence[np.ndarray], indices: Sequence[int], length: int, rng: np.random.Generator
) -> np.ndarray:
    """``[len(indices)]``: a uniformly random start (in samples) of a ``length`` crop in each chosen track."""
    return np.array([int(rng.integers(0, len(waveforms[i]) - length + 1)) for i in indices], dtype=np.int64)


def random_crops(
    waveforms: Sequence[np.ndarray],
    indices: Sequence[int],
    length: int,
    rng: np.random.Generator,
    starts: np.ndarray | None = None,
) -> np.ndarray:
    """``[len(indices), length]``: one crop from each chosen waveform, at ``starts`` or at random offsets."""
    if starts is None:
        starts = random_crop_starts(waveforms, indices, length, rng)
    crops = np.empty((len(indices), length), dtype=np.float32)
    for row, (index, start) in enumerate(zip(indices, starts, strict=True)):
        crops[row] = waveforms[index][start : start + length]
    return crops


def silent_crops(n: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """``[n, length]`` negatives that teach the model that silence is no recommendation.

    Even rows are digital silence (the all-off input of every explanation); odd rows are white noise
    at a level drawn uniformly between -90 and -50 dBFS (RMS).
    """
    crops = np.zeros((n, length), dtype=np.float32)
    for row in range(1, n, 2):
        level = 10 ** (rng.uniform(-90, -50) / 20)
        crops[row] = level * rng.standard_normal(length).astype(np.float32)
    return crops


class WaveformInputs:
    """Training batches of random 1 s crops of the waveforms, validation on whole tracks (the paper's way)."""

    def __init__(self, train: LabelledAudio, val: LabelledAudio, config: TrainConfig, device: torch.device):
        self.train, self.val, self.config, self.device = train, val, config, device

    def batch_logits(self, model: FCN, chosen: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        """Logits of the chosen tracks' crops, then of ``silent_per_batch`` silent crops."""
        length = self.config.input_length
        crops = random_crops(self.train.waveforms, chosen, length, rng)
        crops = np.concatenate((crops, silent_crops(self.config.silent_per_batch, length, rng)))
        with autocast(self.config.precision, self.device):
            return model(torch.from_numpy(crops).to(self.device)).float()

    def train_mode(self, model: FCN) -> None:
        """Put ``model`` in training mode for an epoch."""
        model.train()

    def validation_logits(self, model: FCN) -> np.ndarray:
        """Logits ``[n]`` of the whole validation tracks."""
        with autocast(self.config.precision, self.device):
            return score_waveforms(model, self.val.waveforms, self.device, desc="validate")


class FrozenPrefixInputs(WaveformInputs):
    """With the first ``freeze_blocks`` blocks frozen: batches are crops of their cached feature maps.

    The frozen blocks compute the same for every epoch, so their whole-track outputs are computed once
    (:class:`recsys.features.FeatureStore`) and only the blocks that follow run in training and validation.
    A training crop covers the time span of ``input_length`` samples at a random time step.
    """

    def __init__(self, model: FCN, train: LabelledAudio, val: LabelledAudio, config: TrainConfig,
                 device: torch.device, cache_dir: Path | None, progress: bool):  # fmt: skip
        super().__init__(train, val, config, device)
        self.depth = config.freeze_blocks
        self.store = FeatureStore(model, self.depth, cache_dir)
        self.train_features = self.store.features(train.waveforms, progress, "features train")
        self.val_features = self.store.features(val.waveforms, progress, "features val")
        self.width = feature_width(config.input_length, model, self.depth)

    def batch_logits(self, model: FCN, chosen: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        """Logits of crops of the chosen tracks' feature maps, then of the silent crops' features."""
        crops = random_feature_crops(self.train_features, chosen, self.width, rng)
        silent = silent_crops(self.config.silent_per_batch, self.config.input_length, rng)
        if len(silent):
            crops = np.concatenate((crops, self.store.compute(silent)[..., : self.width]))
        with autocast(self.config.precision, self.device):
            return model.from_block(torch.from_numpy(crops).to(self.device), self.depth).float()

    def train_mode(self, model: FCN) -> None:
        """Training mode for the blocks that learn; the frozen prefix stays in eval mode."""
        model.train()
        freeze_prefix(model, self.depth)  # the frozen BatchNorms keep their running statistics

    def validation_logits(self, model: FCN) -> np.ndarray:
        """Logits ``[n]`` of the validation tracks from their cached feature maps."""
        return self.store.score(self.val_features, model)


def silent_embeddings(
    inputs: FrozenPrefixInputs, train: LabelledAudio, config: TrainConfig
) -> np.ndarray | None:
    """``[PROBE_SILENT_INPUTS, 2 × last channels]``: pooled embeddings of silent and near-silent inputs
    (:func:`silent_crops`) as long as the median training track, the probe's silent negatives.

    ``None`` with ``config.silent_per_batch=0`` (no silent negatives at all).
    """
    if not config.silent_per_batch:
        return None
    length = int(np.median([len(w) for w in train.waveforms]))
    rng = np.random.default_rng(stable_seed("probe-silence", config.seed))
    features = inputs.store.compute(silent_crops(PROBE_SILENT_INPUTS, length, rng))
    return pooled_embeddings(inputs.store.model, list(features), inputs.depth)


def check_splits(train: LabelledAudio, val: LabelledAudio, config: TrainConfig) -> None:
    """Refuse splits the model cannot be trained and selected on.

    Raises:
        DataError: the training split is empty.
        AudioError: a training track is shorter than ``config.input_length``.
        EvaluationError: the validation split lacks a class (AUC undefined).
    """
    if not len(train.labels):
        raise DataError("the training split is empty: the user needs played tracks to learn from")
    short = [t for t, w in zip(train.track_ids, train.waveforms, strict=True) if len(w) < config.input_length]
    if short:
        raise AudioError(
            f"{len(short)} training track(s) are shorter than input_length={config.input_length} samples "
            f"(e.g. {short[0]}); lower input_length or remove them"
        )
    check_labels(val.labels, what="the validation split")


def train_epoch(
    model: FCN,
    inputs: WaveformInputs,
    optimiser: torch.optim.Optimizer,
    loss_fn: nn.Module,
    rng: np.random.Generator,
    step: int,
    on_step: Callable[[int, float], None] | None,
    epoch: int,
    progress: bool,
) -> tuple[float, int]:
    """One pass over the training tracks in random order, in batches (plus silent crops).

    Returns the mean training loss over the tracks and the number of steps taken so far.
    """
    config, labels = inputs.config, torch.from_numpy(inputs.train.labels.astype(np.float32))
    inputs.train_mode(model)
    order = rng.permutation(len(labels))
    total_loss = 0.0
    n_batches = -(-len(labels) // config.batch_size)
    bar = tqdm(range(n_batches), desc=f"epoch {epoch}", unit="batch", leave=False, disable=not progress)
    for b in bar:
        chosen = order[b * config.batch_size : (b + 1) * config.batch_size]
        targets = torch.cat((labels[chosen], torch.zeros(config.silent_per_batch)))
        loss = loss_fn(inputs.batch_logits(model, chosen, rng), targets.to(inputs.device))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        total_loss += loss.item() * len(chosen)
        step += 1
        bar.set_postfix(loss=f"{loss.item():.4f}")
        if on_step is not None and step % config.log_step == 0:
            on_step(step, loss.item())
    return total_loss / len(labels), step


def train_model(
    model: FCN,
    train: LabelledAudio,
    val: LabelledAudio,
    config: TrainConfig,
    device: torch.device,
    on_epoch: Callable[[EpochResult], None] | None = None,
    on_step: Callable[[int, float], None] | None = None,
    progress: bool = True,
    feature_cache: Path | None = None,
) -> TrainResult:
    """Train ``model`` in place and return the best epoch's weights (``model`` ends with them loaded).

    With ``config.freeze_blocks`` the first blocks keep their weights and their outputs are cached in
    ``feature_cache`` (see :class:`FrozenPrefixInputs`). Raises what :func:`check_splits` raises.
    """
    check_splits(train, val, config)
    rng = np.random.default_rng(stable_seed("train-crops", config.seed))
    model = place(model, device)
    if config.freeze_blocks:
        freeze_prefix(model, config.freeze_blocks)
        inputs: WaveformInputs = FrozenPrefixInputs(
            model, train, val, config, device, feature_cache, progress
        )
    else:
        inputs = WaveformInputs(train, val, config, device)
    probe_labels = probe_logits = None
    if config.head_init == "probe":
        assert isinstance(inputs, FrozenPrefixInputs)  # TrainConfig requires freeze_blocks for a probe
        features, probe_labels = inputs.train_features, train.labels
        if config.probe_tracks == "train+val":
            features, probe_labels = (
                [*features, *inputs.val_features],
                np.concatenate((train.labels, val.labels)),
            )
        probe = probe_output_layer(
            model,
            pooled_embeddings(model, features, inputs.depth),
            probe_labels,
            config.probe_c,
            silent_embeddings(inputs, train, config),
            config.seed,
        )
        probe_logits = probe["out_of_fold_logits"]
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.Adam(trainable, lr=config.lr, weight_decay=config.wd)
    loss_fn = nn.BCEWithLogitsLoss()
    val_labels = val.labels.astype(np.float64)
    n_batches = -(-len(train.labels) // config.batch_size)
    n_epochs = -(-config.n_steps // n_batches) if config.n_steps else config.n_epochs
    history: list[EpochResult] = []
    best: EpochResult | None = None
    best_key: tuple[float, float, float] | None = None
    best_state: dict[str, torch.Tensor] = {}
    best_logits = np.zeros(0)
    step, stale_epochs, started = 0, 0, time.perf_counter()

    def validate(epoch: int, train_loss: float, epoch_start: float) -> EpochResult:
        """Score the validation split; keep the weights if they are the best so far (SELECTION_RULE)."""
        nonlocal best, best_key, best_state, best_logits, stale_epochs
        logits = inputs.validation_logits(model)
        val_loss = float(loss_fn(torch.from_numpy(logits), torch.from_numpy(val_labels)).item())
        scores = ranking_metrics(val_labels, logits, what="the validation split")
        key = (scores["auc"], scores["ap"], -val_loss)
        result = EpochResult(
            epoch=epoch,
            train_loss=train_loss,
            val_loss=val_loss,
            val_auc=scores["auc"],
            val_ap=scores["ap"],
            seconds=time.perf_counter() - epoch_start,
            best=best_key is None or key > best_key,
        )
        if result.best:
            best, best_key, stale_epochs, best_logits = result, key, 0, logits
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        else:
            stale_epochs += 1
        tqdm.write(
            f"epoch {epoch:4d}  train loss {train_loss:.4f}  val loss {val_loss:.4f}  "
            f"val AUC {scores['auc']:.3f}  val AP {scores['ap']:.3f}  {result.seconds:5.1f} s"
            + ("  *best" if result.best else "")
        )
        return result

    if config.head_init == "probe":  # the probe before any fine-tuning step is a candidate too
        history.append(validate(0, float("nan"), started))
        if on_epoch is not None:
            on_epoch(history[-1])
    for epoch in range(1, n_epochs + 1):
        epoch_start = time.perf_counter()
        train_loss, step = train_epoch(model, inputs, optimiser, loss_fn, rng, step, on_step, epoch, progress)
        if epoch % config.val_every and epoch != n_epochs:
            stale_epochs += 1
            result = EpochResult(
                epoch, train_loss, None, None, None, time.perf_counter() - epoch_start, False
            )
        else:
            result = validate(epoch, train_loss, epoch_start)
        history.append(result)
        if on_epoch is not None:
            on_epoch(result)
        if config.patience and stale_epochs >= config.patience and result.val_auc is not None:
            break
    assert best is not None  # n_epochs >= 1, or the probe was validated
    model.load_state_dict(best_state)
    model.eval()
    return TrainResult(
        best_epoch=best.epoch,
        best=best,
        best_state=best_state,
        best_val_logits=best_logits,
        history=history,
        stopped_early=history[-1].epoch < n_epochs,
        seconds=time.perf_counter() - started,
        probe_labels=probe_labels,
        probe_logits=probe_logits,
    )
