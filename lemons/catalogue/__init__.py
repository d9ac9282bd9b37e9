"""Catalogues of tracks to recommend from, opened by name (see :mod:`lemons.catalogue.registry`)."""

from __future__ import annotations

from pathlib import Path

from lemons.catalogue.base import Catalogue
from lemons.catalogue.registry import CATALOGUES
from lemons.config import Settings


def open_catalogue(
    kind: str = "builtin", path: Path | str | None = None, settings: Settings | None = None
) -> Catalogue:
    """Open the catalogue registered as ``kind`` (``builtin``, ``msd``, ``musdb18``, ``folder``…).

    ``path`` overrides the setting that locates it (``catalogue_dir``, ``msd_dir``, ``musdb_dir``,
    ``audio_folder``).
    """
    return CATALOGUES[kind].open(path, settings)
