"""Separation quality: true references per Spleeter model, SDR with museval, the study on real Spleeter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from explanations.studies.separation_quality import (
    reference_sources,
    separation_study,
    spread_over_genres,
    track_sdr,
)
from lemons.catalogue.base import STEMS, Catalogue, Track
from lemons.catalogue.builtin import BuiltinCatalogue
from lemons.errors import ConfigError, SeparationError

SR = 16_000


def random_stems(n: int = 1000, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal(n).astype(np.float32) for name in STEMS}


class StemsCatalogue(Catalogue):
    """Two in-memory tracks with true stems (nothing on disk)."""

    name = "in-memory"
    stem_names = STEMS

    def __init__(self) -> None:
        super().__init__([Track("a", "A", genre="rock"), Track("b", "B", genre="jazz")])


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        (("vocals", "accompaniment"), [["vocals"], ["piano", "drums", "bass", "other"]]),
        (("vocals", "drums", "bass", "other"), [["vocals"], ["drums"], ["bass"], ["piano", "other"]]),
        (STEMS, [[name] for name in STEMS]),
    ],
)
def test_reference_sources_sum_the_true_stems_each_model_source_holds(sources, expected) -> None:
    stems = random_stems()
    references = reference_sources(stems, sources)
    assert references.shape == (len(sources), 1000) and references.dtype == np.float32
    for row, members in zip(references, expected, strict=True):
        np.testing.assert_allclose(row, sum(stems[name] for name in members), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(references.sum(axis=0), sum(stems.values()), atol=1e-5)  # the mix


def test_reference_sources_refuse_a_source_without_a_true_stem() -> None:
    musdb = {name: stem for name, stem in random_stems().items() if name != "piano"}
    np.testing.assert_allclose(
        reference_sources(musdb, ("vocals", "accompaniment"))[1],
        musdb["drums"] + musdb["bass"] + musdb["other"],
        atol=1e-6,
    )
    with pytest.raises(SeparationError, match="no true 'piano' stem"):
        reference_sources(musdb, STEMS)


def test_track_sdr_is_high_for_a_near_exact_estimate_low_for_a_mixed_one_nan_for_silence() -> None:
    rng = np.random.default_rng(1)
    reference = rng.standard_normal((3, 3 * SR))
    reference[2] = 0.0  # a source silent throughout (a track without vocals)
    near = reference + 1e-4 * rng.standard_normal(reference.shape)
    sdr = track_sdr(reference, near, SR)
    assert sdr.shape == (3,)
    assert np.all(sdr[:2] > 40) and np.isnan(sdr[2])
    mixed = near.copy()
    mixed[0] = 0.6 * reference[0] + 0.4 * reference[1]  # source 1 leaks into source 0
    mixed_sdr = track_sdr(reference, mixed, SR)
    assert mixed_sdr[0] < 10 < sdr[0]
    assert mixed_sdr[1] == pytest.approx(sdr[1], abs=1e-6)  # each source is scored on its own
    silent_estimate = near.copy()
    silent_estimate[1] = 0.0  # the separator lost a source: 0 dB, not undefined
    assert track_sdr(reference, silent_estimate, SR)[1] == 0.0
    with pytest.raises(ValueError, match="must both be"):
        track_sdr(reference, near[:2], SR)


def test_tracks_are_spread_over_genres_in_catalogue_order() -> None:
    tracks = [Track(f"t{i}", f"T{i}", genre=g) for i, g in enumerate(["rock", "rock", "jazz", "pop", "jazz"])]
    chosen = spread_over_genres(Catalogue(tracks), 4)
    assert [t.id for t in chosen] == ["t0", "t2", "t3", "t1"]


def test_a_catalogue_without_stems_unknown_or_missing_models_are_refused(tmp_path: Path) -> None:
    no_stems = Catalogue([Track("a", "A", genre="rock")])
    with pytest.raises(SeparationError, match="has no true stems"):
        separation_study(no_stems, tmp_path, progress=False)
    with pytest.raises(ConfigError, match="unknown Spleeter model '3stems'"):
        separation_study(StemsCatalogue(), tmp_path, models=["3stems"], model_dir=tmp_path, progress=False)
    with pytest.raises(SeparationError, match=r"no Spleeter model is installed.*lemons setup weights"):
        separation_study(StemsCatalogue(), tmp_path, model_dir=tmp_path, progress=False)
    with pytest.raises(SeparationError, match="4stems weights are missing"):
        separation_study(StemsCatalogue(), tmp_path, models=["4stems"], model_dir=tmp_path, progress=False)
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.slow
def test_separation_study_scores_real_spleeter_against_the_true_stems(
    tiny_catalogue_dir: Path, spleeter_model_dir: Path, tmp_path: Path
) -> None:
    catalogue = BuiltinCatalogue(tiny_catalogue_dir)
    out = tmp_path / "study"
    summary = separation_study(
        catalogue,
        out,
        models=["2stems"],
        n_tracks=2,
        model_dir=spleeter_model_dir,
        cache_dir=tmp_path / "cache",
        progress=False,
    )
    assert {p.name for p in out.iterdir()} == {"separation.csv", "separation.png", "summary.md"}
    table = pd.read_csv(out / "separation.csv")
    assert len(table) == 2 * 2 and set(table["source"]) == {"vocals", "accompaniment"}
    assert table["genre"].nunique() == 2  # two tracks, two genres
    accompaniment = table[table["source"] == "accompaniment"]
    assert np.all(np.isfinite(accompaniment["sdr"])) and np.all(accompaniment["sdr"] > 0)
    assert [(s["model"], s["source"]) for s in summary] == [("2stems", "vocals"), ("2stems", "accompaniment")]
    row = summary[1]
    assert row["tracks"] == 2 and row["silent"] == 0 and np.isfinite(row["median_sdr"])
    assert summary[0]["tracks"] + summary[0]["silent"] == 2
    text = (out / "summary.md").read_text()
    assert "| model | source | median SDR (dB) |" in text
    assert f"| 2stems | accompaniment | {row['median_sdr']:.1f} |" in text
    assert "exact by construction" in text
    assert (out / "separation.png").read_bytes()[:4] == b"\x89PNG"
    assert list((tmp_path / "cache" / "separation" / "spleeter-2stems").glob("*.npz"))  # cached


@pytest.mark.slow
def test_separation_command_reports_each_installed_model(
    tiny_catalogue_dir: Path, spleeter_model_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    from lemons.cli import main as lemons_main
    from lemons.config import get_settings

    monkeypatch.setenv("LEMONS_CATALOGUE_DIR", str(tiny_catalogue_dir))
    monkeypatch.setenv("LEMONS_SPLEETER_MODEL_DIR", str(spleeter_model_dir))
    get_settings.cache_clear()
    out = tmp_path / "separation"
    assert lemons_main(["experiments", "separation", "--n-tracks", "1", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "2stems accompaniment: median SDR" in printed and "over 1 tracks" in printed
    assert (out / "separation.csv").is_file() and (out / "summary.md").is_file()
    assert lemons_main(["experiments", "separation", "--models", "5stems", "--out", str(out)]) == 2
    assert "lemons setup weights --model 5stems" in capsys.readouterr().err
