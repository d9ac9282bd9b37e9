"""Million Song Dataset + Echo Nest Taste Profile, with 7digital preview snippets as audio.

Files this module reads, in the formats they are distributed in:

* **track metadata**: either the MSD's ``track_metadata.db`` (SQLite, table ``songs`` with columns
  ``track_id, title, song_id, release, artist_id, artist_mbid, artist_name, duration,
  artist_familiarity, artist_hotttnesss, year, track_7digitalid, shs_perf, shs_work``) or
  ``unique_tracks.txt`` (``track_id<SEP>song_id<SEP>artist_name<SEP>title``, with the literal
  separator ``<SEP>``);
* **genres** (optional): tagtraum annotations such as ``msd_tagtraum_cd2.cls`` (``#`` comment
  lines, then ``TRACKID<TAB>majority_genre[<TAB>minority_genre]``);
* **audio**: 7digital snippets named by MSD track id, ``<audio_dir>/T[2]/T[3]/T[4]/<TRACKID>.clip.mp3``
  (``TRAAABD128F429CF47`` → ``A/A/A/TRAAABD128F429CF47.clip.mp3``); ``<TRACKID>.mp3`` and a flat
  folder are accepted too (any depth below ``audio_dir`` is searched);
* **listening histories**: the Taste Profile's ``train_triplets.txt``
  (``user_id<TAB>song_id<TAB>playcount``; 48 M lines, 3 GB), read streaming in two passes.

Only tracks whose snippet exists are in the catalogue. A track's audio is its whole snippet
(30-60 s, not cropped), loaded as 16 kHz mono float32. The Taste Profile names *songs*; a song
maps to the first of its MSD tracks (in metadata order) that has audio.
"""

from __future__ import annotations

import logging
import math
import os
import re
import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from lemons.catalogue.base import Catalogue, Track
from lemons.errors import DataError
from lemons.interactions import Triplet, UserSplits, load_splits, make_splits, save_splits, write_triplets
from lemons.io import write_json

log = logging.getLogger(__name__)

#: An MSD track id: ``TR`` followed by 16 upper-case letters or digits.
TRACK_ID_RE = re.compile(r"^TR[A-Z0-9]{16}$")
#: Snippet file names, best first: ``TRACKID.clip.mp3`` then ``TRACKID.mp3``.
SNIPPET_SUFFIXES = (".clip.mp3", ".mp3")

_SQL_COLUMNS = (
    "track_id",
    "title",
    "song_id",
    "release",
    "artist_name",
    "duration",
    "artist_familiarity",
    "artist_hotttnesss",
    "year",
)


@dataclass(frozen=True)
class TrackMetadata:
    """One row of MSD track metadata (fields missing from ``unique_tracks.txt`` are ``None``)."""

    track_id: str
    song_id: str
    title: str
    artist: str
    release: str = ""
    duration: float | None = None
    familiarity: float | None = None
    hotttnesss: float | None = None
    year: int | None = None


def snippet_relpath(track_id: str, suffix: str = ".clip.mp3") -> Path:
    """Where the 7digital snippet of ``track_id`` lives below the audio folder (``A/A/A/TR….clip.mp3``)."""
    return Path(track_id[2], track_id[3], track_id[4], f"{track_id}{suffix}")


def find_snippets(audio_dir: Path | str) -> dict[str, Path]:
    """Map MSD track id → snippet path for every ``TRACKID.clip.mp3`` / ``TRACKID.mp3`` below ``audio_dir``.

    Where both names exist for a track, ``.clip.mp3`` wins; otherwise the first path in sorted order.
    """
    audio_dir = Path(audio_dir)
    if not audio_dir.is_dir():
        raise DataError(f"{audio_dir}: no such audio folder; point it at the 7digital snippets")
    found: dict[str, tuple[int, Path]] = {}
    for folder, dirs, files in os.walk(audio_dir):
        dirs.sort()
        for name in sorted(files):
            for rank, suffix in enumerate(SNIPPET_SUFFIXES):
                if name.endswith(suffix) and TRACK_ID_RE.match(name[: -len(suffix)]):
                    track_id = name[: -len(suffix)]
                    if track_id not in found or rank < found[track_id][0]:
                        found[track_id] = (rank, Path(folder) / name)
                    break
    return {track_id: path for track_id, (_, path) in found.items()}


