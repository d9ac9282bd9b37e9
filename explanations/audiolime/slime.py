"""SLIME: LIME over rectangular time–frequency regions of the spectrogram (Mishra et al., 2017).

The baseline audioLIME is compared with in ``lemons experiments faithfulness``. The track's STFT (as
the recommender frames it) is cut into ``n_segments`` time segments × ``n_bands`` frequency bands,
the bands equally wide on the mel scale between the model's ``f_min`` and ``f_max``. A perturbation
switches regions off, i.e. sets their spectrogram bins to silence, and the recommender scores the
resulting spectrogram. Such an explanation can be drawn on the spectrogram but not listened to: a
region is not a sound, which is what audioLIME's components fix.

The regions are disjoint, so a perturbed power spectrogram is the masked sum of the regions' spectra
and :class:`explanations.audiolime.engine.FCNScorer` scores it exactly and fast, with the regions
laid out like a time+source factorization (``index = segment·n_bands + band``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch

from explanations.audiolime.engine import FCNScorer
from explanations.audiolime.factorization import DEFAULT_SEGMENTS
from explanations.audiolime.segmenters import MIN_SEGMENT_SECONDS
from lemons.audio import SAMPLE_RATE
from lemons.errors import AudioError, ConfigError
from recsys.model import FCN

#: The SLIME grid that matches each audioLIME explanation type in size: (segments, bands).
MATCHING_GRIDS = {"time": (DEFAULT_SEGMENTS, 1), "source": (1, 5), "time+source": (DEFAULT_SEGMENTS, 5)}


@dataclass(frozen=True)
class RegionGrid:
    """Where SLIME's regions lie: ``n_segments`` × ``n_bands``, region ``segment·n_bands + band``.

    A :class:`~explanations.audiolime.factorization.ComponentLayout`, as a factorization is: what
    :func:`~explanations.audiolime.explainer.explain` and the engine read; ``sources`` are the bands' names.
    """

    names: tuple[str, ...]
    sources: tuple[str, ...]
    n_segments: int
    n_samples: int
    silent: tuple[int, ...]
    band_edges_hz: tuple[float, ...]
    sr: int = SAMPLE_RATE
    kind: str = "slime"

    @property
    def n_components(self) -> int:
        """The number of regions."""
        return len(self.names)

    @property
    def boundaries(self) -> tuple[int, ...]:
        """Where the (equal) time segments begin and end, in samples."""
        length = self.n_samples // self.n_segments
        return tuple(i * length for i in range(self.n_segments + 1))

    def silent_components(self) -> list[int]:
        """Regions without energy (switching them changes nothing)."""
        return list(self.silent)


def mel_band_edges(n_bands: int, f_min: float, f_max: float) -> np.ndarray:
    """``[n_bands + 1]`` edges in Hz, equally spaced on the (HTK) mel scale."""
    mel = np.linspace(2595 * np.log10(1 + f_min / 700), 2595 * np.log10(1 + f_max / 700), n_bands + 1)
    return 700 * (10 ** (mel / 2595) - 1)


def _region_names(n_segments: int, n_bands: int) -> tuple[str, ...]:
    if n_bands == 1:
        return tuple(f"segment{s}" for s in range(n_segments))
    if n_segments == 1:
        return tuple(f"band{b}" for b in range(n_bands))
    return tuple(f"band{b}.{s}" for s in range(n_segments) for b in range(n_bands))


def slime_regions(
    model: FCN, audio: np.ndarray, n_segments: int, n_bands: int
) -> tuple[RegionGrid, torch.Tensor]:
    """The grid and the regions' spectra ``[n_segments·n_bands, freq, frames]`` (complex) of ``audio``.

    ``audio`` is ``[samples]`` at 16 kHz; as for time explanations, samples past
    ``n_segments·⌊n/n_segments⌋`` are left out. A frame belongs to the segment holding its centre.
    """
    for name, value in (("segments", n_segments), ("bands", n_bands)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"the number of SLIME {name} must be a positive whole number, got {value!r}")
    args = model.args
    length = len(audio) // n_segments
    if length < MIN_SEGMENT_SECONDS * args.sample_rate:
        raise AudioError(
            f"the track is {len(audio) / args.sample_rate:.2f} s long: too short for {n_segments} "
            f"segments of at least {MIN_SEGMENT_SECONDS} s"
        )
    waveform = torch.from_numpy(np.ascontiguousarray(audio[: n_segments * length], dtype=np.float32))
    spectrum = model.complex_stft(waveform[None])[0].cpu()  # [freq, frames]
    n_freq, n_frames = spectrum.shape
    edges = mel_band_edges(n_bands, args.f_min, args.f_max)
    bin_hz = np.arange(n_freq) * args.sample_rate / args.n_fft
    band_of_bin = np.clip(np.searchsorted(edges, bin_hz, side="right") - 1, 0, n_bands - 1)
    hop = args.hop_length
    segment_of_frame = np.minimum(np.arange(n_frames) * hop // length, n_segments - 1)
    regions = torch.zeros((n_segments * n_bands, n_freq, n_frames), dtype=spectrum.dtype)
    energy = np.zeros(n_segments * n_bands)
    for segment in range(n_segments):
        frames = torch.from_numpy(np.flatnonzero(segment_of_frame == segment))
        for band in range(n_bands):
            bins = torch.from_numpy(np.flatnonzero(band_of_bin == band))
            index = segment * n_bands + band
            block = spectrum[bins][:, frames]
            regions[index, bins[:, None], frames[None, :]] = block
            energy[index] = float(block.abs().pow(2).sum())
    silent = tuple(int(i) for i in np.flatnonzero(energy <= 1e-12 * max(energy.sum(), 1e-30)))
    bands = tuple(f"{lo:.0f}–{hi:.0f} Hz" for lo, hi in itertools.pairwise(edges))
    grid = RegionGrid(
        _region_names(n_segments, n_bands),
        bands,
        n_segments,
        n_segments * length,
        silent,
        tuple(float(e) for e in edges),
        args.sample_rate,
    )
    return grid, regions


def slime_scorer(
    model: FCN,
    audio: np.ndarray,
    n_segments: int,
    n_bands: int,
    device: torch.device | str | None = None,
) -> tuple[RegionGrid, FCNScorer]:
    """SLIME's regions of ``audio`` (16 kHz ``[samples]``) and the exact scorer of their perturbations."""
    grid, regions = slime_regions(model, audio, n_segments, n_bands)
    return grid, FCNScorer(model, grid, device, spectra=regions)
