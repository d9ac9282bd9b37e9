"""Taste Profile triplets and per-user 80/10/10 splits with sampled negatives."""

from __future__ import annotations

from pathlib import Path

import pytest

from lemons.errors import DataError
from lemons.interactions import (
    Triplet,
    load_splits,
    make_splits,
    read_triplets,
    save_splits,
    write_triplets,
)

CATALOGUE = [f"T{i:03d}" for i in range(200)]
PLAYED = CATALOGUE[:50]


def test_splits_are_80_10_10_with_both_classes_and_unplayed_negatives() -> None:
    splits = make_splits("ana", PLAYED, CATALOGUE, seed=3)
    sizes = {s: len(splits[s]) for s in ("train", "val", "test")}
    assert sizes == {"train": 80, "val": 10, "test": 10}
    for split in ("train", "val", "test"):
        labels = splits.labels(split)
        assert labels.sum() == len(labels) / 2  # one negative per positive in every split
    positives = {t for s in ("train", "val", "test") for t, y in splits[s] if y == 1}
    negatives = {t for s in ("train", "val", "test") for t, y in splits[s] if y == 0}
    assert positives == set(PLAYED)
    assert not negatives & set(PLAYED)
    all_ids = [t for s in ("train", "val", "test") for t in splits.ids(s)]
    assert len(all_ids) == len(set(all_ids))  # no track in two splits


def test_splits_are_deterministic_per_user_and_seed() -> None:
    assert make_splits("ana", PLAYED, CATALOGUE, seed=3) == make_splits("ana", PLAYED, CATALOGUE, seed=3)
    assert make_splits("ana", PLAYED, CATALOGUE, seed=3) != make_splits("ana", PLAYED, CATALOGUE, seed=4)
    assert make_splits("ana", PLAYED, CATALOGUE).test != make_splits("bob", PLAYED, CATALOGUE).test


def test_too_few_tracks_are_clear_errors() -> None:
    with pytest.raises(DataError, match="at least 3"):
        make_splits("ana", ["a", "b"], CATALOGUE)
    with pytest.raises(DataError, match="larger catalogue"):
        make_splits("ana", PLAYED, [*PLAYED, "x"])


def test_triplets_and_splits_round_trip(tmp_path: Path) -> None:
    rows = [Triplet("ana", "T001", 3), Triplet("bob", "T002", 1)]
    write_triplets(tmp_path / "t.txt", rows)
    assert (tmp_path / "t.txt").read_text() == "ana\tT001\t3\nbob\tT002\t1\n"
    assert read_triplets(tmp_path / "t.txt") == rows
    assert read_triplets(tmp_path / "t.txt", users={"bob"}) == rows[1:]
    splits = make_splits("ana", PLAYED, CATALOGUE)
    save_splits(tmp_path / "s.json", [splits])
    assert load_splits(tmp_path / "s.json")["ana"] == splits


def test_malformed_triplets_name_the_line(tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("ana\tT001\t3\nana T002 x\n")
    with pytest.raises(DataError, match=r"t.txt:2"):
        read_triplets(tmp_path / "t.txt")


def test_cross_validation_folds_cover_every_track_once_and_keep_the_class_ratio() -> None:
    from lemons.interactions import cross_validation_splits

    catalogue = [f"t{i:03d}" for i in range(200)]
    splits = make_splits("u", catalogue[:40], catalogue, seed=0, negatives_per_positive=3.0)
    folds = cross_validation_splits(splits, n_folds=5, seed=0)
    everything = {item for split in ("train", "val", "test") for item in splits[split]}
    tests = [item for fold in folds for item in fold.test]
    assert len(tests) == len(everything) and set(tests) == everything
    for fold in folds:
        assert sum(y for _, y in fold.test) == 8 and len(fold.test) == 32  # 40 played, 120 not, / 5
        parts = [set(fold.train), set(fold.val), set(fold.test)]
        assert set().union(*parts) == everything and sum(map(len, parts)) == len(everything)
        assert {y for _, y in fold.val} == {0, 1}
    assert folds == cross_validation_splits(splits, n_folds=5, seed=0)
    assert folds != cross_validation_splits(splits, n_folds=5, seed=1)
    with pytest.raises(DataError, match="at least 50 played"):
        cross_validation_splits(splits, n_folds=50)