def _number(value: object) -> float | None:
    """A finite float, or ``None`` for NULL/NaN/unparsable values."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _read_sqlite_metadata(path: Path) -> Iterator[TrackMetadata]:
    """Rows of ``track_metadata.db`` (table ``songs``) in table order."""
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise DataError(f"{path}: cannot open the SQLite metadata ({exc})") from exc
    try:
        columns = {row[1] for row in connection.execute("PRAGMA table_info(songs)")}
        missing = [c for c in _SQL_COLUMNS if c not in columns]
        if missing:
            raise DataError(
                f"{path}: not the MSD track_metadata.db (table 'songs' lacks {', '.join(missing)})"
            )
        query = f"SELECT {', '.join(_SQL_COLUMNS)} FROM songs ORDER BY rowid"
        for row in connection.execute(query):
            track_id, title, song_id, release, artist, duration, familiarity, hot, year = row
            year_number = _number(year)
            yield TrackMetadata(
                track_id=str(track_id),
                song_id=str(song_id),
                title=title or "",
                artist=artist or "",
                release=release or "",
                duration=_number(duration),
                familiarity=_number(familiarity),
                hotttnesss=_number(hot),
                year=int(year_number) if year_number else None,
            )
    except sqlite3.DatabaseError as exc:
        raise DataError(f"{path}: cannot read the SQLite metadata ({exc})") from exc
    finally:
        connection.close()


def _read_unique_tracks(path: Path) -> Iterator[TrackMetadata]:
    """Rows of ``unique_tracks.txt`` (``track_id<SEP>song_id<SEP>artist_name<SEP>title``)."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            line = line.rstrip("\r\n")
            if not line:
                continue
            parts = line.split("<SEP>", 3)
            if len(parts) != 4:
                raise DataError(
                    f"{path}:{number}: expected 'track_id<SEP>song_id<SEP>artist_name<SEP>title', "
                    f"got {line!r}"
                )
            yield TrackMetadata(track_id=parts[0], song_id=parts[1], artist=parts[2], title=parts[3])


def read_metadata(path: Path | str) -> Iterator[TrackMetadata]:
    """MSD track metadata from ``track_metadata.db`` (``.db``/``.sqlite``) or ``unique_tracks.txt``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such metadata file; give the MSD track_metadata.db or unique_tracks.txt")
    if path.suffix.lower() in (".db", ".sqlite", ".sqlite3"):
        return _read_sqlite_metadata(path)
    return _read_unique_tracks(path)


def read_tagtraum_genres(path: Path | str) -> dict[str, tuple[str, ...]]:
    """Track id → ``(majority_genre[, minority_genre])`` from a tagtraum ``.cls`` file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such genre annotation file (tagtraum msd_tagtraum_cd*.cls)")
    genres: dict[str, tuple[str, ...]] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = [part.strip() for part in line.split("\t")]
            if len(parts) < 2 or not TRACK_ID_RE.match(parts[0]):
                raise DataError(f"{path}:{number}: expected 'TRACKID<TAB>genre[<TAB>genre]', got {line!r}")
            genres[parts[0]] = tuple(p for p in parts[1:] if p)
    return genres


def _make_track(meta: TrackMetadata, path: Path, genres: tuple[str, ...]) -> Track:
    """A catalogue :class:`Track` for one MSD track with audio (whole snippet: ``duration=None``)."""
    extra: dict[str, float | str] = {"song_id": meta.song_id}
    if meta.duration is not None:
        extra["song_duration"] = meta.duration  # the full song's length, not the snippet's
    if meta.familiarity is not None:
        extra["artist_familiarity"] = meta.familiarity
    if meta.year:
        extra["year"] = float(meta.year)
    popularity = None
    if meta.hotttnesss is not None:
        popularity = min(100.0, max(0.0, meta.hotttnesss * 100.0))
    return Track(
        id=meta.track_id,
        title=meta.title,
        artist=meta.artist,
        album=meta.release,
        genre=genres[0] if genres else "",
        tags=genres,
        popularity=popularity,
        path=path,
        extra=extra,
    )


