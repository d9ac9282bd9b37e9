"""Exact and fast relevance of perturbed inputs for the FCN recommender.

The naive audioLIME pipeline mixes a waveform for every perturbation and runs the whole network on
it. :class:`FCNScorer` gives the same relevances (to float rounding) with far less work, using three
facts about the FCN:

1. **The STFT is linear.** The complex STFT of every component is computed once; a perturbed input's
   spectrum is the sum of its switched-on components' spectra. Power, mel, dB and the spectrogram
   batch norm (an affine map in eval mode) then act frame by frame.
2. **The receptive field is finite.** Five 3×3-conv + 2×-pool blocks make each column of the last
   feature map depend on 94 spectrogram frames (about 1.5 s at 16 kHz, hop 256). A column whose
   frames lie inside one time segment depends only on the on/off pattern of that segment's
   components; a column near a boundary depends on the patterns of the segments it touches.
3. **The head only needs sums and maxima.** The network ends in global average and max pooling
   over the last feature map, so each column contributes its per-channel sum and maximum over
   frequency, and any perturbation's pooled features are combined from its columns' values.

So the columns are grouped by the set of segments they touch; for each group, each *distinct*
pattern of that group's components occurring among the perturbations gives the group's columns.
They are computed block by block, reusing what does not depend on the whole pattern (fact 2 again,
layer by layer): a unit of an early block sees only a few frames, so most units of a group near a
segment boundary depend on one segment's components alone. Each block's columns are split into runs
by the segments they depend on; a run is computed once per distinct pattern of *its* segments, from
the runs of the block below, on a crop just wide enough for it. Only a band around each boundary,
which widens with depth, is computed per pattern of both segments; the expensive blocks at full
resolution run per segment pattern (at most 2^5 for five sources). Source-only and time-only
explanations reduce to their few distinct perturbations. A source-only explanation's perturbations
are whole tracks: on a CPU all their blocks run on ONNX Runtime (:mod:`recsys.onnx_prefix`), faster
than PyTorch (:func:`prepare_engine` readies that session before the first explanation).
``benchmarks/explain_bench.py`` checks the results against the naive pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from explanations.audiolime.factorization import ComponentLayout, Factorization, factorize
from explanations.audiolime.scoring import (
    PerturbationScorer,
    ProgressFn,
    WaveformScorer,
    recommender_relevance,
)
from explanations.audiolime.separation import Separation
from lemons.audio import SAMPLE_RATE
from lemons.catalogue.base import STEMS
from recsys.features import prefix_hash
from recsys.inference import place, sigmoid
from recsys.model import FCN, N_POOLS
from recsys.onnx_prefix import OnnxBlocks, onnx_blocks

#: Spectrogram frames run through a block at once (about four 30 s tracks).
FRAMES_PER_BATCH = 4 * 1876
#: A boundary group's patterns computed together: each side's runs are computed once per such batch
#: (all 2^10 patterns of two segments of five sources fit in one; the group is narrow).
PATTERNS_PER_BATCH = 1024
#: How whole-track perturbations are run: ``auto`` (ONNX Runtime on a CPU, PyTorch on a GPU), ``onnx``
#: or ``torch``. Every runtime gives the same relevances to float rounding.
RUNTIMES = ("auto", "onnx", "torch")

_prepared: set[str] = set()  # the blocks (their hash) prepare_engine has run


def frame_receptive_field(column: int, n_pools: int = N_POOLS) -> tuple[int, int]:
    """First and last spectrogram frame (inclusive) that column ``column`` of the last map depends on.

    Each block's output column ``j`` comes from conv outputs ``2j, 2j+1`` (max-pool 2), which read
    input columns ``2j-1 … 2j+2`` (3×3 conv, padding 1).
    """
    first = last = column
    for _ in range(n_pools):
        first, last = 2 * first - 1, 2 * last + 2
    return first, last


@dataclass(frozen=True)
class Run:
    """Columns ``[first, stop)`` of one depth's map (depth 0: the spectrogram's frames; depth ``d``:
    the output of ``d`` blocks) that depend on the components of ``segments`` only."""

    segments: tuple[int, ...]
    first: int
    stop: int


def map_widths(n_frames: int) -> list[int]:
    """Columns of each depth's map, 0 … N_POOLS (every pooling rounds down)."""
    widths = [n_frames]
    for _ in range(N_POOLS):
        widths.append(widths[-1] // 2)
    return widths


def mixed_power(weights: torch.Tensor, spectra: torch.Tensor) -> torch.Tensor:
    """Power spectrograms ``[n, freq, frames]`` of the sums of the complex ``spectra`` ``[components,
    freq, frames]`` weighted by ``weights`` ``[n, components]``: ``|weights @ spectra|²``, as one real
    matrix product (faster than the complex one, and no square root)."""
    parts = torch.view_as_real(spectra.contiguous()).reshape(len(spectra), -1)  # [components, f·t·2]
    mixed = (weights.to(parts.dtype) @ parts).view(len(weights), *spectra.shape[1:], 2)
    return mixed.square().sum(dim=-1)


def column_runs(
    columns: range, depth: int, layout: ComponentLayout, n_frames: int, hop: int, n_fft: int
) -> list[Run]:
    """``columns`` of depth ``depth`` grouped into runs by the time segments their receptive field touches.

    Frame ``t`` of the centred STFT reads samples ``[t·hop − n_fft/2, t·hop + n_fft/2)`` (reflected at
    the track's ends, which stay inside the first and last segment).
    """
    boundaries = np.asarray(layout.boundaries)
    runs: list[Run] = []
    for column in columns:
        first, last = frame_receptive_field(column, depth)
        first, last = max(first, 0), min(last, n_frames - 1)
        lo = max(first * hop - n_fft // 2, 0)
        hi = min(last * hop + n_fft // 2, layout.n_samples) - 1
        low, high = np.clip(np.searchsorted(boundaries, (lo, hi), side="right") - 1, 0, layout.n_segments - 1)
        segments = tuple(range(int(low), int(high) + 1))
        if runs and runs[-1].segments == segments:
            runs[-1] = Run(segments, runs[-1].first, column + 1)
        else:
            runs.append(Run(segments, column, column + 1))
    return runs


@dataclass(frozen=True)
class ColumnGroup:
    """Last-map columns ``[first, stop)`` that depend on the components ``components`` only.

    ``frames`` is the spectrogram crop ``[start, end)`` they are computed from.
    """

    first: int
    stop: int
    components: np.ndarray  # indices into the layout's components
    frames: tuple[int, int]


def column_groups(layout: ComponentLayout, n_frames: int, hop: int, n_fft: int) -> list[ColumnGroup]:
    """Group the last map's columns by the set of time segments their receptive field touches."""
    align = 2**N_POOLS
    n_sources = len(layout.sources)
    groups = []
    for run in column_runs(range(n_frames // align), N_POOLS, layout, n_frames, hop, n_fft):
        start = max(frame_receptive_field(run.first)[0] // align * align, 0)
        end = min(frame_receptive_field(run.stop - 1)[1] + 1, n_frames)
        components = np.array([s * n_sources + k for s in run.segments for k in range(n_sources)])
        groups.append(ColumnGroup(run.first, run.stop, components, (start, end)))
    return groups


def layer_runs(
    group: ColumnGroup, layout: ComponentLayout, n_frames: int, hop: int, n_fft: int
) -> list[list[Run]]:
    """For each depth 0 … N_POOLS, the runs of columns that ``group``'s last-map columns are made from.

    Output column ``j`` of a block reads its input columns ``2j − 1 … 2j + 2``.
    """
    widths = map_widths(n_frames)
    needed = {N_POOLS: (group.first, group.stop)}
    for depth in range(N_POOLS, 0, -1):
        first, stop = needed[depth]
        needed[depth - 1] = (max(2 * first - 1, 0), min(2 * stop + 1, widths[depth - 1]))
    return [
        column_runs(range(*needed[depth]), depth, layout, n_frames, hop, n_fft)
        for depth in range(N_POOLS + 1)
    ]


class FCNScorer:
    """Relevance ``[n]`` of perturbation masks ``[n, n_components]`` for an :class:`FCN`, exactly.

    ``scorer(masks)`` equals scoring ``factorization.compose(masks)`` with the model (up to float
    rounding), computed as described in the module docstring. The model is used through its own
    interface for this: :meth:`FCN.complex_stft`, :meth:`FCN.input_from_power`,
    :meth:`FCN.block_on_crop` and :meth:`FCN.dense_parameters`.
    """

    def __init__(
        self,
        model: FCN,
        layout: ComponentLayout,
        device: torch.device | str | None = None,
        frames_per_batch: int = FRAMES_PER_BATCH,
        spectra: torch.Tensor | None = None,
        runtime: str = "auto",
    ) -> None:
        """Prepare to score masks over ``layout``'s components.

        Without ``spectra`` the layout must be a :class:`Factorization`, whose components' STFTs are
        taken. ``spectra`` ``[n_components, freq, frames]`` (complex) give them instead: any components
        whose perturbed input has the spectrum ``masks @ spectra`` can be scored so, e.g. SLIME's
        time–frequency regions (:mod:`explanations.audiolime.slime`); ``layout`` then only describes
        how the components lie in time (segments × components per segment). ``runtime``
        (:data:`RUNTIMES`) runs the perturbations that are whole tracks (one segment).
        """
        if runtime not in RUNTIMES:
            raise ValueError(f"unknown runtime {runtime!r}; use one of {', '.join(RUNTIMES)}")
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.model = place(model, self.device).eval()
        self.layout = layout
        self.frames_per_batch = frames_per_batch
        self.hop = model.args.hop_length
        if spectra is None:
            if not isinstance(layout, Factorization):
                raise TypeError("without spectra, FCNScorer needs a Factorization (its components)")
            spectra = self.model.complex_stft(torch.from_numpy(layout.components))
        self.spectra = spectra.to(self.device)
        self.n_frames = self.spectra.shape[-1]
        self.groups = column_groups(layout, self.n_frames, self.hop, model.args.n_fft)
        self.n_columns = self.groups[-1].stop if self.groups else 0
        self.runs = [layer_runs(g, layout, self.n_frames, self.hop, model.args.n_fft) for g in self.groups]
        self.widths = map_widths(self.n_frames)
        # per group: pattern bytes -> (sum, max) of its columns; patterns recur across calls (seeds, N_s)
        self._memo: list[dict[bytes, tuple[np.ndarray, np.ndarray]]] = [{} for _ in self.groups]
        on_onnx = runtime == "onnx" or (runtime == "auto" and self.device.type == "cpu")
        self.whole_track_blocks: OnnxBlocks | None = (
            whole_track_session(self.model) if on_onnx and layout.n_segments == 1 else None
        )

    def _whole_track_features(
        self, group: ColumnGroup, patterns: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_column_features` of a group that is the whole track: each pattern's input through all
        the blocks on ONNX Runtime."""
        assert self.whole_track_blocks is not None
        power = mixed_power(torch.from_numpy(patterns).to(self.device), self.spectra[group.components])
        features = self.whole_track_blocks(self.model.input_from_power(power))
        return features.sum(axis=(2, 3), dtype=np.float64), features.max(axis=(2, 3)).astype(np.float64)

    def _column_features(
        self, group: ColumnGroup, runs: list[list[Run]], patterns: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-pattern sum and max over frequency of the group's columns: two ``[n_patterns, channels]``.

        The sum is also taken over the group's columns, the max too. ``patterns`` ``[n, n_group]``
        switch the group's components; every run is computed once per distinct pattern of its segments.
        """
        if self.whole_track_blocks is not None:
            return self._whole_track_features(group, patterns)
        n_sources = len(self.layout.sources)

        def components_of(run: Run) -> list[int]:
            return [s * n_sources + k for s in run.segments for k in range(n_sources)]

        def pattern_of(run: Run) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            """The run's distinct sub-patterns, a pattern row for each, and each row's sub-pattern."""
            columns = [c - int(group.components[0]) for c in components_of(run)]  # within the group's
            distinct, rows, inverse = np.unique(
                patterns[:, columns], axis=0, return_index=True, return_inverse=True
            )
            return distinct, rows, inverse.ravel()

        below = []  # per run of the depth below: (run, activations [distinct, C, F, columns], inverse)
        for run in runs[0]:
            distinct, _, inverse = pattern_of(run)
            spectra = self.spectra[components_of(run)][..., run.first : run.stop]
            power = mixed_power(torch.from_numpy(distinct).to(self.device), spectra)
            below.append((run, self.model.input_from_power(power), inverse))
        for depth in range(1, N_POOLS + 1):
            above = []
            for run in runs[depth]:
                _, rows, inverse = pattern_of(run)
                lo, hi = 2 * run.first - 1, 2 * run.stop + 1
                pieces = []
                for previous, activations, previous_inverse in below:
                    start, stop = max(lo, previous.first), min(hi, previous.stop)
                    if start < stop:
                        overlap = activations[..., start - previous.first : stop - previous.first]
                        pieces.append(overlap[torch.from_numpy(previous_inverse[rows]).to(self.device)])
                left, right = max(0, -lo), max(0, hi - self.widths[depth - 1])  # the input's zero padding
                crop = torch.cat(pieces, dim=-1) if len(pieces) > 1 else pieces[0]
                if left or right:
                    crop = torch.nn.functional.pad(crop, (left, right))
                batch = max(1, self.frames_per_batch // (crop.shape[-1] << (depth - 1)))
                outputs = [
                    self.model.block_on_crop(
                        depth - 1, crop[i : i + batch].contiguous(memory_format=torch.channels_last)
                    )
                    for i in range(0, len(crop), batch)
                ]
                above.append((run, torch.cat(outputs), inverse))
            below = above
        channels = below[0][1].shape[1]
        sums, maxima = np.zeros((len(patterns), channels)), np.full((len(patterns), channels), -np.inf)
        for _, features, inverse in below:
            sums += features.sum(dim=(2, 3)).double().cpu().numpy()[inverse]
            np.maximum(maxima, features.amax(dim=(2, 3)).double().cpu().numpy()[inverse], out=maxima)
        return sums, maxima

    @torch.inference_mode()
    def __call__(self, masks: np.ndarray, on_progress: ProgressFn | None = None) -> np.ndarray:
        """Relevance ``[n]`` (float64) of the perturbations ``masks`` ``[n, n_components]``."""
        masks = np.atleast_2d(np.asarray(masks, dtype=np.uint8))
        weight, bias = (p.double().cpu().numpy() for p in self.model.dense_parameters())
        channels = weight.shape[1] // 2
        total_sum = np.zeros((len(masks), channels))
        total_max = np.full((len(masks), channels), -np.inf)
        plan = []
        for group, memo in zip(self.groups, self._memo, strict=True):
            patterns, inverse = np.unique(masks[:, group.components], axis=0, return_inverse=True)
            todo = np.array([i for i, row in enumerate(patterns) if row.tobytes() not in memo], dtype=int)
            plan.append((group, memo, patterns, inverse.ravel(), todo))
        work = sum(len(todo) * (g.frames[1] - g.frames[0]) for g, _, _, _, todo in plan)
        done = 0
        for (group, memo, patterns, inverse, todo), runs in zip(plan, self.runs, strict=True):
            crop = group.frames[1] - group.frames[0]
            # inside one segment every pattern is computed on its own: as many as fit in a batch of
            # frames; across a boundary, patterns share the runs of each side
            batch = PATTERNS_PER_BATCH if len(runs[0]) > 1 else max(1, self.frames_per_batch // crop)
            for lo in range(0, len(todo), batch):
                chosen = patterns[todo[lo : lo + batch]]
                sums, maxima = self._column_features(group, runs, chosen)
                for row, s, m in zip(chosen, sums, maxima, strict=True):
                    memo[row.tobytes()] = (s, m)
                done += len(chosen) * crop
                if on_progress is not None:
                    on_progress(done, work)
            sums = np.stack([memo[row.tobytes()][0] for row in patterns])
            maxima = np.stack([memo[row.tobytes()][1] for row in patterns])
            total_sum += sums[inverse]
            np.maximum(total_max, maxima[inverse], out=total_max)
        if on_progress is not None and not work:
            on_progress(1, 1)  # everything was known from earlier calls
        n_rows = self.model.args.n_mels // 2**N_POOLS
        pooled = np.concatenate([total_sum / (n_rows * self.n_columns), total_max], axis=1)
        return sigmoid(pooled @ weight[0] + bias[0])


def whole_track_session(model: FCN) -> OnnxBlocks:
    """The ONNX Runtime session of all of ``model``'s blocks (one per distinct set of blocks and process)."""
    return onnx_blocks(model, N_POOLS, prefix_hash(model, N_POOLS))


def prepare_engine(model: torch.nn.Module, device: torch.device | str = "cpu", seconds: float = 30.0) -> bool:
    """Ready what the first explanation with ``model`` on ``device`` would otherwise wait for; returns
    whether there was anything to do (once per set of blocks and process, for an :class:`FCN` on a CPU).

    Scores 8 perturbations (two batches) of a source explanation of ``seconds`` of quiet noise: the
    whole-track session (:func:`whole_track_session`) is made and ONNX Runtime and PyTorch have
    their memory for a batch, so that the first explanation computes as fast as later ones.
    """
    if not isinstance(model, FCN) or torch.device(device).type != "cpu":
        return False
    key = prefix_hash(model, N_POOLS)
    if key in _prepared:
        return False
    noise = 0.01 * np.random.default_rng(0).standard_normal((len(STEMS), round(seconds * SAMPLE_RATE)))
    stems = noise.astype(np.float32)
    factorization = factorize("source", stems.sum(axis=0), Separation("noise", STEMS, stems))
    patterns = (np.arange(8)[:, None] >> np.arange(len(STEMS))) & 1
    FCNScorer(model, factorization, device)(patterns.astype(np.uint8))
    _prepared.add(key)
    return True


def scorer_for(
    model: torch.nn.Module, factorization: Factorization, device: torch.device | str | None = None
) -> PerturbationScorer:
    """The scorer of perturbations of ``factorization`` for a recommender's ``model``.

    The exact engine (:class:`FCNScorer`) for the FCN; for any other network of waveforms
    ``[batch, samples]`` → logits ``[batch]``, a :class:`~explanations.audiolime.scoring.WaveformScorer`
    that composes and scores every distinct perturbed waveform.
    """
    if isinstance(model, FCN):
        return FCNScorer(model, factorization, device)
    return WaveformScorer(factorization, recommender_relevance(model, device))
