"""Catalogues of tracks to recommend from, opened by name (see :func:`open_catalogue`)."""

from __future__ import annotations

from pathlib import Path

from lemons.catalogue.base import Catalogue
from lemons.config import Settings, get_settings
from lemons.errors import ConfigError

#: Catalogue kinds :func:`open_catalogue` knows.
CATALOGUES = ("builtin", "musdb18", "folder")


def open_catalogue(
    kind: str = "builtin", path: Path | str | None = None, settings: Settings | None = None
) -> Catalogue:
    """Open the built-in catalogue, musdb18 or a folder of audio.

    ``path`` overrides the setting that locates it (``catalogue_dir``, ``musdb_dir``, ``audio_folder``).
    """
    settings = settings or get_settings()
    if kind == "builtin":
        from lemons.catalogue.builtin import BuiltinCatalogue

        return BuiltinCatalogue(path or settings.catalogue_dir)
    if kind == "musdb18":
        from lemons.catalogue.musdb import MusdbCatalogue

        root = path or settings.musdb_dir
        if root is None:
            raise ConfigError("musdb18 is not configured: set musdb_dir (LEMONS_MUSDB_DIR=/data/musdb18)")
        return MusdbCatalogue(root)
    if kind == "folder":
        from lemons.catalogue.folder import FolderCatalogue

        root = path or settings.audio_folder
        if root is None:
            raise ConfigError("no audio folder given: pass one or set audio_folder (LEMONS_AUDIO_FOLDER=…)")
        return FolderCatalogue(root)
    raise ConfigError(f"unknown catalogue {kind!r}; use one of {', '.join(CATALOGUES)}")
