"""audioLIME: perturb a track's components, score them with the recommender, fit LIME's surrogate.

The parts follow SPEC §4 and can be swapped one at a time: :func:`sample_perturbations`, a
:class:`PerturbationScorer` (:class:`WaveformScorer` for any relevance function of waveforms,
:class:`explanations.audiolime.engine.FCNScorer` for the recommender), :func:`kernel` and
:func:`fit_surrogate` (``lime.lime_base.LimeBase`` with a kernel-weighted ``Ridge``). :func:`explain`
runs them in order.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Protocol

import numpy as np
import torch
from lime.lime_base import LimeBase
from sklearn.linear_model import Ridge
from sklearn.metrics import pairwise_distances
from tqdm import tqdm

from explanations.audiolime.factorization import Factorization
from lemons.errors import ConfigError, ExplanationError
from recsys.inference import score_waveforms, sigmoid
from recsys.model import FCN

DEFAULT_SAMPLES = 2048  # N_s in LEMONS; the audioLIME paper used 2**14
KERNEL_WIDTH = 0.25
RIDGE_ALPHA = 1.0
#: Perturbed waveforms composed and scored at once (bounds memory: 16 × 30 s × 4 B ≈ 31 MB).
SCORE_BATCH = 16

#: Relevance of a batch of 16 kHz mono inputs: ``[batch, samples]`` float32 → ``[batch]`` in [0, 1].
RelevanceFn = Callable[[np.ndarray], np.ndarray]
#: Called with (perturbations scored so far, perturbations to score).
ProgressFn = Callable[[int, int], None]


def recommender_relevance(model: FCN, device: torch.device | str | None = None) -> RelevanceFn:
    """The recommender's relevance ``sigmoid(logit)`` of whole waveforms, without gradients."""
    device = torch.device(device) if device is not None else None

    def relevance(batch: np.ndarray) -> np.ndarray:
        return sigmoid(score_waveforms(model, list(batch), device))

    return relevance


def check_n_samples(n_samples: object) -> None:
    """Raise :class:`ConfigError` unless ``n_samples`` is a whole number ≥ 2 (the instance and one more)."""
    if not isinstance(n_samples, int) or isinstance(n_samples, bool) or n_samples < 2:
        raise ConfigError(f"the number of perturbations must be a whole number ≥ 2, got {n_samples!r}")


def sample_perturbations(n_components: int, n_samples: int = DEFAULT_SAMPLES, seed: int = 0) -> np.ndarray:
    """``[n_samples, n_components]`` uint8 masks, each bit 0/1 uniformly at random; row 0 all ones."""
    check_n_samples(n_samples)
    masks = np.random.default_rng(seed).integers(0, 2, size=(n_samples, n_components), dtype=np.uint8)
    masks[0] = 1
    return masks


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


def kernel(distances: np.ndarray, width: float = KERNEL_WIDTH) -> np.ndarray:
    """LIME's exponential kernel ``sqrt(exp(-d² / width²))``."""
    return np.sqrt(np.exp(-(distances**2) / width**2))


@dataclass(frozen=True)
class Surrogate:
    weights: np.ndarray  # [n_components], in component order
    intercept: float
    fidelity: float  # kernel-weighted R² of the surrogate on the perturbations
    local_prediction: float  # the surrogate's value at the original instance (row 0)


def fit_surrogate(masks: np.ndarray, relevance: np.ndarray, label: int, seed: int = 0) -> Surrogate:
    """Fit ``LimeBase`` with cosine distances to row 0, :func:`kernel` and ``Ridge(alpha=1)``.

    ``label`` 1 explains the relevance ``p``, 0 explains ``1 − p``; all features are kept.
    """
    n_components = masks.shape[1]
    data = masks.astype(np.float64)
    distances = pairwise_distances(data, data[:1], metric="cosine").ravel()
    labels = np.stack([1.0 - relevance, relevance], axis=1)
    base = LimeBase(kernel, verbose=False, random_state=seed)
    intercept, pairs, score, local = base.explain_instance_with_data(
        data,
        labels,
        distances,
        label,
        n_components,
        feature_selection="auto",
        model_regressor=Ridge(alpha=RIDGE_ALPHA, fit_intercept=True, random_state=seed),
    )
    weights = np.zeros(n_components, dtype=np.float64)
    for index, weight in pairs:
        weights[index] = weight
    return Surrogate(weights, float(intercept), float(score), float(np.ravel(local)[0]))


