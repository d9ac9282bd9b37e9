"""What a user's recommendations are drawn from: a registered catalogue, the tracks of it to rank,
and the user's listening history in it (left out of recommendations unless asked for).

Used by ``lemons rank`` and the demo page alike, so both offer every catalogue of
:data:`lemons.catalogue.registry.CATALOGUES` the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lemons.catalogue.base import Catalogue
from lemons.catalogue.registry import CATALOGUES
from lemons.config import Settings
from recsys.checkpoint import Recommender
from recsys.data import Dataset
from recsys.evaluate import stale_warning


@dataclass(frozen=True)
class Candidates:
    """The tracks to rank for one user.

    ``track_ids`` is ``None`` for the whole catalogue; ``history`` holds the tracks of it the user has
    listened to; ``dataset`` is the dataset that holds the user's history, when there is one.
    """

    catalogue: Catalogue
    track_ids: list[str] | None
    history: frozenset[str]
    dataset: Dataset | None

    def stale_warning(self, recommender: Recommender, user: str) -> str | None:
        """A message when ``recommender`` was trained on other data than the dataset holds for ``user``."""
        return stale_warning(recommender, self.dataset, user) if self.dataset is not None else None


def candidates(
    name: str,
    recommender: Recommender,
    user: str,
    path: Path | str | None = None,
    settings: Settings | None = None,
    catalogue: Catalogue | None = None,
) -> Candidates:
    """The tracks of catalogue ``name`` (at ``path``, default: its setting) to rank for ``user``.

    A held-out entry (``test``) gives the user's test tracks, history and all: they were hidden from
    training, so played tracks among them are the point. Otherwise the user's history in the
    catalogue is known where the recommender was trained on the catalogue's dataset. ``catalogue`` is
    the catalogue already opened, if it is.
    """
    entry = CATALOGUES[name]
    folder = entry.folder(path, settings)
    catalogue = catalogue or entry.open(folder)
    if entry.dataset_name is None or not (entry.held_out or recommender.dataset == entry.dataset_name):
        return Candidates(catalogue, None, frozenset(), None)
    dataset = Dataset(entry.dataset_name, catalogue, entry.user_splits(folder))
    if entry.held_out:
        return Candidates(catalogue, dataset.user(user).ids("test"), frozenset(), dataset)
    history = frozenset(dataset.listened(user)) if user in dataset.splits else frozenset()
    return Candidates(catalogue, None, history, dataset)
