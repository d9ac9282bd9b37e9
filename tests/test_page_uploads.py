"""Uploads to the demo page: limits, format found by decoding, kept per session and removed."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from explanations.page.uploads import (
    UploadLimits,
    new_session_folder,
    remove_session,
    store_upload,
    sweep_expired,
    uploads_folder,
)
from lemons.catalogue.folder import FolderCatalogue
from lemons.config import get_settings
from lemons.errors import UploadError

LIMITS = UploadLimits(max_bytes=1 << 20, max_seconds=60.0, max_age_seconds=3600.0)


def encoded(seconds: float, fmt: str = "WAV", sr: int = 8_000, level: float = 0.1) -> bytes:
    """``seconds`` of noise encoded as ``fmt`` (16-bit where the format has a bit depth)."""
    buffer = io.BytesIO()
    audio = level * np.random.default_rng(0).standard_normal(int(seconds * sr))
    sf.write(buffer, audio, sr, format=fmt, subtype="VORBIS" if fmt == "OGG" else "PCM_16")
    return buffer.getvalue()


def stored(session: Path) -> list[Path]:
    """Every file kept in a session's folder."""
    return [path for path in session.rglob("*") if path.is_file()]


@pytest.fixture()
def session(tmp_path: Path) -> Path:
    return new_session_folder(tmp_path / "cache")


def test_an_accepted_upload_is_a_one_track_folder_of_its_session(session: Path, tmp_path: Path) -> None:
    folder = store_upload(session, "My Song.wav", encoded(6), LIMITS)
    assert folder.parent == session and session.parent == uploads_folder(tmp_path / "cache")
    [track] = FolderCatalogue(folder)
    assert track.title == "My Song" and track.path == folder / "My Song.wav"
    assert store_upload(session, "My Song.wav", encoded(6), LIMITS) == folder  # found again
    assert not [p for p in session.iterdir() if p.name.startswith(".")]  # no staging left


def test_the_format_comes_from_the_content_not_the_name(session: Path) -> None:
    folder = store_upload(session, "take.mp3", encoded(6, "FLAC"), LIMITS)
    assert [p.name for p in folder.iterdir()] == ["take.flac"]
    folder = store_upload(session, "../../etc/.hidden", encoded(6, "OGG"), LIMITS)
    assert [p.name for p in folder.iterdir()] == ["hidden.ogg"]  # no folders, not hidden


HTML = b"<!DOCTYPE html><html><body>Sign in</body></html>"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(2000)
BROKEN_WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(3000)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("page.mp3", HTML, "page.mp3 is not an audio file: its content is an HTML page"),
        ("cover.wav", PNG, "cover.wav is not an audio file: its content is a PNG"),
        ("notes.flac", b"just some words\n" * 20, "notes.flac is not an audio file: its content is text"),
        ("empty.ogg", b"", "empty.ogg is empty"),
        ("broken.wav", BROKEN_WAV, "broken.wav: unreadable or corrupt WAV"),
        ("short.wav", encoded(2), "short.wav is 2.0 s long; at least 5 s are needed"),
        ("quiet.wav", encoded(6, level=0.0), "quiet.wav: is silent"),
    ],
)
def test_what_is_not_usable_audio_is_refused(session: Path, tmp_path: Path, name, data, message) -> None:
    with pytest.raises(UploadError, match=message) as refused:
        store_upload(session, name, data, LIMITS)
    assert str(tmp_path) not in str(refused.value)  # no path on the server is shown
    assert not stored(session)  # nothing is kept


def test_too_large_and_too_long_are_refused(session: Path) -> None:
    data = encoded(8)
    small = UploadLimits(max_bytes=len(data) - 1, max_seconds=60.0, max_age_seconds=3600.0)
    with pytest.raises(UploadError, match=r"take.wav is 0.1 MB; the page accepts files of up to 0.1 MB"):
        store_upload(session, "take.wav", data, small)
    short = UploadLimits(max_bytes=1 << 20, max_seconds=6.0, max_age_seconds=3600.0)
    with pytest.raises(UploadError, match=r"take.wav is 0.1 minutes long; .* up to 0.1 minutes"):
        store_upload(session, "take.wav", data, short)
    assert not stored(session)


def test_the_limits_come_from_the_settings(monkeypatch) -> None:
    monkeypatch.setenv("LEMONS_UPLOAD_MAX_MB", "2.5")
    monkeypatch.setenv("LEMONS_UPLOAD_MAX_MINUTES", "3")
    monkeypatch.setenv("LEMONS_UPLOAD_MAX_AGE_HOURS", "0.5")
    get_settings.cache_clear()
    limits = UploadLimits.from_settings()
    assert (limits.max_bytes, limits.max_seconds, limits.max_age_seconds) == (2_621_440, 180.0, 1800.0)
    assert limits.max_megabytes == 3
    defaults = UploadLimits.from_settings(get_settings().__class__())
    assert (defaults.max_bytes, defaults.max_seconds) == (50 << 20, 600.0)


def test_a_session_ends_its_uploads_go(session: Path) -> None:
    store_upload(session, "take.wav", encoded(6), LIMITS)
    remove_session(session)
    assert not session.exists()
    remove_session(session)  # twice is harmless
    assert store_upload(session, "take.wav", encoded(6), LIMITS).is_dir()  # stored again if needed


def test_uploads_unused_too_long_are_swept_when_a_new_one_is_stored(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    old, recent, current = (new_session_folder(cache) for _ in range(3))
    store_upload(old, "a.wav", encoded(6), LIMITS)
    store_upload(recent, "b.wav", encoded(6), LIMITS)
    long_ago = time.time() - LIMITS.max_age_seconds - 60
    os.utime(old, (long_ago, long_ago))
    assert sweep_expired(uploads_folder(cache), LIMITS.max_age_seconds, keep=old) == []  # never the caller's
    store_upload(current, "c.wav", encoded(7), LIMITS)
    assert not old.exists() and recent.is_dir() and current.is_dir()


def test_storing_again_keeps_a_session_in_use(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    idle, other = new_session_folder(cache), new_session_folder(cache)
    store_upload(idle, "a.wav", encoded(6), LIMITS)
    long_ago = time.time() - LIMITS.max_age_seconds - 60
    os.utime(idle, (long_ago, long_ago))
    store_upload(idle, "a.wav", encoded(6), LIMITS)  # the page runs again with the same upload
    store_upload(other, "b.wav", encoded(7), LIMITS)
    assert idle.is_dir()