@dataclass
class Explanation:
    """An audioLIME explanation of one track for one recommender.

    ``weights`` ``[n_components]`` follow ``component_names``; positive weights push towards the
    explained ``label`` (1 = relevant, the usual case for a recommendation; 0 = not relevant).
    """

    kind: str
    component_names: list[str]
    sources: list[str]
    n_segments: int
    weights: list[float]
    intercept: float
    fidelity: float
    local_prediction: float
    relevance: float  # the recommender's relevance of the original instance (row 0)
    label: int
    n_samples: int
    seed: int
    separator: str | None
    silent: list[int] = field(default_factory=list)  # components without sound, never chosen
    n_distinct: int = 0  # distinct perturbations scored
    timings: dict[str, float] = field(default_factory=dict)

    def top_k(self, k: int = 3, towards_relevance: bool = False) -> list[int]:
        """Indices of the (at most) ``k`` largest positive weights, largest first; silent ones skipped.

        The weights are those of the explained ``label``; with ``towards_relevance`` they are those
        pushing the relevance up (the same, sign-flipped when ``label`` is 0: LIME's two-class fits are
        mirror images).
        """
        weights = np.asarray(self.weights) * (-1 if towards_relevance and self.label == 0 else 1)
        order = np.argsort(-weights, kind="stable")
        chosen = [int(i) for i in order if weights[i] > 0 and i not in self.silent]
        return chosen[:k]

    def weight_grid(self) -> np.ndarray:
        """``[n_sources, n_segments]`` weights (component ``segment·n_sources + source``)."""
        return np.asarray(self.weights).reshape(self.n_segments, len(self.sources)).T

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Explanation:
        return cls(**data)


def explain(
    factorization: Factorization,
    scorer: PerturbationScorer,
    n_samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    separator: str | None = None,
    progress: bool = False,
    on_progress: ProgressFn | None = None,
) -> Explanation:
    """Explain the relevance of ``factorization``'s instance (all components on) with audioLIME.

    Raises:
        ExplanationError: the recommender gives every perturbed input the same relevance (R² undefined),
            or returns non-finite values.
    """
    started = time.perf_counter()
    masks = sample_perturbations(factorization.n_components, n_samples, seed)
    values = score_perturbations(masks, scorer, progress=progress, on_progress=on_progress)
    scored = time.perf_counter()
    if np.ptp(values) < 1e-9:
        raise ExplanationError(
            f"the recommender gives every perturbed input the same relevance ({values[0]:.4f}), so no "
            "component changes its decision and the surrogate's fit (R²) is undefined"
        )
    label = int(values[0] >= 0.5)  # the top class of the original input
    surrogate = fit_surrogate(masks, values, label, seed)
    return Explanation(
        kind=factorization.kind,
        component_names=list(factorization.names),
        sources=list(factorization.sources),
        n_segments=factorization.n_segments,
        weights=[float(w) for w in surrogate.weights],
        intercept=surrogate.intercept,
        fidelity=surrogate.fidelity,
        local_prediction=surrogate.local_prediction,
        relevance=float(values[0]),
        label=label,
        n_samples=n_samples,
        seed=seed,
        separator=separator,
        silent=factorization.silent_components(),
        n_distinct=len(np.unique(masks, axis=0)),
        timings={"scoring_s": scored - started, "surrogate_s": time.perf_counter() - scored},
    )
