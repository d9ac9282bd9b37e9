"""Segmenters cut tracks where their music says: on bar lines, and between sections."""

from __future__ import annotations

import numpy as np
import pytest

from explanations.audiolime.factorization import factorize
from explanations.audiolime.segmenters import SEGMENTERS, Segmentation, segment
from lemons.audio import SAMPLE_RATE
from lemons.errors import AudioError, ConfigError

SR = SAMPLE_RATE


def click_track(seconds: float, bpm: float, first_beat: float) -> np.ndarray:
    """Clicks on every beat from ``first_beat`` (s), the first of every four (the downbeat) loudest."""
    audio = np.zeros(int(seconds * SR), np.float32)
    click = np.sin(2 * np.pi * 1000 * np.arange(400) / SR) * np.hanning(400)
    for i, start in enumerate(np.arange(first_beat, seconds - 0.1, 60 / bpm)):
        at = int(start * SR)
        audio[at : at + 400] += (0.9 if i % 4 == 0 else 0.25) * click
    return audio


def tones(seconds: float, pitches: list[float], bpm: float, rng: np.random.Generator) -> np.ndarray:
    """A sequence of ``pitches`` (Hz), one per beat, with a bright or dull timbre per pitch set."""
    beat = int(60 / bpm * SR)
    t = np.arange(beat) / SR
    notes = []
    for i in range(int(seconds * SR) // beat):
        f = pitches[i % len(pitches)]
        harmonics = sum(np.sin(2 * np.pi * f * h * t) / h for h in range(1, 6))
        notes.append(0.2 * harmonics * np.exp(-3 * t) + 0.002 * rng.standard_normal(beat))
    return np.concatenate(notes).astype(np.float32)


def test_equal_segments_are_spec_s() -> None:
    segmentation = segment("equal", np.ones(80_003, np.float32), 5)
    assert segmentation.boundaries == (0, 16_000, 32_000, 48_000, 64_000, 80_000)
    assert segmentation.labels == () and segmentation.span_seconds(1) == (1.0, 2.0)
    assert list(segmentation.segment_of(np.array([0, 15_999, 16_000, 90_000]))) == [0, 0, 1, 4]


def test_beats_segments_end_on_bar_lines_of_a_click_track() -> None:
    bpm, first_beat = 120, 0.25  # bars of 2 s from 0.25 s
    audio = click_track(20.0, bpm, first_beat)
    segmentation = segment("beats", audio, 5)
    assert segmentation.n_segments == 5 and segmentation.boundaries[-1] == len(audio)
    bar_lines = first_beat + 2.0 * np.arange(10)
    for boundary in segmentation.boundaries[1:-1]:  # near 4, 8, 12 and 16 s: each on a bar line
        assert np.min(np.abs(bar_lines - boundary / SR)) < 0.05
    equal = segment("equal", audio, 5).boundaries
    assert all(abs(b - e) <= 0.5 * 4 * SR for b, e in zip(segmentation.boundaries, equal, strict=True))


def test_sections_are_found_between_two_tone_sequences_and_repeats_share_a_letter() -> None:
    rng = np.random.default_rng(0)
    verse = tones(8.0, [220.0, 277.2, 329.6, 277.2], 120, rng)
    chorus = tones(8.0, [587.3, 784.0, 880.0, 1046.5], 120, rng)
    audio = np.concatenate([verse, chorus, verse])
    segmentation = segment("sections", audio, 3)
    starts = [b / SR for b in segmentation.boundaries]
    assert segmentation.n_segments == 3
    assert abs(starts[1] - 8.0) < 0.6 and abs(starts[2] - 16.0) < 0.6
    assert segmentation.labels == ("A", "B", "A")
    at_most_five = segment("sections", audio, 5)
    assert at_most_five.n_segments <= 5 and min(np.diff(at_most_five.boundaries)) >= 2.0 * SR


def test_a_time_factorization_follows_its_segmenter() -> None:
    audio = click_track(20.0, 120, 0.25)
    factorization = factorize("time", audio, segmenter="beats")
    assert factorization.boundaries == segment("beats", audio, 5).boundaries
    np.testing.assert_array_equal(factorization.compose(np.ones((1, 5)))[0], audio)  # the whole track
    start, end = factorization.boundaries[2], factorization.boundaries[3]
    assert factorization.describe(2) == f"whole mix, {start / SR:.1f}–{end / SR:.1f} s"


def test_bad_segmentation_requests_are_explained() -> None:
    with pytest.raises(ConfigError, match="unknown segmenter 'chords'; use one of equal, beats, sections"):
        factorize("time", np.ones(SR * 10, np.float32), segmenter="chords")
    with pytest.raises(ConfigError, match="positive whole number"):
        segment("sections", np.ones(SR * 10, np.float32), 0)
    with pytest.raises(AudioError, match="use fewer segments"):
        segment("beats", np.ones(SR * 2, np.float32), 5)
    with pytest.raises(ValueError, match="start at 0 and increase"):
        Segmentation((0, 10, 10))
    assert SEGMENTERS.names() == ("equal", "beats", "sections")
