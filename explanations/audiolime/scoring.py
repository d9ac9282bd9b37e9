"""Scoring perturbations: the relevance the recommender gives each perturbed version of a track.

A :class:`PerturbationScorer` maps binary masks ``[n, n_components]`` to relevances ``[n]``.
:class:`WaveformScorer` composes each perturbed waveform and scores it with any relevance function;
:class:`explanations.audiolime.engine.FCNScorer` computes the same exactly and fast for the FCN, and
:func:`explanations.audiolime.engine.scorer_for` picks the right one for a recommender's model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import torch
from tqdm import tqdm

from explanations.audiolime.factorization import Factorization
from lemons.errors import ExplanationError
from recsys.inference import score_waveforms, sigmoid

#: Perturbed waveforms composed and scored at once (bounds memory: 16 × 30 s × 4 B ≈ 31 MB).
SCORE_BATCH = 16

#: Relevance of a batch of 16 kHz mono inputs: ``[batch, samples]`` float32 → ``[batch]`` in [0, 1].
RelevanceFn = Callable[[np.ndarray], np.ndarray]
#: Called with (perturbations scored so far, perturbations to score).
ProgressFn = Callable[[int, int], None]


def recommender_relevance(model: torch.nn.Module, device: torch.device | str | None = None) -> RelevanceFn:
    """The relevance ``sigmoid(logit)`` of whole waveforms by a network of waveforms ``[batch, samples]``
    → logits ``[batch]`` (the FCN, or another recommender), without gradients."""
    device = torch.device(device) if device is not None else None

    def relevance(batch: np.ndarray) -> np.ndarray:
        return sigmoid(score_waveforms(model, list(batch), device))

    return relevance


class PerturbationScorer(Protocol):
    """Relevance ``[n]`` (float64, in [0, 1]) of the perturbed inputs given by masks ``[n, n_components]``."""

    def __call__(self, masks: np.ndarray, on_progress: ProgressFn | None = None) -> np.ndarray: ...


class WaveformScorer:
    """Composes each perturbed waveform and scores it with any :data:`RelevanceFn`.

    With ``deduplicate`` (the default) each distinct mask is composed and scored once and the result
    spread back to every row, which equals scoring each row; without it every row is scored, in
    batches of ``batch_size``, as the original audioLIME pipeline did.
    """

    def __init__(
        self,
        factorization: Factorization,
        relevance: RelevanceFn,
        batch_size: int = SCORE_BATCH,
        deduplicate: bool = True,
    ) -> None:
        self.factorization, self.relevance = factorization, relevance
        self.batch_size, self.deduplicate = batch_size, deduplicate

    def __call__(self, masks: np.ndarray, on_progress: ProgressFn | None = None) -> np.ndarray:
        if self.deduplicate:
            distinct, inverse = np.unique(masks, axis=0, return_inverse=True)
        else:
            distinct, inverse = masks, np.arange(len(masks))
        values = np.empty(len(distinct), dtype=np.float64)
        for start in range(0, len(distinct), self.batch_size):
            chunk = distinct[start : start + self.batch_size]
            values[start : start + len(chunk)] = self.relevance(self.factorization.compose(chunk))
            if on_progress is not None:
                on_progress(start + len(chunk), len(distinct))
        return values[inverse.ravel()]


def score_perturbations(
    masks: np.ndarray,
    scorer: PerturbationScorer,
    progress: bool = False,
    on_progress: ProgressFn | None = None,
) -> np.ndarray:
    """Relevance ``[n_masks]`` (float64) of every perturbed input, with a progress bar if asked."""
    with tqdm(total=1, desc="score perturbations", disable=not progress) as bar:

        def report(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()
            if on_progress is not None:
                on_progress(done, total)

        values = np.asarray(scorer(masks, report), dtype=np.float64)
    if values.shape != (len(masks),) or not np.all(np.isfinite(values)):
        raise ExplanationError("the recommender returned NaN or infinite relevance for some perturbed inputs")
    return values
