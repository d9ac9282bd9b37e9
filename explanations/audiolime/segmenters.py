"""Where a track's time segments begin and end: equal parts, bars, or musical sections.

A time explanation switches segments of a track on and off; the segmenter decides where they lie.
Every segmenter returns a :class:`Segmentation` of sample positions at the track's rate:

- ``equal`` (SPEC, the default): ``n`` segments of ``⌊samples / n⌋`` samples; the few samples left
  over at the end are not explained.
- ``beats``: the equal boundaries moved to the nearest bar line (every fourth beat from the strongest
  downbeat phase of librosa's beat tracker), or to the nearest beat where no bar line is near enough;
  the last segment ends with the track.
- ``sections``: a structural segmentation: librosa's agglomerative clustering of beat-synchronous
  chroma and MFCC features into at most ``n`` sections of at least :data:`MIN_SECTION_SECONDS`, each
  labelled by a letter; sections that sound alike share their letter (``A``, ``B``, ``A``, …).

Segmenters are registered in :data:`SEGMENTERS`, which the command line and the page read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from lemons.audio import SAMPLE_RATE
from lemons.errors import AudioError, ConfigError
from lemons.registry import Registry

DEFAULT_SEGMENTER = "equal"
#: Shortest time segment that can be explained (the FCN sees about 0.5 s at once).
MIN_SEGMENT_SECONDS = 0.5
#: Shortest section the ``sections`` segmenter returns: a bar or two at most tempos.
MIN_SECTION_SECONDS = 2.0
#: Sections whose mean features correlate at least this much share their letter.
SAME_SECTION_CORRELATION = 0.9
BEATS_PER_BAR = 4
HOP = 512  # samples per analysis frame of the beat tracker and the section features


@dataclass(frozen=True)
class Segmentation:
    """``boundaries``: ``n_segments + 1`` increasing sample positions, the first 0; segment ``i`` holds
    samples ``[boundaries[i], boundaries[i + 1])`` at ``sr`` Hz. ``labels``: one per segment where the
    segmenter names them (section letters), else empty."""

    boundaries: tuple[int, ...]
    labels: tuple[str, ...] = ()
    segmenter: str = DEFAULT_SEGMENTER
    sr: int = SAMPLE_RATE

    def __post_init__(self) -> None:
        if len(self.boundaries) < 2 or self.boundaries[0] != 0 or np.any(np.diff(self.boundaries) <= 0):
            raise ValueError(f"boundaries must start at 0 and increase, got {self.boundaries}")
        if self.labels and len(self.labels) != self.n_segments:
            raise ValueError(f"{len(self.labels)} labels for {self.n_segments} segments")

    @property
    def n_segments(self) -> int:
        """The number of segments."""
        return len(self.boundaries) - 1

    @property
    def n_samples(self) -> int:
        """Samples covered, from the first boundary to the last."""
        return self.boundaries[-1]

    def span_seconds(self, segment: int) -> tuple[float, float]:
        """Start and end of ``segment`` in seconds."""
        return self.boundaries[segment] / self.sr, self.boundaries[segment + 1] / self.sr

    def segment_of(self, samples: np.ndarray | int) -> np.ndarray:
        """The segment holding each sample position (positions past the end: the last segment)."""
        index = np.searchsorted(np.asarray(self.boundaries), samples, side="right") - 1
        return np.clip(index, 0, self.n_segments - 1)


#: ``(audio [samples] mono, n_segments, sr) → segmentation``.
SegmentFn = Callable[[np.ndarray, int, int], Segmentation]


@dataclass(frozen=True)
class Segmenter:
    """A way of cutting a track into time segments; ``label`` and ``description`` (a phrase) are what the
    page and the command line show."""

    name: str
    label: str
    description: str
    segment: SegmentFn


def check_n_segments(n_samples: int, n_segments: int, sr: int) -> int:
    """The equal segment length in samples; refuses a count that is not a positive whole number or
    segments shorter than :data:`MIN_SEGMENT_SECONDS`."""
    if not isinstance(n_segments, int) or isinstance(n_segments, bool) or n_segments < 1:
        raise ConfigError(f"the number of segments must be a positive whole number, got {n_segments!r}")
    length = n_samples // n_segments
    if length < MIN_SEGMENT_SECONDS * sr:
        raise AudioError(
            f"the track is {n_samples / sr:.2f} s long: {n_segments} segments would be "
            f"{length / sr:.2f} s each, below the {MIN_SEGMENT_SECONDS} s minimum; use fewer segments"
        )
    return length


def equal_segments(audio: np.ndarray, n_segments: int, sr: int = SAMPLE_RATE) -> Segmentation:
    """``n_segments`` equal segments (SPEC); the last ``len(audio) mod n_segments`` samples are left out."""
    length = check_n_segments(len(audio), n_segments, sr)
    return Segmentation(tuple(i * length for i in range(n_segments + 1)), (), "equal", sr)


def beat_grid(audio: np.ndarray, sr: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """``(beats, bars)``: sample positions of the beats librosa tracks in ``audio`` and of every
    :data:`BEATS_PER_BAR`-th beat from the phase with the strongest onsets (the bar lines)."""
    import librosa

    onsets = librosa.onset.onset_strength(y=np.asarray(audio, dtype=np.float32), sr=sr, hop_length=HOP)
    _, frames = librosa.beat.beat_track(onset_envelope=onsets, sr=sr, hop_length=HOP)
    frames = np.asarray(frames, dtype=int)
    if len(frames) < BEATS_PER_BAR:
        return frames * HOP, np.zeros(0, dtype=int)
    phase = int(np.argmax([onsets[frames[p::BEATS_PER_BAR]].mean() for p in range(BEATS_PER_BAR)]))
    return frames * HOP, frames[phase::BEATS_PER_BAR] * HOP


def snap(
    targets: np.ndarray, grids: list[np.ndarray], end: int, min_length: int, tolerance: int
) -> list[int]:
    """Interior boundaries: each of ``targets`` moved to the nearest point within ``tolerance`` samples of
    the first grid in ``grids`` that has one keeping every segment at least ``min_length`` samples long and
    the boundaries in order (else the target itself); the segmentation runs from 0 to ``end``."""
    chosen: list[int] = []
    for i, target in enumerate(targets):
        room_after = (len(targets) - i) * min_length  # the segments still to come need their length
        low, high = (chosen[-1] if chosen else 0) + min_length, end - room_after
        low, high = max(low, target - tolerance), min(high, target + tolerance)
        options = [g[(g >= low) & (g <= high)] for g in grids]
        candidates = next((o for o in options if len(o)), np.array([target]))
        chosen.append(int(candidates[np.argmin(np.abs(candidates - target))]))
    return chosen


def beat_segments(audio: np.ndarray, n_segments: int, sr: int = SAMPLE_RATE) -> Segmentation:
    """``n_segments`` segments whose boundaries are the equal ones moved to the nearest bar line (or beat)
    within half a segment; the last segment ends with the track."""
    length = check_n_segments(len(audio), n_segments, sr)
    beats, bars = beat_grid(audio, sr)
    targets = np.arange(1, n_segments) * length
    inner = snap(targets, [bars, beats], len(audio), int(MIN_SEGMENT_SECONDS * sr), length // 2)
    return Segmentation((0, *inner, len(audio)), (), "beats", sr)


def section_features(audio: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """``(features [dims, beats], beat_starts [beats] in samples)``: chroma and MFCC averaged between beats,
    each row standardised. Falls back to a fixed grid of half-second frames where no beat is found."""
    import librosa

    y = np.asarray(audio, dtype=np.float32)
    chroma = librosa.feature.chroma_stft(y=y, sr=sr, hop_length=HOP)
    mfcc = librosa.feature.mfcc(y=y, sr=sr, hop_length=HOP, n_mfcc=13)
    beats, _ = beat_grid(audio, sr)
    frames = beats // HOP
    if len(frames) < 2:
        frames = np.arange(0, chroma.shape[1], max(1, sr // (2 * HOP)))
    frames = librosa.util.fix_frames(frames, x_min=0, x_max=chroma.shape[1])
    stacked = np.vstack((chroma, mfcc))
    synced = librosa.util.sync(stacked, frames, aggregate=np.mean)
    synced = (synced - synced.mean(axis=1, keepdims=True)) / (synced.std(axis=1, keepdims=True) + 1e-8)
    return synced, frames[: synced.shape[1]] * HOP


def letters(means: list[np.ndarray]) -> tuple[str, ...]:
    """A letter per section: that of the first earlier section whose mean features correlate at least
    :data:`SAME_SECTION_CORRELATION` with it, else the next unused letter."""
    labels: list[str] = []
    for i, mean in enumerate(means):
        same = [j for j in range(i) if np.corrcoef(mean, means[j])[0, 1] >= SAME_SECTION_CORRELATION]
        labels.append(labels[same[0]] if same else chr(ord("A") + len(set(labels))))
    return tuple(labels)


def section_segments(audio: np.ndarray, n_segments: int, sr: int = SAMPLE_RATE) -> Segmentation:
    """At most ``n_segments`` sections of at least :data:`MIN_SECTION_SECONDS` (or of the equal length,
    if shorter), found by agglomerative clustering of beat-synchronous chroma and MFCC."""
    import librosa

    length = check_n_segments(len(audio), n_segments, sr)
    min_length = min(int(MIN_SECTION_SECONDS * sr), length)
    features, starts = section_features(audio, sr)
    k = min(n_segments, features.shape[1])
    first_beats = librosa.segment.agglomerative(features, k) if k > 1 else np.array([0])
    inner = sorted({int(starts[b]) for b in first_beats if b > 0})
    kept: list[int] = []
    for boundary in inner:  # merge sections too short into the one before them
        if boundary - (kept[-1] if kept else 0) >= min_length and len(audio) - boundary >= min_length:
            kept.append(boundary)
    boundaries = (0, *kept, len(audio))
    columns = [np.searchsorted(starts, b) for b in boundaries]
    means = [features[:, a : max(b, a + 1)].mean(axis=1) for a, b in pairwise(columns)]
    return Segmentation(boundaries, letters(means), "sections", sr)


#: The segmenters, in the order they are offered (the first is the default).
SEGMENTERS: Registry[Segmenter] = Registry("segmenter")
SEGMENTERS.register(
    Segmenter(
        "equal", "Equal",
        "five equal parts of the track, as in LEMONS",
        equal_segments,
    )
)  # fmt: skip
SEGMENTERS.register(
    Segmenter(
        "beats", "Bars",
        "five parts whose boundaries fall on bar lines (or beats) found in the audio",
        beat_segments,
    )
)  # fmt: skip
SEGMENTERS.register(
    Segmenter(
        "sections", "Sections",
        "up to five sections of the song (such as intro, verse, chorus) found in the audio; sections "
        "that sound alike share a letter",
        section_segments,
    )
)  # fmt: skip


def segment(name: str, audio: np.ndarray, n_segments: int, sr: int = SAMPLE_RATE) -> Segmentation:
    """Cut ``audio`` ``[samples]`` (mono, ``sr`` Hz) into at most ``n_segments`` segments with the
    segmenter ``name`` (see :data:`SEGMENTERS`)."""
    return SEGMENTERS[name].segment(np.asarray(audio, dtype=np.float32), n_segments, sr)
