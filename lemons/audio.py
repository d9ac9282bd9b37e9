"""Audio I/O at the recommender's rate: 16 kHz mono float32.

How unusual input is handled (the same everywhere in LEMONS):

* **stereo / multichannel**: averaged to mono;
* **other sample rates**: resampled to 16 kHz (soxr, high quality);
* **NaN or infinite samples**: :class:`~lemons.errors.AudioError` naming the file;
* **too short** (under :data:`MIN_DURATION` = 5 s): :class:`~lemons.errors.AudioError`;
* **silent** (peak below :data:`SILENCE_PEAK`, about -80 dBFS): :class:`SilentAudioError`,
  unless ``allow_silent=True``;
* **corrupt, unreadable or missing**: :class:`~lemons.errors.AudioError` naming the file.

Bulk readers (catalogue scans, builds) catch these errors, skip the file, and report a count.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from lemons.errors import AudioError
from lemons.io import atomic_path

SAMPLE_RATE = 16_000
MIN_DURATION = 5.0
SILENCE_PEAK = 1e-4

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".aiff", ".aif")


class SilentAudioError(AudioError):
    """The audio holds no signal (every sample below about -80 dBFS)."""


def to_mono(audio: np.ndarray) -> np.ndarray:
    """``[samples]`` or ``[samples, channels]`` → ``[samples]`` float32 (channels averaged)."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    elif audio.ndim != 1:
        raise AudioError(f"expected audio of shape [samples] or [samples, channels], got {audio.shape}")
    return audio


def resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample ``[samples]`` or ``[samples, channels]`` from ``sr_in`` to ``sr_out`` Hz (float32)."""
    if sr_in == sr_out:
        return np.asarray(audio, dtype=np.float32)
    import soxr

    return soxr.resample(np.asarray(audio, dtype=np.float32), sr_in, sr_out, quality="HQ").astype(np.float32)


def check_audio(
    audio: np.ndarray,
    sr: int,
    name: str,
    min_duration: float = MIN_DURATION,
    allow_silent: bool = False,
) -> np.ndarray:
    """Raise :class:`AudioError` for non-finite, too-short or (unless allowed) silent audio."""
    if not np.all(np.isfinite(audio)):
        raise AudioError(f"{name}: contains NaN or infinite samples; re-export the file")
    duration = audio.shape[0] / sr
    if duration < min_duration:
        raise AudioError(
            f"{name}: is {duration:.2f} s long; at least {min_duration:g} s are needed "
            "(use a longer recording)"
        )
    if not allow_silent and (audio.size == 0 or float(np.max(np.abs(audio))) < SILENCE_PEAK):
        raise SilentAudioError(f"{name}: is silent (no sample above -80 dBFS); nothing to analyse")
    return audio


def audio_info(path: Path | str) -> sf._SoundFileInfo:
    """Header information (rate, channels, frames) of an audio file; :class:`AudioError` if unreadable."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such audio file")
    try:
        return sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioError(f"{path}: unreadable or corrupt audio file ({exc})") from exc


def read_audio(
    path: Path | str,
    offset: float = 0.0,
    duration: float | None = None,
    mono: bool = True,
) -> tuple[np.ndarray, int]:
    """Read a file at its own rate: ``([samples] or [samples, channels] float32, sample_rate)``.

    ``offset``/``duration`` in seconds select a window without reading the rest.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such audio file")
    try:
        with sf.SoundFile(str(path)) as handle:
            sr = handle.samplerate
            start = int(round(offset * sr))
            if start:
                handle.seek(min(start, handle.frames))
            frames = -1 if duration is None else int(round(duration * sr))
            audio = handle.read(frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(f"{path}: unreadable or corrupt audio file ({exc})") from exc
    return (to_mono(audio) if mono else audio), sr


def load_audio(
    path: Path | str,
    sr: int = SAMPLE_RATE,
    offset: float = 0.0,
    duration: float | None = None,
    min_duration: float = MIN_DURATION,
    allow_silent: bool = False,
) -> np.ndarray:
    """Load a file as mono float32 ``[samples]`` at ``sr`` Hz (default 16 kHz), checked (see module doc)."""
    audio, file_sr = read_audio(path, offset=offset, duration=duration)
    audio = resample(audio, file_sr, sr)
    return check_audio(audio, sr, str(path), min_duration=min_duration, allow_silent=allow_silent)


def centre_window(total_seconds: float, window: float) -> tuple[float, float | None]:
    """``(offset, duration)`` of the central ``window`` seconds (the whole file if it is shorter)."""
    if total_seconds <= window:
        return 0.0, None
    return (total_seconds - window) / 2.0, window


def write_audio(path: Path | str, audio: np.ndarray, sr: int, subtype: str = "PCM_16") -> None:
    """Write ``[samples]`` or ``[samples, channels]`` audio atomically; format from the extension.

    Float input is written as is (no peak normalisation); values beyond ±1 clip in 16-bit files.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), audio, sr, subtype=subtype, format=path.suffix.lstrip(".").upper())
