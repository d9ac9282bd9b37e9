"""audioLIME: perturb a track's components, score them with the recommender, fit LIME's surrogate.

The parts follow SPEC §4 and can be swapped one at a time: the sampler (:func:`sample_perturbations`,
SPEC's uniform masks; the other designs are in :mod:`explanations.audiolime.designs`), the scorer (a
:class:`~explanations.audiolime.scoring.PerturbationScorer`), the kernel (:func:`kernel`) and the
surrogate (:func:`fit_surrogate`: ``lime.lime_base.LimeBase`` with a kernel-weighted ``Ridge``).
:func:`explain` runs them in order; :class:`LimeParts` holds the three besides the scorer, which
:func:`explanations.audiolime.engine.scorer_for` picks for a recommender.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from explanations.audiolime.designs import DEFAULT_SAMPLES, Sampler, check_n_samples, sample_perturbations
from explanations.audiolime.factorization import ComponentLayout
from explanations.audiolime.questions import DEFAULT_QUESTION, QUESTIONS, RELEVANT, answered
from explanations.audiolime.scoring import PerturbationScorer, ProgressFn, score_perturbations
from lemons.errors import ExplanationError

KERNEL_WIDTH = 0.25
RIDGE_ALPHA = 1.0


def kernel(distances: np.ndarray, width: float = KERNEL_WIDTH) -> np.ndarray:
    """LIME's exponential kernel ``sqrt(exp(-d² / width²))``."""
    return np.sqrt(np.exp(-(distances**2) / width**2))


@dataclass(frozen=True)
class Surrogate:
    """A fitted linear surrogate of the recommender around the explained instance."""

    weights: np.ndarray  # [n_components], in component order
    intercept: float
    fidelity: float  # kernel-weighted R² of the surrogate on the perturbations
    local_prediction: float  # the surrogate's value at the original instance (row 0)


#: Cosine distances to the instance ``[n]`` → the perturbations' weights ``[n]``.
Kernel = Callable[[np.ndarray], np.ndarray]


def fit_surrogate(
    masks: np.ndarray, relevance: np.ndarray, label: int, seed: int = 0, kernel_fn: Kernel = kernel
) -> Surrogate:
    """Fit ``LimeBase`` with cosine distances to row 0, ``kernel_fn`` and ``Ridge(alpha=1)``.

    ``masks`` ``[n, n_components]`` and ``relevance`` ``[n]``; ``label`` 1 explains the relevance
    ``p``, 0 explains ``1 − p``; all features are kept.
    """
    from lime.lime_base import LimeBase  # imported on first use: lime and sklearn take a second to load
    from sklearn.linear_model import Ridge
    from sklearn.metrics import pairwise_distances

    n_components = masks.shape[1]
    data = masks.astype(np.float64)
    distances = pairwise_distances(data, data[:1], metric="cosine").ravel()
    labels = np.stack([1.0 - relevance, relevance], axis=1)
    base = LimeBase(kernel_fn, verbose=False, random_state=seed)
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
    explained ``label`` (1 = relevant, the usual case for a recommendation; 0 = not relevant), which
    the ``question`` asked (a name in :data:`~explanations.audiolime.questions.QUESTIONS`) chose.
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
    question: str
    n_samples: int
    seed: int
    separator: str | None
    silent: list[int] = field(default_factory=list)  # components without sound, never chosen
    n_distinct: int = 0  # distinct perturbations scored
    timings: dict[str, float] = field(default_factory=dict)

    def answers(self) -> str:
        """The question this explanation answered, in words (see :func:`questions.answered`)."""
        return answered(self.question, self.label, self.relevance)

    def towards_relevance(self) -> np.ndarray:
        """The weights ``[n_components]`` as pushes on the relevance: positive raises it.

        These are the weights themselves when ``label`` is 1 and sign-flipped when it is 0 (LIME's
        two-class fits are mirror images).
        """
        return np.asarray(self.weights, dtype=np.float64) * (1 if self.label == RELEVANT else -1)

    def top_k(self, k: int = 3, towards_relevance: bool = False) -> list[int]:
        """Indices of the (at most) ``k`` largest positive weights, largest first; silent ones skipped.

        The weights are those of the explained ``label``; with ``towards_relevance`` they are those
        pushing the relevance up (:meth:`towards_relevance`).
        """
        return self._largest(self.towards_relevance() if towards_relevance else np.asarray(self.weights), k)

    def against_k(self, k: int = 3) -> list[int]:
        """Indices of the (at most) ``k`` most negative weights (against the explained label), most first."""
        return self._largest(-np.asarray(self.weights), k)

    def top_k_absolute(self, k: int = 3) -> list[int]:
        """Indices of the (at most) ``k`` largest weights by magnitude, either sign, largest first.

        The original LEMONS stability study's Top-k (``absolute_feature_sort``); the same whichever
        label is explained. Silent components and zero weights are skipped.
        """
        return self._largest(np.abs(self.weights), k)

    def _largest(self, values: np.ndarray, k: int) -> list[int]:
        """The ``k`` largest positive ``values`` ``[n_components]``' indices, largest first, none silent."""
        order = np.argsort(-values, kind="stable")
        return [int(i) for i in order if values[i] > 0 and i not in self.silent][:k]

    def weight_grid(self) -> np.ndarray:
        """``[n_sources, n_segments]`` weights (component ``segment·n_sources + source``)."""
        return np.asarray(self.weights).reshape(self.n_segments, len(self.sources)).T

    def to_dict(self) -> dict:
        """Plain JSON-able data (the explanation cache stores it)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Explanation:
        """The explanation :meth:`to_dict` wrote."""
        return cls(**data)


#: ``(masks, relevance, label, seed, kernel) → surrogate``: :func:`fit_surrogate`'s signature.
SurrogateFit = Callable[[np.ndarray, np.ndarray, int, int, Kernel], Surrogate]


@dataclass(frozen=True)
class LimeParts:
    """The parts of audioLIME besides the scorer; the defaults are SPEC §4's."""

    sampler: Sampler = sample_perturbations
    kernel: Kernel = kernel
    surrogate: SurrogateFit = fit_surrogate


