"""Audio loading: 16 kHz mono out, and every kind of bad input rejected with the file's name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from lemons import console
from lemons.audio import (
    SAMPLE_RATE,
    SilentAudioError,
    audio_info,
    centre_window,
    load_audio,
    resample,
    write_audio,
)
from lemons.errors import AudioError


def tone(seconds: float, sr: int, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def damaged_wav(path: Path) -> None:
    """A real WAV header followed by garbage where its chunks should be."""
    sf.write(path, tone(6, 16000), 16000)
    path.write_bytes(path.read_bytes()[:20] + b"garbage" * 50)


def test_stereo_at_44k1_becomes_16k_mono(tmp_path: Path) -> None:
    left, right = tone(6, 44100, 440), tone(6, 44100, 1000)
    sf.write(tmp_path / "x.wav", np.stack([left, right], axis=1), 44100)
    audio = load_audio(tmp_path / "x.wav")
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert audio.shape[0] == 6 * SAMPLE_RATE
    spectrum = np.abs(np.fft.rfft(audio))
    freqs = np.fft.rfftfreq(audio.shape[0], 1 / SAMPLE_RATE)
    peaks = sorted(freqs[np.argsort(spectrum)[-2:]])
    assert peaks == pytest.approx([440, 1000], abs=1)  # both channels kept, at the right pitch
    assert np.sqrt(np.mean(audio**2)) == pytest.approx(0.25, abs=0.01)  # averaged (summed would be 0.5)


def test_offset_and_duration_select_a_window(tmp_path: Path) -> None:
    ramp = np.linspace(0, 1, 20 * SAMPLE_RATE, dtype=np.float32)
    sf.write(tmp_path / "ramp.wav", ramp, SAMPLE_RATE, subtype="FLOAT")
    offset, duration = centre_window(20.0, 10.0)
    audio = load_audio(tmp_path / "ramp.wav", offset=offset, duration=duration)
    assert audio.shape[0] == 10 * SAMPLE_RATE
    assert audio[0] == pytest.approx(0.25, abs=1e-4) and audio[-1] == pytest.approx(0.75, abs=1e-4)
    assert centre_window(8.0, 30.0) == (0.0, None)


def test_resample_keeps_duration() -> None:
    assert resample(tone(2, 22050), 22050, 16000).shape[0] == 32000
    assert resample(tone(2, 16000), 16000, 16000).shape[0] == 32000


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda p: sf.write(p, tone(3, 16000), 16000), AudioError, r"3.00 s long; at least 5 s"),
        (lambda p: sf.write(p, np.zeros(16000 * 6, np.float32), 16000), SilentAudioError, "is silent"),
        (
            lambda p: sf.write(p, np.full(16000 * 6, np.nan, np.float32), 16000, subtype="FLOAT"),
            AudioError,
            "NaN",
        ),
        (damaged_wav, AudioError, "unreadable or corrupt WAV file"),
        (lambda p: None, AudioError, "no such audio file"),
    ],
    ids=["too-short", "silent", "nan", "corrupt", "missing"],
)
def test_bad_audio_is_named_in_the_error(tmp_path: Path, make, error, message) -> None:
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(error, match=message) as info:
        load_audio(path)
    assert str(path) in str(info.value)


def test_silent_audio_can_be_allowed(tmp_path: Path) -> None:
    sf.write(tmp_path / "s.wav", np.zeros(16000 * 6, np.float32), 16000)
    assert not np.any(load_audio(tmp_path / "s.wav", allow_silent=True))


def test_write_audio_is_16_bit_without_normalisation(tmp_path: Path) -> None:
    quiet = 0.1 * tone(1, SAMPLE_RATE)
    write_audio(tmp_path / "q.wav", quiet, SAMPLE_RATE)
    info = sf.info(str(tmp_path / "q.wav"))
    assert info.subtype == "PCM_16"
    back, _ = sf.read(str(tmp_path / "q.wav"), dtype="float32")
    assert np.max(np.abs(back)) == pytest.approx(0.05, abs=1e-3)
    assert [p.name for p in tmp_path.iterdir()] == ["q.wav"]  # no temporary file left behind


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("page.mp3", b"<!DOCTYPE html><html><body>Not found</body></html>\n" * 20, "an HTML page, not MP3"),
        ("notes.flac", "Track list, side Ä\n".encode() * 40, "text, not FLAC"),
        ("cover.mp3", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8 + b"\xff\xfb\x90\x00" * 8, "a PNG image"),
        ("song.ogg", b"\x00\x00\x00\x20ftypM4A " + bytes(2000), "an MP4/M4A file"),
    ],
)
def test_a_file_that_is_not_audio_says_what_it_is(
    tmp_path: Path, name: str, content: bytes, says: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    for read in (audio_info, load_audio):
        with pytest.raises(AudioError, match="is not an audio file: its content is " + says) as info:
            read(path)
        assert str(path) in str(info.value) and "does not exist" not in str(info.value)


def test_an_empty_file_is_called_empty(tmp_path: Path) -> None:
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioError, match=r"empty\.wav: is empty \(0 bytes\)"):
        audio_info(tmp_path / "empty.wav")


def test_a_damaged_mp3_is_an_error_without_decoder_noise(tmp_path: Path, capfd) -> None:
    path = tmp_path / "damaged.mp3"
    sf.write(path, tone(8, 22050), 22050)
    data = path.read_bytes()
    path.write_bytes(data[:400] + b"junk" * 3000)  # the first frames, then no MPEG frame at all
    with pytest.raises(AudioError, match=r"damaged\.mp3: unreadable or corrupt MP3 file"):
        load_audio(path)
    assert capfd.readouterr().err == ""  # the MP3 decoder's own notes stay off the terminal
    console.set_verbose(True)
    try:
        with pytest.raises(AudioError):
            load_audio(path)
        assert "MPEG" in capfd.readouterr().err  # verbose, they are shown
    finally:
        console.set_verbose(None)


def test_header_and_tags_are_read_without_decoding(tmp_path: Path) -> None:
    path = tmp_path / "tagged.flac"
    with sf.SoundFile(path, "w", 22050, 2) as handle:
        handle.title, handle.artist, handle.genre = "Jóga", "Björk", "Art pop"
        handle.write(np.zeros((22050 * 6, 2), np.float32))
    info = audio_info(path)
    assert (info.samplerate, info.channels, info.frames, info.format) == (22050, 2, 22050 * 6, "FLAC")
    assert info.duration == pytest.approx(6.0)
    assert info.tags == {"title": "Jóga", "artist": "Björk", "genre": "Art pop"}
