"""Perturbation designs: SPEC's uniform masks unchanged, and each other design's defining property."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from explanations.audiolime.designs import (
    DESIGNS,
    UNIFORM,
    antithetic_perturbations,
    balanced_perturbations,
    stratified_perturbations,
)
from explanations.audiolime.explainer import STANDARD_PARTS, LimeParts, sample_perturbations
from lemons.errors import ConfigError

SIZES = (2, 3, 64, 513, 2048)


def test_the_designs_spec_first() -> None:
    assert DESIGNS.names() == (UNIFORM, "antithetic", "balanced", "stratified")
    assert DESIGNS[UNIFORM].sample is sample_perturbations is STANDARD_PARTS.sampler
    assert LimeParts(sampler=DESIGNS[UNIFORM].sample) == STANDARD_PARTS  # so explanations are cached
    for design in list(DESIGNS)[1:]:
        assert LimeParts(sampler=design.sample) != STANDARD_PARTS
    with pytest.raises(ConfigError, match="unknown perturbation design 'sobol'; use one of uniform, anti"):
        DESIGNS["sobol"]


@pytest.mark.parametrize(
    ("n_components", "n_samples", "seed", "digest"),
    [
        (25, 2048, 0, "fb1c56e2187559eeb03594c8b3cc2ba45621203b30121ef760d1517d225cccb2"),
        (5, 512, 7, "a0a85e872bc4ec5ba90211726e7efa18ab1b35f22ee3fc00df034bae9119d93f"),
        (25, 16384, 123, "c2a82bf97dc9764d42759c9867bd0d6e80f053a0eefa656534eb255cf761e79a"),
    ],
)
def test_uniform_draws_the_masks_it_always_drew(
    n_components: int, n_samples: int, seed: int, digest: str
) -> None:
    masks = DESIGNS[UNIFORM].sample(n_components, n_samples, seed)
    assert hashlib.sha256(masks.tobytes()).hexdigest() == digest  # recorded before the other designs came
    expected = np.random.default_rng(seed).integers(0, 2, size=(n_samples, n_components), dtype=np.uint8)
    expected[0] = 1
    assert np.array_equal(masks, expected)


@pytest.mark.parametrize("name", DESIGNS.names())
@pytest.mark.parametrize("n_components", [5, 25])
def test_every_design_is_a_set_of_masks_with_the_instance_first_and_one_per_seed(
    name: str, n_components: int
) -> None:
    sample = DESIGNS[name].sample
    for n_samples in SIZES:
        masks = sample(n_components, n_samples, 3)
        assert masks.shape == (n_samples, n_components) and masks.dtype == np.uint8
        assert set(np.unique(masks)) <= {0, 1} and masks[0].all()
        assert np.array_equal(masks, sample(n_components, n_samples, 3))  # the same for a seed
    assert not np.array_equal(sample(n_components, 64, 3), sample(n_components, 64, 4))
    with pytest.raises(ConfigError, match="perturbations must be a whole number ≥ 2"):
        sample(n_components, 1, 0)


@pytest.mark.parametrize("n_samples", SIZES)
def test_antithetic_rows_pair_with_their_complements(n_samples: int) -> None:
    masks = antithetic_perturbations(25, n_samples, seed=0)
    paired = n_samples - n_samples % 2
    assert (masks[0:paired:2] + masks[1:paired:2] == 1).all()  # row 1 is silence, the instance's pair
    if paired >= 4:
        assert len(np.unique(masks[2:paired:2], axis=0)) > 1  # the pairs are drawn, not repeated


@pytest.mark.parametrize("n_samples", SIZES)
def test_balanced_columns_are_on_in_half_the_rows(n_samples: int) -> None:
    masks = balanced_perturbations(25, n_samples, seed=0)
    assert (masks.sum(axis=0) == (n_samples + 1) // 2).all()
    if n_samples >= 64:  # the columns are permuted independently, not copies of one another
        assert len({column.tobytes() for column in masks.T}) == 25


@pytest.mark.parametrize("n_components", [5, 25])
@pytest.mark.parametrize("n_samples", SIZES)
def test_stratified_counts_of_components_on_are_spread_evenly(n_components: int, n_samples: int) -> None:
    masks = stratified_perturbations(n_components, n_samples, seed=0)
    counts = np.bincount(masks[1:].sum(axis=1).astype(int), minlength=n_components + 1)
    drawn = n_samples - 1
    assert counts.sum() == drawn and len(counts) == n_components + 1
    assert counts.min() >= drawn // (n_components + 1) and counts.max() <= -(-drawn // (n_components + 1))
    if n_samples >= 512:  # which components are on is random: every component on about equally often
        shares = masks[1:].mean(axis=0)
        assert np.allclose(shares, 0.5, atol=0.06)
