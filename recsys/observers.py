"""Sacred observers, chosen when a run starts (never at import time).

Default: a ``FileStorageObserver`` under the ``runs_dir`` setting. A ``MongoObserver`` is added by
Sacred's own ``-m HOST:PORT:DB`` flag, or from the ``mongo_url``/``mongo_db`` settings. ``-F DIR``
replaces the default file storage; ``-u``/``--unobserved`` runs without observers.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from unittest import mock

import sacred.experiment
from sacred import Experiment
from sacred.observers import FileStorageObserver, MongoObserver, RunObserver
from sacred.utils import apply_backspaces_and_linefeeds

from lemons.allocator import keep_freed_memory
from lemons.config import Settings, get_settings
from lemons.errors import LemonsError

_FILE_FLAGS = ("-F", "--file_storage")
_MONGO_FLAGS = ("-m", "--mongo_db")
_UNOBSERVED_FLAGS = ("-u", "--unobserved")
_COMMANDS_WITHOUT_RUN = ("print_config", "print_dependencies", "save_config", "print_named_configs")


def _has_flag(argv: Sequence[str], flags: Sequence[str]) -> bool:
    return any(
        arg in flags or any(arg.startswith(f + "=") for f in flags if f.startswith("--")) for arg in argv
    )


def observers_for(argv: Sequence[str], settings: Settings | None = None) -> list[RunObserver]:
    """The observers a command line gets on top of those its own Sacred flags add."""
    settings = settings or get_settings()
    if _has_flag(argv, _UNOBSERVED_FLAGS) or any(arg in _COMMANDS_WITHOUT_RUN for arg in argv):
        return []
    observers: list[RunObserver] = []
    if not _has_flag(argv, _FILE_FLAGS):
        observers.append(FileStorageObserver(str(settings.runs_dir)))
    if settings.mongo_url and not _has_flag(argv, _MONGO_FLAGS):
        observers.append(MongoObserver(url=settings.mongo_url, db_name=settings.mongo_db))
    return observers


def prepare(ex: Experiment) -> Experiment:
    """Common settings of LEMONS experiments: progress bars are not stored line by line."""
    ex.captured_out_filter = apply_backspaces_and_linefeeds
    return ex


def _print_error_or_stacktrace() -> None:
    """Errors LEMONS raises on purpose are one line (``error: …``); anything else keeps its traceback."""
    error = sys.exc_info()[1]
    if isinstance(error, LemonsError):
        print(f"error: {error}", file=sys.stderr)
    else:
        sacred.utils.print_filtered_stacktrace()


def run_commandline(ex: Experiment, argv: Sequence[str]) -> None:
    """The Sacred scripts' entry point: tune the allocator, attach the run-time observers and hand the
    command line to Sacred (exit status 1 on failure)."""
    keep_freed_memory()
    ex.observers.extend(observers_for(argv[1:]))
    with mock.patch.object(sacred.experiment, "print_filtered_stacktrace", _print_error_or_stacktrace):
        ex.run_commandline(list(argv))
