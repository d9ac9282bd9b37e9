"""Audio I/O at the recommender's rate: 16 kHz mono float32.

How unusual input is handled (the same everywhere in LEMONS):

* **stereo / multichannel**: averaged to mono;
* **other sample rates**: resampled to 16 kHz (soxr, high quality);
* **NaN or infinite samples**: :class:`~lemons.errors.AudioError` naming the file;
* **too short** (under :data:`MIN_DURATION` = 5 s): :class:`~lemons.errors.AudioError`;
* **silent** (peak below :data:`SILENCE_PEAK`, about -80 dBFS): :class:`SilentAudioError`,
  unless ``allow_silent=True``;
* **corrupt, unreadable or missing**: :class:`~lemons.errors.AudioError` naming the file;
* **not audio at all** (a text, HTML, image or archive file with an audio extension): an
  :class:`~lemons.errors.AudioError` that says what the content is, found from the file's first
  bytes before the audio decoder is asked (:func:`content_problem`).

Bulk readers (catalogue scans, builds) catch these errors, skip the file, and report a count.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from lemons.console import native_output_captured
from lemons.errors import AudioError
from lemons.io import atomic_path

SAMPLE_RATE = 16_000
MIN_DURATION = 5.0
SILENCE_PEAK = 1e-4

#: The audio extensions LEMONS reads, each with the format it promises, as users call it.
FORMAT_NAMES = {
    ".wav": "WAV", ".flac": "FLAC", ".mp3": "MP3", ".ogg": "Ogg", ".oga": "Ogg", ".aiff": "AIFF",
    ".aif": "AIFF",
}  # fmt: skip
AUDIO_EXTENSIONS = tuple(FORMAT_NAMES)

#: Bytes searched for an MPEG audio frame when an MP3 has no ID3 tag at its start.
MPEG_SEARCH_BYTES = 64 * 1024

#: What other common files start with: ``(offset, signature, what it is)``.
OTHER_SIGNATURES = (
    (0, b"PK\x03\x04", "a ZIP archive"),
    (0, b"%PDF", "a PDF document"),
    (0, b"\x89PNG", "a PNG image"),
    (0, b"\xff\xd8\xff", "a JPEG image"),
    (0, b"GIF8", "a GIF image"),
    (4, b"ftyp", "an MP4/M4A file, which LEMONS does not read (convert it to FLAC or MP3)"),
    (0, b"\x1aE\xdf\xa3", "a Matroska/WebM file, which LEMONS does not read (convert it to FLAC or MP3)"),
)


class SilentAudioError(AudioError):
    """The audio holds no signal (every sample below about -80 dBFS)."""


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says: rate (Hz), channels, frames, libsndfile's format name, and its tags.

    ``tags`` are the file's own text metadata as libsndfile reads it (ID3 in MP3, Vorbis comments in
    FLAC and Ogg, INFO chunks in WAV, text chunks in AIFF), empty values left out: ``title``,
    ``artist``, ``album``, ``genre``, ``date``, ``tracknumber``, ``comment``… whichever the file has.
    """

    samplerate: int
    channels: int
    frames: int
    format: str
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        """Length in seconds (0 for a file without frames)."""
        return self.frames / self.samplerate if self.samplerate > 0 else 0.0


