"""A catalogue made of a folder of the user's own audio files.

Every file below ``root`` whose extension is in :data:`lemons.audio.AUDIO_EXTENSIONS` is a track
(hidden files and folders, whose names start with ``.``, are ignored). The scan reads file headers
and tags only, so it is fast on large collections; files it cannot use are skipped and reported
once, as one logged warning with a line per file and its reason (and listed in
:attr:`FolderCatalogue.skipped`):

* files that are not audio at all, and unreadable or corrupt headers (``AudioError`` from
  :func:`lemons.audio.audio_info`, which says which);
* files shorter than :data:`lemons.audio.MIN_DURATION` (5 s).

A track's title, artist, album and genre come from the file's own tags (ID3 in MP3, Vorbis comments
in FLAC and Ogg, INFO chunks in WAV, text chunks in AIFF, read by libsndfile); without tags the title
is the file name and the artist the name of the folder holding the file.

Because samples are not read at scan time, problems inside the audio data surface only when a
track is loaded: :meth:`FolderCatalogue.load_audio` raises :class:`~lemons.errors.AudioError`
naming the file for corrupt data, and :class:`~lemons.audio.SilentAudioError` for a silent file.
"""

from __future__ import annotations

import logging
import os
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from lemons.audio import (
    AUDIO_EXTENSIONS,
    MIN_DURATION,
    SAMPLE_RATE,
    AudioInfo,
    audio_info,
    centre_window,
    load_audio,
)
from lemons.catalogue.base import Catalogue, Track
from lemons.errors import AudioError, DataError

log = logging.getLogger(__name__)


def slugify(text: str) -> str:
    """ASCII slug: ``"Björk/Jóga (Live).mp3"`` → ``"bjork-joga-live-mp3"`` (empty → ``"track"``)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug or "track"


def unique_slugs(names: Iterable[str]) -> list[str]:
    """Slugs of ``names`` in order, made unique by appending ``-2``, ``-3``, … to repeats."""
    used: set[str] = set()
    slugs = []
    for name in names:
        base = slug = slugify(name)
        number = 1
        while slug in used:
            number += 1
            slug = f"{base}-{number}"
        used.add(slug)
        slugs.append(slug)
    return slugs


def find_audio_files(root: Path) -> list[Path]:
    """Audio files below ``root`` (recursive, sorted, hidden files and folders ignored)."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in AUDIO_EXTENSIONS:
                found.append(Path(folder) / name)
    return found


#: Separators between several genres in one tag (``"Rock; Indie"``, ``"Jazz, Soul"``).
GENRE_SEPARATORS = re.compile(r"\s*[;,\x00]\s*")


def genres_of(tag: str) -> tuple[str, ...]:
    """The genres a file's genre tag names, in order, without repeats (``"Rock; Indie"`` → both)."""
    return tuple(dict.fromkeys(part for part in GENRE_SEPARATORS.split(tag) if part))


def _usable_info(path: Path) -> AudioInfo:
    """The file's header and tags; :class:`AudioError` if it is not usable audio or too short."""
    info = audio_info(path)
    if info.samplerate <= 0 or info.frames <= 0:
        raise AudioError(f"{path}: holds no audio frames")
    if info.duration < MIN_DURATION:
        raise AudioError(f"{path}: is {info.duration:.2f} s long; at least {MIN_DURATION:g} s are needed")
    return info


class FolderCatalogue(Catalogue):
    """Tracks from a folder of audio files, each used through its central ``window`` seconds.

    Args:
        root: folder searched recursively for ``.wav .flac .mp3 .ogg .oga .aiff .aif`` files.
        window: seconds used per track, centred in the file (the whole file if it is shorter).

    Track ids are unique slugs of the path relative to ``root`` (``"Rock/My Song.mp3"`` →
    ``"rock-my-song-mp3"``). ``title``, ``artist``, ``album`` and ``genre`` come from the file's
    tags; ``tags`` are the genres its genre tag names (``"Rock; Indie"`` → ``("Rock", "Indie")``,
    the first is the ``genre``). Without tags, ``title`` is the file name without extension and
    ``artist`` the name of the folder holding the file (``""`` for files directly in ``root``).
    ``offset``/``duration`` give the window in seconds; ``extra`` holds the file's length, rate,
    channels and its other tags (``date``, ``tracknumber``…). Audio loads as 16 kHz mono float32
    whatever the file's rate and channels. Files that were skipped are in ``skipped`` as
    ``(path, reason)`` pairs, and reported once as a logged warning.

    Only headers are read when scanning, so a silent file is listed and raises
    :class:`~lemons.audio.SilentAudioError` from :meth:`load_audio`; a file whose data is corrupt
    raises :class:`~lemons.errors.AudioError` naming it.
    """

    name = "folder"

    def __init__(self, root: Path | str, window: float = 30.0) -> None:
        root = Path(root)
        if not root.is_dir():
            raise DataError(f"{root}: no such folder; give the folder that holds your audio files")
        if window <= 0:
            raise DataError(f"window must be positive, got {window}")
        self.root = root
        self.window = float(window)
        self.skipped: list[tuple[Path, str]] = []
        files = find_audio_files(root)
        usable: list[tuple[Path, AudioInfo]] = []
        for path in files:
            try:
                usable.append((path, _usable_info(path)))
            except AudioError as exc:
                self.skipped.append((path, str(exc)))
        self._report_skipped()
        if not usable:
            raise DataError(
                f"{root}: no usable audio files ({len(files)} found, {len(self.skipped)} skipped); "
                f"supported extensions: {' '.join(AUDIO_EXTENSIONS)}"
            )
        ids = unique_slugs(path.relative_to(root).as_posix() for path, _ in usable)
        super().__init__([self._make_track(tid, *item) for tid, item in zip(ids, usable, strict=True)])

    def _make_track(self, track_id: str, path: Path, info: AudioInfo) -> Track:
        offset, duration = centre_window(info.duration, self.window)
        tags = dict(info.tags)
        genres = genres_of(tags.pop("genre", ""))
        extra: dict[str, float | str] = {
            "file_duration": info.duration,
            "sample_rate": float(info.samplerate),
            "channels": float(info.channels),
            **{key: value for key, value in tags.items() if key not in ("title", "artist", "album")},
        }
        return Track(
            id=track_id,
            title=tags.get("title") or path.stem,
            artist=tags.get("artist") or ("" if path.parent == self.root else path.parent.name),
            album=tags.get("album", ""),
            genre=genres[0] if genres else "",
            tags=genres,
            duration=info.duration if duration is None else duration,
            path=path,
            offset=offset,
            extra=extra,
        )

    def _report_skipped(self) -> None:
        """One logged warning for the whole scan: a line per skipped file (each reason names it)."""
        if self.skipped:
            lines = "\n".join(f"  {reason}" for _, reason in self.skipped)
            count = f"{len(self.skipped)} file" + ("s" if len(self.skipped) > 1 else "")
            log.warning("%s: skipped %s:\n%s", self.root, count, lines)

    def load_audio(self, track_id: str, sr: int = SAMPLE_RATE) -> np.ndarray:
        """The track's central window as mono float32 ``[samples]`` at ``sr`` Hz (default 16 kHz).

        Raises :class:`~lemons.errors.AudioError` naming the file if it is corrupt or has changed,
        and :class:`~lemons.audio.SilentAudioError` if it is silent.
        """
        track = self[track_id]
        return load_audio(
            track.path,  # type: ignore[arg-type]
            sr=sr,
            offset=track.offset,
            duration=track.duration,
            min_duration=min(MIN_DURATION, self.window),
        )
