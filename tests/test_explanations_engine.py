"""The fast engine gives the recommender's own relevance for every perturbation, exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from explanations.audiolime.engine import (
    FCNScorer,
    column_groups,
    frame_receptive_field,
    prepare_engine,
    scorer_for,
    whole_track_session,
)
from explanations.audiolime.explainer import sample_perturbations
from explanations.audiolime.factorization import factorize
from explanations.audiolime.scoring import WaveformScorer, recommender_relevance
from explanations.audiolime.separation import Separation
from lemons.catalogue.builtin import BuiltinCatalogue
from recsys.model import FCN
from tests.conftest import fcn_with_statistics


@pytest.fixture(scope="module")
def model() -> FCN:
    return fcn_with_statistics(1)


@pytest.fixture(scope="module")
def long_separation(tiny_catalogue_dir: Path) -> Separation:
    """Four tiny-catalogue tracks joined into one 24 s track, with their true stems."""
    catalogue = BuiltinCatalogue(tiny_catalogue_dir)
    parts = [catalogue.load_stems(track_id) for track_id in catalogue.ids[:4]]
    names = tuple(parts[0])
    stems = np.stack([np.concatenate([part[name] for part in parts]) for name in names])
    return Separation("reference", names, stems)


def test_receptive_field_of_the_last_map() -> None:
    assert frame_receptive_field(0) == (-31, 62)
    assert frame_receptive_field(10) == (289, 382)  # 94 frames ≈ 1.5 s at hop 256


def test_column_groups_cover_every_column_once(long_separation: Separation) -> None:
    factorization = factorize("time+source", long_separation.stems.sum(axis=0), long_separation)
    n_frames = factorization.n_samples // 256 + 1
    groups = column_groups(factorization, n_frames, 256, 512)
    covered = [c for g in groups for c in range(g.first, g.stop)]
    assert covered == list(range(n_frames // 32))
    # 4.8 s segments: one group inside each segment, one across each boundary
    assert [len(g.components) // 5 for g in groups] == [1, 2, 1, 2, 1, 2, 1, 2, 1]
    assert all(g.frames[0] % 32 == 0 for g in groups)


@pytest.mark.parametrize("kind", ["time", "source", "time+source"])
def test_engine_equals_scoring_every_composed_waveform(kind, model, long_separation) -> None:
    audio = long_separation.stems.sum(axis=0)
    factorization = factorize(kind, audio, long_separation)
    masks = sample_perturbations(factorization.n_components, 40, seed=3)
    masks[1] = 0  # nothing switched on: silence
    fast = FCNScorer(model, factorization)(masks)
    naive = WaveformScorer(factorization, recommender_relevance(model), batch_size=5, deduplicate=False)(
        masks
    )
    np.testing.assert_allclose(fast, naive, atol=1e-5, rtol=0)
    assert np.ptp(naive) > 1e-3  # the masks change the relevance: the comparison means something


@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_whole_track_perturbations_are_exact_on_either_runtime(runtime, model, long_separation) -> None:
    factorization = factorize("source", long_separation.stems.sum(axis=0), long_separation)
    masks = sample_perturbations(factorization.n_components, 40, seed=4)
    scorer = FCNScorer(model, factorization, runtime=runtime)
    assert (scorer.whole_track_blocks is not None) == (runtime == "onnx")
    naive = WaveformScorer(factorization, recommender_relevance(model), batch_size=5)(masks)
    np.testing.assert_allclose(scorer(masks), naive, atol=1e-5, rtol=0)
    assert FCNScorer(model, factorization).whole_track_blocks is not None  # the default on a CPU
    with pytest.raises(ValueError, match="unknown runtime 'tensorrt'; use one of auto, onnx, torch"):
        FCNScorer(model, factorization, runtime="tensorrt")


def test_the_engine_is_prepared_once_before_the_first_explanation(long_separation) -> None:
    model = fcn_with_statistics(7)  # a model of its own: nothing of it has been prepared yet
    assert not prepare_engine(model, "cuda")  # nothing to prepare where PyTorch runs it
    assert not prepare_engine(torch.nn.Linear(2, 1))  # nor for a network that is not an FCN
    assert prepare_engine(model, seconds=6.0)
    assert not prepare_engine(model)  # once per set of blocks and process
    session = whole_track_session(model)
    factorization = factorize("source", long_separation.stems.sum(axis=0), long_separation)
    assert FCNScorer(model, factorization).whole_track_blocks is session  # made by the preparation


@pytest.mark.parametrize("segmenter", ["beats", "sections"])
def test_engine_stays_exact_on_unequal_segments(segmenter, model, long_separation) -> None:
    audio = long_separation.stems.sum(axis=0)
    factorization = factorize("time+source", audio, long_separation, segmenter=segmenter)
    assert len(set(np.diff(factorization.boundaries))) > 1  # the segments are not equal
    masks = sample_perturbations(factorization.n_components, 40, seed=5)
    fast = FCNScorer(model, factorization)(masks)
    naive = WaveformScorer(factorization, recommender_relevance(model), batch_size=5, deduplicate=False)(
        masks
    )
    np.testing.assert_allclose(fast, naive, atol=1e-5, rtol=0)
    assert np.ptp(naive) > 1e-3


def test_engine_on_short_segments_spanning_several_receptive_fields(model, tiny_catalogue_dir) -> None:
    catalogue = BuiltinCatalogue(tiny_catalogue_dir)
    track_id = catalogue.ids[9]
    stems = catalogue.load_stems(track_id)
    separation = Separation("reference", tuple(stems), np.stack(list(stems.values())))
    factorization = factorize("time+source", catalogue.load_audio(track_id), separation, n_segments=5)
    masks = sample_perturbations(25, 24, seed=0)
    fast = FCNScorer(model, factorization)(masks)
    naive = WaveformScorer(factorization, recommender_relevance(model))(masks)
    np.testing.assert_allclose(fast, naive, atol=1e-5, rtol=0)


def test_engine_reuses_patterns_it_has_scored_and_stays_exact(model, long_separation) -> None:
    factorization = factorize("time+source", long_separation.stems.sum(axis=0), long_separation)
    scorer = FCNScorer(model, factorization)
    first, second = sample_perturbations(25, 30, seed=1), sample_perturbations(25, 30, seed=2)
    scorer(first)
    reported: list[tuple[int, int]] = []
    again = scorer(np.concatenate([first, second]), lambda done, total: reported.append((done, total)))
    fresh = FCNScorer(model, factorization)(np.concatenate([first, second]))
    np.testing.assert_allclose(again, fresh, atol=1e-8, rtol=0)  # batch composition changes rounding only
    # only the patterns of `second` not seen in `first` were run: less work than a fresh scorer does
    fresh_work = []
    FCNScorer(model, factorization)(second, lambda done, total: fresh_work.append(total))
    assert reported[-1][0] == reported[-1][1] and 0 < reported[-1][1] <= fresh_work[-1]


class WaveformModel(torch.nn.Module):
    """The same network behind a plain ``forward``: a recommender the engine does not know."""

    def __init__(self, fcn: FCN) -> None:
        super().__init__()
        self.fcn = fcn

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.fcn(waveform)


def test_the_recommender_provides_its_scorer(model, long_separation) -> None:
    factorization = factorize("time", long_separation.stems.sum(axis=0), long_separation)
    exact = scorer_for(model, factorization)
    general = scorer_for(WaveformModel(model).eval(), factorization)
    assert isinstance(exact, FCNScorer) and isinstance(general, WaveformScorer)
    masks = sample_perturbations(factorization.n_components, 12, seed=4)
    np.testing.assert_allclose(exact(masks), general(masks), atol=1e-5, rtol=0)