class MSDCatalogue(Catalogue):
    """The MSD tracks whose 7digital snippet is on disk (audio: the whole snippet, 16 kHz mono).

    Args:
        metadata_path: ``track_metadata.db`` (SQLite) or ``unique_tracks.txt``.
        audio_dir: folder of snippets (``A/A/A/TRAAABD128F429CF47.clip.mp3`` or flat ``TR….mp3``).
        genres_path: optional tagtraum ``.cls`` file; ``genre`` = majority genre and ``tags`` =
            (majority, minority) where annotated, ``""``/``()`` otherwise.

    Track ids are MSD track ids; ``album`` is the release, ``popularity`` is
    ``artist_hotttnesss * 100`` when the metadata has it, ``extra`` holds ``song_id``,
    ``song_duration`` (seconds of the full song), ``artist_familiarity`` and ``year`` when known.
    Attributes ``song_to_track`` (song id → its first track with audio) and ``song_tracks``
    (song id → all its tracks with audio) map Taste Profile songs to catalogue tracks.
    """

    name = "msd"

    def __init__(
        self,
        metadata_path: Path | str,
        audio_dir: Path | str,
        genres_path: Path | str | None = None,
    ) -> None:
        snippets = find_snippets(audio_dir)
        if not snippets:
            raise DataError(
                f"{audio_dir}: no MSD snippets (TRACKID.clip.mp3 or TRACKID.mp3) found; "
                "check the audio folder"
            )
        genres = read_tagtraum_genres(genres_path) if genres_path is not None else {}
        tracks: list[Track] = []
        self.song_to_track: dict[str, str] = {}
        self.song_tracks: dict[str, list[str]] = {}
        seen: set[str] = set()
        for meta in read_metadata(metadata_path):
            path = snippets.get(meta.track_id)
            if path is None or meta.track_id in seen:
                continue
            seen.add(meta.track_id)
            tracks.append(_make_track(meta, path, genres.get(meta.track_id, ())))
            self.song_to_track.setdefault(meta.song_id, meta.track_id)
            self.song_tracks.setdefault(meta.song_id, []).append(meta.track_id)
        self.unmatched_audio = sorted(set(snippets) - seen)
        if self.unmatched_audio:
            log.warning(
                "%d snippet(s) under %s have no row in %s and were left out (e.g. %s)",
                len(self.unmatched_audio),
                audio_dir,
                metadata_path,
                self.unmatched_audio[0],
            )
        if not tracks:
            raise DataError(f"{metadata_path}: none of the {len(snippets)} snippets has metadata")
        super().__init__(tracks)


def _iter_triplets(path: Path, desc: str) -> Iterator[tuple[bytes, bytes, int]]:
    """Stream ``(user, song, playcount)`` from a Taste Profile file, with a progress bar over bytes."""
    total = path.stat().st_size
    pending = 0
    with (
        open(path, "rb") as handle,
        tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, leave=False) as bar,
    ):
        for number, line in enumerate(handle, 1):
            pending += len(line)
            if pending >= 1 << 22:
                bar.update(pending)
                pending = 0
            parts = line.rstrip(b"\r\n").split(b"\t")
            if len(parts) != 3 or not parts[2].isdigit():
                if not line.strip():
                    continue
                raise DataError(
                    f"{path}:{number}: expected 'user<TAB>song<TAB>playcount', got {line[:200]!r}"
                )
            yield parts[0], parts[1], int(parts[2])
        bar.update(pending)


def _count_tracks_per_user(path: Path, songs: dict[bytes, str]) -> Counter[bytes]:
    """Pass 1: per user, the number of played songs that have audio (one line per user-song pair)."""
    counts: Counter[bytes] = Counter()
    for user, song, playcount in _iter_triplets(path, "triplets pass 1/2"):
        if playcount > 0 and song in songs:
            counts[user] += 1
    return counts


def _collect_histories(path: Path, songs: dict[bytes, str], users: set[bytes]) -> dict[str, dict[str, int]]:
    """Pass 2: user → {track id: playcount} for the chosen users (duplicate lines are summed)."""
    histories: dict[str, dict[str, int]] = {}
    for user, song, playcount in _iter_triplets(path, "triplets pass 2/2"):
        if playcount > 0 and user in users and song in songs:
            history = histories.setdefault(user.decode(), {})
            track_id = songs[song]
            history[track_id] = history.get(track_id, 0) + playcount
    return histories


def _unplayed_ids(catalogue: MSDCatalogue, history: dict[str, int]) -> list[str]:
    """Catalogue ids of songs the user never played (every track of a played song is excluded)."""
    played_songs = {catalogue[track_id].extra["song_id"] for track_id in history}
    return [t.id for t in catalogue if t.extra.get("song_id") not in played_songs]


