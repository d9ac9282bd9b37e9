"""Scoring waveforms with a recommender: device placement, memory-bounded batches, no gradients."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from tqdm import tqdm

from lemons.errors import ConfigError
from recsys.model import FCN

#: Samples per inference batch (four 30 s tracks at 16 kHz): bounds memory, keeps the CPU busy.
MAX_BATCH_SAMPLES = 4 * 30 * 16_000


def resolve_device(device: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; anything else as given (``cpu``, ``cuda:1``)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} was asked for but PyTorch sees no CUDA GPU; use device=cpu")
    return torch.device(device)


def place(model: FCN, device: torch.device) -> FCN:
    """Move ``model`` to ``device`` in channels-last layout (measured faster for this FCN on CPU)."""
    return model.to(device=device, memory_format=torch.channels_last)


def batches_by_length(lengths: Sequence[int], max_samples: int = MAX_BATCH_SAMPLES) -> list[list[int]]:
    """Group indices of consecutive equal-length inputs into batches of at most ``max_samples`` samples."""
    groups: list[list[int]] = []
    for index, length in enumerate(lengths):
        current = groups[-1] if groups else None
        if (
            current is not None
            and lengths[current[0]] == length
            and (len(current) + 1) * length <= max_samples
        ):
            current.append(index)
        else:
            groups.append([index])
    return groups


@torch.inference_mode()
def score_waveforms(
    model: torch.nn.Module,
    waveforms: Sequence[np.ndarray],
    device: torch.device | None = None,
    max_batch_samples: int = MAX_BATCH_SAMPLES,
    progress: bool = False,
    desc: str = "score",
) -> np.ndarray:
    """Logits ``[n]`` (float64) of whole 16 kHz mono waveforms, each ``[samples]``; lengths may differ.

    A model with several outputs (the shared model) gives ``[n, n_outputs]``.

    The model is put in eval mode; callers switch it back to train mode themselves.
    """
    device = device or next(model.parameters()).device
    model.eval()
    logits: np.ndarray | None = None
    groups = batches_by_length([len(w) for w in waveforms], max_batch_samples)
    with tqdm(total=len(waveforms), desc=desc, unit="track", disable=not progress, leave=False) as bar:
        for group in groups:
            batch = torch.from_numpy(np.stack([waveforms[i] for i in group])).to(device, torch.float32)
            outputs = model(batch).double().cpu().numpy()
            if logits is None:
                logits = np.zeros((len(waveforms), *outputs.shape[1:]))
            logits[group] = outputs
            bar.update(len(group))
    return logits if logits is not None else np.zeros(0)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Relevance in [0, 1] of logits (float64)."""
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))
