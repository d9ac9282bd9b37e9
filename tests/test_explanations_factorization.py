"""Interpretable components (SPEC §4): segments, sources and their order, composition, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from explanations.audiolime.factorization import factorize, time_factorization, time_source_factorization
from explanations.audiolime.separation import Separation
from lemons.audio import SAMPLE_RATE
from lemons.catalogue.base import STEMS
from lemons.errors import AudioError, ConfigError


def random_separation(seconds: float = 10.0, seed: int = 0) -> Separation:
    rng = np.random.default_rng(seed)
    stems = rng.normal(0, 0.1, size=(len(STEMS), int(seconds * SAMPLE_RATE))).astype(np.float32)
    return Separation("reference", STEMS, stems)


def test_time_segments_are_equal_and_the_tail_is_not_explained() -> None:
    audio = np.random.default_rng(1).normal(0, 0.1, 80_003).astype(np.float32)
    factorization = time_factorization(audio)
    assert factorization.names == ("segment0", "segment1", "segment2", "segment3", "segment4")
    assert factorization.components.shape == (5, 80_000)  # 5·⌊80003/5⌋
    np.testing.assert_array_equal(factorization.compose(np.ones((1, 5)))[0], audio[:80_000])
    for i in range(5):  # each component is the mix inside its segment and zeros elsewhere
        inside = slice(i * 16_000, (i + 1) * 16_000)
        np.testing.assert_array_equal(factorization.components[i, inside], audio[inside])
        assert np.count_nonzero(factorization.components[i]) == np.count_nonzero(audio[inside])


def test_time_source_order_is_segment_major_with_sources_fastest() -> None:
    separation = random_separation()
    factorization = time_source_factorization(separation)
    assert factorization.names[:6] == ("vocals0", "piano0", "drums0", "bass0", "other0", "vocals1")
    assert factorization.names[-1] == "other4" and factorization.n_components == 25
    segment = factorization.boundaries[1]  # equal segments
    index = 3 * len(STEMS) + STEMS.index("drums")  # drums in segment 3
    assert factorization.names[index] == "drums3"
    span = slice(3 * segment, 4 * segment)
    np.testing.assert_array_equal(factorization.components[index, span], separation.stems[2, span])
    assert not np.any(np.delete(factorization.components[index], np.arange(3 * segment, 4 * segment)))
    assert factorization.describe(index) == "drums, 6.0–8.0 s"
    # the weights grid: rows are sources, columns segments
    assert factorization.source_of(index) == "drums" and factorization.segment_of(index) == 3


def test_all_components_recompose_the_instance_and_masks_switch_them() -> None:
    separation = random_separation()
    for kind in ("source", "time+source"):
        factorization = factorize(kind, separation.stems.sum(axis=0), separation)
        whole = factorization.compose(np.ones((1, factorization.n_components)))[0]
        np.testing.assert_allclose(whole, separation.stems.sum(axis=0)[: len(whole)], atol=1e-6)
    source = factorize("source", separation.stems.sum(axis=0), separation)
    only_drums_and_bass = source.compose(np.array([[0, 0, 1, 1, 0]]))[0]
    np.testing.assert_allclose(only_drums_and_bass, separation.stems[2] + separation.stems[3], atol=1e-6)


def test_by_source_sums_the_chosen_components_per_source() -> None:
    separation = random_separation()
    factorization = time_source_factorization(separation)
    rows = factorization.by_source([2, 7, 0])  # drums0, drums1, vocals0
    assert set(rows) == {"drums", "vocals"}
    segment = factorization.boundaries[1]  # equal segments
    np.testing.assert_array_equal(rows["drums"][: 2 * segment], separation.stems[2, : 2 * segment])
    assert not np.any(rows["drums"][2 * segment :])


def test_silent_components_are_found() -> None:
    separation = random_separation()
    separation.stems[1] = 0.0  # no piano at all
    factorization = time_source_factorization(separation)
    assert factorization.silent_components() == [1, 6, 11, 16, 21]


def test_bad_requests_are_explained() -> None:
    short = np.ones(SAMPLE_RATE * 2, np.float32)
    with pytest.raises(AudioError, match=r"2.00 s long: 5 segments would be 0.40 s each.*use fewer segments"):
        time_factorization(short)
    assert time_factorization(short, n_segments=2).n_components == 2
    with pytest.raises(ConfigError, match="positive whole number"):
        time_factorization(short, n_segments=0)
    with pytest.raises(ConfigError, match="unknown explanation type 'pitch'"):
        factorize("pitch", short)
    with pytest.raises(ConfigError, match="needs the track's sources"):
        factorize("source", short)
    with pytest.raises(ConfigError, match="masks have 3 columns for 2 components"):
        time_factorization(short, n_segments=2).compose(np.ones((1, 3)))
