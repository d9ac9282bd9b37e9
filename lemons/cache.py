"""The caches under ``<cache_dir>``, and the size limit they share.

What is costly to compute is kept in ``<cache_dir>``, one folder per cache (:data:`CACHES`), each
entry keyed by content: source separations (``separation/``, ``.npz`` stems), explanations
(``explanations/``, JSON, with the demo page's figures of them), feature maps of the frozen blocks
(``features/``, ``.npy``) and relevance scores (``scores/``, one JSON per model). Together they are
kept under the ``cache_max_gb`` setting: after every write the entries used least recently are
removed until the total fits (:func:`keep_within_limit`). An entry's modification time is its last
use: writers set it, and readers :func:`touch` what they read.

Several processes may share the folder (the page's server, the command line, a training run).
Entries are written atomically (a temporary file renamed into place, :func:`lemons.io.atomic_path`),
and eviction never removes a temporary file being written: their names begin with ``.``, and only
those left behind for :data:`STALE_TEMP_SECONDS` by a writer that was killed are removed. An entry
that vanishes under a scan (another process removed it) is skipped, and a reader whose entry is
removed between finding and opening it computes it again. Folders are never removed, so a writer
never loses the folder it is about to write into.

What takes long to compute is computed once even when several visitors of the page (threads of one
server) or processes ask for it at the same time: :func:`computed_once` holds a lock on the entry's
key while one of them computes it, and the others then find it in the cache. The locks are
``flock`` locks on :data:`LOCK_STRIPES` files in ``<cache_dir>/locks/``, released by the system
when their holder dies, so a killed computation never leaves a lock behind.

``uploads/`` holds the demo page's uploaded files, a folder per session. It is listed and cleared
with the others but not counted in the limit: uploads have their own limits and lifetime.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lemons.config import Settings, get_settings
from lemons.registry import Registry

#: Bytes in a gigabyte of the ``cache_max_gb`` setting.
GB = 1_000_000_000
#: A temporary file older than this (seconds) was left behind by a killed writer.
STALE_TEMP_SECONDS = 3600.0
#: Lock files that the keys of entries being computed share (two keys of one stripe take turns).
LOCK_STRIPES = 256


@dataclass(frozen=True)
class CacheKind:
    """One cache: its name (for ``lemons cache``), its folder in ``<cache_dir>``, what an entry holds,
    and whether it counts in the size limit."""

    name: str
    folder: str
    holds: str
    bounded: bool = True


#: The caches, in the order ``lemons cache info`` lists them.
CACHES: Registry[CacheKind] = Registry("cache")
CACHES.register(CacheKind("separations", "separation", "source separations of a track (.npz)"))
CACHES.register(CacheKind("explanations", "explanations", "explanations (JSON) and the page's figures (PNG)"))
CACHES.register(CacheKind("features", "features", "feature maps of the frozen blocks (.npy)"))
CACHES.register(CacheKind("scores", "scores", "relevance scores, a file per model (JSON)"))
CACHES.register(CacheKind("uploads", "uploads", "the page's uploaded files, a folder per session", False))


def cache_folder(cache_dir: Path | str, name: str) -> Path:
    """The folder of the cache called ``name`` (one of :data:`CACHES`) in ``cache_dir``."""
    return Path(cache_dir) / CACHES[name].folder


def bounded_caches() -> tuple[str, ...]:
    """The caches that count in the size limit."""
    return tuple(kind.name for kind in CACHES if kind.bounded)


@dataclass(frozen=True)
class Entry:
    """A file of a cache: its path, size in bytes and last use (modification time, seconds)."""

    path: Path
    size: int
    used: float

    @property
    def temporary(self) -> bool:
        """Whether it is a temporary file of a write (complete or abandoned), not an entry."""
        return self.path.name.startswith(".")


def files(folder: Path) -> Iterator[Entry]:
    """Every file below ``folder``, temporary ones included; symbolic links are not followed, and
    files or folders removed during the scan are skipped."""
    pending = [folder]
    while pending:
        try:
            with os.scandir(pending.pop()) as scan:
                items = list(scan)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for item in items:
            try:
                if item.is_dir(follow_symlinks=False):
                    pending.append(Path(item.path))
                elif item.is_file(follow_symlinks=False):
                    stat = item.stat(follow_symlinks=False)
                    yield Entry(Path(item.path), stat.st_size, stat.st_mtime)
            except FileNotFoundError:
                continue


def touch(path: Path | str) -> None:
    """Mark a cache entry as just used (its modification time), if it is still there."""
    try:
        os.utime(path)
    except OSError:
        pass  # removed meanwhile, or not ours to touch: it is then only evicted sooner


@contextmanager
def computed_once(cache_dir: Path | str | None, key: str) -> Iterator[None]:
    """Hold the lock of ``key`` while the entry cached under it is computed.

    A second thread or process asking for the same key waits here until the first has written the
    entry, and then looks in the cache again instead of computing it a second time. Without a cache
    folder (``None``) nothing is locked. Look in the cache before taking the lock too: an entry
    already there is then served without waiting for a computation of another key of its stripe.
    """
    if cache_dir is None:
        yield
        return
    folder = Path(cache_dir) / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    stripe = int(hashlib.sha256(key.encode()).hexdigest(), 16) % LOCK_STRIPES
    with open(folder / f"{stripe:03d}.lock", "a") as handle:  # a handle per call: threads exclude too
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def limit_bytes(settings: Settings | None = None) -> int | None:
    """The size limit of the caches in bytes (``cache_max_gb``), or ``None`` for none (0)."""
    gigabytes = (settings or get_settings()).cache_max_gb
    return int(gigabytes * GB) if gigabytes > 0 else None


def _remove(path: Path) -> bool:
    """Remove a file; whether it is gone (a file another process removed first is gone too)."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError:
        return False
    return True


