"""MusdbCatalogue on generated musdb18-HQ (wav folders) and musdb18 (``.stem.mp4``) fixtures."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from lemons.audio import SAMPLE_RATE
from lemons.catalogue.musdb import MusdbCatalogue, split_name
from lemons.errors import DataError

SR = 44100
SONG_SECONDS = 8.0
WINDOW = 4.0  # centre: 2 s … 6 s
FREQS = {"vocals": 880.0, "drums": 220.0, "bass": 110.0, "other": 440.0}
INNER = slice(1600, -1600)  # resampling edges aside


def stem_signal(name: str, t: np.ndarray) -> np.ndarray:
    """Mono stem: a sine at the stem's frequency whose amplitude grows with time."""
    return (0.05 + 0.01 * t) * np.sin(2 * np.pi * FREQS[name] * t)


def mixture_signal(t: np.ndarray) -> np.ndarray:
    return sum(stem_signal(name, t) for name in FREQS)


def stereo_stems(seconds: float = SONG_SECONDS) -> dict[str, np.ndarray]:
    """``{name: [samples, 2]}`` at 44.1 kHz; the right channel is the left one scaled by 0.5."""
    t = np.arange(int(seconds * SR)) / SR
    stems = {name: stem_signal(name, t) for name in FREQS}
    stems["mixture"] = sum(stems.values())
    return {name: np.stack([x, 0.5 * x], axis=1).astype(np.float32) for name, x in stems.items()}


def expected(t0: float, n: int, name: str | None = None) -> np.ndarray:
    """The mono (channel mean = 0.75 x) 16 kHz reference from ``t0`` seconds on."""
    t = t0 + np.arange(n) / SAMPLE_RATE
    return 0.75 * (mixture_signal(t) if name is None else stem_signal(name, t))


def dominant_frequency(audio: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size)))
    return float(np.fft.rfftfreq(audio.size, 1 / SAMPLE_RATE)[np.argmax(spectrum)])


def write_hq_track(folder: Path, seconds: float = SONG_SECONDS) -> None:
    folder.mkdir(parents=True)
    for name, audio in stereo_stems(seconds).items():
        sf.write(str(folder / f"{name}.wav"), audio, SR, subtype="PCM_16")


@pytest.fixture(scope="module")
def hq_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("musdb18hq")
    write_hq_track(root / "train" / "Artist One - Song One")
    write_hq_track(root / "train" / "Artist One - Song-One")  # same slug
    write_hq_track(root / "test" / "NoSeparator")
    return root


@pytest.fixture(scope="module")
def stem_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import stempeg

    root = tmp_path_factory.mktemp("musdb18")
    stems = stereo_stems()
    order = ["mixture", "drums", "bass", "other", "vocals"]  # musdb18 stream order (stem ids 0-4)
    (root / "test").mkdir()
    stempeg.write_stems(
        str(root / "test" / "The Band - A Song.stem.mp4"),
        np.stack([stems[name] for name in order]),
        sample_rate=SR,
        writer=stempeg.StreamsWriter(codec="aac", stem_names=order),
    )
    return root


def test_hq_ids_names_and_window(hq_root: Path) -> None:
    catalogue = MusdbCatalogue(hq_root, window=WINDOW)
    assert catalogue.is_wav is True
    assert catalogue.ids == ["artist-one-song-one", "artist-one-song-one-2", "noseparator"]
    track = catalogue["artist-one-song-one"]
    assert (track.artist, track.title, track.genre) == ("Artist One", "Song One", "")
    assert catalogue["noseparator"].artist == "" and catalogue["noseparator"].title == "NoSeparator"
    assert (track.offset, track.duration) == (pytest.approx(2.0), pytest.approx(WINDOW))
    assert track.extra == {"subset": "train", "song_duration": pytest.approx(SONG_SECONDS)}
    assert catalogue.stem_names == ("vocals", "drums", "bass", "other") and catalogue.has_stems


def test_hq_subsets_select_folders(hq_root: Path) -> None:
    assert MusdbCatalogue(hq_root, subsets=("test",), window=WINDOW).ids == ["noseparator"]
    with pytest.raises(DataError, match="unknown musdb subset"):
        MusdbCatalogue(hq_root, subsets=("valid",))


