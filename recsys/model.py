"""The per-user recommender: a fully convolutional network (FCN) on a log-mel spectrogram.

Input: a batch of mono waveforms ``[batch, samples]`` at 16 kHz. Output: one logit per track
``[batch]``; the track's relevance for the user is ``sigmoid(logit)``.

The mel front end lives inside the model (torchaudio), so a checkpoint always carries the exact
features it was trained on::

    MelSpectrogram(n_fft=512, hop=256, f_min=0, f_max=8000, n_mels=256, power=2) → AmplitudeToDB
    → BatchNorm2d(1)
    → 5 × [Conv2d(3×3, pad 1) → BatchNorm2d → ReLU → MaxPool2d(2)], channels 64, 128, 128, 128, 64
    → concat(global average pool, global max pool) = 128 → Dropout(0.5) → Linear(128, 1)

Hop 256 (torchaudio's default ``n_fft // 2``) is what gives the documented 256 × 63 spectrogram for
1 s; the original README's "hop size of 512" does not. With 256 mel bands over 257 FFT bins the lowest
bands are empty filters; their dB value is the floor (−100 dB), as in the original.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torchaudio
from torch import nn
from torch.nn import functional as F

from lemons.audio import SAMPLE_RATE
from lemons.errors import AudioError

ARCHITECTURE = "fcn"
FRONT_END = "torchaudio-melspectrogram-db"
N_POOLS = 5


@dataclass(frozen=True)
class ModelArgs:
    """Everything needed to rebuild the network; stored in every checkpoint."""

    architecture: str = ARCHITECTURE
    front_end: str = FRONT_END
    sample_rate: int = SAMPLE_RATE
    n_fft: int = 512
    hop_length: int = 256
    f_min: float = 0.0
    f_max: float = 8000.0
    n_mels: int = 256
    channels: tuple[int, ...] = field(default=(64, 128, 128, 128, 64))
    dropout: float = 0.5
    n_outputs: int = 1  # 1: a user's relevance logit; more: the shared model's catalogue targets

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the checkpoint (``channels`` as a list)."""
        data = asdict(self)
        data["channels"] = list(self.channels)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelArgs:
        """The arguments :meth:`to_dict` wrote; unknown keys (from other versions) are ignored."""
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        if "channels" in known:
            known["channels"] = tuple(int(c) for c in known["channels"])
        return cls(**known)

    @property
    def min_samples(self) -> int:
        """The shortest input the network accepts: enough frames for five 2× poolings."""
        return (2**N_POOLS - 1) * self.hop_length


class MelFrontEnd(nn.Module):
    """Waveform ``[batch, samples]`` at ``sample_rate`` → dB power mel ``[batch, n_mels, frames]``.

    ``frames = samples // hop_length + 1`` (centred STFT with reflection padding).
    """

    def __init__(self, args: ModelArgs) -> None:
        super().__init__()
        with warnings.catch_warnings():  # 256 bands over 257 bins: the empty low bands are expected
            warnings.filterwarnings("ignore", message="At least one mel filterbank has all zero values")
            self.mel = torchaudio.transforms.MelSpectrogram(
                sample_rate=args.sample_rate,
                n_fft=args.n_fft,
                hop_length=args.hop_length,
                f_min=args.f_min,
                f_max=args.f_max,
                n_mels=args.n_mels,
                power=2.0,
            )
        self.to_db = torchaudio.transforms.AmplitudeToDB(stype="power", top_db=None)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """``[batch, samples]`` → dB power mel ``[batch, n_mels, frames]``."""
        return self.to_db(self.mel(waveform))

    def complex_stft(self, waveform: torch.Tensor) -> torch.Tensor:
        """The complex STFT ``[batch, freq, frames]`` whose power :meth:`forward` takes (same framing)."""
        spectrogram = self.mel.spectrogram
        return torchaudio.functional.spectrogram(
            waveform.to(spectrogram.window.device),
            pad=spectrogram.pad,
            window=spectrogram.window,
            n_fft=spectrogram.n_fft,
            hop_length=spectrogram.hop_length,
            win_length=spectrogram.win_length,
            power=None,
            normalized=spectrogram.normalized,
            center=spectrogram.center,
            pad_mode=spectrogram.pad_mode,
            onesided=spectrogram.onesided,
        )

    def from_power(self, power: torch.Tensor) -> torch.Tensor:
        """Power spectrogram ``[batch, freq, frames]`` → dB mel ``[batch, n_mels, frames]``."""
        return self.to_db(self.mel.mel_scale(power))


