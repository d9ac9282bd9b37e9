"""Explaining one track for one user's recommender: separate, factorize, explain, cache.

An explanation is cached as JSON in ``<cache_dir>/explanations/`` under a key made of the model's
checksum, the audio's content key, the explanation type, the separator, N_s, the seed, the number
of segments, the segmenter and the question asked: a repeated request returns at once, and requests
for the same explanation at the same time (two visitors of the page) compute it once. Spleeter
separations have their own cache.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from explanations.audiolime.engine import scorer_for
from explanations.audiolime.explainer import (
    DEFAULT_SAMPLES,
    STANDARD_PARTS,
    Explanation,
    LimeParts,
    check_n_samples,
    explain,
)
from explanations.audiolime.factorization import DEFAULT_SEGMENTS, EXPLANATION_TYPES, Factorization, factorize
from explanations.audiolime.questions import DEFAULT_QUESTION, QUESTIONS
from explanations.audiolime.scoring import PerturbationScorer, ProgressFn
from explanations.audiolime.segmenters import DEFAULT_SEGMENTER, SEGMENTERS
from explanations.audiolime.separation import Separator, get_separator, separate_cached
from lemons.audio import SAMPLE_RATE, check_audio
from lemons.cache import cache_folder, computed_once, keep_within_limit, touch
from lemons.catalogue.base import Catalogue
from lemons.errors import ConfigError
from lemons.io import read_json, sha256_array, write_json
from recsys.checkpoint import Recommender

CACHE_FORMAT = "lemons-explanation"
CACHE_VERSION = 2  # 2: explanations record the question they answer


@dataclass(frozen=True)
class ExplainSettings:
    """What is explained and how; every field is part of the cache key."""

    kind: str = "time+source"
    n_samples: int = DEFAULT_SAMPLES
    seed: int = 0
    n_segments: int = DEFAULT_SEGMENTS
    question: str = DEFAULT_QUESTION  # a name in QUESTIONS: relevant, not-relevant or top
    segmenter: str = DEFAULT_SEGMENTER  # a name in SEGMENTERS: equal, beats or sections

    def __post_init__(self) -> None:
        EXPLANATION_TYPES[self.kind]  # an unknown type raises ConfigError
        QUESTIONS[self.question]  # so does an unknown question, listing the valid ones
        SEGMENTERS[self.segmenter]  # and an unknown segmenter
        check_n_samples(self.n_samples)

    @property
    def needs_sources(self) -> bool:
        """Whether the track must be separated for this explanation."""
        return EXPLANATION_TYPES[self.kind].needs_sources


@dataclass
class TrackExplanation:
    """An explanation with what it explains: the factorization (components at 16 kHz) and the track;
    ``key``: its key in the explanations cache (:func:`explanation_key`)."""

    explanation: Explanation
    factorization: Factorization
    track_id: str
    cached: bool = False
    key: str = ""


#: ``(a recommender's model, factorization, device) → scorer``, as :func:`engine.scorer_for`.
ScorerFactory = Callable[[torch.nn.Module, Factorization, torch.device | None], PerturbationScorer]


def explanation_key(model_key: str, audio_key: str, settings: ExplainSettings, separator: str | None) -> str:
    """The cache key of an explanation: SHA-256 of the model, audio, settings and separator.

    The default segmenter is left out of the key, so explanations cached before segmenters could be
    chosen are found again.
    """
    fields = {"model": model_key, "audio": audio_key, "separator": separator, **vars(settings)}
    if settings.segmenter == DEFAULT_SEGMENTER or not EXPLANATION_TYPES[settings.kind].has_segments:
        del fields["segmenter"]
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


class ExplanationCache:
    """JSON files keyed by :func:`explanation_key`, written atomically; unreadable entries are ignored."""

    def __init__(self, cache_dir: Path | str | None) -> None:
        self.cache_dir = cache_dir
        self.folder = cache_folder(cache_dir, "explanations") if cache_dir is not None else None

    def get(self, key: str) -> Explanation | None:
        """The cached explanation under ``key``, or ``None``."""
        if self.folder is None or not (self.folder / f"{key}.json").is_file():
            return None
        try:
            data = read_json(self.folder / f"{key}.json")
            if data.get("format") != CACHE_FORMAT or data.get("version") != CACHE_VERSION:
                return None
            explanation = Explanation.from_dict(data["explanation"])
        except (OSError, ValueError, KeyError, TypeError):
            return None  # unreadable, or evicted by another process meanwhile
        touch(self.folder / f"{key}.json")
        return explanation

    def put(self, key: str, explanation: Explanation) -> None:
        """Store ``explanation`` under ``key`` (nothing without a cache folder)."""
        if self.folder is not None and self.cache_dir is not None:
            write_json(
                self.folder / f"{key}.json",
                {"format": CACHE_FORMAT, "version": CACHE_VERSION, "explanation": explanation.to_dict()},
            )
            keep_within_limit(self.cache_dir)


def track_factorization(
    audio: np.ndarray,
    settings: ExplainSettings,
    separator: Separator | None = None,
    cache_dir: Path | str | None = None,
) -> Factorization:
    """Separate ``audio`` ``[samples]`` (16 kHz mono) if the type needs sources, then factorize it.

    Spleeter separations are cached in ``<cache_dir>/separation/``.
    """
    separation = None
    if settings.needs_sources:
        if separator is None:
            raise ConfigError(f"a {settings.kind} explanation needs a separator")
        separation = separate_cached(separator, audio, SAMPLE_RATE, cache_dir)
    return factorize(settings.kind, audio, separation, settings.n_segments, segmenter=settings.segmenter)


def track_separator(
    settings: ExplainSettings, catalogue: Catalogue, track_id: str, name: str | None = None
) -> Separator | None:
    """The separator named ``name`` (None: the best available) for a track, if the type needs one."""
    return get_separator(name, catalogue, track_id) if settings.needs_sources else None


def explain_audio(
    recommender: Recommender,
    audio: np.ndarray,
    settings: ExplainSettings,
    separator: Separator | None = None,
    *,
    track_id: str = "track",
    audio_key: str | None = None,
    device: torch.device | None = None,
    cache_dir: Path | str | None = None,
    progress: bool = False,
    on_progress: ProgressFn | None = None,
    scorer: ScorerFactory = scorer_for,
    parts: LimeParts = STANDARD_PARTS,
) -> TrackExplanation:
    """Explain ``recommender``'s relevance of ``audio`` ``[samples]`` (16 kHz mono).

    ``separator`` is needed for the types with sources (``source``, ``time+source``) and ignored
    otherwise. ``audio_key`` identifies the audio in the cache (default: its SHA-256). ``scorer``
    makes the perturbations' scorer from the recommender's model (default: the exact engine for the
    FCN) and ``parts`` are LIME's other parts; explanations with SPEC's parts are cached.
    """
    started = time.perf_counter()
    audio = check_audio(np.asarray(audio, dtype=np.float32), SAMPLE_RATE, track_id)
    separator = separator if settings.needs_sources else None
    separator_name = separator.name if separator is not None else None
    cache = ExplanationCache(cache_dir if recommender.path is not None and parts == STANDARD_PARTS else None)
    key = explanation_key(
        recommender.checksum if recommender.path is not None else "unsaved",
        audio_key or sha256_array(audio),
        settings,
        separator_name,
    )
    cached = cache.get(key)
    if cached is None:
        with computed_once(cache.cache_dir, key):  # another visitor asking for it waits, then reads it
            cached = cache.get(key)
            if cached is None:
                factorization = track_factorization(audio, settings, separator, cache_dir)
                separated = time.perf_counter()
                explanation = explain(
                    factorization,
                    scorer(recommender.model, factorization, device),
                    settings.n_samples,
                    settings.seed,
                    separator_name,
                    progress=progress,
                    on_progress=on_progress,
                    parts=parts,
                    question=settings.question,
                )
                explanation.timings = {
                    "separation_s": separated - started,
                    **explanation.timings,
                    "total_s": time.perf_counter() - started,
                }
                cache.put(key, explanation)
                return TrackExplanation(explanation, factorization, track_id, key=key)
    factorization = track_factorization(audio, settings, separator, cache_dir)
    return TrackExplanation(cached, factorization, track_id, cached=True, key=key)


def explain_track(
    recommender: Recommender,
    catalogue: Catalogue,
    track_id: str,
    settings: ExplainSettings,
    separator: str | None = None,
    **kwargs: Any,
) -> TrackExplanation:
    """Explain a catalogue track; ``separator`` None means the best one available for it.

    ``kwargs`` are :func:`explain_audio`'s.
    """
    return explain_audio(
        recommender,
        catalogue.load_audio(track_id),
        settings,
        track_separator(settings, catalogue, track_id, separator),
        track_id=track_id,
        audio_key=catalogue.audio_checksum(track_id),
        **kwargs,
    )
