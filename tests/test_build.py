"""`lemons data build` / `validate`: layout, determinism, resume, tampering and bad parameters."""

from __future__ import annotations

import csv
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from lemons.catalogue.base import STEMS
from lemons.catalogue.builtin import BuiltinCatalogue, validate_catalogue
from lemons.cli import main
from lemons.errors import DataError
from lemons.synth.build import DEFAULT_TRACKS, build_catalogue, plan_catalogue
from lemons.synth.styles import GENRES


def test_catalogue_layout_metadata_and_audio(tiny_catalogue_dir: Path) -> None:
    catalogue = BuiltinCatalogue(tiny_catalogue_dir)
    assert len(catalogue) == 22
    assert sorted({t.genre for t in catalogue}) == sorted(g.name for g in GENRES)
    with open(tiny_catalogue_dir / "metadata.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for column in (
        "id",
        "title",
        "artist",
        "album",
        "genre",
        "tags",
        "tempo",
        "key",
        "duration",
        "loudness",
        "popularity",
    ):
        assert all(row[column] != "" for row in rows), column
    assert len({row["id"] for row in rows}) == 22
    track = catalogue.tracks[0]
    audio = catalogue.load_audio(track.id)
    assert audio.dtype == np.float32 and audio.shape == (6 * 16000,)
    stems = catalogue.load_stems(track.id)
    assert list(stems) == list(STEMS)
    assert np.allclose(np.sum(list(stems.values()), axis=0), audio, atol=1e-6)
    info = sf.info(str(tiny_catalogue_dir / "audio" / track.id / "mix.flac"))
    assert (info.samplerate, info.channels, info.format, info.subtype) == (16000, 1, "FLAC", "PCM_16")
    assert validate_catalogue(tiny_catalogue_dir, progress=False).ok


def test_plan_is_deterministic_balanced_and_named() -> None:
    plan = plan_catalogue(44, seed=1)
    assert plan == plan_catalogue(44, seed=1)
    assert plan != plan_catalogue(44, seed=2)
    assert all(sum(s.genre == g.name for s in plan) == 4 for g in GENRES)
    assert plan[:10] == plan_catalogue(10, seed=1)  # a smaller catalogue is the start of a larger one
    assert len({s.id for s in plan}) == 44 and all(s.title and s.artist and s.album for s in plan)
    assert all(0 <= s.popularity <= 100 for s in plan)


def test_same_seed_gives_identical_audio_with_any_number_of_workers_or_size(
    tiny_catalogue_dir: Path, tmp_path
) -> None:
    with pytest.warns(UserWarning, match="too few to split"):  # 3 tracks are too few to split
        build_catalogue(tmp_path / "again", n_tracks=3, seed=7, duration=6.0, workers=1, progress=False)
    for track_id in ("LM00000", "LM00001", "LM00002"):
        for name in ("mix", *STEMS):
            a, _ = sf.read(str(tiny_catalogue_dir / "audio" / track_id / f"{name}.flac"), dtype="int16")
            b, _ = sf.read(str(tmp_path / "again" / "audio" / track_id / f"{name}.flac"), dtype="int16")
            assert np.array_equal(a, b), (track_id, name)


def test_interrupted_build_resumes_and_redoes_only_unfinished_tracks(catalogue_copy: Path) -> None:
    done = catalogue_copy / "audio" / "LM00003"
    (done / "track.json").unlink()  # as if killed before the track was finished
    (done / ".vocals.flac.tmp1234.flac").write_bytes(b"partial")
    (done / "mix.flac").write_bytes(b"partial")
    untouched = (catalogue_copy / "audio" / "LM00004" / "mix.flac").stat().st_mtime_ns
    report = build_catalogue(catalogue_copy, n_tracks=22, seed=7, duration=6.0, workers=1, progress=False)
    assert (report.n_built, report.n_skipped_done) == (1, 21)
    assert (catalogue_copy / "audio" / "LM00004" / "mix.flac").stat().st_mtime_ns == untouched
    assert not list(done.glob(".*"))
    assert validate_catalogue(catalogue_copy, progress=False).ok


def test_validate_finds_changed_files_and_broken_sums(catalogue_copy: Path, capsys) -> None:
    stem = catalogue_copy / "audio" / "LM00005" / "bass.flac"
    audio, sr = sf.read(str(stem), dtype="int16")
    audio[1000] = audio[1000] + 3 if audio[1000] < 30000 else audio[1000] - 3
    sf.write(str(stem), audio, sr, subtype="PCM_16")
    report = validate_catalogue(catalogue_copy, progress=False)
    assert any("LM00005/bass.flac: checksum differs" in p for p in report.problems)
    assert any(
        "LM00005: mix differs from the sum of its stems (by up to 3 LSB)" in p for p in report.problems
    )
    assert main(["data", "validate", str(catalogue_copy), "--quiet"]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_validate_reports_missing_files_and_incomplete_catalogues(catalogue_copy: Path, tmp_path) -> None:
    (catalogue_copy / "audio" / "LM00006" / "drums.flac").unlink()
    report = validate_catalogue(catalogue_copy, progress=False)
    assert any("LM00006/drums.flac: missing" in p for p in report.problems)
    report = validate_catalogue(tmp_path / "nothing", progress=False)
    assert not report.ok and "lemons data build --out" in report.problems[0]


def test_other_parameters_in_the_same_directory_are_refused(catalogue_copy: Path) -> None:
    with pytest.raises(DataError, match=r"other parameters \(seed=7"):
        build_catalogue(catalogue_copy, n_tracks=22, seed=8, duration=6.0, workers=1, progress=False)


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"n_tracks": 0}, "at least 1"), ({"duration": 2.0}, "at least 5 s")]
)
def test_bad_build_parameters(tmp_path: Path, kwargs, message) -> None:
    with pytest.raises(DataError, match=message):
        build_catalogue(tmp_path / "x", **({"n_tracks": 3, "duration": 6.0} | kwargs), progress=False)


