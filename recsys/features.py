"""Feature maps of a frozen network prefix: computed once per track, shared by every model built on it.

A user's FCN fine-tuned from the shared model keeps its first conv blocks as they are (``freeze_blocks``),
so the output of those blocks is the same for every persona. :class:`FeatureStore` computes it once per
track (whole tracks, 16 kHz mono) and keeps it as float32 ``.npy`` files under
``<cache_dir>/features/<prefix hash>/<audio hash>.npy``, written atomically; training and ranking then
run only the blocks that follow. Most of the FCN's arithmetic is in its early blocks (at full time
resolution), so this makes fine-tuning and ranking several times cheaper.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from lemons.cache import cache_folder, keep_within_limit, touch
from lemons.io import atomic_path
from recsys.model import FCN
from recsys.onnx_prefix import onnx_blocks

FEATURE_DTYPE = np.float32  # the blocks that follow give the same logits as the whole model
#: Model arguments the frozen prefix does not depend on: the shared model and the users' models
#: fine-tuned from it have the same prefix, so they share its cached features.
PREFIX_FREE_ARGS = ("n_outputs", "dropout")


def prefix_hash(model: FCN, depth: int) -> str:
    """SHA-256 of everything the first ``depth`` blocks compute with (model args, front end and weights)
    and of the stored dtype; not of the outputs that follow (:data:`PREFIX_FREE_ARGS`)."""
    front = {k: v for k, v in model.args.to_dict().items() if k not in PREFIX_FREE_ARGS}
    digest = hashlib.sha256(repr((front, depth, np.dtype(FEATURE_DTYPE).name)).encode())
    prefixes = ("front_end.", "spec_bn.", *(f"blocks.{i}." for i in range(depth)))
    for name, tensor in sorted(model.state_dict().items()):
        if name.startswith(prefixes):
            digest.update(name.encode())
            digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


def feature_width(samples: int, model: FCN, depth: int) -> int:
    """Time steps of the block-``depth`` output for an input of ``samples`` samples."""
    frames = samples // model.args.hop_length + 1
    for _ in range(depth):
        frames //= 2
    return frames


def prefix_modules(model: FCN, depth: int) -> tuple[torch.nn.Module, ...]:
    """The front end, the input batch norm and the first ``depth`` conv blocks of ``model``."""
    return (model.front_end, model.spec_bn, *model.blocks[:depth])


def freeze_prefix(model: FCN, depth: int) -> None:
    """Stop training the front end and the first ``depth`` blocks; their BatchNorms keep their statistics."""
    for module in prefix_modules(model, depth):
        module.eval()
        for parameter in module.parameters():
            parameter.requires_grad_(False)


#: How the prefix is computed: ``onnx`` (ONNX Runtime, :mod:`recsys.onnx_prefix`; the fastest on a CPU),
#: ``torch`` (the model's own modules), ``auto`` (ONNX Runtime for a model on the CPU, else torch).
RUNTIMES = ("auto", "onnx", "torch")


class FeatureStore:
    """Block-``depth`` feature maps ``[channels, mels, time]`` (float32) of whole waveforms.

    Cached by the prefix's weights and the audio content, when ``cache_dir`` is given. ``runtime``
    (:data:`RUNTIMES`) says what computes them; every runtime gives the same maps to float rounding.
    """

    def __init__(self, model: FCN, depth: int, cache_dir: Path | None = None, runtime: str = "auto") -> None:
        if runtime not in RUNTIMES:
            raise ValueError(f"unknown runtime {runtime!r}; use one of {', '.join(RUNTIMES)}")
        self.model = model
        self.depth = depth
        self.key = prefix_hash(model, depth)
        self.runtime = runtime
        self.cache_dir = cache_dir
        self.folder = cache_folder(cache_dir, "features") / self.key[:16] if cache_dir is not None else None

    @torch.inference_mode()
    def compute(self, waveforms: np.ndarray) -> np.ndarray:
        """Feature maps of a batch of equal-length waveforms ``[batch, samples]``, float32, not cached.

        Only the prefix is switched to eval mode: the blocks after it may be training.
        """
        for module in prefix_modules(self.model, self.depth):
            module.eval()
        device = next(self.model.parameters()).device
        batch = torch.from_numpy(np.ascontiguousarray(waveforms, dtype=np.float32)).to(device)
        model_input = self.model.spectrogram(batch)
        if self.runtime == "onnx" or (self.runtime == "auto" and device.type == "cpu"):
            return onnx_blocks(self.model, self.depth, self.key)(model_input)
        return self.model.block_features(model_input, self.depth).float().cpu().numpy()

    def features(
        self, waveforms: Sequence[np.ndarray], progress: bool = False, desc: str = "features"
    ) -> list[np.ndarray]:
        """One feature map per waveform, from the cache where it holds one."""
        out: list[np.ndarray] = []
        for waveform in tqdm(waveforms, desc=desc, unit="track", disable=not progress, leave=False):
            path = None
            if self.folder is not None:
                audio_key = hashlib.sha256(np.ascontiguousarray(waveform, dtype=np.float32).tobytes())
                path = self.folder / f"{audio_key.hexdigest()}.npy"
                if path.is_file():
                    try:
                        out.append(np.load(path, allow_pickle=False))
                        touch(path)
                        continue
                    except (OSError, ValueError):
                        pass  # a damaged file (or one evicted meanwhile) is recomputed
            feature = self.compute(waveform[None])[0].astype(FEATURE_DTYPE)
            if path is not None and self.cache_dir is not None:
                with atomic_path(path) as tmp, open(tmp, "wb") as handle:
                    np.save(handle, feature, allow_pickle=False)
                keep_within_limit(self.cache_dir)
            out.append(feature)
        return out

    @torch.inference_mode()
    def score(self, features: Sequence[np.ndarray], model: FCN | None = None) -> np.ndarray:
        """Logits ``[n]`` (float64) of ``model`` (default: the store's) from stored feature maps."""
        model = model or self.model
        model.eval()
        device = next(model.parameters()).device
        logits = np.zeros(len(features))
        for i, feature in enumerate(features):
            batch = torch.from_numpy(feature[None].astype(np.float32)).to(device)
            logits[i] = float(model.from_block(batch, self.depth)[0])
        return logits


def random_feature_crops(
    features: Sequence[np.ndarray], indices: Sequence[int], width: int, rng: np.random.Generator
) -> np.ndarray:
    """``[len(indices), channels, mels, width]`` float32: a crop at a random time step of each chosen map."""
    first = features[indices[0]]
    crops = np.empty((len(indices), *first.shape[:2], width), dtype=np.float32)
    for row, index in enumerate(indices):
        feature = features[index]
        start = int(rng.integers(0, feature.shape[-1] - width + 1))
        crops[row] = feature[..., start : start + width]
    return crops
