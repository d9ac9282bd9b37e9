"""musdb18 / musdb18-HQ: 150 songs with true stems (vocals, drums, bass, other), read with ``musdb``.

Two layouts are recognised under ``root`` (``train/`` and ``test/`` subsets):

* **musdb18**: ``train/<Artist - Title>.stem.mp4`` (Native Instruments stems: AAC streams
  mixture, drums, bass, other, vocals);
* **musdb18-HQ**: ``train/<Artist - Title>/{mixture,vocals,drums,bass,other}.wav``.

Each track is used through the central ``window`` seconds of the song (30 s by default; the whole
song if shorter); only that part is decoded (``musdb`` ``chunk_start``/``chunk_duration``).
Audio and stems come back as 16 kHz mono float32 (channels averaged, 44.1 kHz resampled).

The ``musdb`` package needs ``ffmpeg``/``ffprobe`` at import time (through ``stempeg``), so it is
imported only when a :class:`MusdbCatalogue` is built.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from lemons.audio import MIN_DURATION, SAMPLE_RATE, centre_window, check_audio, resample, to_mono
from lemons.catalogue.base import Catalogue, Track
from lemons.catalogue.folder import unique_slugs
from lemons.errors import AudioError, DataError

log = logging.getLogger(__name__)

#: The true stems of musdb18, in the order :meth:`MusdbCatalogue.load_stems` returns them.
MUSDB_STEMS = ("vocals", "drums", "bass", "other")
SUBSETS = ("train", "test")


def import_musdb() -> ModuleType:
    """Import ``musdb``, or raise :class:`DataError` saying how to make it importable."""
    try:
        import musdb
    except ImportError as exc:
        raise DataError(
            f"cannot import musdb ({exc}); install it (`pip install musdb`) and Debian's ffmpeg "
            "(`apt-get install ffmpeg`), which it needs"
        ) from exc
    except Exception as exc:  # stempeg raises a bare error when ffmpeg/ffprobe are missing
        raise DataError(
            f"cannot import musdb ({exc}); it needs ffmpeg and ffprobe: install Debian's ffmpeg "
            "(`apt-get install ffmpeg`)"
        ) from exc
    return musdb


def _describe(exc: BaseException) -> str:
    """An exception's message plus the last line of ffmpeg's stderr when it carries one."""
    stderr = getattr(exc, "stderr", None)
    if isinstance(stderr, bytes) and stderr.strip():
        return f"{exc}: {stderr.decode(errors='replace').strip().splitlines()[-1]}"
    return str(exc)


def detect_is_wav(root: Path, subsets: Sequence[str]) -> bool:
    """``True`` for musdb18-HQ (``<subset>/<name>/mixture.wav``), ``False`` for ``.stem.mp4`` files."""
    folders = [root / subset for subset in subsets if (root / subset).is_dir()]
    has_stems = any(next(folder.rglob("*.stem.mp4"), None) for folder in folders)
    has_wav = any(next(folder.glob("*/mixture.wav"), None) for folder in folders)
    if has_stems and has_wav:
        raise DataError(f"{root}: holds both .stem.mp4 files and wav folders; pass is_wav=True or False")
    if not (has_stems or has_wav):
        raise DataError(
            f"{root}: no musdb18 tracks found for subsets {list(subsets)}; expected "
            "train/<name>.stem.mp4 (musdb18) or train/<name>/mixture.wav (musdb18-HQ)"
        )
    return has_wav


def split_name(name: str) -> tuple[str, str]:
    """``"Artist - Title"`` → ``("Artist", "Title")``; ``("", name)`` without a separator."""
    artist, sep, title = name.partition(" - ")
    return (artist.strip(), title.strip()) if sep else ("", name.strip())


class MusdbCatalogue(Catalogue):
    """musdb18 or musdb18-HQ songs, each used through its central ``window`` seconds, with true stems.

    Args:
        root: the dataset folder holding ``train/`` and ``test/``.
        subsets: which subsets to include.
        is_wav: ``True`` for musdb18-HQ wav folders, ``False`` for ``.stem.mp4``; ``None`` detects it.
        window: seconds used per song, from its centre (whole song if shorter).

    Track ids are unique slugs of the musdb track name (``"A Classic Education - NightOwl"`` →
    ``"a-classic-education-nightowl"``); ``artist``/``title`` come from that name; ``genre`` is
    ``""`` (musdb ships no genre); ``offset``/``duration`` give the window in seconds and
    ``extra`` holds ``subset`` and ``song_duration``.
    """

    name = "musdb18"
    stem_names = MUSDB_STEMS

    def __init__(
        self,
        root: Path | str,
        subsets: Sequence[str] = SUBSETS,
        is_wav: bool | None = None,
        window: float = 30.0,
    ) -> None:
        root = Path(root)
        subsets = [subsets] if isinstance(subsets, str) else list(subsets)
        unknown = sorted(set(subsets) - set(SUBSETS))
        if unknown:
            raise DataError(f"unknown musdb subset(s) {unknown}; use {list(SUBSETS)}")
        if not root.is_dir():
            raise DataError(f"{root}: no such folder; give the musdb18 root (with train/ and test/)")
        if window <= 0:
            raise DataError(f"window must be positive, got {window}")
        if is_wav is None:
            is_wav = detect_is_wav(root, subsets)
        self.root = root
        self.is_wav = bool(is_wav)
        self.window = float(window)
        musdb = import_musdb()
        try:
            db = musdb.DB(root=str(root), subsets=subsets, is_wav=self.is_wav)
        except Exception as exc:  # ffprobe errors on a corrupt file abort musdb's whole scan
            raise DataError(f"{root}: musdb cannot read the dataset ({_describe(exc)})") from exc
        usable = [mt for mt in db.tracks if self._usable(mt)]
        if not usable:
            raise DataError(f"{root}: no readable musdb18 tracks for subsets {subsets}")
        ids = unique_slugs(mt.name for mt in usable)
        self._multitracks: dict[str, Any] = dict(zip(ids, usable, strict=True))
        super().__init__([self._make_track(tid, mt) for tid, mt in self._multitracks.items()])

    def _usable(self, multitrack: Any) -> bool:
        """Whether a musdb track has a readable mixture (logged and skipped otherwise)."""
        if multitrack.duration is None or not multitrack.duration > 0:
            log.warning("musdb18: %s has no readable mixture (%s); skipped", multitrack.name, multitrack.path)
            return False
        return True

    def _make_track(self, track_id: str, multitrack: Any) -> Track:
        """Fix the musdb track's chunk to the centre window and describe it as a :class:`Track`."""
        song_duration = float(multitrack.duration)
        offset, duration = centre_window(song_duration, self.window)
        multitrack.chunk_start = offset
        multitrack.chunk_duration = duration
        artist, title = split_name(multitrack.name)
        return Track(
            id=track_id,
            title=title,
            artist=artist,
            duration=song_duration if duration is None else duration,
            path=Path(multitrack.path),
            offset=offset,
            extra={"subset": str(multitrack.subset), "song_duration": song_duration},
        )

    def _min_duration(self) -> float:
        return min(MIN_DURATION, self.window)

    def _to_rate(self, audio: np.ndarray, file_rate: float, sr: int) -> np.ndarray:
        """``[samples, channels]`` at the file's rate → mono float32 ``[samples]`` at ``sr``."""
        return resample(to_mono(np.asarray(audio, dtype=np.float32)), int(file_rate), sr)

    def load_audio(self, track_id: str, sr: int = SAMPLE_RATE) -> np.ndarray:
        """The mixture's centre window, mono float32 ``[samples]`` at ``sr`` Hz (default 16 kHz)."""
        multitrack = self._multitracks[self[track_id].id]
        try:
            audio = multitrack.audio
        except Exception as exc:  # musdb/stempeg raise ValueError, RuntimeError, Warning, ...
            raise AudioError(
                f"{multitrack.path}: cannot decode the musdb18 mixture ({_describe(exc)})"
            ) from exc
        mono = self._to_rate(audio, multitrack.rate, sr)
        return check_audio(mono, sr, str(multitrack.path), min_duration=self._min_duration())

    def load_stems(self, track_id: str, sr: int = SAMPLE_RATE) -> dict[str, np.ndarray]:
        """True stems ``{vocals, drums, bass, other: [samples] float32}`` at ``sr`` Hz.

        Same window and length as :meth:`load_audio`; their sum approximates the mixture (exactly
        up to 16-bit rounding for musdb18-HQ, up to AAC coding error for ``.stem.mp4``).
        """
        multitrack = self._multitracks[self[track_id].id]
        missing = [name for name in MUSDB_STEMS if name not in (multitrack.sources or {})]
        if missing:
            raise DataError(f"{multitrack.path}: musdb18 track lacks the stem(s) {', '.join(missing)}")
        result = {}
        for name in MUSDB_STEMS:
            try:
                audio = multitrack.sources[name].audio  # [samples, channels] at the file's rate
            except Exception as exc:  # musdb/stempeg raise ValueError, RuntimeError, Warning, ...
                raise AudioError(
                    f"{multitrack.path}: cannot decode the musdb18 {name} stem ({_describe(exc)})"
                ) from exc
            result[name] = check_audio(
                self._to_rate(audio, multitrack.rate, sr),
                sr,
                f"{multitrack.path} ({name})",
                min_duration=self._min_duration(),
                allow_silent=True,
            )
        return result
