"""Listening histories in Taste Profile format and per-user train/validation/test splits.

A history is a list of ``(user, track_id, playcount)`` triplets, the format of the Echo Nest Taste
Profile's ``train_triplets.txt`` (tab separated). Positives are tracks a user played
(playcount > 0); negatives are drawn at random from catalogue tracks the user never played,
as many as there are positives (fewer if the catalogue runs out). Positives and negatives are
each split 80/10/10 into train/validation/test, so every split holds both classes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lemons.errors import DataError
from lemons.io import atomic_open, read_json, write_json

SPLIT_NAMES = ("train", "val", "test")
SPLIT_RATIOS = (0.8, 0.1, 0.1)


@dataclass(frozen=True)
class Triplet:
    """One Taste Profile line: a user played a track ``playcount`` times."""

    user: str
    track_id: str
    playcount: int


def write_triplets(path: Path | str, triplets: Iterable[Triplet]) -> None:
    """Write ``user \\t track \\t playcount`` lines atomically."""
    with atomic_open(path, "w", encoding="utf-8") as handle:
        for row in triplets:
            handle.write(f"{row.user}\t{row.track_id}\t{row.playcount}\n")


def read_triplets(path: Path | str, users: set[str] | None = None) -> list[Triplet]:
    """Read a Taste Profile triplets file (optionally only some users)."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3 or not parts[2].strip().isdigit():
                raise DataError(f"{path}:{number}: expected 'user<TAB>track<TAB>playcount', got {line!r}")
            if users is None or parts[0] in users:
                rows.append(Triplet(parts[0], parts[1], int(parts[2])))
    return rows


def stable_seed(*parts: object) -> int:
    """A seed derived from strings/numbers, identical on every machine and Python run."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


@dataclass(frozen=True)
class UserSplits:
    """Labelled track ids of one user: ``{split: [(track_id, label), ...]}``, label 1 = played."""

    user: str
    train: tuple[tuple[str, int], ...]
    val: tuple[tuple[str, int], ...]
    test: tuple[tuple[str, int], ...]

    def __getitem__(self, split: str) -> tuple[tuple[str, int], ...]:
        if split not in SPLIT_NAMES:
            raise KeyError(f"unknown split {split!r}; use one of {SPLIT_NAMES}")
        return getattr(self, split)

    def ids(self, split: str) -> list[str]:
        """The track ids of one split, in split order."""
        return [track_id for track_id, _ in self[split]]

    def labels(self, split: str) -> np.ndarray:
        """The labels ``[n]`` (float, 1 = played) of one split, in split order."""
        return np.array([label for _, label in self[split]], dtype=np.float32)

    def to_json(self) -> dict[str, object]:
        """Plain data for ``splits.json``."""
        return {"user": self.user, **{s: [list(p) for p in self[s]] for s in SPLIT_NAMES}}

    @classmethod
    def from_json(cls, data: dict) -> UserSplits:
        """The splits :meth:`to_json` wrote."""
        return cls(
            user=data["user"],
            **{s: tuple((str(t), int(y)) for t, y in data[s]) for s in SPLIT_NAMES},
        )


def _split_counts(n: int) -> tuple[int, int, int]:
    """80/10/10 counts that keep at least one item in val and test once ``n >= 3``."""
    if n < 3:
        return n, 0, 0
    n_val = max(1, int(round(n * SPLIT_RATIOS[1])))
    n_test = max(1, int(round(n * SPLIT_RATIOS[2])))
    return n - n_val - n_test, n_val, n_test


def make_splits(
    user: str,
    positives: Sequence[str],
    catalogue_ids: Sequence[str],
    seed: int = 0,
    negatives_per_positive: float = 1.0,
) -> UserSplits:
    """Split a user's played tracks and sampled negatives 80/10/10, deterministically.

    Args:
        user: user name.
        positives: ids of tracks the user played.
        catalogue_ids: every track id negatives may be drawn from (played ones are excluded).
        seed: base seed; the user name is mixed in so users get different draws.
        negatives_per_positive: how many negatives to draw per positive.
    """
    played = set(positives)
    if len(played) < 3:
        raise DataError(f"user {user!r} has {len(played)} played tracks; at least 3 are needed to split")
    rng = np.random.default_rng(stable_seed("splits", user, seed))
    pos = sorted(played)
    candidates = sorted(set(catalogue_ids) - played)
    n_neg = min(len(candidates), int(round(len(pos) * negatives_per_positive)))
    if n_neg < 3:
        raise DataError(
            f"user {user!r}: only {len(candidates)} unplayed tracks to draw negatives from; "
            "use a larger catalogue"
        )
    neg = [candidates[i] for i in rng.choice(len(candidates), size=n_neg, replace=False)]
    parts: dict[str, list[tuple[str, int]]] = {s: [] for s in SPLIT_NAMES}
    for ids, label in ((pos, 1), (neg, 0)):
        order = [ids[i] for i in rng.permutation(len(ids))]
        n_train, n_val, _ = _split_counts(len(order))
        chunks = (order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :])
        for split, chunk in zip(SPLIT_NAMES, chunks, strict=True):
            parts[split].extend((t, label) for t in chunk)
    for split in SPLIT_NAMES:  # interleave classes deterministically
        items = parts[split]
        parts[split] = [items[i] for i in rng.permutation(len(items))]
    return UserSplits(user=user, **{s: tuple(parts[s]) for s in SPLIT_NAMES})


def save_splits(path: Path | str, splits: Iterable[UserSplits]) -> None:
    """Write every user's splits to ``splits.json`` (atomically)."""
    write_json(path, {s.user: s.to_json() for s in splits})


