"""Every catalogue LEMONS can recommend from, by name, with what each one offers.

The command line (``--catalogue``, ``--dataset``) and the demo page read their options from
:data:`CATALOGUES`, so a catalogue registered here can be ranked, explained and (with listening
histories) trained on everywhere. An entry says:

- where its folder comes from (:attr:`CatalogueEntry.location`): a setting (or ``--path``), a folder
  the user names, or a file uploaded in the page;
- whether its tracks come with true stems (the ``reference`` separator then works);
- whether it holds users' listening histories (it is then also a dataset the recommender learns
  from), and whether it stands for one user's held-out test tracks only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lemons.catalogue.base import Catalogue
from lemons.catalogue.builtin import BuiltinCatalogue, builtin_splits
from lemons.catalogue.folder import FolderCatalogue
from lemons.catalogue.msd import MSDCatalogue, msd_folder_splits, open_msd_folder
from lemons.catalogue.musdb import MusdbCatalogue
from lemons.config import Settings, get_settings
from lemons.errors import ConfigError
from lemons.interactions import UserSplits
from lemons.registry import Registry

#: Where an entry's folder comes from: a setting (or a path given for it), a folder the user names
#: (the setting is only its default), or a file the user uploads in the page.
LOCATIONS = ("setting", "folder", "upload")

#: ``folder → {user: splits}``: the listening histories of a dataset's users.
HistoriesFn = Callable[[Path], dict[str, UserSplits]]


@dataclass(frozen=True)
class CatalogueEntry:
    """A catalogue by name: how to open it and what it offers.

    Args:
        name: the name the command line and the page use.
        description: a few words for help texts and the page (``"the whole built-in catalogue"``).
        catalogue_class: the :class:`~lemons.catalogue.base.Catalogue` it opens.
        setting: the setting that holds its folder (``catalogue_dir``, ``msd_dir``…), if any.
        location: one of :data:`LOCATIONS`.
        opener: ``folder → catalogue`` where ``catalogue_class(folder)`` is not the way to open it.
        histories: the users' listening histories, for a catalogue that is also a dataset.
        dataset: the dataset name its users' checkpoints record (default: ``name``).
        held_out: stands for one user's held-out test tracks of the catalogue, not all of it.
    """

    name: str
    description: str
    catalogue_class: type[Catalogue]
    setting: str | None = None
    location: str = "setting"
    opener: Callable[[Path], Catalogue] | None = None
    histories: HistoriesFn | None = None
    dataset: str | None = None
    held_out: bool = False

    def __post_init__(self) -> None:
        if self.location not in LOCATIONS:
            raise ValueError(f"location must be one of {LOCATIONS}, got {self.location!r}")

    @property
    def true_stems(self) -> bool:
        """Whether its tracks come with their true stems (``reference`` separation)."""
        return bool(self.catalogue_class.stem_names)

    @property
    def dataset_name(self) -> str | None:
        """The dataset whose users' histories it holds (``None``: it holds none)."""
        return (self.dataset or self.name) if self.histories is not None else None

    @property
    def is_dataset(self) -> bool:
        """Whether the recommender can be trained on it (``dataset=<name>``)."""
        return self.dataset_name == self.name

    def configured(self, settings: Settings | None = None) -> bool:
        """Whether its setting names its folder, so that it opens without being given one."""
        return self.setting_folder(settings) is not None

    def setting_folder(self, settings: Settings | None = None) -> Path | None:
        """The folder its setting names (the first, for a setting that names several), if any."""
        value = getattr(settings or get_settings(), self.setting) if self.setting else None
        if isinstance(value, tuple):
            return value[0] if value else None
        return value

    def folder(self, path: Path | str | None = None, settings: Settings | None = None) -> Path:
        """``path``, or the folder its setting names; :class:`ConfigError` when there is neither."""
        if path is not None:
            return Path(path)
        value = self.setting_folder(settings)
        if value is None:
            setting = f"set {self.setting} (LEMONS_{self.setting.upper()}=/path) or " if self.setting else ""
            raise ConfigError(f"no folder for the {self.name} catalogue: {setting}pass its path")
        return Path(value)

    def open(self, path: Path | str | None = None, settings: Settings | None = None) -> Catalogue:
        """Open it at ``path`` (default: the folder its setting names)."""
        folder = self.folder(path, settings)
        return (self.opener or self.catalogue_class)(folder)

    def user_splits(self, folder: Path) -> dict[str, UserSplits]:
        """Its users' splits, read from its ``folder``; :class:`ConfigError` without listening histories."""
        if self.histories is None:
            raise ConfigError(f"the {self.name} catalogue holds no listening histories")
        return self.histories(folder)


#: The catalogues, in the order they are offered (the page starts with the first).
CATALOGUES: Registry[CatalogueEntry] = Registry("catalogue")
CATALOGUES.register(
    CatalogueEntry(
        "test", "your held-out test tracks", BuiltinCatalogue, "catalogue_dir",
        histories=builtin_splits, dataset="builtin", held_out=True,
    )
)  # fmt: skip
CATALOGUES.register(
    CatalogueEntry(
        "builtin", "the whole built-in catalogue", BuiltinCatalogue, "catalogue_dir", histories=builtin_splits
    )
)
CATALOGUES.register(
    CatalogueEntry(
        "msd", "the Million Song Dataset", MSDCatalogue, "msd_dir",
        opener=open_msd_folder, histories=msd_folder_splits,
    )
)  # fmt: skip
CATALOGUES.register(CatalogueEntry("musdb18", "musdb18", MusdbCatalogue, "musdb_dir"))
CATALOGUES.register(
    CatalogueEntry("folder", "a folder of your own audio", FolderCatalogue, "audio_folder", location="folder")
)
CATALOGUES.register(CatalogueEntry("upload", "an uploaded file", FolderCatalogue, location="upload"))


def dataset_names() -> tuple[str, ...]:
    """The catalogues the recommender can be trained on (they hold users' listening histories)."""
    return tuple(entry.name for entry in CATALOGUES if entry.is_dataset)


def catalogue_names(held_out: bool = True) -> tuple[str, ...]:
    """The catalogues a command can open (all but the page's uploads); a user's held-out view
    (``test``) only with ``held_out``."""
    return tuple(
        entry.name for entry in CATALOGUES if entry.location != "upload" and (held_out or not entry.held_out)
    )
