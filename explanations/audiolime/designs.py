"""Perturbation designs: how LIME's ``N_s`` binary masks over the components are drawn.

Every design returns ``[n_samples, n_components]`` uint8 masks with row 0 all ones (the explained
instance), drawn from ``np.random.default_rng(seed)``: it is a :data:`Sampler`, and
``LimeParts(sampler=design.sample)`` (:class:`~explanations.audiolime.explainer.LimeParts`) explains
with it (for ``uniform`` that equals ``STANDARD_PARTS``):

* ``uniform`` — SPEC §4: every bit 0/1 uniformly at random
  (:func:`~explanations.audiolime.explainer.sample_perturbations`, unchanged).
* ``antithetic`` — rows in pairs, a mask and its complement: rows ``2j`` and ``2j + 1`` sum to all
  ones (row 1 is the silence that complements the instance); with an odd ``n_samples`` the last row
  is a lone uniform draw. Each row is uniform on its own, so LIME fits the same model as with
  ``uniform``, and in an unweighted fit the pairs keep two-component interactions out of the weights
  (a fold-over design); LIME's kernel weighs a mask and its complement differently, so the gain is
  not guaranteed.
* ``balanced`` — each component on in exactly half the rows (⌈n/2⌉ for an odd ``n_samples``, row 0
  included): each column is an independent random permutation of as many ones as zeros. Each row is
  still close to uniform, and no component is on more often than another by chance.
* ``stratified`` — the number of components on is spread evenly over 0…``n_components`` (each count
  in ⌊m/(c+1)⌋ or ⌈m/(c+1)⌉ of the ``m = n_samples − 1`` drawn rows), which components uniformly at
  random. This changes the neighbourhood LIME fits on: far more rows close to the instance (where
  the kernel weighs most) and close to silence than the binomial counts of ``uniform``, so its
  weights may converge to other values than SPEC's.

The designs are compared by ``lemons experiments sample-efficiency``. SPEC's ``uniform`` is the only
design offered to users (``lemons explain``, the page): another one is offered only once that study
has shown that at N_s = 1024 it is at least as stable as ``uniform`` at N_s = 2048, so the others
stay internal to the study until then.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lemons.errors import ConfigError
from lemons.registry import Registry

DEFAULT_SAMPLES = 2048  # N_s in LEMONS; the audioLIME paper used 2**14
UNIFORM = "uniform"  # SPEC's design, the default

#: ``(n_components, n_samples, seed) → masks [n_samples, n_components]`` with row 0 all ones.
Sampler = Callable[[int, int, int], np.ndarray]


def check_n_samples(n_samples: object) -> None:
    """Raise :class:`ConfigError` unless ``n_samples`` is a whole number ≥ 2 (the instance and one more)."""
    if not isinstance(n_samples, int) or isinstance(n_samples, bool) or n_samples < 2:
        raise ConfigError(f"the number of perturbations must be a whole number ≥ 2, got {n_samples!r}")


def sample_perturbations(n_components: int, n_samples: int = DEFAULT_SAMPLES, seed: int = 0) -> np.ndarray:
    """``[n_samples, n_components]`` uint8 masks, each bit 0/1 uniformly at random; row 0 all ones (SPEC)."""
    check_n_samples(n_samples)
    masks = np.random.default_rng(seed).integers(0, 2, size=(n_samples, n_components), dtype=np.uint8)
    masks[0] = 1
    return masks


def antithetic_perturbations(n_components: int, n_samples: int, seed: int = 0) -> np.ndarray:
    """``[n_samples, n_components]`` uint8 masks in complementary pairs; row 0 all ones, row 1 all zeros."""
    check_n_samples(n_samples)
    rng = np.random.default_rng(seed)
    n_pairs = n_samples // 2
    first = rng.integers(0, 2, size=(n_pairs, n_components), dtype=np.uint8)
    first[0] = 1
    masks = np.empty((n_samples, n_components), dtype=np.uint8)
    masks[0 : 2 * n_pairs : 2], masks[1 : 2 * n_pairs : 2] = first, 1 - first
    if n_samples % 2:
        masks[-1] = rng.integers(0, 2, size=n_components, dtype=np.uint8)
    return masks


def balanced_perturbations(n_components: int, n_samples: int, seed: int = 0) -> np.ndarray:
    """``[n_samples, n_components]`` uint8 masks, each column on in ⌈n_samples/2⌉ rows; row 0 all ones."""
    check_n_samples(n_samples)
    rng = np.random.default_rng(seed)
    column = np.zeros(n_samples - 1, dtype=np.uint8)
    column[: (n_samples + 1) // 2 - 1] = 1  # row 0 brings the last one
    masks = np.ones((n_samples, n_components), dtype=np.uint8)
    for component in range(n_components):
        masks[1:, component] = rng.permutation(column)
    return masks


def stratified_perturbations(n_components: int, n_samples: int, seed: int = 0) -> np.ndarray:
    """``[n_samples, n_components]`` uint8 masks whose numbers of components on are spread evenly over
    ``0 … n_components`` in rows 1…; row 0 all ones."""
    check_n_samples(n_samples)
    rng = np.random.default_rng(seed)
    drawn = n_samples - 1
    counts = rng.permutation(np.arange(drawn) * (n_components + 1) // drawn)  # each count ⌊·⌋ or ⌈·⌉ times
    order = rng.random((drawn, n_components)).argsort(axis=1)  # a random order of the components per row
    masks = np.ones((n_samples, n_components), dtype=np.uint8)
    masks[1:] = (order < counts[:, None]).astype(np.uint8)  # the first `count` components of the order
    return masks


@dataclass(frozen=True)
class Design:
    """A perturbation design: ``sample(n_components, n_samples, seed)`` → masks, row 0 all ones."""

    name: str
    description: str  # for help texts and summaries
    sample: Sampler


#: The designs, SPEC's first.
DESIGNS: Registry[Design] = Registry("perturbation design")
DESIGNS.register(Design(UNIFORM, "every bit 0/1 uniformly at random (SPEC)", sample_perturbations))
DESIGNS.register(Design("antithetic", "pairs of a mask and its complement", antithetic_perturbations))
DESIGNS.register(Design("balanced", "each component on in exactly half the rows", balanced_perturbations))
DESIGNS.register(
    Design("stratified", "number of components on spread evenly over 0…n", stratified_perturbations)
)