def test_hq_audio_is_the_mono_centre_at_16k(hq_root: Path) -> None:
    audio = MusdbCatalogue(hq_root, window=WINDOW).load_audio("artist-one-song-one")
    assert audio.dtype == np.float32 and audio.shape == (int(WINDOW * SAMPLE_RATE),)
    reference = expected(2.0, audio.size)
    assert np.max(np.abs(audio[INNER] - reference[INNER])) < 2e-3


def test_hq_whole_song_when_shorter_than_the_window(hq_root: Path) -> None:
    catalogue = MusdbCatalogue(hq_root, subsets=("test",))  # 30 s window > 8 s song
    assert catalogue["noseparator"].offset == 0.0
    audio = catalogue.load_audio("noseparator")
    assert audio.shape == (int(SONG_SECONDS * SAMPLE_RATE),)
    assert np.max(np.abs(audio[INNER] - expected(0.0, audio.size)[INNER])) < 2e-3


def test_hq_stems_are_the_true_sources_and_sum_to_the_mixture(hq_root: Path) -> None:
    catalogue = MusdbCatalogue(hq_root, window=WINDOW)
    mixture = catalogue.load_audio("artist-one-song-one")
    stems = catalogue.load_stems("artist-one-song-one")
    assert list(stems) == ["vocals", "drums", "bass", "other"]
    for name, audio in stems.items():
        assert audio.dtype == np.float32 and audio.shape == mixture.shape
        assert dominant_frequency(audio) == pytest.approx(FREQS[name], abs=2.0)
        assert np.max(np.abs(audio[INNER] - expected(2.0, audio.size, name)[INNER])) < 1e-3
    assert np.max(np.abs(sum(stems.values()) - mixture)) < 2e-3


def test_stem_mp4_is_detected_and_loaded(stem_root: Path) -> None:
    catalogue = MusdbCatalogue(stem_root, window=WINDOW)
    assert catalogue.is_wav is False
    assert catalogue.ids == ["the-band-a-song"]
    track = catalogue["the-band-a-song"]
    assert (track.artist, track.title, track.extra["subset"]) == ("The Band", "A Song", "test")
    assert track.offset == pytest.approx(2.0, abs=0.05)
    audio = catalogue.load_audio("the-band-a-song")
    assert audio.dtype == np.float32 and abs(audio.size - WINDOW * SAMPLE_RATE) <= 32
    reference = expected(track.offset, audio.size)
    assert (
        np.sqrt(np.mean((audio[INNER] - reference[INNER]) ** 2))
        < 0.02 * np.sqrt(np.mean(reference**2)) + 5e-3
    )
    assert np.corrcoef(audio[INNER], reference[INNER])[0, 1] > 0.99


def test_stem_mp4_stems_match_names_and_sum_approximately(stem_root: Path) -> None:
    catalogue = MusdbCatalogue(stem_root, window=WINDOW)
    mixture = catalogue.load_audio("the-band-a-song")
    stems = catalogue.load_stems("the-band-a-song")
    for name, audio in stems.items():  # AAC-coded: compare frequencies and levels, not samples
        assert audio.shape == mixture.shape
        assert dominant_frequency(audio) == pytest.approx(FREQS[name], abs=2.0), name
    residual = sum(stems.values()) - mixture
    assert np.sqrt(np.mean(residual**2)) < 0.05 * np.sqrt(np.mean(mixture**2))


def test_layout_errors(tmp_path: Path, hq_root: Path, stem_root: Path) -> None:
    with pytest.raises(DataError, match="no musdb18 tracks"):
        MusdbCatalogue(tmp_path)
    both = tmp_path / "both"
    write_hq_track(both / "train" / "A - B", seconds=6.0)
    (both / "test").mkdir()
    (both / "test" / "C - D.stem.mp4").write_bytes(
        (stem_root / "test" / "The Band - A Song.stem.mp4").read_bytes()
    )
    with pytest.raises(DataError, match="pass is_wav"):
        MusdbCatalogue(both)
    assert MusdbCatalogue(both, is_wav=True).ids == ["a-b"]
    with pytest.raises(DataError, match="no such folder"):
        MusdbCatalogue(tmp_path / "missing")


def test_missing_musdb_package_is_a_data_error(hq_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "musdb", None)  # makes `import musdb` raise ImportError
    with pytest.raises(DataError, match="ffmpeg"):
        MusdbCatalogue(hq_root)


def test_split_name() -> None:
    assert split_name("A Classic Education - NightOwl") == ("A Classic Education", "NightOwl")
    assert split_name("Artist - Title - Live") == ("Artist", "Title - Live")
    assert split_name("Untitled") == ("", "Untitled")
