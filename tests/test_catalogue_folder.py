"""FolderCatalogue on a generated folder: formats, rates, centre window, tags, skipped and broken files."""

from __future__ import annotations

import logging
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from lemons.audio import SAMPLE_RATE, SilentAudioError
from lemons.catalogue.folder import FolderCatalogue, genres_of, slugify, unique_slugs
from lemons.errors import AudioError, DataError

WINDOW = 6.0


def signal(t: np.ndarray, freq: float = 440.0) -> np.ndarray:
    """A sine whose amplitude grows with time, so the position of a window can be checked."""
    return (0.1 + 0.06 * t) * np.sin(2 * np.pi * freq * t)


def write(path: Path, seconds: float, sr: int, stereo: bool = False, freq: float = 440.0, **kw) -> None:
    """Write ``signal`` (stereo: left = s + n, right = s - n, so the channel mean is s)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    mono = signal(t, freq)
    if stereo:
        other = 0.2 * np.sin(2 * np.pi * 3000 * t)
        data = np.stack([mono + other, mono - other], axis=1)
    else:
        data = mono
    sf.write(str(path), data.astype(np.float32), sr, **kw)


def dominant_frequency(audio: np.ndarray, sr: int = SAMPLE_RATE) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.fft.rfftfreq(len(audio), 1 / sr)[np.argmax(spectrum)])


@pytest.fixture()
def music(tmp_path: Path) -> Path:
    root = tmp_path / "music"
    write(root / "Rock Band" / "Song A.wav", 10.0, 44100, stereo=True)  # centre: 2 s … 8 s
    write(root / "Jazz" / "Song B.flac", 8.0, 22050, freq=660.0)
    write(root / "Top.ogg", 7.0, 48000, freq=880.0)
    write(root / "Rock Band" / "short.wav", 3.0, 16000)  # too short: skipped
    (root / "Rock Band" / "broken.mp3").write_bytes(b"this is not an mp3 file" * 100)  # skipped
    write(root / "cut.ogg", 8.0, 22050)
    (root / "cut.ogg").write_bytes((root / "cut.ogg").read_bytes()[:600])  # skipped: truncated
    (root / "silent.wav").parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(root / "silent.wav"), np.zeros(16000 * 6, dtype=np.float32), 16000)
    (root / "notes.txt").write_text("not audio")
    write(root / ".hidden" / "x.wav", 8.0, 16000)
    write(root / "._Song.wav", 8.0, 16000)
    return root


def scan(root: Path, window: float = WINDOW) -> FolderCatalogue:
    return FolderCatalogue(root, window=window)


def id3v2(frames: dict[str, str], version: int = 3) -> bytes:
    """An ID3v2.3 (UTF-16 text) or ID3v2.4 (UTF-8 text) tag, as taggers write them before the audio."""

    def size(n: int, syncsafe: bool) -> bytes:
        return bytes((n >> s) & 0x7F for s in (21, 14, 7, 0)) if syncsafe else struct.pack(">I", n)

    body = b""
    for frame_id, text in frames.items():
        data = b"\x01" + text.encode("utf-16") if version == 3 else b"\x03" + text.encode("utf-8")
        body += frame_id.encode() + size(len(data), version == 4) + b"\x00\x00" + data
    return b"ID3" + bytes([version, 0, 0]) + size(len(body), True) + body


def tagged_mp3(path: Path, frames: dict[str, str], version: int = 3) -> None:
    """A generated 8 s MP3 with an ID3v2 tag in front of its frames."""
    write(path, 8.0, 22050)
    path.write_bytes(id3v2(frames, version) + path.read_bytes())


def test_ids_and_metadata_come_from_the_paths(music: Path) -> None:
    catalogue = scan(music)
    assert sorted(catalogue.ids) == ["jazz-song-b-flac", "rock-band-song-a-wav", "silent-wav", "top-ogg"]
    song = catalogue["rock-band-song-a-wav"]
    assert (song.title, song.artist, song.path) == ("Song A", "Rock Band", music / "Rock Band" / "Song A.wav")
    assert (catalogue["top-ogg"].title, catalogue["top-ogg"].artist) == ("Top", "")
    assert catalogue["jazz-song-b-flac"].artist == "Jazz"


def test_window_is_the_centre_of_each_file(music: Path) -> None:
    catalogue = scan(music)
    assert catalogue["rock-band-song-a-wav"].offset == pytest.approx(2.0)
    assert catalogue["rock-band-song-a-wav"].duration == pytest.approx(WINDOW)
    assert catalogue["top-ogg"].offset == pytest.approx(0.5)
    whole = scan(music, window=30.0)["rock-band-song-a-wav"]
    assert (whole.offset, whole.duration) == (0.0, pytest.approx(10.0))


def test_stereo_44k_wav_loads_as_the_mono_centre_at_16k(music: Path) -> None:
    audio = scan(music).load_audio("rock-band-song-a-wav")
    assert audio.dtype == np.float32 and audio.shape == (int(WINDOW * SAMPLE_RATE),)
    expected = signal(2.0 + np.arange(audio.size) / SAMPLE_RATE)  # channel mean, from 2 s on
    inner = slice(1600, -1600)  # resampling edges aside
    assert np.max(np.abs(audio[inner] - expected[inner])) < 2e-3


def test_whole_file_when_shorter_than_the_window(music: Path) -> None:
    audio = scan(music, window=30.0).load_audio("rock-band-song-a-wav")
    assert audio.shape == (10 * SAMPLE_RATE,)
    expected = signal(np.arange(audio.size) / SAMPLE_RATE)
    assert np.max(np.abs(audio[1600:-1600] - expected[1600:-1600])) < 2e-3


@pytest.mark.parametrize(
    ("track_id", "freq", "offset"), [("jazz-song-b-flac", 660.0, 1.0), ("top-ogg", 880.0, 0.5)]
)
def test_other_rates_and_formats_load_at_16k(music: Path, track_id: str, freq: float, offset: float) -> None:
    audio = scan(music).load_audio(track_id)
    assert audio.dtype == np.float32
    assert abs(audio.size - WINDOW * SAMPLE_RATE) <= 2
    assert dominant_frequency(audio) == pytest.approx(freq, abs=2.0)
    expected = signal(offset + np.arange(audio.size) / SAMPLE_RATE, freq)
    assert np.corrcoef(audio[1600:-1600], expected[1600:-1600])[0, 1] > 0.99


def test_unusable_files_are_reported_once_with_a_line_each(music: Path, caplog) -> None:
    with warnings.catch_warnings(), caplog.at_level(logging.WARNING):
        warnings.simplefilter("error")  # a report, not a Python warning as well
        catalogue = FolderCatalogue(music, window=WINDOW)
    [record] = caplog.records
    first, *lines = record.getMessage().splitlines()
    assert first == f"{music}: skipped 3 files:"
    named = sorted(line.strip().split(": ")[0] for line in lines)
    assert named == sorted(
        str(music / name) for name in ("Rock Band/broken.mp3", "Rock Band/short.wav", "cut.ogg")
    )
    reasons = {path.name: reason for path, reason in catalogue.skipped}
    assert set(reasons) == {"short.wav", "broken.mp3", "cut.ogg"}
    assert "3.00 s" in reasons["short.wav"]
    assert "is not an audio file: its content is text, not MP3" in reasons["broken.mp3"]
    assert "cut.ogg: unreadable or corrupt Ogg file" in reasons["cut.ogg"]


def test_no_report_for_a_clean_folder(tmp_path: Path, caplog) -> None:
    write(tmp_path / "a.wav", 6.0, 16000)
    with warnings.catch_warnings(), caplog.at_level(logging.WARNING):
        warnings.simplefilter("error")
        catalogue = FolderCatalogue(tmp_path)
    assert catalogue.ids == ["a-wav"] and catalogue.skipped == [] and not caplog.records


@pytest.mark.parametrize("version", [3, 4])
def test_title_artist_album_and_genres_come_from_id3_tags(tmp_path: Path, version: int) -> None:
    frames = {"TIT2": "Jóga", "TPE1": "Björk", "TALB": "Homogenic", "TCON": "Art Pop; Electronic"}
    tagged_mp3(tmp_path / "Downloads" / "track01.mp3", frames, version)
    track = FolderCatalogue(tmp_path)["downloads-track01-mp3"]
    assert (track.title, track.artist, track.album) == ("Jóga", "Björk", "Homogenic")
    assert (track.genre, track.tags) == ("Art Pop", ("Art Pop", "Electronic"))
    assert track.label == "Björk - Jóga"


def test_vorbis_comments_of_flac_and_ogg_are_read(tmp_path: Path) -> None:
    for name in ("a.flac", "b.ogg"):
        with sf.SoundFile(tmp_path / name, "w", 16000, 1) as handle:
            handle.title, handle.artist, handle.genre, handle.date = f"Song {name}", "Trio", "Jazz", "1959"
            handle.write(signal(np.arange(16000 * 6) / 16000).astype(np.float32))
    catalogue = FolderCatalogue(tmp_path)
    for track_id, name in (("a-flac", "a.flac"), ("b-ogg", "b.ogg")):
        track = catalogue[track_id]
        assert (track.title, track.artist, track.genre, track.tags) == (
            f"Song {name}",
            "Trio",
            "Jazz",
            ("Jazz",),
        )
        assert track.extra["date"] == "1959"


def test_untagged_files_fall_back_on_their_names(tmp_path: Path) -> None:
    tagged_mp3(tmp_path / "Only Artist" / "x.mp3", {"TPE1": "Somebody"})
    write(tmp_path / "loose take.wav", 6.0, 16000)
    catalogue = FolderCatalogue(tmp_path)
    assert (catalogue["only-artist-x-mp3"].title, catalogue["only-artist-x-mp3"].artist) == ("x", "Somebody")
    loose = catalogue["loose-take-wav"]
    assert (loose.title, loose.artist, loose.genre, loose.tags) == ("loose take", "", "", ())
    assert loose.label == "loose take"


def test_genre_tags_split_into_tags() -> None:
    assert genres_of("Rock; Indie, Rock\x00Shoegaze") == ("Rock", "Indie", "Shoegaze")
    assert genres_of("Drum & Bass") == ("Drum & Bass",)
    assert genres_of("") == ()


def test_silent_file_is_listed_but_raises_when_loaded(music: Path) -> None:
    catalogue = scan(music)
    with pytest.raises(SilentAudioError, match=r"silent\.wav"):
        catalogue.load_audio("silent-wav")


def test_file_corrupted_after_the_scan_raises_audio_error_naming_it(music: Path) -> None:
    catalogue = scan(music)
    path = music / "Rock Band" / "Song A.wav"
    path.write_bytes(b"garbage" * 1000)
    with pytest.raises(AudioError, match=r"Song A\.wav"):
        catalogue.load_audio("rock-band-song-a-wav")


def test_folder_without_usable_audio_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "bad.wav").write_bytes(b"RIFF....")
    with pytest.raises(DataError, match="no usable audio"):
        FolderCatalogue(tmp_path)
    with pytest.raises(DataError, match="no such folder"):
        FolderCatalogue(tmp_path / "missing")


def test_slugs_are_ascii_and_unique() -> None:
    assert slugify("Björk/Jóga (Live).mp3") == "bjork-joga-live-mp3"
    assert slugify("???") == "track"
    assert unique_slugs(["A B.wav", "a_b.wav", "A-B.wav"]) == ["a-b-wav", "a-b-wav-2", "a-b-wav-3"]


def test_colliding_paths_get_distinct_ids(tmp_path: Path) -> None:
    write(tmp_path / "x" / "A B.wav", 6.0, 16000)
    write(tmp_path / "x" / "a_b.wav", 6.0, 16000, freq=550.0)
    catalogue = FolderCatalogue(tmp_path)
    assert catalogue.ids == ["x-a-b-wav", "x-a-b-wav-2"]
    assert catalogue["x-a-b-wav-2"].title in {"A B", "a_b"}
    assert {t.title for t in catalogue} == {"A B", "a_b"}
