"""Files uploaded to the demo page: checked, kept per session, removed when no longer needed.

An upload is refused, with an :class:`~lemons.errors.UploadError` that says why in the visitor's
terms (the file's name, never a path on the server), when it is

* larger than the ``upload_max_mb`` setting (MB of 2^20 bytes, as Streamlit counts them);
* not audio: the format is found from the content (:func:`lemons.audio.sniff_audio_format`), never
  from the file's name, and the file is decoded as the page will use it (its central 30 s);
* longer than ``upload_max_minutes``, shorter than 5 s, silent, unreadable or corrupt.

An accepted file is stored as ``<cache_dir>/uploads/<session>/<content hash>/<name>.<ext>`` (``ext``
that of the format found), a folder of one track that opens as a folder catalogue. A session's
folder is removed when the session ends (:func:`remove_session`, which the page hands to
Streamlit); a session folder unused for ``upload_max_age_hours`` is removed whenever a new upload is
stored (:func:`sweep_expired`), which covers sessions whose end was missed (a server that was
killed). Storing an upload again (every run of the page) marks its session folder as used, and
stores the file again if its folder was removed meanwhile.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from lemons.audio import MIN_DURATION, MPEG_SEARCH_BYTES, audio_info, describe_content, sniff_audio_format
from lemons.cache import cache_folder
from lemons.catalogue.folder import FolderCatalogue
from lemons.config import Settings, get_settings
from lemons.errors import AudioError, DataError, UploadError

#: Bytes in a megabyte of the ``upload_max_mb`` setting (Streamlit's own upload limit counts so too).
MB = 1 << 20
#: The extension a stored upload gets, by the format found in its content.
EXTENSIONS = {"WAV": ".wav", "FLAC": ".flac", "MP3": ".mp3", "Ogg": ".ogg", "AIFF": ".aiff"}
#: Characters kept out of a stored file's name (path separators, control characters).
UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")


@dataclass(frozen=True)
class UploadLimits:
    """What the page accepts: bytes and seconds of audio per file, and seconds an unused upload is kept."""

    max_bytes: int
    max_seconds: float
    max_age_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> UploadLimits:
        """The limits the settings ``upload_max_mb``, ``upload_max_minutes``, ``upload_max_age_hours`` set."""
        settings = settings or get_settings()
        return cls(
            int(settings.upload_max_mb * MB),
            settings.upload_max_minutes * 60,
            settings.upload_max_age_hours * 3600,
        )

    @property
    def max_megabytes(self) -> int:
        """The size limit in whole megabytes, rounded up (for Streamlit's upload widget)."""
        return max(1, -(-self.max_bytes // MB))


def uploads_folder(cache_dir: Path | str) -> Path:
    """The folder that holds every session's uploads: ``<cache_dir>/uploads``."""
    return cache_folder(cache_dir, "uploads")


def new_session_folder(cache_dir: Path | str) -> Path:
    """A folder name of its own for one session's uploads (created when the first file is stored)."""
    return uploads_folder(cache_dir) / secrets.token_hex(16)


def remove_session(folder: Path) -> None:
    """Remove a session's uploads (when the session ends); nothing if there are none."""
    shutil.rmtree(folder, ignore_errors=True)


def sweep_expired(uploads: Path, max_age_seconds: float, keep: Path | None = None) -> list[Path]:
    """Remove the session folders in ``uploads`` unused for ``max_age_seconds`` but ``keep``; returns them."""
    now = time.time()
    removed = []
    try:
        sessions = [path for path in uploads.iterdir() if path.is_dir() and path != keep]
    except FileNotFoundError:
        return []
    for folder in sessions:
        try:
            unused = now - folder.stat().st_mtime
        except FileNotFoundError:
            continue  # another server removed it first
        if unused > max_age_seconds:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def safe_name(name: str) -> str:
    """The file name of an upload's name without folders, control characters or leading dots
    (hidden files are not read), at most 100 characters; ``"upload"`` when nothing is left."""
    base = UNSAFE.sub("", name.replace("\\", "/").rsplit("/", 1)[-1]).lstrip(". ")
    return base[:100].strip() or "upload"


def _mb(size: float) -> str:
    return f"{size / MB:.1f} MB" if size < 10 * MB else f"{size / MB:.0f} MB"


def _visitor_message(exc: Exception, path: Path, name: str) -> str:
    """An error about the stored file (or its folder), in terms of the uploaded file's name."""
    return str(exc).replace(str(path), name).replace(str(path.parent), name)


def check_audio_file(path: Path, name: str, limits: UploadLimits) -> None:
    """Raise :class:`UploadError` unless ``path`` (uploaded as ``name``) is audio the page can use:
    header read, length within limits, its central window decoded as the page will decode it."""
    try:
        info = audio_info(path)
        if info.samplerate <= 0 or info.frames <= 0:
            raise UploadError(f"{name} holds no audio")
        if info.duration > limits.max_seconds:
            raise UploadError(
                f"{name} is {info.duration / 60:.1f} minutes long; the page accepts recordings of up to "
                f"{limits.max_seconds / 60:g} minutes"
            )
        if info.duration < MIN_DURATION:
            raise UploadError(f"{name} is {info.duration:.1f} s long; at least {MIN_DURATION:g} s are needed")
        catalogue = FolderCatalogue(path.parent)
        catalogue.load_audio(catalogue.ids[0])
    except (AudioError, DataError) as exc:
        raise UploadError(_visitor_message(exc, path, name)) from None


def store_upload(session: Path, name: str, data: bytes, limits: UploadLimits) -> Path:
    """Check an uploaded file and keep it in ``session``'s folder; returns the one-track folder it is in.

    Raises :class:`UploadError` for a file the page does not accept (see the module's description).
    The same file stored again is found, not checked again; a new one first sweeps away the
    session folders unused for longer than ``limits.max_age_seconds``.
    """
    shown = safe_name(name)
    if len(data) > limits.max_bytes:
        raise UploadError(
            f"{shown} is {_mb(len(data))}; the page accepts files of up to {_mb(limits.max_bytes)}"
        )
    if not data:
        raise UploadError(f"{shown} is empty (0 bytes)")
    head = data[:MPEG_SEARCH_BYTES]
    found = sniff_audio_format(head)
    if found is None:
        raise UploadError(
            f"{shown} is not an audio file: its content is {describe_content(head)}; "
            "upload a WAV, FLAC, MP3, Ogg or AIFF recording"
        )
    folder = session / hashlib.sha256(data).hexdigest()[:32]
    file_name = f"{Path(shown).stem or 'upload'}{EXTENSIONS[found]}"
    session.mkdir(parents=True, exist_ok=True)
    os.utime(session)  # used now: not swept while the session goes on
    if (folder / file_name).is_file():
        return folder
    sweep_expired(session.parent, limits.max_age_seconds, keep=session)
    staging = Path(tempfile.mkdtemp(dir=session, prefix=".staging-"))
    try:
        (staging / file_name).write_bytes(data)
        check_audio_file(staging / file_name, shown, limits)
        shutil.rmtree(folder, ignore_errors=True)  # an earlier copy under another name
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