def keep_within_limit(cache_dir: Path | str, max_bytes: int | None = None) -> int:
    """Remove the least recently used entries of the bounded caches until they total ``max_bytes``.

    ``max_bytes``: default the ``cache_max_gb`` setting (nothing is removed where it is 0).
    Temporary files being written are never removed; those older than :data:`STALE_TEMP_SECONDS`
    are. Returns the bytes of the entries removed. Every cache calls it after writing an entry (one
    scan of the folders: a few milliseconds per thousand entries).
    """
    max_bytes = limit_bytes() if max_bytes is None else max_bytes
    if max_bytes is None:
        return 0
    now = time.time()
    found = []
    for name in bounded_caches():
        for entry in files(cache_folder(cache_dir, name)):
            if not entry.temporary:
                found.append(entry)
            elif now - entry.used > STALE_TEMP_SECONDS:
                _remove(entry.path)
    total = sum(entry.size for entry in found)
    removed = 0
    for entry in sorted(found, key=lambda entry: entry.used):
        if total <= max_bytes:
            break
        if _remove(entry.path):
            total -= entry.size
            removed += entry.size
    return removed


@dataclass(frozen=True)
class CacheUsage:
    """What one cache holds: its entries and their bytes (temporary files not counted)."""

    kind: CacheKind
    folder: Path
    entries: int
    bytes: int


def cache_usage(cache_dir: Path | str) -> list[CacheUsage]:
    """The entries and bytes of every cache in ``cache_dir``, in :data:`CACHES` order."""
    usage = []
    for kind in CACHES:
        folder = cache_folder(cache_dir, kind.name)
        found = [entry for entry in files(folder) if not entry.temporary]
        usage.append(CacheUsage(kind, folder, len(found), sum(entry.size for entry in found)))
    return usage


def clear_caches(cache_dir: Path | str, names: Iterable[str]) -> tuple[int, int]:
    """Remove every entry of the caches called ``names``; returns ``(entries, bytes)`` removed.

    Temporary files being written are left to their writers, and folders stay.
    """
    count = size = 0
    for name in names:
        for entry in files(cache_folder(cache_dir, name)):
            if not entry.temporary and _remove(entry.path):
                count, size = count + 1, size + entry.size
    return count, size


def format_bytes(size: float) -> str:
    """``1234567`` → ``"1.2 MB"`` (decimal units, as the ``cache_max_gb`` setting)."""
    if size < 1000:
        return f"{size:.0f} B"
    for unit in ("kB", "MB"):
        size /= 1000
        if size < 1000:
            return f"{size:.1f} {unit}"
    return f"{size / 1000:.1f} GB"
