"""SLIME's regions tile the spectrogram, and their scorer gives the recommender's relevance exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explanations.audiolime.explainer import explain, sample_perturbations
from explanations.audiolime.slime import MATCHING_GRIDS, mel_band_edges, slime_regions, slime_scorer
from lemons.catalogue.builtin import BuiltinCatalogue
from lemons.errors import AudioError, ConfigError
from recsys.model import FCN
from tests.conftest import fcn_with_statistics


@pytest.fixture(scope="module")
def model() -> FCN:
    model = fcn_with_statistics(2)
    model.dense.weight.data.mul_(0.01)  # silenced regions (-100 dB) would saturate the relevance
    return model


@pytest.fixture(scope="module")
def audio(tiny_catalogue_dir) -> np.ndarray:
    catalogue = BuiltinCatalogue(tiny_catalogue_dir)
    return np.concatenate([catalogue.load_audio(track_id) for track_id in catalogue.ids[:2]])


def naive_relevance(model: FCN, spectrum: torch.Tensor, keep: torch.Tensor) -> float:
    """Score the spectrogram with the switched-off bins silenced, through the model's own layers."""
    power = (spectrum * keep).abs().pow(2)
    mel = model.front_end.to_db(model.front_end.mel.mel_scale(power))
    with torch.inference_mode():
        logit = model.dense(model.embed(model.spec_bn(mel[None, None])))
    return float(torch.sigmoid(logit).squeeze())


def test_mel_bands_are_equally_wide_in_mel() -> None:
    edges = mel_band_edges(5, 0.0, 8000.0)
    assert edges[0] == pytest.approx(0.0, abs=1e-9) and edges[-1] == pytest.approx(8000.0)
    mel = 2595 * np.log10(1 + edges / 700)
    assert np.allclose(np.diff(mel), np.diff(mel)[0])
    assert np.all(np.diff(edges)[1:] > np.diff(edges)[:-1])  # wider in Hz towards the top


@pytest.mark.parametrize("kind", list(MATCHING_GRIDS))
def test_regions_tile_the_spectrogram_once(kind, model, audio) -> None:
    n_segments, n_bands = MATCHING_GRIDS[kind]
    grid, regions = slime_regions(model, audio, n_segments, n_bands)
    assert grid.n_components == n_segments * n_bands == len(grid.names) == regions.shape[0]
    spectrum = model.complex_stft(torch.from_numpy(audio[: grid.n_samples])[None])[0]
    covered = (regions.abs() > 0).sum(dim=0)
    assert int(covered.max()) <= 1  # disjoint
    torch.testing.assert_close(regions.sum(dim=0), spectrum)  # and together the whole spectrogram


def test_scorer_equals_scoring_the_masked_spectrogram(model, audio) -> None:
    grid, scorer = slime_scorer(model, audio, 4, 3)
    _, regions = slime_regions(model, audio, 4, 3)
    spectrum = regions.sum(dim=0)
    masks = sample_perturbations(grid.n_components, 12, seed=5)
    masks[1] = 0
    fast = scorer(masks)
    naive = [
        naive_relevance(
            model,
            spectrum,
            (torch.from_numpy(m.astype(np.float32)) @ (regions.abs() > 0).flatten(1).float()).view_as(
                spectrum
            ),
        )
        for m in masks
    ]
    np.testing.assert_allclose(fast, naive, atol=1e-5, rtol=0)
    assert np.ptp(naive) > 1e-3


def test_slime_explains_with_lime_like_audiolime(model, audio) -> None:
    grid, scorer = slime_scorer(model, audio, 5, 5)
    explanation = explain(grid, scorer, 64, seed=0)
    assert explanation.kind == "slime" and len(explanation.weights) == 25
    assert explanation.component_names[:2] == ["band0.0", "band1.0"] and len(explanation.sources) == 5
    assert explanation.sources[0].startswith("0–")


def test_bad_grids_are_refused(model, audio) -> None:
    with pytest.raises(ConfigError, match="segments"):
        slime_regions(model, audio, 0, 5)
    with pytest.raises(AudioError, match="too short"):
        slime_regions(model, audio[:8000], 5, 1)
