"""What the shared model hears of each stem: how well its embedding tells how loud a stem is in a track.

A persona model made from the shared model is a linear read-out of the shared model's pooled
embedding ``[2 × last channels]`` (:mod:`recsys.probe`). A planted persona (clara, ringo) likes the
tracks in which one stem has the largest share of the mix *within their genre*, so its model can
rank them only as well as a linear read-out of the embedding recovers that stem's level. This module
measures exactly that: a ridge regression from the embedding to each stem's level, ``log10`` of its
energy share of the track (floored at -30 dB), scored on tracks it was not fitted on (5 folds), as
Pearson's r over all tracks and within each genre. A level heard at r ≈ 1 within genres is a level a
probe can use; the genre alone explains a large part of the r over all tracks.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import KFold, cross_val_predict
from tqdm import tqdm

from lemons.catalogue.base import STEMS, Catalogue, Track
from recsys.checkpoint import Recommender
from recsys.features import FeatureStore
from recsys.model import FCN
from recsys.pretraining import SHARE_FLOOR
from recsys.probe import pooled_embeddings
from recsys.ranking import load_tracks

#: Ridge strengths (on standardised features) chosen among by the fitted folds' own cross-validation.
RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-2, 3, 11))
#: Folds of the tracks: each track's level is predicted by a regression fitted on the others.
HEARING_FOLDS = 5
#: Genres with fewer tracks are left out of the within-genre mean.
MIN_GENRE_TRACKS = 10


def catalogue_embeddings(
    model: FCN,
    catalogue: Catalogue,
    depth: int = 3,
    cache_dir: Path | None = None,
    progress: bool = True,
    chunk: int = 50,
) -> tuple[list[Track], np.ndarray]:
    """The catalogue's tracks whose audio can be used and their pooled embeddings ``[n, 2 × last channels]``.

    The first ``depth`` blocks' feature maps come from the feature cache in ``cache_dir`` when it
    holds them (:class:`recsys.features.FeatureStore`, shared with training and ranking).
    """
    store = FeatureStore(model, depth, cache_dir)
    tracks, rows = [], []
    ids = catalogue.ids
    for start in tqdm(range(0, len(ids), chunk), desc="embed", unit="chunk", disable=not progress):
        loaded, _ = load_tracks(catalogue, ids[start : start + chunk])
        if loaded:
            rows.append(pooled_embeddings(model, store.features([audio for _, audio in loaded]), depth))
            tracks += [catalogue[track_id] for track_id, _ in loaded]
    return tracks, np.vstack(rows) if rows else np.zeros((0, 2 * model.args.channels[-1]))


def stem_levels(tracks: Sequence[Track]) -> np.ndarray | None:
    """``[len(tracks), len(STEMS)]``: ``log10`` of each stem's energy share of the track, floored at
    :data:`recsys.pretraining.SHARE_FLOOR`, from the ``share_<stem>`` the built-in catalogue records;
    ``None`` when a track does not record them."""
    try:
        shares = np.array([[float(t.extra[f"share_{stem}"]) for stem in STEMS] for t in tracks])
    except (KeyError, TypeError, ValueError):
        return None
    return np.log10(np.maximum(shares, SHARE_FLOOR))


def within_group_r(prediction: np.ndarray, truth: np.ndarray, groups: np.ndarray) -> float | None:
    """Mean over ``groups`` (of at least :data:`MIN_GENRE_TRACKS` tracks in which the truth varies)
    of Pearson's r between ``prediction`` and ``truth`` ``[n]``; ``None`` when no group qualifies."""
    values = []
    for group in np.unique(groups):
        chosen = groups == group
        if chosen.sum() >= MIN_GENRE_TRACKS and np.ptp(truth[chosen]) > 0 and np.ptp(prediction[chosen]) > 0:
            values.append(float(np.corrcoef(prediction[chosen], truth[chosen])[0, 1]))
    return float(np.mean(values)) if values else None


def stem_hearing(
    embeddings: np.ndarray, levels: np.ndarray, genres: Sequence[str], seed: int = 0
) -> dict[str, dict[str, Any]]:
    """How well a linear read-out of ``embeddings`` ``[n, features]`` recovers ``levels`` ``[n, len(STEMS)]``.

    Per stem: ``r`` (Pearson, all tracks), ``r_within_genre`` (mean over genres, :func:`within_group_r`)
    of the out-of-fold ridge predictions, and the tracks used.
    """
    if len(embeddings) != len(levels) or len(levels) != len(genres):
        raise ValueError("embeddings, levels and genres must describe the same tracks")
    if len(embeddings) < 2 * HEARING_FOLDS:
        raise ValueError(f"measuring what the embedding hears needs at least {2 * HEARING_FOLDS} tracks")
    std = embeddings.std(axis=0)
    features = (embeddings - embeddings.mean(axis=0)) / np.where(std > 0, std, 1.0)
    folds = KFold(HEARING_FOLDS, shuffle=True, random_state=seed)
    genre_of = np.asarray(genres)
    out: dict[str, dict[str, Any]] = {}
    for column, stem in enumerate(STEMS):
        truth = levels[:, column]
        if np.ptp(truth) == 0:
            continue
        prediction = cross_val_predict(RidgeCV(alphas=RIDGE_ALPHAS), features, truth, cv=folds)
        out[stem] = {
            "r": float(np.corrcoef(prediction, truth)[0, 1]),
            "r_within_genre": within_group_r(prediction, truth, genre_of),
            "n_tracks": len(truth),
        }
    return out


def shared_model_hearing(
    shared: Recommender, catalogue: Catalogue, cache_dir: Path | None = None, progress: bool = True
) -> dict[str, Any] | None:
    """:func:`stem_hearing` of the shared model's embedding on the whole catalogue, with the model's
    file name and the tracks used; ``None`` for a catalogue that does not record its stems' levels."""
    if stem_levels(catalogue.tracks[:1]) is None:
        return None
    tracks, embeddings = catalogue_embeddings(shared.model, catalogue, cache_dir=cache_dir, progress=progress)
    levels = stem_levels(tracks)
    if levels is None:
        return None
    return {
        "model": shared.path.name if shared.path else "the shared model",
        "n_tracks": len(tracks),
        "stems": stem_hearing(embeddings, levels, [t.genre for t in tracks]),
    }
