"""The caches' size limit (least recently used first, safe with several writers) and ``lemons cache``."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import numpy as np
import pytest

from explanations.audiolime.separation import Separator, separate_cached
from lemons.cache import (
    GB,
    STALE_TEMP_SECONDS,
    cache_folder,
    cache_usage,
    computed_once,
    files,
    keep_within_limit,
)
from lemons.cli import main
from lemons.config import get_settings
from lemons.io import atomic_path, load_npz

#: Bytes of one separation entry in these tests: two float32 stems of one second at 16 kHz (+ header).
STEMS_BYTES = 2 * 16_000 * 4


class Halves(Separator):
    """A cacheable separator that needs no weights: two sources, each half of the mix."""

    name = "halves"
    sources = ("left", "right")

    def separate(self, audio: np.ndarray, sr: int = 16_000) -> dict[str, np.ndarray]:
        return {"left": audio / 2, "right": audio / 2}


def one_second(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(16_000).astype(np.float32)


def entries(cache_dir: Path) -> list[Path]:
    return sorted(e.path for e in files(cache_dir) if not e.temporary)


def total_bytes(cache_dir: Path) -> int:
    return sum(e.size for e in files(cache_dir) if not e.temporary)


def set_limit(monkeypatch: pytest.MonkeyPatch, n_entries: float) -> int:
    """Set cache_max_gb to about ``n_entries`` separation entries; returns the limit in bytes."""
    monkeypatch.setenv("LEMONS_CACHE_MAX_GB", str(n_entries * (STEMS_BYTES + 1000) / GB))
    get_settings.cache_clear()
    return int(get_settings().cache_max_gb * GB)


def test_the_least_recently_used_separations_go_first(tmp_path: Path, monkeypatch) -> None:
    limit = set_limit(monkeypatch, 3.5)
    separator = Halves()
    for seed in range(3):
        separate_cached(separator, one_second(seed), cache_dir=tmp_path)
        time.sleep(0.02)  # distinct modification times
    assert len(entries(tmp_path)) == 3
    oldest = min(entries(tmp_path), key=lambda path: path.stat().st_mtime)
    separate_cached(separator, one_second(0), cache_dir=tmp_path)  # read from the cache: now the newest
    time.sleep(0.02)
    separate_cached(separator, one_second(3), cache_dir=tmp_path)  # a fourth does not fit
    kept = entries(tmp_path)
    assert len(kept) == 3 and total_bytes(tmp_path) <= limit
    assert oldest in kept  # read since, so track 1, the least recently used, went instead
    stems = [load_npz(path)["stems"] for path in kept]
    assert not any(np.array_equal(s[0], one_second(1) / 2) for s in stems)


def test_no_limit_keeps_everything(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LEMONS_CACHE_MAX_GB", "0")
    get_settings.cache_clear()
    for seed in range(4):
        separate_cached(Halves(), one_second(seed), cache_dir=tmp_path)
    assert len(entries(tmp_path)) == 4


def test_files_being_written_are_never_removed(tmp_path: Path) -> None:
    folder = cache_folder(tmp_path, "features") / "prefix"
    folder.mkdir(parents=True)
    (folder / "old.npy").write_bytes(b"x" * 1000)
    abandoned = folder / ".abandoned.npy"
    abandoned.write_bytes(b"x" * 1000)
    old = time.time() - STALE_TEMP_SECONDS - 60
    os.utime(abandoned, (old, old))
    with atomic_path(folder / "new.npy") as tmp:
        tmp.write_bytes(b"y" * 5000)  # larger than the limit, and still being written
        assert keep_within_limit(tmp_path, max_bytes=10) == 1000  # the complete entry goes
        assert tmp.exists() and not (folder / "old.npy").exists()
        assert not abandoned.exists()  # left behind by a killed writer an hour ago
    assert (folder / "new.npy").read_bytes() == b"y" * 5000  # the write completes


def test_an_entry_removed_by_another_process_is_computed_again(tmp_path: Path) -> None:
    separation = separate_cached(Halves(), one_second(0), cache_dir=tmp_path)
    for path in entries(tmp_path):
        path.unlink()
    again = separate_cached(Halves(), one_second(0), cache_dir=tmp_path)
    np.testing.assert_array_equal(again.stems, separation.stems)
    assert len(entries(tmp_path)) == 1


def separate_many(cache_dir: str, first_seed: int, n: int) -> None:
    """A writer process: separate ``n`` distinct tracks through the cache (the limit from the environment)."""
    get_settings.cache_clear()
    for seed in range(first_seed, first_seed + n):
        separate_cached(Halves(), one_second(seed), cache_dir=cache_dir)


def test_two_writer_processes_stay_within_the_limit(tmp_path: Path, monkeypatch) -> None:
    limit = set_limit(monkeypatch, 5.5)
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=separate_many, args=(str(tmp_path), seed, 40)) for seed in (0, 1000)]
    for writer in writers:
        writer.start()
    largest = 0
    while any(writer.is_alive() for writer in writers):
        largest = max(largest, total_bytes(tmp_path))
        time.sleep(0.005)
    for writer in writers:
        writer.join()
        assert writer.exitcode == 0
    assert largest <= limit + 2 * (STEMS_BYTES + 1000)  # at most one new entry per writer over the limit
    assert total_bytes(tmp_path) <= limit
    assert not [e.path for e in files(tmp_path) if e.temporary]  # no partly written file is left
    kept = entries(tmp_path)
    assert 2 <= len(kept) <= 5
    for path in kept:  # each one complete
        assert load_npz(path)["stems"].shape == (2, 16_000)


def compute_once(cache_dir: str, key: str, start: float) -> None:
    """Compute the entry ``key`` if it is not there yet: wait for ``start``, then take the entry's
    lock, look, and spend half a second "computing" it; each computation is logged."""
    entry, log = Path(cache_dir) / f"{key}.txt", Path(cache_dir) / "computations.log"
    time.sleep(max(0.0, start - time.time()))
    if entry.exists():
        return
    with computed_once(cache_dir, key):
        if entry.exists():  # computed meanwhile by another process
            return
        with log.open("a") as out:
            out.write(f"{os.getpid()}\n")
        time.sleep(0.5)
        entry.write_text("done")


def hold_lock(cache_dir: str, key: str) -> None:
    with computed_once(cache_dir, key):
        Path(cache_dir, "holding").write_text("yes")
        time.sleep(600)


def test_processes_asking_for_the_same_entry_compute_it_once(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    start = time.time() + 3  # after the processes have started, so that all of them find no entry
    askers = [context.Process(target=compute_once, args=(str(tmp_path), key, start)) for key in "aab"]
    for asker in askers:
        asker.start()
    for asker in askers:
        asker.join(60)
        assert asker.exitcode == 0
    assert len((tmp_path / "computations.log").read_text().split()) == 2  # "a" once, "b" once
    assert (tmp_path / "a.txt").read_text() == (tmp_path / "b.txt").read_text() == "done"


def test_a_killed_computation_leaves_no_lock_behind(tmp_path: Path) -> None:
    holder = multiprocessing.get_context("spawn").Process(target=hold_lock, args=(str(tmp_path), "k"))
    holder.start()
    deadline = time.monotonic() + 60
    while not (tmp_path / "holding").exists():
        assert holder.is_alive() and time.monotonic() < deadline
        time.sleep(0.05)
    holder.kill()
    holder.join()
    compute_once(str(tmp_path), "k", 0.0)  # would wait for ever if the dead holder's lock stayed
    assert (tmp_path / "k.txt").read_text() == "done"


def test_cache_info_and_clear(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("LEMONS_CACHE_DIR", str(tmp_path))
    set_limit(monkeypatch, 100)
    for seed in range(3):
        separate_cached(Halves(), one_second(seed), cache_dir=tmp_path)
    explanation = cache_folder(tmp_path, "explanations") / "key.json"
    explanation.parent.mkdir(parents=True)
    explanation.write_text("{}")
    (cache_folder(tmp_path, "separations") / ".being-written.npz").write_bytes(b"x")
    assert main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "3 entries" in lines["separations"] and "1 entry " in lines["explanations"]
    assert "0 entries" in lines["features"]
    assert "cache_max_gb" in lines["limit:"] and "12.9 MB" in lines["limit:"]
    assert main(["cache", "clear", "--which", "separations"]) == 0
    assert "removed 3 entries" in capsys.readouterr().out
    usage = {u.kind.name: u.entries for u in cache_usage(tmp_path)}
    assert usage["separations"] == 0 and usage["explanations"] == 1
    assert (cache_folder(tmp_path, "separations") / ".being-written.npz").exists()  # left to its writer
    assert main(["cache", "clear"]) == 0
    assert not entries(tmp_path)
    with pytest.raises(SystemExit):  # argparse names the choices
        main(["cache", "clear", "--which", "nothing"])
