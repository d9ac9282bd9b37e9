"""Pictures of an explanation: per-source waveforms with the chosen components marked, and the
sources × segments weight grid (positive weights push towards the explained decision); their titles
say which question was answered."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import numpy as np
from matplotlib import rcParams
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

from explanations.audiolime.pipeline import TrackExplanation
from explanations.audiolime.questions import raises
from lemons.cache import cache_folder, keep_within_limit, touch
from lemons.io import atomic_open

TOP_COLOUR = "#d62728"
OTHER_COLOUR = "#1f77b4"
#: A chosen component's label ("Top Highlight", "Top-2"…): dark text on a light box edged in the
#: highlight colour, so that it reads over the red region it names as well as over the blue track.
LABEL_STYLE = {
    "fontsize": 8,
    "fontweight": "bold",
    "color": "#1a1a1a",
    "va": "top",
    "zorder": 5,
    "bbox": {"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": TOP_COLOUR, "alpha": 0.9},
}
#: Points per second in waveform envelopes (enough to see the shape, small to draw).
ENVELOPE_RATE = 50
#: Characters per line of a figure's title (the question answered is wrapped to it).
TITLE_WIDTH = 95
#: The page's figures are laid out with fixed margins (inches) around the widest label measured
#: once, instead of a layout engine that measures every tick label and draws twice (a third of
#: their time).
MARGIN = 0.12
AXIS_LABEL_ROOM = 0.55  # below the bottom axes: tick labels and "time (s)"


def agg_figure(**options: object) -> Figure:
    """A :class:`~matplotlib.figure.Figure` (``options``: its keyword arguments) on an Agg canvas of
    its own, outside pyplot: pyplot's registry of figures is shared by the server's threads and not
    safe to use from several at once, so the page never goes through it."""
    figure = Figure(**options)
    FigureCanvasAgg(figure)
    return figure


def envelope(audio: np.ndarray, sr: int, rate: int = ENVELOPE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """``(times, peaks)``: the absolute peak of ``audio`` in windows of ``sr / rate`` samples."""
    hop = max(1, sr // rate)
    n = len(audio) // hop
    peaks = np.abs(audio[: n * hop]).reshape(n, hop).max(axis=1) if n else np.zeros(0)
    return (np.arange(n) + 0.5) * hop / sr, peaks


def label_room(figure: Figure, labels: list[str], size: str | float) -> float:
    """Share of ``figure``'s width left of its axes for the widest of ``labels`` at font ``size``
    (measured as ``figure`` will draw it), with :data:`MARGIN` on either side."""
    renderer = figure.canvas.get_renderer()
    font = FontProperties(size=size)
    widths = [renderer.get_text_width_height_descent(t, font, ismath=False)[0] for t in labels]
    return (max(widths, default=0.0) / figure.dpi + 2 * MARGIN) / figure.get_figwidth()


def weight_grid_axes(ax: Axes, result: TrackExplanation, colorbar_axes: Axes | None = None) -> None:
    """Draw the sources × segments weights on ``ax`` with a symmetric diverging colour scale (its
    colour bar in ``colorbar_axes``, else beside ``ax``)."""
    explanation = result.explanation
    grid = explanation.weight_grid()
    limit = float(np.max(np.abs(grid))) or 1.0
    image = ax.imshow(grid, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_yticks(range(len(explanation.sources)), explanation.sources)
    segmentation = result.factorization.segmentation
    spans = [segmentation.span_seconds(i) for i in range(segmentation.n_segments)]
    labels = segmentation.labels or ("",) * segmentation.n_segments
    ax.set_xticks(
        range(segmentation.n_segments),
        [
            f"{start:.0f}–{end:.0f} s" + (f"\n{label}" if label else "")
            for (start, end), label in zip(spans, labels, strict=True)
        ],
    )
    for (row, col), value in np.ndenumerate(grid):
        ax.text(col, row, f"{value:+.3f}", ha="center", va="center", fontsize=8)
    ax.set_title(f"weight of each component (positive: {raises(explanation.label)}s the relevance)")
    if colorbar_axes is None:
        ax.figure.colorbar(image, ax=ax, fraction=0.03)
    else:
        ax.figure.colorbar(image, cax=colorbar_axes)


def source_rows_axes(axes: list[Axes], result: TrackExplanation, top: list[int]) -> None:
    """One waveform row per source on ``axes``: the whole track in blue, the ``top`` components in red."""
    explanation, factorization = result.explanation, result.factorization
    boundaries = factorization.boundaries
    sr = factorization.sr
    for ax, source in zip(axes, explanation.sources, strict=True):
        members = [i for i in range(factorization.n_components) if factorization.source_of(i) == source]
        times, peaks = envelope(np.sum(factorization.components[members], axis=0), sr)
        ax.fill_between(times, -peaks, peaks, color=OTHER_COLOUR, alpha=0.35, linewidth=0)
        for index in top:
            if factorization.source_of(index) != source:
                continue
            segment = factorization.segment_of(index)
            start, end = boundaries[segment], boundaries[segment + 1]
            t, p = envelope(factorization.components[index][start:end], sr)
            ax.fill_between(t + start / sr, -p, p, color=TOP_COLOUR, alpha=0.9, linewidth=0)
            label = "Top Highlight" if index == top[0] else f"Top-{top.index(index) + 1}"
            ax.text(start / sr + 0.05, 0.92, label, transform=ax.get_xaxis_transform(), **LABEL_STYLE)
        for boundary in boundaries[1:-1]:
            ax.axvline(boundary / sr, color="0.6", linewidth=0.6)
        ax.set_ylabel(source, rotation=0, ha="right", va="center")
        ax.set_yticks([])
        ax.set_xlim(0, factorization.n_samples / sr)
    axes[-1].set_xlabel("time (s)")


def draw_source_rows(result: TrackExplanation, k: int) -> Figure:
    """The per-source rows with the Top-``k`` components marked (the app shows one per highlight)."""
    sources = list(result.explanation.sources)
    width, height = 10.0, 0.75 * len(sources) + 0.5
    figure = agg_figure(figsize=(width, height))
    axes = figure.subplots(len(sources), 1, sharex=True, squeeze=False)
    figure.subplots_adjust(
        left=label_room(figure, sources, rcParams["axes.labelsize"]),
        right=1 - MARGIN / width,
        bottom=AXIS_LABEL_ROOM / height,
        top=1 - MARGIN / height,
        hspace=0.35,
    )
    source_rows_axes(list(axes[:, 0]), result, result.explanation.top_k(k))
    return figure


def draw_weight_grid(result: TrackExplanation) -> Figure:
    """The sources × segments weight grid as a figure of its own (the page shows it under the highlights)."""
    width, height = 10.0, 2.6
    figure = agg_figure(figsize=(width, height))
    labelled = bool(result.factorization.segmentation.labels)  # a second line under each segment
    left = label_room(figure, list(result.explanation.sources), rcParams["ytick.labelsize"])
    bottom = (0.4 + 0.2 * labelled) / height
    top = 1 - 0.4 / height  # the title
    bar_room = 1.0 / width  # the colour bar and its tick labels
    ax = figure.add_axes((left, bottom, 1 - left - bar_room - 0.3 / width, top - bottom))
    bar = figure.add_axes((1 - bar_room, bottom, 0.12 / width, top - bottom))
    weight_grid_axes(ax, result, bar)
    return figure


def draw_explanation(result: TrackExplanation, k: int = 3) -> Figure:
    """One waveform row per source (Top-k components in red, Top Highlight labelled) and the grid,
    under a title that names the track, the explanation and the question it answers."""
    explanation = result.explanation
    n_sources = len(explanation.sources)
    top = explanation.top_k(k)
    title = [
        f"{result.track_id}: {explanation.kind} explanation, fidelity R² = {explanation.fidelity:.2f}"
        + (f", separator {explanation.separator}" if explanation.separator else ""),
        *textwrap.wrap(explanation.answers(), TITLE_WIDTH),
        *([] if top else [f"no component {raises(explanation.label)}s the relevance"]),
    ]
    rows_height = 1.1 * n_sources + 0.25 * len(title)
    figure = agg_figure(figsize=(10, rows_height + 2.6), layout="constrained")
    rows = figure.subfigures(2, 1, height_ratios=[rows_height, 2.6])
    axes = rows[0].subplots(n_sources, 1, sharex=True, squeeze=False)[:, 0]
    source_rows_axes(list(axes), result, top)
    rows[0].suptitle("\n".join(title))
    weight_grid_axes(rows[1].subplots(), result)
    return figure


#: The page's figures of an explanation, by name: the per-source rows of the Top Highlight and of the
#: Top-3, and the weight grid.
PAGE_FIGURES = {
    "top-1": lambda result: draw_source_rows(result, 1),
    "top-3": lambda result: draw_source_rows(result, 3),
    "weights": draw_weight_grid,
}


def png_bytes(figure: Figure, **savefig: object) -> bytes:
    """``figure`` as PNG bytes (``savefig``: Matplotlib's options)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", **savefig)
    return buffer.getvalue()


#: Resolution of the page's figures: 1500 pixels across, sharp at the page's width on a high-density
#: screen; at 200 and trimmed to what is drawn (drawn twice) the three took 0.54 s, now 0.40 s.
PAGE_DPI = 150
#: Part of a cached page figure's name: raise it when the figures are drawn differently.
PAGE_FIGURES_VERSION = 1


def page_figure_png(
    result: TrackExplanation, name: str, dpi: int = PAGE_DPI, cache_dir: Path | str | None = None
) -> bytes:
    """One of :data:`PAGE_FIGURES` as PNG bytes (each lays itself out within its size).

    With ``cache_dir`` the figure is kept next to its explanation in the explanations cache
    (``<key>.<name>.v<version>-<dpi>.png``), so an explanation from the cache is not drawn again by
    a server started anew.
    """
    path = None
    if cache_dir is not None and result.key:
        figure_name = f"{result.key}.{name}.v{PAGE_FIGURES_VERSION}-{dpi}.png"
        path = cache_folder(cache_dir, "explanations") / figure_name
        try:
            image = path.read_bytes()
        except OSError:
            pass  # not drawn yet, or evicted meanwhile
        else:
            touch(path)
            return image
    image = png_bytes(PAGE_FIGURES[name](result), dpi=dpi)
    if path is not None:
        with atomic_open(path, "wb") as handle:
            handle.write(image)
        keep_within_limit(cache_dir)
    return image


def explanation_figure(result: TrackExplanation, k: int, path: Path | str) -> Path:
    """Draw :func:`draw_explanation` into a PNG at ``path`` (written atomically)."""
    image = png_bytes(draw_explanation(result, k), dpi=110)
    with atomic_open(path, "wb") as handle:
        handle.write(image)
    return Path(path)