class ConvBlock(nn.Sequential):
    """Conv2d(3×3, pad 1) → BatchNorm2d → ReLU → MaxPool2d(2): halves both spectrogram axes."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )


class FCN(nn.Module):
    """The per-user recommender. ``forward``: ``[batch, samples]`` 16 kHz → logits ``[batch]``.

    With ``args.n_outputs > 1`` (the shared model trained on catalogue targets) ``forward`` returns
    ``[batch, n_outputs]``.
    """

    def __init__(self, args: ModelArgs | None = None) -> None:
        super().__init__()
        self.args = args or ModelArgs()
        if self.args.architecture != ARCHITECTURE or self.args.front_end != FRONT_END:
            raise ValueError(f"FCN cannot build {self.args.architecture!r} with {self.args.front_end!r}")
        self.front_end = MelFrontEnd(self.args)
        self.spec_bn = nn.BatchNorm2d(1)
        widths = (1, *self.args.channels)
        self.blocks = nn.Sequential(*(ConvBlock(a, b) for a, b in itertools.pairwise(widths)))
        self.dropout = nn.Dropout(self.args.dropout)
        self.dense = nn.Linear(2 * widths[-1], self.args.n_outputs)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform (gain √2) conv/linear weights with zero bias; BatchNorm weight 1, bias 0."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                nn.init.xavier_uniform_(module.weight, gain=math.sqrt(2.0))
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def spectrogram(self, waveform: torch.Tensor) -> torch.Tensor:
        """The normalised model input ``[batch, 1, n_mels, frames]``."""
        if waveform.dim() != 2:
            raise ValueError(f"expected a waveform batch [batch, samples], got shape {tuple(waveform.shape)}")
        if waveform.shape[1] < self.args.min_samples:
            raise AudioError(
                f"input of {waveform.shape[1]} samples is too short; the FCN needs at least "
                f"{self.args.min_samples} samples ({self.args.min_samples / self.args.sample_rate:.2f} s)"
            )
        return self.normalise(self.front_end(waveform))

    def normalise(self, mel_db: torch.Tensor) -> torch.Tensor:
        """dB mel ``[batch, n_mels, frames]`` → the normalised model input ``[batch, 1, n_mels, frames]``."""
        return self.spec_bn(mel_db.unsqueeze(1))

    # What the exact explanation engine (explanations.audiolime.engine) needs: the STFT is linear, so it
    # mixes the components' complex spectra itself and enters the network at the power spectrogram.

    @torch.inference_mode()
    def complex_stft(self, waveform: torch.Tensor) -> torch.Tensor:
        """The complex STFT ``[batch, freq, frames]`` of ``[batch, samples]`` as the front end frames it.

        ``freq = n_fft // 2 + 1``, ``frames = samples // hop_length + 1``; on the model's device.
        """
        return self.front_end.complex_stft(waveform)

    def input_from_power(self, power: torch.Tensor) -> torch.Tensor:
        """Power spectrogram ``[batch, freq, frames]`` → normalised input ``[batch, 1, n_mels, frames]``.

        ``input_from_power(complex_stft(w).abs() ** 2)`` equals :meth:`spectrogram` of ``w``.
        """
        return self.normalise(self.front_end.from_power(power))

    def feature_map(self, spectrogram: torch.Tensor) -> torch.Tensor:
        """The last block's output before pooling: ``[batch, channels[-1], n_mels / 32, frames / 32]``.

        Sizes are rounded down at every one of the five poolings; :meth:`pool` then :meth:`output`
        finish :meth:`forward`.
        """
        return self.blocks(spectrogram)

    def block_on_crop(self, index: int, crop: torch.Tensor) -> torch.Tensor:
        """Block ``index`` (0–4, eval mode) on a crop of its input's columns, without zero padding in time.

        ``crop`` ``[batch, channels, rows, 2·n + 2]`` holds input columns ``2j − 1 … 2j + 2n`` (zeros
        where they fall outside the whole input, as its padding); the result ``[batch, channels',
        rows / 2, n]`` equals the block's output columns ``j … j + n − 1`` on the whole input, to
        float rounding: the batch norm is folded into the convolution, and the max-pooling (the
        same maxima) comes before the ReLU (the two commute), which is four times less to rectify.
        """
        conv, norm, _, _ = self.blocks[index]
        scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
        weight = conv.weight * scale[:, None, None, None]
        bias = (conv.bias - norm.running_mean) * scale + norm.bias
        out = F.conv2d(crop, weight, bias, padding=(1, 0))
        rows, columns = out.shape[-2] // 2 * 2, out.shape[-1] // 2 * 2  # 2×2 max-pooling, by slices:
        out = torch.maximum(out[..., 0:rows:2, :columns], out[..., 1:rows:2, :columns])  # faster than
        return torch.relu_(torch.maximum(out[..., 0::2], out[..., 1::2]))  # max_pool2d on a CPU

    def dense_parameters(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The output layer's weight ``[n_outputs, 2 × channels[-1]]`` and bias ``[n_outputs]`` (detached).

        The logit is ``weight @ pool(feature_map) + bias`` (dropout is the identity in eval mode).
        """
        return self.dense.weight.detach(), self.dense.bias.detach()

    def embed(self, spectrogram: torch.Tensor) -> torch.Tensor:
        """``[batch, 1, n_mels, frames]`` → pooled features ``[batch, 2 × last channels]``."""
        return self.pool(self.blocks(spectrogram))

    def block_features(self, spectrogram: torch.Tensor, depth: int) -> torch.Tensor:
        """The output of the first ``depth`` conv blocks.

        Shape ``[batch, channels, n_mels / 2^depth, frames / 2^depth]``, sizes rounded down at every pooling.
        """
        return self.blocks[:depth](spectrogram)

    def from_block(self, features: torch.Tensor, depth: int) -> torch.Tensor:
        """Logits from the output of block ``depth`` (:meth:`block_features`): the rest of :meth:`forward`."""
        return self.output(self.pool(self.blocks[depth:](features)))

    @staticmethod
    def pool(features: torch.Tensor) -> torch.Tensor:
        """Global average and max pooling of the last feature map: ``[batch, 2 × channels]``."""
        return torch.cat((features.mean(dim=(2, 3)), features.amax(dim=(2, 3))), dim=1)

    def output(self, pooled: torch.Tensor) -> torch.Tensor:
        """Dropout and the dense layer: logits ``[batch]`` (``[batch, n_outputs]`` for the shared model)."""
        outputs = self.dense(self.dropout(pooled))
        return outputs.squeeze(1) if self.args.n_outputs == 1 else outputs

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """Logits ``[batch]`` of 16 kHz waveforms ``[batch, samples]`` (the shared model: more per track)."""
        return self.output(self.embed(self.spectrogram(waveform)))

    def load_backbone(self, other: FCN) -> None:
        """Copy every weight of ``other`` except its output layer (transfer from the shared model).

        Raises:
            ValueError: ``other`` has another front end or other channel widths.
        """
        mine, theirs = asdict(self.args), asdict(other.args)
        for ignored in ("n_outputs", "dropout"):
            mine.pop(ignored), theirs.pop(ignored)
        if mine != theirs:
            raise ValueError(f"cannot transfer weights between different networks: {theirs} → {mine}")
        state = {k: v for k, v in other.state_dict().items() if not k.startswith("dense.")}
        missing, _ = self.load_state_dict(state, strict=False)
        assert all(k.startswith("dense.") for k in missing), missing

    def transform_logit(self, scale: float = 1.0, offset: float = 0.0) -> None:
        """Make the output logit ``scale × logit + offset`` (a calibration), exactly, via the dense layer."""
        with torch.no_grad():
            self.dense.weight *= scale
            self.dense.bias.mul_(scale).add_(offset)

    def relevance(self, waveform: torch.Tensor) -> torch.Tensor:
        """``sigmoid(forward(waveform))``: relevance in [0, 1] per track, ``[batch]``."""
        return torch.sigmoid(self.forward(waveform))


def count_parameters(model: nn.Module) -> int:
    """The number of weights of ``model``."""
    return sum(p.numel() for p in model.parameters())
