"""Datasets the recommender learns from: a catalogue plus each user's labelled splits.

A dataset is a registered catalogue that holds users' listening histories
(:func:`lemons.catalogue.registry.dataset_names`): ``builtin``, the generated catalogue with the
personas' splits, and ``msd``, the Million Song Dataset under the ``msd_dir`` setting (laid out as
:func:`lemons.catalogue.msd.open_msd_folder` describes).
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
from lemons.catalogue.registry import CATALOGUES, dataset_names
from lemons.config import Settings
from lemons.errors import ConfigError, UnknownPersonaError
from lemons.interactions import SPLIT_NAMES, UserSplits


@dataclass
class Dataset:
    """A catalogue and the labelled splits of its users."""

    name: str
    catalogue: Catalogue
    splits: dict[str, UserSplits]

    @property
    def users(self) -> list[str]:
        """The users with splits, in the order the dataset lists them."""
        return list(self.splits)

    def user(self, name: str) -> UserSplits:
        """The splits of user ``name``; :class:`UnknownPersonaError` for a user the dataset lacks."""
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


def load_dataset(name: str = "builtin", settings: Settings | None = None) -> Dataset:
    """Open a dataset by name (``builtin``, ``msd``: see :func:`~lemons.catalogue.registry.dataset_names`)."""
    if name not in dataset_names():
        raise ConfigError(f"unknown dataset {name!r}; use one of {', '.join(dataset_names())}")
    entry = CATALOGUES[name]
    folder = entry.folder(settings=settings)
    return Dataset(name, entry.open(folder), entry.user_splits(folder))


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