def load_splits(path: Path | str) -> dict[str, UserSplits]:
    """``{user: splits}`` from a ``splits.json``; :class:`DataError` when the file is missing."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no splits file; build the dataset first")
    return {user: UserSplits.from_json(data) for user, data in read_json(path).items()}


def cross_validation_splits(splits: UserSplits, n_folds: int = 5, seed: int = 0) -> list[UserSplits]:
    """``n_folds`` re-splits of all of a user's labelled tracks, each fold once the test split.

    Played and unplayed tracks are dealt into the folds separately (stratified), so each test fold
    keeps the user's class ratio. Of the remaining tracks, one in nine of each class (at least one)
    validates and the rest train: about 80/10/10 of the non-test part as in :func:`make_splits`.
    Every track is in exactly one test fold, so the folds' test predictions together cover the whole
    history: an evaluation with about ten times the tracks of one test split.
    """
    items = [item for split in SPLIT_NAMES for item in splits[split]]
    by_label = {label: sorted(t for t, y in items if y == label) for label in (1, 0)}
    if n_folds < 2 or min(len(ids) for ids in by_label.values()) < n_folds:
        raise DataError(
            f"user {splits.user!r}: {n_folds}-fold cross-validation needs at least {n_folds} played and "
            f"{n_folds} unplayed tracks and at least 2 folds"
        )
    rng = np.random.default_rng(stable_seed("cross-validation", splits.user, seed))
    folds: list[dict[int, list[str]]] = [{1: [], 0: []} for _ in range(n_folds)]
    for label, ids in by_label.items():
        for position, index in enumerate(rng.permutation(len(ids))):
            folds[position % n_folds][label].append(ids[index])
    result = []
    for k in range(n_folds):
        parts: dict[str, list[tuple[str, int]]] = {s: [] for s in SPLIT_NAMES}
        for label in (1, 0):
            rest = [t for j in range(n_folds) if j != k for t in folds[j][label]]
            n_val = max(1, round(len(rest) / 9))
            parts["val"] += [(t, label) for t in rest[:n_val]]
            parts["train"] += [(t, label) for t in rest[n_val:]]
            parts["test"] += [(t, label) for t in folds[k][label]]
        result.append(UserSplits(splits.user, **{s: tuple(sorted(parts[s])) for s in SPLIT_NAMES}))
    return result
