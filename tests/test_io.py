"""Atomic writes: all or nothing, with ordinary file permissions."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from lemons import io


def test_atomic_files_get_the_usual_permissions_not_private_ones(tmp_path: Path) -> None:
    io.write_json(tmp_path / "a.json", {"x": 1})
    mode = stat.S_IMODE((tmp_path / "a.json").stat().st_mode)
    assert mode == 0o666 & ~io._UMASK
    assert io.read_json(tmp_path / "a.json") == {"x": 1}


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    io.write_json(tmp_path / "a.json", {"x": 1})
    with pytest.raises(RuntimeError), io.atomic_open(tmp_path / "a.json") as handle:
        handle.write("partial")
        raise RuntimeError("interrupted")
    assert io.read_json(tmp_path / "a.json") == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
