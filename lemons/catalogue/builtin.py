"""The built-in catalogue on disk: reading it and validating it.

Layout of a catalogue directory (written by ``lemons data build``)::

    build.json             build parameters (seed, number of tracks, duration, sample rate, format)
    audio/<id>/mix.flac    16 kHz mono 16-bit mix == exact sum of the five stems
    audio/<id>/<stem>.flac vocals, piano, drums, bass, other
    audio/<id>/track.json  the track's metadata (written last: marks the track as complete)
    metadata.csv           one row per track (id, title, artist, album, genre, tags, tempo, key, ...,
                           from format 2 the song's structure: beat grid and sections)
    manifest.json          SHA-256 of every audio file
    taste_profile.txt      the personas' listening histories (user, track, playcount)
    splits.json            per-persona train/val/test splits with sampled negatives
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from lemons.audio import SAMPLE_RATE, load_audio
from lemons.catalogue.base import STEMS, Catalogue, Track
from lemons.catalogue.structure import STRUCTURE_COLUMNS, SongStructure
from lemons.errors import AudioError, DataError
from lemons.interactions import Triplet, UserSplits, load_splits, read_triplets
from lemons.io import read_json, sha256_file

FORMAT = "lemons-builtin-catalogue"
FORMAT_VERSION = 2  # 2: the metadata records each song's structure (STRUCTURE_COLUMNS)
READABLE_VERSIONS = (1, 2)  # a version-1 catalogue loads, without structure
METADATA_COLUMNS = (
    "id",
    "title",
    "artist",
    "album",
    "genre",
    "style",
    "tags",
    "tempo",
    "key",
    "duration",
    "loudness",
    "popularity",
    "groove",
    "drum_kit",
    "featured_stem",
    "background_stem",
    *(f"share_{stem}" for stem in STEMS),
    *STRUCTURE_COLUMNS,
)
NUMERIC_EXTRA = tuple(f"share_{stem}" for stem in STEMS)


def track_dir(root: Path, track_id: str) -> Path:
    """The folder of one track's mix, stems and ``track.json``."""
    return root / "audio" / track_id


def read_metadata(path: Path) -> list[dict[str, str]]:
    """The rows of ``metadata.csv`` as dicts of strings."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _float(value: str) -> float | None:
    return float(value) if value not in ("", None) else None


class BuiltinCatalogue(Catalogue):
    """The generated multitrack catalogue (true stems for every track)."""

    name = "builtin"
    stem_names = STEMS

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        if not (self.root / "manifest.json").is_file() or not (self.root / "metadata.csv").is_file():
            raise DataError(
                f"{self.root} holds no complete built-in catalogue; build it with: "
                f"lemons data build --out {self.root}"
            )
        self.manifest = read_json(self.root / "manifest.json")
        if self.manifest.get("format") != FORMAT or self.manifest.get("version") not in READABLE_VERSIONS:
            raise DataError(f"{self.root}: unknown catalogue format; rebuild it with lemons data build")
        self.sample_rate = int(self.manifest["sample_rate"])
        tracks = []
        self._structures: dict[str, SongStructure | None] = {}
        for row in read_metadata(self.root / "metadata.csv"):
            self._structures[row["id"]] = SongStructure.from_row(row, _float(row["tempo"]))
            tracks.append(
                Track(
                    id=row["id"],
                    title=row["title"],
                    artist=row["artist"],
                    album=row["album"],
                    genre=row["genre"],
                    tags=tuple(t for t in row["tags"].split(";") if t),
                    tempo=_float(row["tempo"]),
                    key=row["key"] or None,
                    duration=_float(row["duration"]),
                    loudness=_float(row["loudness"]),
                    popularity=_float(row["popularity"]),
                    path=track_dir(self.root, row["id"]) / "mix.flac",
                    extra={
                        "style": row["style"],
                        "featured_stem": row["featured_stem"],
                        "background_stem": row["background_stem"],
                        **{k: float(row[k]) for k in NUMERIC_EXTRA},
                    },
                )
            )
        super().__init__(tracks)

    @property
    def has_structure(self) -> bool:
        """Whether the metadata records the songs' structure (format 2; a version-1 catalogue does not)."""
        return any(s is not None for s in self._structures.values())

    def structure(self, track_id: str) -> SongStructure | None:
        """The song's true beat grid and sections (``None`` in a version-1 catalogue)."""
        self[track_id]  # raises DataError for an unknown id
        return self._structures[track_id]

    def load_stems(self, track_id: str, sr: int = SAMPLE_RATE) -> dict[str, np.ndarray]:
        """The five true stems ``{stem: [samples]}`` float32 at ``sr`` Hz (their sum is the mix)."""
        self[track_id]  # raises DataError for an unknown id
        folder = track_dir(self.root, track_id)
        return {
            stem: load_audio(folder / f"{stem}.flac", sr=sr, min_duration=0.0, allow_silent=True)
            for stem in STEMS
        }

    def audio_checksum(self, track_id: str) -> str:
        """The mix's SHA-256 as recorded in ``manifest.json`` (no file is read)."""
        self[track_id]
        return self.manifest["files"][f"audio/{track_id}/mix.flac"]

    def triplets(self) -> list[Triplet]:
        """The personas' listening histories (Taste Profile format)."""
        path = self.root / "taste_profile.txt"
        if not path.is_file():
            raise DataError(f"{path} is missing; run: lemons data build --out {self.root}")
        return read_triplets(path)

    def splits(self) -> dict[str, UserSplits]:
        """The personas' train/validation/test splits (``splits.json``)."""
        return builtin_splits(self.root)


