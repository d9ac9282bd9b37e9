"""Datasets the recommender learns from: a catalogue plus each user's labelled splits.

``builtin``: the generated catalogue (``catalogue_dir`` setting) with the personas' splits.
``msd``: the Million Song Dataset under the ``msd_dir`` setting, laid out as::

    <msd_dir>/track_metadata.db (or unique_tracks.txt)
    <msd_dir>/audio/                7digital snippets (A/A/A/TR….clip.mp3 or flat TR….mp3)
    <msd_dir>/msd_tagtraum_cd2.cls  optional genres
    <msd_dir>/users/splits.json     written by: lemons data msd-users … --out <msd_dir>/users
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from lemons.catalogue.base import Catalogue
from lemons.config import Settings, get_settings
from lemons.errors import ConfigError, DataError, UnknownPersonaError
from lemons.interactions import SPLIT_NAMES, UserSplits, load_splits

DATASETS = ("builtin", "msd")


@dataclass
class Dataset:
    """A catalogue and the labelled splits of its users."""

    name: str
    catalogue: Catalogue
    splits: dict[str, UserSplits]

    @property
    def users(self) -> list[str]:
        return list(self.splits)

    def user(self, name: str) -> UserSplits:
        try:
            return self.splits[name]
        except KeyError:
            raise UnknownPersonaError(
                f"unknown user {name!r} in the {self.name} dataset; users: {', '.join(self.splits)}"
            ) from None

    def listened(self, user: str) -> set[str]:
        """The tracks in the user's listening history (the played tracks of all their splits)."""
        splits = self.user(user)
        return {track_id for split in SPLIT_NAMES for track_id, label in splits[split] if label == 1}

    def fingerprint(self, user: str) -> str:
        """SHA-256 of the user's splits (ids and labels) and the audio content of every track in them.

        A checkpoint records it; a different value means the model was trained on other data.
        """
        splits = self.user(user)
        ids = sorted({track_id for split in SPLIT_NAMES for track_id in splits.ids(split)})
        payload = {
            "dataset": self.name,
            "splits": splits.to_json(),
            "audio": {track_id: self.catalogue.audio_checksum(track_id) for track_id in ids},
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _msd_file(settings: Settings, *names: str) -> str | None:
    for name in names:
        path = settings.msd_dir / name
        if path.exists():
            return str(path)
    return None


def load_dataset(name: str = "builtin", settings: Settings | None = None) -> Dataset:
    """Open a dataset by name (``builtin`` or ``msd``)."""
    settings = settings or get_settings()
    if name == "builtin":
        from lemons.catalogue.builtin import BuiltinCatalogue

        catalogue = BuiltinCatalogue(settings.catalogue_dir)
        return Dataset(name, catalogue, catalogue.splits())
    if name == "msd":
        from lemons.catalogue.msd import MSDCatalogue

        if settings.msd_dir is None:
            raise ConfigError(
                "dataset 'msd' needs the msd_dir setting (for example LEMONS_MSD_DIR=/data/msd)"
            )
        metadata = _msd_file(settings, "track_metadata.db", "unique_tracks.txt")
        splits_path = settings.msd_dir / "users" / "splits.json"
        if metadata is None or not (settings.msd_dir / "audio").is_dir():
            raise DataError(
                f"{settings.msd_dir} needs track_metadata.db (or unique_tracks.txt) and an audio/ folder"
            )
        if not splits_path.is_file():
            raise DataError(
                f"{splits_path} is missing; select the users first with: lemons data msd-users "
                f"--triplets train_triplets.txt --metadata {metadata} "
                f"--audio-dir {settings.msd_dir / 'audio'} --out {settings.msd_dir / 'users'}"
            )
        catalogue = MSDCatalogue(
            metadata, settings.msd_dir / "audio", genres_path=_msd_file(settings, "msd_tagtraum_cd2.cls")
        )
        return Dataset(name, catalogue, load_splits(splits_path))
    raise ConfigError(f"unknown dataset {name!r}; use one of {', '.join(DATASETS)}")


@dataclass(frozen=True)
class LabelledAudio:
    """Whole tracks of a split: ``waveforms[i]`` (16 kHz mono ``[samples]``), ``labels[i]`` in {0, 1}."""

    track_ids: tuple[str, ...]
    waveforms: tuple[np.ndarray, ...]
    labels: np.ndarray


def load_split(
    data: Dataset, user: str, split: str, workers: int = 2, progress: bool = True
) -> LabelledAudio:
    """The user's tracks of one split, decoded whole (16 kHz mono), with their labels."""
    splits = data.user(user)
    ids = splits.ids(split)
    waveforms = load_waveforms(data.catalogue, ids, workers, progress, desc=f"load {user} {split}")
    return LabelledAudio(tuple(ids), tuple(waveforms), splits.labels(split))


def load_waveforms(
    catalogue: Catalogue,
    track_ids: Sequence[str],
    workers: int = 2,
    progress: bool = True,
    desc: str = "load audio",
) -> list[np.ndarray]:
    """Decode tracks to 16 kHz mono float32 ``[samples]`` arrays, in the order of ``track_ids``."""
    if not track_ids:
        return []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        jobs = pool.map(catalogue.load_audio, track_ids)
        return list(tqdm(jobs, total=len(track_ids), desc=desc, unit="track", disable=not progress))