def _is_mpeg_frame_header(header: bytes) -> bool:
    """Whether 4 bytes are a valid MPEG audio frame header (sync, version, layer, bitrate, rate)."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return False
    version, layer = (header[1] >> 3) & 0b11, (header[1] >> 1) & 0b11
    bitrate, rate = header[2] >> 4, (header[2] >> 2) & 0b11
    return version != 0b01 and layer != 0b00 and bitrate != 0b1111 and rate != 0b11


def sniff_audio_format(head: bytes) -> str | None:
    """The audio format the first bytes of a file show (``"WAV"``, ``"FLAC"``, ``"MP3"``…) or None.

    ``head``: the file's first bytes, up to :data:`MPEG_SEARCH_BYTES` (an MP3 without an ID3 tag is
    recognised by a valid MPEG frame header among them).
    """
    if (head[:4] in (b"RIFF", b"RIFX", b"RF64", b"BW64") and head[8:12] == b"WAVE") or head[:4] == b"riff":
        return "WAV"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "AIFF"
    if head[:4] == b"fLaC":
        return "FLAC"
    if head[:4] == b"OggS":
        return "Ogg"
    if head[:3] == b"ID3":
        return "MP3"
    if any(head[offset : offset + len(signature)] == signature for offset, signature, _ in OTHER_SIGNATURES):
        return None  # an image or an archive may hold bytes that look like an MPEG frame
    start = head.find(b"\xff")
    while start != -1:
        if _is_mpeg_frame_header(head[start : start + 4]):
            return "MP3"
        start = head.find(b"\xff", start + 1)
    return None


def describe_content(head: bytes) -> str:
    """What a file that is not audio holds, in words (``"text"``, ``"an HTML page"``, ``"a PNG image"``…)."""
    for offset, signature, what in OTHER_SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return what
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not just a character cut at the end of what was read
            return "data of an unknown kind"
        text = head[: exc.start].decode("utf-8")
    if any(ord(char) < 32 and char not in "\t\n\r\f" for char in text):
        return "data of an unknown kind"
    lowered = text.lstrip().lower()
    if lowered.startswith(("<!doctype html", "<html")):
        return "an HTML page"
    if lowered.startswith("<?xml") or lowered.startswith("<"):
        return "XML or HTML"
    return "text"


def _head(path: Path) -> bytes | None:
    """The first :data:`MPEG_SEARCH_BYTES` of a file (None when it cannot be read)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(MPEG_SEARCH_BYTES)
    except OSError:
        return None


def content_problem(path: Path | str) -> str | None:
    """Why a file with an audio extension is not audio, from its first bytes; None when it may be.

    Says ``"is empty (0 bytes)"`` or ``"is not an audio file: its content is text, not MP3 as its
    extension says"``. Files whose extension is not one of :data:`AUDIO_EXTENSIONS` are left to the
    decoder (None).
    """
    path = Path(path)
    expected = FORMAT_NAMES.get(path.suffix.lower())
    head = _head(path) if expected is not None else None
    if head is None:  # not ours to judge, or unreadable: the decoder says why
        return None
    if not head:
        return "is empty (0 bytes)"
    if sniff_audio_format(head) is not None:
        return None
    what = describe_content(head)
    return f"is not an audio file: its content is {what}, not {expected} as its extension says"


def _decoder_quiet(path: Path) -> contextlib.AbstractContextManager:
    """Keep the MP3 decoder's notes about damaged frames off the terminal (the error says it all)."""
    return native_output_captured() if path.suffix.lower() == ".mp3" else contextlib.nullcontext()


def _unreadable(path: Path, exc: Exception) -> AudioError:
    """The error for a file libsndfile cannot decode: not audio at all, or a damaged audio file."""
    problem = content_problem(path)
    if problem is not None:
        return AudioError(f"{path}: {problem}; replace it with the recording or move it out of the way")
    found = sniff_audio_format(_head(path) or b"")
    kind = f"{found} file" if found else "audio file"
    detail = str(exc).replace(f"Error opening {str(path)!r}: ", "")
    if "does not exist or is not a regular file" in detail:  # libsndfile's words for "no audio found"
        detail = "no audio stream found in it"
    return AudioError(f"{path}: unreadable or corrupt {kind} ({detail}); re-export or replace it")


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


def audio_info(path: Path | str) -> AudioInfo:
    """Header and tags of an audio file (:class:`AudioInfo`), read without decoding the audio.

    Raises :class:`AudioError` naming the file when it is missing, not audio at all (found from its
    first bytes, before the decoder is asked) or unreadable.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such audio file")
    problem = content_problem(path)
    if problem is not None:
        raise AudioError(f"{path}: {problem}; replace it with the recording or move it out of the way")
    try:
        with _decoder_quiet(path), sf.SoundFile(str(path)) as handle:
            tags = {key: value.strip() for key, value in handle.copy_metadata().items() if value.strip()}
            return AudioInfo(handle.samplerate, handle.channels, handle.frames, handle.format, tags)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise _unreadable(path, exc) from exc


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
        with _decoder_quiet(path), sf.SoundFile(str(path)) as handle:
            sr = handle.samplerate
            start = int(round(offset * sr))
            if start:
                handle.seek(min(start, handle.frames))
            frames = -1 if duration is None else int(round(duration * sr))
            audio = handle.read(frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise _unreadable(path, exc) from exc
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
