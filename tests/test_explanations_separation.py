"""Separators: the catalogue's true stems and real Spleeter (2stems weights), caching, missing weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from explanations.audiolime.separation import (
    SEPARATORS,
    SpleeterSeparator,
    available_separators,
    get_separator,
    separate_cached,
)
from lemons.audio import write_audio
from lemons.catalogue.base import STEMS
from lemons.catalogue.builtin import BuiltinCatalogue
from lemons.catalogue.folder import FolderCatalogue
from lemons.errors import SeparationError
from lemons.io import load_npz


@pytest.fixture(scope="module")
def catalogue(tiny_catalogue_dir: Path) -> BuiltinCatalogue:
    return BuiltinCatalogue(tiny_catalogue_dir)


def vocal_track(catalogue: BuiltinCatalogue) -> str:
    """The tiny-catalogue track whose vocals carry the largest share of the mix."""
    share = {}
    for track in catalogue:
        stems = catalogue.load_stems(track.id)
        share[track.id] = float(np.sum(stems["vocals"] ** 2) / np.sum(sum(stems.values()) ** 2))
    return max(share, key=share.get)


def test_reference_separation_is_the_catalogues_true_stems(catalogue: BuiltinCatalogue) -> None:
    track_id = catalogue.ids[3]
    audio = catalogue.load_audio(track_id)
    separation = get_separator("reference", catalogue, track_id).separation(audio)
    assert separation.sources == STEMS and separation.stems.shape == (5, len(audio))
    np.testing.assert_allclose(separation.stems.sum(axis=0), audio, atol=1e-4)  # mix == sum of stems
    np.testing.assert_array_equal(separation.as_dict()["drums"], catalogue.load_stems(track_id)["drums"])


def test_the_default_separator_is_the_best_available(catalogue, tmp_path: Path, spleeter_model_dir) -> None:
    assert SEPARATORS.names()[0] == "reference"
    assert available_separators(catalogue, tmp_path) == ["reference"]
    assert available_separators(catalogue, spleeter_model_dir)[:1] == ["reference"]
    assert "spleeter:2stems" in available_separators(None, spleeter_model_dir)
    assert get_separator(None, catalogue, catalogue.ids[0], spleeter_model_dir).name == "reference"
    write_audio(tmp_path / "music" / "song.wav", catalogue.load_audio(catalogue.ids[0]), 16_000)
    folder = FolderCatalogue(tmp_path / "music")  # no true stems: Spleeter is the best there is
    assert available_separators(folder, spleeter_model_dir)[0].startswith("spleeter:")
    with pytest.raises(SeparationError, match=r"no separator is available.*lemons setup weights"):
        get_separator(None, folder, None, tmp_path)
    with pytest.raises(SeparationError, match="has no true stems"):
        get_separator("reference", folder, "x", tmp_path)
    with pytest.raises(SeparationError, match="unknown separator 'demucs'"):
        get_separator("demucs", catalogue, catalogue.ids[0])


def test_missing_or_untrained_spleeter_weights_are_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(
        SeparationError, match=r"5stems weights are missing.*lemons setup weights --model 5stems"
    ):
        SpleeterSeparator("5stems", tmp_path)
    (tmp_path / "2stems").mkdir()
    (tmp_path / "2stems" / ".probe").write_text("OK")  # Spleeter would run random weights from here
    with pytest.raises(SeparationError, match=r"2stems weights are missing.*run: lemons setup weights"):
        SpleeterSeparator("2stems", tmp_path)
    with pytest.raises(SeparationError, match="unknown Spleeter model '3stems'"):
        SpleeterSeparator("3stems", tmp_path)


@pytest.mark.slow
def test_spleeter_2stems_separates_vocals_and_caches_the_result(
    catalogue: BuiltinCatalogue, spleeter_model_dir: Path, tmp_path: Path
) -> None:
    track_id = vocal_track(catalogue)
    audio = catalogue.load_audio(track_id)
    truth = catalogue.load_stems(track_id)
    separator = SpleeterSeparator("2stems", spleeter_model_dir)
    separation = separate_cached(separator, audio, cache_dir=tmp_path)
    assert separation.separator == "spleeter:2stems"
    assert separation.sources == ("vocals", "accompaniment")
    assert separation.stems.shape == (2, len(audio)) and separation.stems.dtype == np.float32
    vocals, accompaniment = separation.stems
    # the estimated vocals resemble the true vocals far more than the accompaniment does
    true_vocals = truth["vocals"]

    def correlation(a, b):
        return float(np.corrcoef(a, b)[0, 1])

    assert correlation(vocals, true_vocals) > 0.5
    assert correlation(vocals, true_vocals) > correlation(accompaniment, true_vocals) + 0.3
    # Spleeter's masks share out the mix: the sources add up to it (up to resampling)
    residual = np.sum((vocals + accompaniment - audio) ** 2) / np.sum(audio**2)
    assert residual < 0.05
    # cached by content and backend: the file holds what was returned, and is used the second time
    (cached,) = (tmp_path / "separation" / "spleeter-2stems").glob("*.npz")
    np.testing.assert_array_equal(load_npz(cached)["stems"], separation.stems)
    again = separate_cached(separator, audio, cache_dir=tmp_path)
    np.testing.assert_array_equal(again.stems, separation.stems)
    cached.write_bytes(b"damaged")  # a damaged entry is separated again and rewritten
    np.testing.assert_allclose(separate_cached(separator, audio, cache_dir=tmp_path).stems, separation.stems)
    assert load_npz(cached)["stems"].shape == separation.stems.shape