def test_catalogue_from_another_tool_is_refused(tiny_catalogue_dir: Path, tmp_path) -> None:
    copy = tmp_path / "c"
    shutil.copytree(tiny_catalogue_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps(manifest | {"version": 99}))
    with pytest.raises(DataError, match="unknown catalogue format"):
        BuiltinCatalogue(copy)
    with pytest.raises(DataError, match="no track with id 'nope'"):
        BuiltinCatalogue(tiny_catalogue_dir).load_audio("nope")


def test_cli_build_prints_time_and_size(tmp_path: Path, capsys) -> None:
    command = ["data", "build", "--out", str(tmp_path / "c"), "--n-tracks", "2", "--duration", "5", "--quiet"]
    assert main([*command, "--workers", "1"]) == 0
    out, err = capsys.readouterr()
    assert "tracks: 2 (2 built now, 0 already done, 0 failed)" in out and "size on disk:" in out
    assert f"the shipped models were trained on the default catalogue ({DEFAULT_TRACKS} tracks" in out
    assert err.startswith("warning: 2 tracks are too few to split the histories of marko, matteo")  # one line
    assert main(command) == 0
    assert "(0 built now, 2 already done, 0 failed)" in capsys.readouterr().out
    with pytest.warns(UserWarning, match="in-process"):  # the command left the warning hook as it was
        warnings.warn("in-process", UserWarning, stacklevel=1)


def test_report_prints_size_genres_and_separability(tiny_catalogue_dir: Path, capsys) -> None:
    assert main(["data", "report", str(tiny_catalogue_dir), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "22 tracks" in out and "MB on disk" in out and "  reggae             2" in out
    line = next(x for x in out.splitlines() if x.startswith("genre separability:"))
    accuracy = float(line.split()[2])
    assert 0 <= accuracy <= 100 and "2-fold logistic regression" in line and "chance 9.1 %" in line


def test_every_song_records_its_true_grid_and_sections(tiny_catalogue_dir: Path) -> None:
    from lemons.synth.song import plan_song
    from lemons.synth.styles import GENRE_BY_NAME

    catalogue = BuiltinCatalogue(tiny_catalogue_dir)
    assert catalogue.has_structure
    with_intro = 0
    for spec in plan_catalogue(22, 7):
        structure = catalogue.structure(spec.id)
        plan, _ = plan_song(GENRE_BY_NAME[spec.genre], np.random.default_rng(spec.seed), 6.0)
        bar = 4 * 60 / plan.bpm
        np.testing.assert_allclose(structure.bars(6.0), np.arange(0, 6.0, bar), atol=1e-3)
        sections = structure.sections(60.0)
        assert [label for _, _, label in sections] == (["intro"] if plan.intro_bars else []) + [
            "verse",
            "chorus",
        ]
        verse = next(start for start, _, label in sections if label == "verse")
        assert verse == pytest.approx(plan.intro_bars * bar, abs=1e-3)
        if 0 < verse < 5.0:  # the vocal line enters with the verse: the vocals are silent before it
            with_intro += 1
            vocals = catalogue.load_stems(spec.id)["vocals"]
            cut = int(verse * 16_000)
            assert np.abs(vocals[: cut - 800]).max() < 0.01 < np.abs(vocals[cut : cut + 32_000]).max()
    assert with_intro >= 3


def test_a_version_1_catalogue_loads_without_structure_and_a_build_adds_it(catalogue_copy: Path) -> None:
    from lemons.catalogue.structure import STRUCTURE_COLUMNS

    truth = {t: BuiltinCatalogue(catalogue_copy).structure(t) for t in BuiltinCatalogue(catalogue_copy).ids}
    for marker in (catalogue_copy / "audio").glob("*/track.json"):  # as a version-1 build wrote them
        row = json.loads(marker.read_text())
        marker.write_text(json.dumps({k: v for k, v in row.items() if k not in STRUCTURE_COLUMNS}))
    with open(catalogue_copy / "metadata.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with open(catalogue_copy / "metadata.csv", "w", newline="") as handle:
        columns = [c for c in rows[0] if c not in STRUCTURE_COLUMNS]
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    for name in ("build.json", "manifest.json"):
        data = json.loads((catalogue_copy / name).read_text())
        (catalogue_copy / name).write_text(json.dumps(data | {"version": 1}))
    old = BuiltinCatalogue(catalogue_copy)
    assert not old.has_structure and old.structure("LM00001") is None
    audio = (catalogue_copy / "audio" / "LM00004" / "mix.flac").stat().st_mtime_ns

    report = build_catalogue(catalogue_copy, n_tracks=22, seed=7, duration=6.0, workers=1, progress=False)
    assert report.n_built == 0  # nothing rendered again
    upgraded = BuiltinCatalogue(catalogue_copy)
    assert {t: upgraded.structure(t) for t in upgraded.ids} == truth
    assert (catalogue_copy / "audio" / "LM00004" / "mix.flac").stat().st_mtime_ns == audio
    assert validate_catalogue(catalogue_copy, progress=False).ok
