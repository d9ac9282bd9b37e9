"""Interpretable components of a track (SPEC §4): time segments, sources, or both.

A :class:`Factorization` holds ``components`` ``[n_components, samples]``; a perturbed input is the
sum of the switched-on components, so the all-ones mask recomposes the explained instance. The
explanation types are registered in :data:`EXPLANATION_TYPES`, which the command line and the page read:

- ``time``: ``n_segments`` segments of the mix, where a segmenter puts them
  (:mod:`explanations.audiolime.segmenters`; SPEC's ``equal`` by default, whose samples past
  ``n_segments·⌊n/n_segments⌋`` are not explained and not part of any input). Names ``segment0`` …
  ``segment4``.
- ``source``: one component per separated source over the whole track, in the separator's order.
- ``time+source``: segment-major, source fastest (index = segment·n_sources + source); names like
  ``vocals0``, ``piano0``, …, ``other4``. The segments are found in the mix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Protocol

import numpy as np

from explanations.audiolime.segmenters import DEFAULT_SEGMENTER, SEGMENTERS, Segmentation, segment
from explanations.audiolime.separation import Separation
from lemons.audio import SAMPLE_RATE, SILENCE_PEAK
from lemons.errors import ConfigError
from lemons.registry import Registry

DEFAULT_SEGMENTS = 5


class ComponentLayout(Protocol):
    """Where a track's explained components lie: what the explainer and the exact scorer read.

    ``n_segments`` time segments between ``boundaries`` (``n_samples`` in all), each holding
    ``len(sources)`` components; component ``segment·len(sources) + source``. A
    :class:`Factorization` is one; so is SLIME's grid of spectrogram regions
    (:class:`explanations.audiolime.slime.RegionGrid`), whose "sources" are frequency bands.
    """

    @property
    def kind(self) -> str:
        """The explanation type (``time``, ``source``, ``time+source``; ``slime`` for SLIME's regions)."""
        ...

    @property
    def names(self) -> tuple[str, ...]:
        """One name per component, in component order."""
        ...

    @property
    def sources(self) -> tuple[str, ...]:
        """The components of one segment (sources, ``("mix",)`` for time, bands for SLIME)."""
        ...

    @property
    def n_segments(self) -> int:
        """The number of time segments."""
        ...

    @property
    def n_samples(self) -> int:
        """Samples explained, at the track's sample rate."""
        ...

    @property
    def n_components(self) -> int:
        """``n_segments · len(sources)``."""
        ...

    @property
    def boundaries(self) -> tuple[int, ...]:
        """``n_segments + 1`` sample positions: segment ``i`` holds ``[boundaries[i], boundaries[i + 1])``."""
        ...

    def silent_components(self) -> list[int]:
        """Indices of components without sound (never part of an explanation's Top-k)."""
        ...


@dataclass(frozen=True)
class Factorization:
    """``components`` ``[n_components, samples]`` float32 at ``sr`` Hz and their names.

    ``sources`` are the rows of the sources × segments grid (``("mix",)`` for ``time``);
    ``segmentation`` its columns (one segment, the whole track, for ``source``).
    """

    kind: str
    components: np.ndarray
    names: tuple[str, ...]
    sources: tuple[str, ...]
    segmentation: Segmentation
    sr: int = SAMPLE_RATE

    @property
    def n_components(self) -> int:
        """The number of components."""
        return len(self.names)

    @property
    def n_samples(self) -> int:
        """Samples per component (the explained part of the track)."""
        return self.components.shape[1]

    @property
    def n_segments(self) -> int:
        """The number of time segments (1 for ``source``)."""
        return self.segmentation.n_segments

    @property
    def boundaries(self) -> tuple[int, ...]:
        """Where the time segments begin and end, in samples (see :class:`Segmentation`)."""
        return self.segmentation.boundaries

    def source_of(self, index: int) -> str:
        """The source (row of the grid) of component ``index``."""
        return self.sources[index % len(self.sources)]

    def segment_of(self, index: int) -> int:
        """The time segment (column of the grid) of component ``index``."""
        return index // len(self.sources)

    def describe(self, index: int) -> str:
        """Human-readable component, e.g. ``drums, 12.0–18.0 s`` (``…, section B`` where labelled)."""
        segment = self.segment_of(index)
        start, end = self.segmentation.span_seconds(segment)
        what = "whole mix" if self.sources == ("mix",) else self.source_of(index)
        labels = self.segmentation.labels
        return f"{what}, {start:.1f}–{end:.1f} s" + (f", section {labels[segment]}" if labels else "")

    def silent_components(self) -> list[int]:
        """Indices of components with no sample above -80 dBFS (switching them changes nothing)."""
        peaks = np.abs(self.components).max(axis=1)
        return [int(i) for i in np.flatnonzero(peaks < SILENCE_PEAK)]

    def compose(self, masks: np.ndarray) -> np.ndarray:
        """Perturbed inputs ``[batch, samples]`` float32 for binary ``masks`` ``[batch, n_components]``."""
        masks = np.atleast_2d(np.asarray(masks, dtype=np.float32))
        if masks.shape[1] != self.n_components:
            raise ConfigError(f"masks have {masks.shape[1]} columns for {self.n_components} components")
        return masks @ self.components

    def by_source(self, indices: list[int]) -> dict[str, np.ndarray]:
        """The chosen components summed per source: ``{source: [samples]}`` (only sources chosen)."""
        rows: dict[str, np.ndarray] = {}
        for index in indices:
            source = self.source_of(index)
            rows[source] = rows.get(source, np.zeros(self.n_samples, np.float32)) + self.components[index]
        return rows


def _segment(stems: np.ndarray, boundaries: tuple[int, ...]) -> np.ndarray:
    """``stems`` ``[n_sources, samples]`` → ``[n_segments·n_sources, boundaries[-1]]`` segment-major."""
    n_sources, n_segments = stems.shape[0], len(boundaries) - 1
    components = np.zeros((n_segments * n_sources, boundaries[-1]), dtype=np.float32)
    for index, (start, end) in enumerate(pairwise(boundaries)):
        components[index * n_sources : (index + 1) * n_sources, start:end] = stems[:, start:end]
    return components


def time_factorization(
    audio: np.ndarray,
    n_segments: int = DEFAULT_SEGMENTS,
    sr: int = SAMPLE_RATE,
    segmenter: str = DEFAULT_SEGMENTER,
) -> Factorization:
    """``audio`` ``[samples]`` at ``sr`` Hz → (at most) ``n_segments`` segments of the mix, where
    ``segmenter`` (a name in :data:`~explanations.audiolime.segmenters.SEGMENTERS`) puts them."""
    segmentation = segment(segmenter, audio, n_segments, sr)
    components = _segment(np.asarray(audio, dtype=np.float32)[None, :], segmentation.boundaries)
    names = tuple(f"segment{i}" for i in range(segmentation.n_segments))
    return Factorization("time", components, names, ("mix",), segmentation, sr)


def source_factorization(separation: Separation) -> Factorization:
    """One component per source of ``separation`` (whole track)."""
    stems = np.asarray(separation.stems, dtype=np.float32)
    whole = Segmentation((0, stems.shape[1]), (), DEFAULT_SEGMENTER, separation.sr)
    return Factorization("source", stems.copy(), separation.sources, separation.sources, whole, separation.sr)


def time_source_factorization(
    separation: Separation,
    n_segments: int = DEFAULT_SEGMENTS,
    segmenter: str = DEFAULT_SEGMENTER,
    mix: np.ndarray | None = None,
) -> Factorization:
    """Sources × segments: component ``segment·n_sources + source`` is that source inside that segment.

    The segments are found in ``mix`` ``[samples]`` (default: the sum of the sources).
    """
    stems = np.asarray(separation.stems, dtype=np.float32)
    segmentation = segment(segmenter, stems.sum(axis=0) if mix is None else mix, n_segments, separation.sr)
    if segmentation.n_samples > stems.shape[1]:
        raise ConfigError(
            f"the segments end at sample {segmentation.n_samples}, past the sources' {stems.shape[1]} samples"
        )
    components = _segment(stems, segmentation.boundaries)
    names = tuple(f"{source}{s}" for s in range(segmentation.n_segments) for source in separation.sources)
    return Factorization("time+source", components, names, separation.sources, segmentation, separation.sr)


#: ``(audio [samples], its separation or None, n_segments, sr, segmenter) → factorization``.
FactorizeFn = Callable[[np.ndarray, Separation | None, int, int, str], Factorization]


@dataclass(frozen=True)
class ExplanationType:
    """A kind of explanation: what its components are and how a track is factorized into them.

    ``label`` and ``description`` are what the page shows; ``needs_sources``: the track must be
    separated first (a separator is chosen for it); ``has_segments``: it is cut in time (a segmenter
    applies to it).
    """

    name: str
    label: str
    description: str
    needs_sources: bool
    has_segments: bool
    factorize: FactorizeFn


def _sources(kind: str, separation: Separation | None) -> Separation:
    if separation is None:
        raise ConfigError(f"a {kind} explanation needs the track's sources (a separator)")
    return separation


def _time(
    audio: np.ndarray, separation: Separation | None, n_segments: int, sr: int, segmenter: str
) -> Factorization:
    return time_factorization(audio, n_segments, sr, segmenter)


def _source(
    audio: np.ndarray, separation: Separation | None, n_segments: int, sr: int, segmenter: str
) -> Factorization:
    return source_factorization(_sources("source", separation))


def _time_source(
    audio: np.ndarray, separation: Separation | None, n_segments: int, sr: int, segmenter: str
) -> Factorization:
    return time_source_factorization(_sources("time+source", separation), n_segments, segmenter, audio)


#: The explanation types, in the order they are offered.
EXPLANATION_TYPES: Registry[ExplanationType] = Registry("explanation type")
EXPLANATION_TYPES.register(
    ExplanationType(
        "time", "Time",
        "The track is cut into 5 segments (equal parts, bars or sections). The explanation tells which "
        "moments of the track made it relevant for you.",
        needs_sources=False, has_segments=True, factorize=_time,
    )
)  # fmt: skip
EXPLANATION_TYPES.register(
    ExplanationType(
        "source", "Source",
        "The track is separated into its sources (vocals, piano, drums, bass, other). The explanation "
        "tells which instruments made it relevant for you.",
        needs_sources=True, has_segments=False, factorize=_source,
    )
)  # fmt: skip
EXPLANATION_TYPES.register(
    ExplanationType(
        "time+source", "Time + Source",
        "Both: every source inside every segment (25 components), e.g. the drums between 12 and 18 s.",
        needs_sources=True, has_segments=True, factorize=_time_source,
    )
)  # fmt: skip


def factorize(
    kind: str,
    audio: np.ndarray,
    separation: Separation | None = None,
    n_segments: int = DEFAULT_SEGMENTS,
    sr: int = SAMPLE_RATE,
    segmenter: str = DEFAULT_SEGMENTER,
) -> Factorization:
    """The factorization ``kind`` (see :data:`EXPLANATION_TYPES`) of ``audio`` ``[samples]`` at ``sr`` Hz.

    ``separation`` holds the track's sources for the types that need them; the types cut in time are
    cut into (at most) ``n_segments`` segments by ``segmenter`` (a name in
    :data:`~explanations.audiolime.segmenters.SEGMENTERS`), found in ``audio``.
    """
    SEGMENTERS[segmenter]  # an unknown segmenter raises ConfigError, listing the valid ones
    return EXPLANATION_TYPES[kind].factorize(audio, separation, n_segments, sr, segmenter)
