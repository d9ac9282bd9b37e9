"""The catalogue interface every dataset implements (built-in, MSD + Taste Profile, musdb18, audio folder)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lemons.audio import SAMPLE_RATE, load_audio
from lemons.catalogue.structure import SongStructure
from lemons.errors import DataError
from lemons.io import sha256_file

#: Stem names of the built-in catalogue, in Spleeter ``5stems`` order.
STEMS = ("vocals", "piano", "drums", "bass", "other")


@dataclass(frozen=True)
class Track:
    """One track of a catalogue. ``offset``/``duration`` (seconds) select the window that is used."""

    id: str
    title: str
    artist: str = ""
    album: str = ""
    genre: str = ""
    tags: tuple[str, ...] = ()
    tempo: float | None = None
    key: str | None = None
    duration: float | None = None
    loudness: float | None = None  # RMS level of the mix, dBFS
    popularity: float | None = None  # 0-100
    path: Path | None = None
    offset: float = 0.0
    extra: dict[str, float | str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def label(self) -> str:
        """``"artist - title"``, or the title alone for a track without an artist."""
        return f"{self.artist} - {self.title}" if self.artist else self.title

    def as_row(self) -> dict[str, object]:
        """Flat dict for tables (tags joined with ``;``)."""
        return {
            "id": self.id,
            "title": self.title,
            "artist": self.artist,
            "album": self.album,
            "genre": self.genre,
            "tags": ";".join(self.tags),
            "tempo": self.tempo,
            "key": self.key,
            "duration": self.duration,
            "loudness": self.loudness,
            "popularity": self.popularity,
        }


class Catalogue:
    """A set of tracks with audio at 16 kHz mono, optionally with true stems.

    Subclasses fill ``self._tracks`` (ordered) and may override :meth:`load_stems`.
    """

    name: str = "catalogue"
    #: Stems a catalogue provides from its own data (empty when it has none).
    stem_names: tuple[str, ...] = ()
    #: Files the catalogue found but left out, as ``(path, reason)`` (each reason names its file).
    skipped: Sequence[tuple[Path, str]] = ()

    def __init__(self, tracks: Sequence[Track]) -> None:
        self._tracks = list(tracks)
        self._by_id = {track.id: track for track in self._tracks}
        if len(self._by_id) != len(self._tracks):
            raise DataError(f"{self.name}: track ids are not unique")

    def __len__(self) -> int:
        return len(self._tracks)

    def __iter__(self) -> Iterator[Track]:
        return iter(self._tracks)

    def __contains__(self, track_id: object) -> bool:
        return track_id in self._by_id

    def __getitem__(self, track_id: str) -> Track:
        try:
            return self._by_id[track_id]
        except KeyError:
            raise DataError(f"{self.name}: no track with id {track_id!r}") from None

    @property
    def tracks(self) -> list[Track]:
        """The tracks, in catalogue order (a copy)."""
        return list(self._tracks)

    @property
    def ids(self) -> list[str]:
        """The track ids, in catalogue order."""
        return [track.id for track in self._tracks]

    @property
    def has_stems(self) -> bool:
        """Whether the catalogue ships true stems (:meth:`load_stems` works)."""
        return bool(self.stem_names)

    @property
    def has_structure(self) -> bool:
        """Whether the catalogue knows its songs' true structure (:meth:`structure` returns it)."""
        return False

    def structure(self, track_id: str) -> SongStructure | None:
        """The track's true beat grid and sections, or ``None`` where the catalogue does not know them."""
        self[track_id]  # raises DataError for an unknown id
        return None

    def load_audio(self, track_id: str, sr: int = SAMPLE_RATE) -> np.ndarray:
        """The track's mono audio ``[samples]`` float32 at ``sr`` Hz (its catalogue window)."""
        track = self[track_id]
        if track.path is None:
            raise DataError(f"{self.name}: track {track_id!r} has no audio")
        return load_audio(track.path, sr=sr, offset=track.offset, duration=track.duration)

    def audio_checksum(self, track_id: str) -> str:
        """A content key of the track's audio: SHA-256 of its file plus the window that is used."""
        track = self[track_id]
        if track.path is None:
            raise DataError(f"{self.name}: track {track_id!r} has no audio")
        return f"{sha256_file(track.path)}@{track.offset:g}+{track.duration or 0:g}"

    def load_stems(self, track_id: str, sr: int = SAMPLE_RATE) -> dict[str, np.ndarray]:
        """True stems ``{name: [samples] float32}`` at ``sr`` Hz, aligned with :meth:`load_audio`."""
        raise DataError(f"{self.name} has no true stems; use a source separator instead")
