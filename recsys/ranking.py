"""Ranking a catalogue for a user: relevance of every track, most relevant first.

Scores are cached per model (keyed by the checkpoint's SHA-256) and per track (keyed by the audio
content), in ``<cache_dir>/scores/<model sha>.json``, written atomically after every chunk: a second
ranking of the same catalogue is instant, and an interrupted one resumes.

A model whose first conv blocks were frozen when it was fine-tuned (every persona started from the
shared model) shares them with the other such models: with a ``cache_dir``, their whole-track output
is computed once per track (:class:`recsys.features.FeatureStore`) and each model runs only the blocks
that follow, which gives the same logits several times faster. The cached outputs take about 3.8 MB
per 30 s track, so this is done only for rankings of up to ``FEATURE_CACHE_MAX_TRACKS`` tracks
(the built-in catalogue, musdb18, a folder of music); larger ones (the MSD) run the whole model.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from lemons.cache import cache_folder, keep_within_limit, touch
from lemons.catalogue.base import Catalogue
from lemons.errors import AudioError
from lemons.io import read_json, write_json
from recsys.checkpoint import Recommender
from recsys.features import FeatureStore
from recsys.inference import score_waveforms, sigmoid

CACHE_FORMAT = "lemons-scores"
FEATURE_CACHE_MAX_TRACKS = 2000
#: Tracks scored together (and the scores saved after each such chunk).
RANK_CHUNK = 16


@dataclass(frozen=True)
class RankedTrack:
    """A scored track: relevance ``sigmoid(logit)``."""

    track_id: str
    relevance: float  # sigmoid(logit), in [0, 1]
    logit: float


@dataclass
class Ranking:
    """Tracks sorted by relevance (ties by id), and the tracks that could not be scored, with why.

    ``listened`` holds the ranked tracks that are in the user's listening history (only when the
    ranking was asked to include them); ``n_excluded`` counts the history tracks left out.
    """

    tracks: list[RankedTrack]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    listened: frozenset[str] = frozenset()
    n_excluded: int = 0

    def top(self, k: int) -> list[RankedTrack]:
        """The ``k`` most relevant tracks."""
        return self.tracks[:k]


class ScoreCache:
    """Logits of one model keyed by audio checksum, in one JSON file of ``<cache_dir>/scores/``."""

    def __init__(self, cache_dir: Path | None, model_checksum: str) -> None:
        self.cache_dir = cache_dir
        self.path = cache_folder(cache_dir, "scores") / f"{model_checksum}.json" if cache_dir else None
        self.scores: dict[str, float] = {}
        if self.path is not None and self.path.is_file():
            try:
                data = read_json(self.path)
                if data.get("format") == CACHE_FORMAT:
                    self.scores = {k: float(v) for k, v in data["scores"].items()}
                    touch(self.path)
            except (OSError, ValueError, KeyError, AttributeError, TypeError):
                self.scores = {}  # a damaged (or just evicted) cache is rebuilt, never trusted

    def save(self) -> None:
        """Write the logits (atomically); nothing without a cache folder."""
        if self.path is not None and self.cache_dir is not None:
            write_json(self.path, {"format": CACHE_FORMAT, "scores": self.scores})
            keep_within_limit(self.cache_dir)


def load_tracks(
    catalogue: Catalogue, track_ids: Sequence[str]
) -> tuple[list[tuple[str, np.ndarray]], list[tuple[str, str]]]:
    """The audio ``[samples]`` (16 kHz mono) of the tracks that can be used, as ``(id, audio)``, and
    ``(id, reason)`` for those whose audio cannot (unreadable, silent, too short)."""
    loaded: list[tuple[str, np.ndarray]] = []
    skipped: list[tuple[str, str]] = []
    for track_id in track_ids:
        try:
            loaded.append((track_id, catalogue.load_audio(track_id)))
        except AudioError as exc:
            skipped.append((track_id, str(exc)))
    return loaded, skipped


def feature_store(
    recommender: Recommender,
    cache_dir: Path | None,
    n_tracks: int,
    max_tracks: int = FEATURE_CACHE_MAX_TRACKS,
) -> FeatureStore | None:
    """The cached feature maps of the recommender's frozen blocks, for a ranking of ``n_tracks`` tracks;
    ``None`` (run the whole model) for a model without frozen blocks, without a cache folder, or for
    more than ``max_tracks`` tracks."""
    depth = recommender.frozen_blocks
    if not depth or cache_dir is None or n_tracks > max_tracks:
        return None
    return FeatureStore(recommender.model, depth, cache_dir)


def track_logits(
    recommender: Recommender,
    waveforms: Sequence[np.ndarray],
    device: torch.device | None = None,
    store: FeatureStore | None = None,
) -> np.ndarray:
    """Logits ``[n]`` (float64) of whole waveforms ``[samples]``, scored together as one chunk of a
    ranking: from the cached features of the frozen blocks where ``store`` is given, else by the
    whole model in batches of equal-length tracks (so a chunk's logits depend on what it holds only
    to float rounding)."""
    if store is not None:
        return store.score(store.features(waveforms))
    return score_waveforms(recommender.model, waveforms, device)


def rank_tracks(
    recommender: Recommender,
    catalogue: Catalogue,
    track_ids: Sequence[str] | None = None,
    *,
    device: torch.device | None = None,
    cache_dir: Path | None = None,
    chunk: int = RANK_CHUNK,
    progress: bool = True,
    history: Collection[str] = (),
    include_history: bool = False,
    feature_cache_max_tracks: int = FEATURE_CACHE_MAX_TRACKS,
    on_progress: Callable[[int, int], None] | None = None,
) -> Ranking:
    """Score ``track_ids`` (default: the whole catalogue) with whole-track audio and sort them.

    Recommendations are new to the listener: the track ids in ``history`` (what the user has played)
    are left out, unless ``include_history``, which keeps them and marks them in ``Ranking.listened``.
    Tracks whose audio cannot be used (unreadable, silent, too short) are listed in
    ``Ranking.skipped`` with the reason instead of stopping the ranking.

    ``on_progress(done, total)`` is called before the first and after every ``chunk`` of the tracks
    that are not in the score cache (``total`` of them; not at all when every score is cached).
    """
    ids = list(track_ids) if track_ids is not None else catalogue.ids
    played = set(history)
    n_excluded = 0
    if not include_history:
        kept = [t for t in ids if t not in played]
        ids, n_excluded = kept, len(ids) - len(kept)
    cache = ScoreCache(cache_dir, recommender.checksum)
    keys = {track_id: catalogue.audio_checksum(track_id) for track_id in ids}
    todo = [t for t in ids if keys[t] not in cache.scores]
    skipped: list[tuple[str, str]] = []
    store = feature_store(recommender, cache_dir, len(ids), feature_cache_max_tracks)
    if on_progress is not None and todo:
        on_progress(0, len(todo))
    with tqdm(total=len(todo), desc="rank", unit="track", disable=not progress or not todo) as bar:
        for start in range(0, len(todo), chunk):
            loaded, failed = load_tracks(catalogue, todo[start : start + chunk])
            skipped.extend(failed)
            if loaded:
                logits = track_logits(recommender, [w for _, w in loaded], device, store)
                for (track_id, _), logit in zip(loaded, logits, strict=True):
                    cache.scores[keys[track_id]] = float(logit)
                cache.save()
            bar.update(len(todo[start : start + chunk]))
            if on_progress is not None:
                on_progress(min(start + chunk, len(todo)), len(todo))
    bad = {t for t, _ in skipped}
    ranked = [
        RankedTrack(t, float(sigmoid(cache.scores[keys[t]])), cache.scores[keys[t]])
        for t in ids
        if t not in bad
    ]
    ranked.sort(key=lambda r: (-r.logit, r.track_id))
    return Ranking(ranked, skipped, frozenset(t for t in ids if t in played), n_excluded)