def select_msd_users(
    triplets_path: Path | str,
    catalogue: MSDCatalogue,
    min_tracks: int,
    max_users: int | None = None,
    seed: int = 0,
) -> tuple[list[Triplet], dict[str, UserSplits]]:
    """Users with **more than** ``min_tracks`` played tracks that have audio, and their splits.

    Reads the Taste Profile file streaming, twice: pass 1 counts each user's played songs that
    are in ``catalogue``, pass 2 gathers the histories of the chosen users only. Songs become
    track ids through ``catalogue.song_to_track``. With ``max_users``, the users with the most
    tracks are kept (ties by user id).

    Returns:
        ``(triplets, splits)``: triplets ``(user, track_id, playcount)``, users in selection order
        and each user's tracks by playcount (highest first); splits per user from
        :func:`~lemons.interactions.make_splits` with negatives drawn from catalogue tracks of
        songs the user never played.
    """
    path = Path(triplets_path)
    if not path.is_file():
        raise DataError(f"{path}: no such Taste Profile file (train_triplets.txt)")
    songs = {song.encode(): track_id for song, track_id in catalogue.song_to_track.items()}
    counts = _count_tracks_per_user(path, songs)
    ranked = sorted((u for u, n in counts.items() if n > min_tracks), key=lambda u: (-counts[u], u))
    if max_users is not None:
        ranked = ranked[:max_users]
    histories = _collect_histories(path, songs, set(ranked))
    triplets: list[Triplet] = []
    splits: dict[str, UserSplits] = {}
    for user in (u.decode() for u in ranked):
        history = histories.get(user, {})
        if len(history) <= min_tracks:  # only possible if a user-song line was duplicated
            log.warning("%s: %d distinct tracks after merging duplicate lines; dropped", user, len(history))
            continue
        order = sorted(history, key=lambda t: (-history[t], t))
        triplets.extend(Triplet(user, track_id, history[track_id]) for track_id in order)
        splits[user] = make_splits(user, order, _unplayed_ids(catalogue, history), seed=seed)
    log.info("selected %d user(s) with more than %d tracks from %s", len(splits), min_tracks, path)
    return triplets, splits


def write_msd_users(out_dir: Path | str, triplets: list[Triplet], splits: dict[str, UserSplits]) -> None:
    """Write ``triplets.txt`` (Taste Profile format, track ids), ``splits.json`` and ``users.json``.

    ``users.json`` maps each user to ``{"n_tracks": distinct tracks, "n_events": total playcount}``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_triplets(out_dir / "triplets.txt", triplets)
    save_splits(out_dir / "splits.json", splits.values())
    users: dict[str, dict[str, int]] = {}
    for row in triplets:
        entry = users.setdefault(row.user, {"n_tracks": 0, "n_events": 0})
        entry["n_tracks"] += 1
        entry["n_events"] += row.playcount
    write_json(out_dir / "users.json", users)


#: Where :func:`open_msd_folder` looks for the metadata in an MSD folder, best first.
METADATA_FILES = ("track_metadata.db", "unique_tracks.txt")
#: The optional genre annotations of an MSD folder.
GENRES_FILE = "msd_tagtraum_cd2.cls"


def _metadata_file(root: Path) -> Path | None:
    return next((root / name for name in METADATA_FILES if (root / name).is_file()), None)


def open_msd_folder(root: Path | str) -> MSDCatalogue:
    """The MSD catalogue of a folder laid out as the ``msd_dir`` setting expects::

    <root>/track_metadata.db (or unique_tracks.txt)
    <root>/audio/                7digital snippets (A/A/A/TR….clip.mp3 or flat TR….mp3)
    <root>/msd_tagtraum_cd2.cls  optional genres
    <root>/users/splits.json     written by: lemons data msd-users … --out <root>/users
    """
    root = Path(root)
    metadata = _metadata_file(root)
    if metadata is None or not (root / "audio").is_dir():
        raise DataError(f"{root} needs track_metadata.db (or unique_tracks.txt) and an audio/ folder")
    genres = root / GENRES_FILE
    return MSDCatalogue(metadata, root / "audio", genres_path=genres if genres.is_file() else None)


def msd_folder_splits(root: Path | str) -> dict[str, UserSplits]:
    """The selected Taste Profile users' splits of an MSD folder (``<root>/users/splits.json``)."""
    root = Path(root)
    path = root / "users" / "splits.json"
    if not path.is_file():
        raise DataError(
            f"{path} is missing; select the users first with: lemons data msd-users "
            f"--triplets train_triplets.txt --metadata {_metadata_file(root)} "
            f"--audio-dir {root / 'audio'} --out {root / 'users'}"
        )
    return load_splits(path)
