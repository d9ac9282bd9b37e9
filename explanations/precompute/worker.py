"""One precomputation worker: a Ray actor that loads what it needs once and computes batches of work
through the same functions as ``lemons rank``, ``lemons explain`` and the page.

The worker receives the driver's settings (so a worker on another machine writes into the same
``cache_dir``, as long as the path is shared), the registry entries of the catalogue and separators
in use (so one registered at run time by the caller works in the workers too), and where each
user's checkpoint is. It writes the caches that are one file per entry (explanations, separations,
feature maps) itself, atomically; the scores, one file per model, are returned to the driver, the
only writer of those files (:mod:`explanations.precompute.jobs`).

Every item of a batch succeeds or is reported with its reason: a corrupt track never stops a batch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from explanations.audiolime.pipeline import ExplainSettings, explain_track
from explanations.audiolime.separation import (
    SEPARATORS,
    SeparatorEntry,
    get_separator,
    separate_cached,
    separation_path,
)
from lemons.allocator import keep_freed_memory
from lemons.audio import SAMPLE_RATE
from lemons.catalogue.registry import CATALOGUES, CatalogueEntry
from lemons.config import ENV_PREFIX, get_settings
from lemons.registry import Registry
from recsys.checkpoint import Recommender, load_checkpoint
from recsys.ranking import feature_store, load_tracks, track_logits

#: What became of one item: computed now, found in the cache, or skipped (with the reason).
COMPUTED, CACHED, SKIPPED = "computed", "cached", "skipped"


@dataclass(frozen=True)
class ScoreTask:
    """The tracks of one ranking chunk and, per user, those of them to score and the size of the
    user's whole ranking (which decides whether the frozen blocks' cached features are used)."""

    track_ids: tuple[str, ...]
    users: dict[str, tuple[str, ...]]
    ranking_sizes: dict[str, int]


@dataclass(frozen=True)
class ExplainItem:
    """One explanation: a user's recommender, a track, the settings and the separator (resolved)."""

    user: str
    track_id: str
    settings: ExplainSettings
    separator: str | None


def settings_environment(values: dict[str, Any]) -> dict[str, str]:
    """``LEMONS_*`` variables that give a process the settings ``values`` (``Settings.as_dict()``)."""
    return {ENV_PREFIX + name.upper(): "" if value is None else str(value) for name, value in values.items()}


def _ensure_registered(registry: Registry, entries: Sequence[Any]) -> None:
    for entry in entries:
        if entry.name not in registry:
            registry.register(entry)


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


class PrecomputeWorker:
    """A worker (Ray actor) of the precomputations.

    Args:
        settings: the driver's settings (``Settings.as_dict()``), applied to this process.
        catalogue: the registry entry of the catalogue, and ``folder`` where it is.
        separators: the registry entries of the separators the work names.
        models: ``{user: checkpoint path}``; each is loaded on first use and kept.
        use_gpu: run the recommenders on CUDA (the worker was given a GPU).
    """

    def __init__(
        self,
        settings: dict[str, Any],
        catalogue: CatalogueEntry,
        folder: str,
        separators: Sequence[SeparatorEntry],
        models: dict[str, str],
        use_gpu: bool = False,
    ) -> None:
        os.environ.update(settings_environment(settings))
        get_settings.cache_clear()
        keep_freed_memory()
        _ensure_registered(CATALOGUES, [catalogue])
        _ensure_registered(SEPARATORS, separators)
        self.catalogue = catalogue.open(Path(folder))
        self.cache_dir = get_settings().cache_dir
        self.models = dict(models)
        self.device = torch.device("cuda" if use_gpu and torch.cuda.is_available() else "cpu")
        self._recommenders: dict[str, Recommender] = {}

    def pid(self) -> int:
        """This worker's process id."""
        return os.getpid()

    def recommender(self, user: str) -> Recommender:
        """The user's recommender, loaded the first time it is asked for."""
        if user not in self._recommenders:
            self._recommenders[user] = load_checkpoint(self.models[user], self.device)
        return self._recommenders[user]

    def score(
        self, tasks: list[ScoreTask]
    ) -> list[tuple[dict[str, dict[str, float]], list[tuple[str, str]]]]:
        """Per task: ``{user: {track id: logit}}`` and ``(track id, reason)`` of the tracks skipped.

        The audio is read once per track; each user's tracks are scored together, as one chunk of
        :func:`recsys.ranking.rank_tracks` (so a precomputed score is the one ``lemons rank`` gives).
        """
        results = []
        for task in tasks:
            loaded, skipped = load_tracks(self.catalogue, task.track_ids)
            audio = dict(loaded)
            scores: dict[str, dict[str, float]] = {}
            for user, wanted in task.users.items():
                ids = [track_id for track_id in wanted if track_id in audio]
                if not ids:
                    continue
                try:
                    recommender = self.recommender(user)
                    store = feature_store(recommender, self.cache_dir, task.ranking_sizes[user])
                    logits = track_logits(recommender, [audio[t] for t in ids], self.device, store)
                except Exception as exc:  # report, never stop the run
                    skipped.extend((track_id, f"{user}: {_reason(exc)}") for track_id in ids)
                    continue
                scores[user] = {t: float(logit) for t, logit in zip(ids, logits, strict=True)}
            results.append((scores, skipped))
        return results

    def explain(self, items: list[ExplainItem]) -> list[tuple[str, str]]:
        """Explain each item into the explanation cache; per item ``(status, reason)``."""
        results = []
        for item in items:
            try:
                result = explain_track(
                    self.recommender(item.user),
                    self.catalogue,
                    item.track_id,
                    item.settings,
                    item.separator,
                    device=self.device,
                    cache_dir=self.cache_dir,
                    progress=False,
                )
            except Exception as exc:  # a corrupt track, a failed separation: report, go on
                results.append((SKIPPED, _reason(exc)))
            else:
                results.append((CACHED if result.cached else COMPUTED, ""))
        return results

    def separate(self, track_ids: list[str], separator: str) -> list[tuple[str, str]]:
        """Separate each track into the separation cache; per track ``(status, reason)``."""
        results = []
        for track_id in track_ids:
            try:
                audio = self.catalogue.load_audio(track_id)
                backend = get_separator(separator, self.catalogue, track_id)
                path = separation_path(backend, audio, SAMPLE_RATE, self.cache_dir)
                if path is not None and path.is_file():
                    results.append((CACHED, ""))
                    continue
                separate_cached(backend, audio, SAMPLE_RATE, self.cache_dir)
            except Exception as exc:
                results.append((SKIPPED, _reason(exc)))
            else:
                results.append((COMPUTED, ""))
        return results
