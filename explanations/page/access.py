"""The folders the demo page may open: only those inside the folders the operator allowed.

The page can be served to others, who type folder names into it; it opens a typed folder only when
it lies inside one of the folders of the ``audio_folder`` setting (one folder or several). The
command line runs as its user and keeps full access: this confinement is the page's alone.

A typed folder is refused, with an :class:`~lemons.errors.AccessError` that says why, when

* no folder is allowed (``audio_folder`` is not set);
* it is written with ``..``;
* it lies outside every allowed folder, or a symbolic link on the way leads outside them;
* a file in it is a symbolic link leading outside them.

A relative folder is taken inside the first allowed folder. Messages name the typed folder and the
allowed ones, never where a symbolic link leads.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from lemons.catalogue.base import Catalogue
from lemons.config import Settings, get_settings
from lemons.errors import AccessError

#: The setting that names the folders the page may open.
SETTING = "audio_folder"


def allowed_folders(settings: Settings | None = None) -> tuple[Path, ...]:
    """The folders the page may open (the ``audio_folder`` setting; empty when it is not set)."""
    return (settings or get_settings()).audio_folder


def no_folder_allowed() -> str:
    """What the page says where no folder is allowed."""
    return (
        f"This page opens folders only inside the folders of the `{SETTING}` setting, and none is set. "
        f"Whoever runs the page can set it: `LEMONS_{SETTING.upper()}=/music/one:/music/two`, or "
        f"`{SETTING.upper()} = [...]` in config.py."
    )


def _inside(path: str, roots: Sequence[str]) -> bool:
    """Whether ``path`` is one of ``roots`` or below one (both already normalised)."""
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def _listed(roots: Sequence[Path]) -> str:
    return ", ".join(str(root) for root in roots)


def confined_folder(text: str, roots: Sequence[Path]) -> Path:
    """The folder ``text`` names, with symbolic links resolved, if it lies inside one of ``roots``.

    Raises :class:`AccessError` otherwise (see the module's description). The folder need not
    exist: opening it then says so.
    """
    if not roots:
        raise AccessError(no_folder_allowed())
    path = Path(text)
    if "\x00" in text:
        raise AccessError(f"{text!r}: not a folder name")
    if ".." in path.parts:
        raise AccessError(
            f"{text}: folders written with '..' are not accepted; write the folder from the top"
        )
    if not path.is_absolute():
        path = Path(roots[0]) / path
    lexical = os.path.normpath(os.path.abspath(path))
    real = os.path.realpath(path)
    if _inside(real, [os.path.realpath(root) for root in roots]):
        return Path(real)
    if _inside(lexical, [os.path.normpath(os.path.abspath(root)) for root in roots]):
        raise AccessError(
            f"{text}: a symbolic link in it leads outside the folders this page may open ({_listed(roots)})"
        )
    raise AccessError(f"{text}: outside the folders this page may open ({_listed(roots)})")


def check_tracks_inside(catalogue: Catalogue, folder: Path, roots: Sequence[Path]) -> None:
    """Refuse a catalogue with a file that is a symbolic link leading outside ``roots``."""
    real_roots = [os.path.realpath(root) for root in roots]
    outside = [
        track.path
        for track in catalogue
        if track.path is not None and not _inside(os.path.realpath(track.path), real_roots)
    ]
    if outside:
        names = ", ".join(str(Path(path).relative_to(folder)) for path in outside[:5])
        more = f" and {len(outside) - 5} more" if len(outside) > 5 else ""
        raise AccessError(
            f"{folder}: {len(outside)} file(s) are symbolic links leading outside the folders this page "
            f"may open ({names}{more}); the page does not open this folder"
        )