#: SPEC §4's recipe (explanations made with it are cached).
STANDARD_PARTS = LimeParts()


def explain(
    layout: ComponentLayout,
    scorer: PerturbationScorer,
    n_samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    separator: str | None = None,
    progress: bool = False,
    on_progress: ProgressFn | None = None,
    parts: LimeParts = STANDARD_PARTS,
    question: str = DEFAULT_QUESTION,
) -> Explanation:
    """Explain the relevance of the instance (all of ``layout``'s components on) with audioLIME.

    ``scorer`` scores masks over ``layout``'s components; ``parts`` samples them and fits the surrogate.
    ``question`` (see :data:`~explanations.audiolime.questions.QUESTIONS`) picks the class explained:
    ``relevant`` (what raises the relevance), ``not-relevant`` or ``top`` (LIME's top label).

    Raises:
        ConfigError: an unknown ``question``.
        ExplanationError: the recommender gives every perturbed input the same relevance (R² undefined),
            or returns non-finite values.
    """
    started = time.perf_counter()
    check_n_samples(n_samples)
    asked = QUESTIONS[question]
    masks = parts.sampler(layout.n_components, n_samples, seed)
    values = score_perturbations(masks, scorer, progress=progress, on_progress=on_progress)
    scored = time.perf_counter()
    if np.ptp(values) < 1e-9:
        raise ExplanationError(
            f"the recommender gives every perturbed input the same relevance ({values[0]:.4f}), so no "
            "component changes its decision and the surrogate's fit (R²) is undefined"
        )
    label = asked.label(float(values[0]))
    surrogate = parts.surrogate(masks, values, label, seed, parts.kernel)
    return Explanation(
        kind=layout.kind,
        component_names=list(layout.names),
        sources=list(layout.sources),
        n_segments=layout.n_segments,
        weights=[float(w) for w in surrogate.weights],
        intercept=surrogate.intercept,
        fidelity=surrogate.fidelity,
        local_prediction=surrogate.local_prediction,
        relevance=float(values[0]),
        label=label,
        question=question,
        n_samples=n_samples,
        seed=seed,
        separator=separator,
        silent=layout.silent_components(),
        n_distinct=len(np.unique(masks, axis=0)),
        timings={"scoring_s": scored - started, "surrogate_s": time.perf_counter() - scored},
    )