def builtin_splits(root: Path | str) -> dict[str, UserSplits]:
    """The personas' splits of the built-in catalogue in ``root`` (its ``splits.json``)."""
    return load_splits(Path(root) / "splits.json")


@dataclass
class ValidationReport:
    """What :func:`validate_catalogue` found: counts and every problem."""

    n_tracks: int = 0
    n_files: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether no problem was found."""
        return not self.problems


def _read_int16(path: Path) -> tuple[np.ndarray, int]:
    try:
        data, sr = sf.read(str(path), dtype="int16", always_2d=False)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"{path}: unreadable or corrupt audio file ({exc})") from exc
    return data, sr


def validate_catalogue(root: Path | str, progress: bool = True) -> ValidationReport:
    """Re-check every checksum of the manifest and that each mix is exactly the sum of its stems."""
    root = Path(root)
    report = ValidationReport()
    try:
        catalogue = BuiltinCatalogue(root)
    except DataError as exc:
        report.problems.append(str(exc))
        return report
    files: dict[str, str] = catalogue.manifest["files"]
    report.n_tracks = len(catalogue)
    listed = {Path(f).parts[1] for f in files}
    if listed != set(catalogue.ids):
        report.problems.append("metadata.csv and manifest.json list different tracks")
    for track in tqdm(catalogue, desc="validate", unit="track", disable=not progress):
        folder = track_dir(root, track.id)
        for name in ("mix", *STEMS):
            rel = f"audio/{track.id}/{name}.flac"
            path = root / rel
            if rel not in files:
                report.problems.append(f"{rel}: not in manifest.json")
            elif not path.is_file():
                report.problems.append(f"{rel}: missing")
            elif sha256_file(path) != files[rel]:
                report.problems.append(
                    f"{rel}: checksum differs from manifest.json (file changed or corrupt)"
                )
            report.n_files += 1
        try:
            mix, sr = _read_int16(folder / "mix.flac")
            total = np.zeros(mix.shape, dtype=np.int32)
            for stem in STEMS:
                audio, stem_sr = _read_int16(folder / f"{stem}.flac")
                if audio.shape != mix.shape or stem_sr != sr:
                    raise AudioError(f"audio/{track.id}/{stem}.flac: shape or rate differs from the mix")
                total += audio
        except AudioError as exc:
            report.problems.append(str(exc))
            continue
        if sr != catalogue.sample_rate:
            report.problems.append(f"audio/{track.id}/mix.flac: {sr} Hz, expected {catalogue.sample_rate} Hz")
        if not np.array_equal(total, mix.astype(np.int32)):
            worst = int(np.max(np.abs(total - mix)))
            report.problems.append(
                f"audio/{track.id}: mix differs from the sum of its stems (by up to {worst} LSB)"
            )
    return report
