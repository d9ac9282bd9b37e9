"""audioLIME on recommenders whose answer is known, and the parts of SPEC §4 one at a time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from explanations.audiolime.explainer import (
    KERNEL_WIDTH,
    Explanation,
    LimeParts,
    explain,
    fit_surrogate,
    kernel,
    sample_perturbations,
)
from explanations.audiolime.factorization import factorize
from explanations.audiolime.pipeline import ExplainSettings
from explanations.audiolime.questions import QUESTIONS
from explanations.audiolime.scoring import WaveformScorer, score_perturbations
from explanations.audiolime.separation import get_separator
from lemons.catalogue.builtin import BuiltinCatalogue
from lemons.errors import ConfigError, ExplanationError


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@pytest.fixture(scope="module")
def track(tiny_catalogue_dir: Path):
    """A tiny-catalogue track (6 s) with audible drums, its mix and its true stems."""
    catalogue = BuiltinCatalogue(tiny_catalogue_dir)
    for track in catalogue:
        stems = catalogue.load_stems(track.id)
        if all(np.sqrt(np.mean(stems[name] ** 2)) > 1e-3 for name in ("drums", "vocals", "bass")):
            separation = get_separator("reference", catalogue, track.id).separation(
                catalogue.load_audio(track.id)
            )
            return catalogue.load_audio(track.id), separation
    raise AssertionError("no tiny-catalogue track has drums, vocals and bass")


def drums_listener(drums: np.ndarray):
    """A stand-in recommender that only hears the drums stem: relevance grows with its projection."""

    def relevance(batch: np.ndarray) -> np.ndarray:
        n = batch.shape[1]
        projection = batch @ drums[:n] / float(drums[:n] @ drums[:n])
        return sigmoid(6.0 * (projection - 0.5))

    return relevance


def segment_listener(audio: np.ndarray, segment: int, n_segments: int = 5):
    """A stand-in recommender that only hears the loudness of one time segment."""
    length = len(audio) // n_segments
    span = slice(segment * length, (segment + 1) * length)
    reference = float(np.sqrt(np.mean(audio[span] ** 2)))

    def relevance(batch: np.ndarray) -> np.ndarray:
        rms = np.sqrt(np.mean(batch[:, span] ** 2, axis=1))
        return sigmoid(8.0 * (rms / reference - 0.5))

    return relevance


def test_a_recommender_that_hears_only_drums_is_explained_by_drums(track) -> None:
    audio, separation = track
    drums = separation.stems[separation.sources.index("drums")]
    factorization = factorize("source", audio, separation)
    source = explain(factorization, WaveformScorer(factorization, drums_listener(drums)), 256, seed=0)
    assert source.component_names[source.top_k(1)[0]] == "drums"
    assert source.fidelity > 0.9
    factorization = factorize("time+source", audio, separation)
    both = explain(factorization, WaveformScorer(factorization, drums_listener(drums)), 512, seed=0)
    top = [both.component_names[i] for i in both.top_k(5)]
    assert all(name.startswith("drums") for name in top), top
    grid = both.weight_grid()  # sources × segments
    assert grid.shape == (5, 5)
    assert np.all(grid[separation.sources.index("drums")] > np.delete(grid, 2, axis=0).max())


@pytest.mark.parametrize("kind", ["time", "time+source"])
def test_a_recommender_that_hears_only_segment_3_is_explained_by_segment_3(track, kind: str) -> None:
    audio, separation = track
    factorization = factorize(kind, audio, separation)
    explanation = explain(
        factorization, WaveformScorer(factorization, segment_listener(audio, 3)), 512, seed=1
    )
    top = explanation.top_k(3 if kind == "time+source" else 1)
    assert top and all(i // len(explanation.sources) == 3 for i in top), explanation.component_names
    if kind == "time":
        assert explanation.component_names[top[0]] == "segment3"
        assert max(abs(w) for i, w in enumerate(explanation.weights) if i != 3) < 0.01


def test_perturbations_are_uniform_bits_with_the_instance_first_and_follow_the_seed() -> None:
    masks = sample_perturbations(25, 2048, seed=3)
    assert masks.shape == (2048, 25) and set(np.unique(masks)) == {0, 1}
    assert masks[0].all()
    assert abs(masks[1:].mean() - 0.5) < 0.01
    np.testing.assert_array_equal(masks, sample_perturbations(25, 2048, seed=3))
    assert not np.array_equal(masks, sample_perturbations(25, 2048, seed=4))


def test_distinct_perturbations_are_scored_once_with_the_same_result(track) -> None:
    audio, _ = track
    factorization = factorize("time", audio)
    masks = sample_perturbations(5, 2048, seed=0)
    listener = segment_listener(audio, 1)
    inputs_seen = []

    def counting(batch: np.ndarray) -> np.ndarray:
        inputs_seen.append(len(batch))
        return listener(batch)

    values = score_perturbations(masks, WaveformScorer(factorization, counting))
    assert sum(inputs_seen) == len(np.unique(masks, axis=0)) <= 32
    every_row = np.concatenate(
        [listener(factorization.compose(masks[i : i + 64])) for i in range(0, 2048, 64)]
    )
    np.testing.assert_array_equal(values, every_row)


def test_surrogate_is_limes_kernel_weighted_ridge_and_fidelity_its_weighted_r2() -> None:
    rng = np.random.default_rng(0)
    masks = sample_perturbations(8, 400, seed=0)
    relevance = sigmoid(masks @ rng.normal(0, 1, 8) - 1 + rng.normal(0, 0.3, 400))
    surrogate = fit_surrogate(masks, relevance, label=1)
    x = masks.astype(float)
    cosine = 1 - x @ x[0] / (np.linalg.norm(x, axis=1) * np.linalg.norm(x[0]) + 1e-12)
    weights = np.sqrt(np.exp(-(cosine**2) / KERNEL_WIDTH**2))
    np.testing.assert_allclose(kernel(cosine), weights)
    ridge = Ridge(alpha=1.0).fit(x, relevance, sample_weight=weights)
    np.testing.assert_allclose(surrogate.weights, ridge.coef_, atol=1e-8)
    np.testing.assert_allclose(surrogate.intercept, ridge.intercept_, atol=1e-8)
    np.testing.assert_allclose(
        surrogate.fidelity, ridge.score(x, relevance, sample_weight=weights), atol=1e-8
    )
    np.testing.assert_allclose(surrogate.local_prediction, ridge.predict(x[:1])[0], atol=1e-8)
    # label 0 explains 1 − p: the same fit with the signs of the weights turned
    flipped = fit_surrogate(masks, relevance, label=0)
    np.testing.assert_allclose(flipped.weights, -surrogate.weights, atol=1e-8)


def test_explanations_are_repeatable_for_a_seed(track) -> None:
    audio, separation = track
    factorization = factorize("time+source", audio, separation)
    scorer = WaveformScorer(factorization, drums_listener(separation.stems[2]))
    first = explain(factorization, scorer, 128, seed=5)
    assert explain(factorization, scorer, 128, seed=5).weights == first.weights
    assert explain(factorization, scorer, 128, seed=6).weights != first.weights


def test_the_sampler_kernel_and_surrogate_are_parts_that_can_be_swapped(track) -> None:
    audio, separation = track
    factorization = factorize("source", audio, separation)
    scorer = WaveformScorer(factorization, drums_listener(separation.stems[2]))
    used: list[str] = []

    def one_off_each(n_components: int, n_samples: int, seed: int) -> np.ndarray:
        used.append("sampler")
        return np.vstack([np.ones(n_components), 1 - np.eye(n_components)]).astype(np.uint8)

    def flat(distances: np.ndarray) -> np.ndarray:
        used.append("kernel")
        return np.ones_like(distances)

    parts = LimeParts(sampler=one_off_each, kernel=flat)
    explanation = explain(factorization, scorer, 6, parts=parts)
    assert used[0] == "sampler" and "kernel" in used and explanation.n_distinct == 6
    assert explanation.top_k(1) == [separation.sources.index("drums")]


def test_a_recommender_that_ignores_everything_cannot_be_explained(track) -> None:
    audio, _ = track
    factorization = factorize("time", audio)
    constant = WaveformScorer(factorization, lambda batch: np.full(len(batch), 0.7))
    with pytest.raises(ExplanationError, match=r"same relevance \(0.7000\).*R²\) is undefined"):
        explain(factorization, constant, 64)
    broken = WaveformScorer(factorization, lambda batch: np.full(len(batch), np.nan))
    with pytest.raises(ExplanationError, match="NaN or infinite relevance"):
        explain(factorization, broken, 64)


def test_silent_components_are_never_highlighted(track) -> None:
    _, separation = track
    stems = separation.stems.copy()
    stems[separation.sources.index("piano")] = 0.0
    silent = type(separation)(separation.separator, separation.sources, stems)

    def louder_is_better(batch: np.ndarray) -> np.ndarray:  # every audible component has weight
        return sigmoid(20 * np.sqrt(np.mean(batch**2, axis=1)) - 1)

    factorization = factorize("source", stems.sum(axis=0), silent)
    explanation = explain(factorization, WaveformScorer(factorization, louder_is_better), 128)
    assert explanation.silent == [1]
    assert 1 not in explanation.top_k(5)


def test_top_k_towards_relevance_reads_a_not_relevant_explanation_in_mirror() -> None:
    names = ["vocals", "piano", "drums", "bass", "other"]
    explanation = Explanation(
        kind="source", component_names=names, sources=names, n_segments=1,
        weights=[0.3, -0.2, -0.5, 0.1, -0.05], intercept=0.5, fidelity=0.9, local_prediction=0.8,
        relevance=0.2, label=0, question="top", n_samples=64, seed=0, separator="reference",
    )  # fmt: skip
    assert explanation.top_k(2) == [0, 3]  # what makes it "not relevant"
    assert explanation.top_k(3, towards_relevance=True) == [2, 1, 4]  # what raises the relevance
    explanation.label = 1
    assert explanation.top_k(2, towards_relevance=True) == [0, 3]


def ceiling_listener(audio: np.ndarray, segment: int, ceiling: float):
    """Relevance that only segment ``segment`` raises, scaled to stay below ``ceiling``."""
    listener = segment_listener(audio, segment)
    return lambda batch: ceiling * listener(batch)


def test_each_question_on_a_recommender_below_0_5_everywhere(track) -> None:
    audio, _ = track
    factorization = factorize("time", audio)
    scorer = WaveformScorer(factorization, ceiling_listener(audio, 3, ceiling=0.45))
    answers = {name: explain(factorization, scorer, 256, seed=2, question=name) for name in QUESTIONS.names()}
    relevant, not_relevant, top = answers["relevant"], answers["not-relevant"], answers["top"]
    assert relevant.relevance < 0.5 and relevant.question == "relevant"
    # why is it recommended? segment 3 is what raises the relevance
    assert relevant.label == 1 and relevant.top_k(1) == [3] and relevant.against_k(1) != [3]
    # why not? segment 3 works against "not relevant"; the other segments, near-silent in effect, lead
    assert not_relevant.label == 0 and 3 not in not_relevant.top_k(5) and not_relevant.against_k(1) == [3]
    np.testing.assert_allclose(not_relevant.weights, -np.asarray(relevant.weights), atol=1e-9)
    # LIME's top label below 0.5 is "not relevant", exactly as the original rule computed it
    assert top.label == 0 and top.weights == not_relevant.weights
    masks = sample_perturbations(5, 256, seed=2)
    values = score_perturbations(masks, scorer)
    original = fit_surrogate(masks, values, label=int(values[0] >= 0.5), seed=2)
    assert top.weights == [float(w) for w in original.weights] and top.fidelity == original.fidelity
    assert "why is the track not relevant?" in top.answers() and "top label" in top.answers()
    assert relevant.answers().startswith("why is the track relevant?")


def test_top_is_relevant_where_the_recommender_says_relevant(track) -> None:
    audio, _ = track
    factorization = factorize("time", audio)
    scorer = WaveformScorer(factorization, lambda batch: 0.55 + 0.4 * segment_listener(audio, 1)(batch))
    relevant = explain(factorization, scorer, 128, seed=0)
    top = explain(factorization, scorer, 128, seed=0, question="top")
    assert relevant.question == "relevant"  # the default
    assert relevant.label == top.label == 1 and top.weights == relevant.weights
    assert relevant.top_k(1) == [1]


def test_the_top_highlight_is_empty_only_when_nothing_raises_the_relevance(track) -> None:
    audio, _ = track
    factorization = factorize("time", audio)

    def quieter_is_better(batch: np.ndarray) -> np.ndarray:  # every segment lowers the relevance
        return sigmoid(1 - 30 * np.sqrt(np.mean(batch**2, axis=1)))

    scorer = WaveformScorer(factorization, quieter_is_better)
    relevant = explain(factorization, scorer, 128, seed=0)
    assert relevant.top_k(3) == [] and len(relevant.against_k(3)) == 3
    assert all(relevant.weights[i] < 0 for i in relevant.against_k(5))
    why_not = explain(factorization, scorer, 128, seed=0, question="not-relevant")
    assert why_not.top_k(3) == relevant.against_k(3)


def test_an_unknown_question_lists_the_valid_ones(track) -> None:
    audio, _ = track
    factorization = factorize("time", audio)
    scorer = WaveformScorer(factorization, segment_listener(audio, 1))
    message = r"unknown question \(--label\) 'why'; use one of relevant, not-relevant, top"
    with pytest.raises(ConfigError, match=message):
        explain(factorization, scorer, 16, question="why")
    with pytest.raises(ConfigError, match=message):
        ExplainSettings("time", question="why")


def test_top_k_by_absolute_weight_takes_either_sign_and_skips_silence() -> None:
    names = [f"segment{i}" for i in range(5)]
    explanation = Explanation(
        kind="time", component_names=names, sources=["mix"], n_segments=5,
        weights=[0.1, -0.6, 0.3, 0.0, -0.2], intercept=0.5, fidelity=0.9, local_prediction=0.4,
        relevance=0.4, label=1, question="relevant", n_samples=64, seed=0, separator=None, silent=[2],
    )  # fmt: skip
    assert explanation.top_k_absolute(3) == [1, 4, 0]  # 2 is silent, 3 has no weight
    assert explanation.top_k(3) == [0] and explanation.against_k(3) == [1, 4]
    explanation.label = 0  # the mirror image: the same components by magnitude
    explanation.weights = [-w for w in explanation.weights]
    assert explanation.top_k_absolute(3) == [1, 4, 0]
