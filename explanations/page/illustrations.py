"""The demo's explanatory pictures, drawn here (no external images): the recommender and the three
kinds of interpretable components. Each function returns PNG bytes."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from explanations.page.figures import agg_figure, png_bytes

SOURCE_COLOURS = {
    "vocals": "#e377c2",
    "piano": "#9467bd",
    "drums": "#d62728",
    "bass": "#2ca02c",
    "other": "#ff7f0e",
}
N_SEGMENTS = 5


def _png(figure: Figure) -> bytes:
    """``figure`` as PNG bytes at the pictures' resolution, trimmed to what is drawn."""
    return png_bytes(figure, dpi=90, bbox_inches="tight")


def _source_waves(n: int = 1500) -> dict[str, np.ndarray]:
    """Smooth made-up envelopes of the five sources (deterministic)."""
    rng = np.random.default_rng(3)
    t = np.linspace(0, 1, n)
    waves = {}
    for i, name in enumerate(SOURCE_COLOURS):
        carrier = rng.normal(0, 1, n)
        shape = 0.5 + 0.5 * np.sin(2 * np.pi * (1.5 + i) * t + i) ** 2
        waves[name] = carrier * shape * (0.6 + 0.1 * i)
    return waves


def recommender_picture() -> bytes:
    """Audio → mel spectrogram → FCN → relevance."""
    figure = agg_figure(figsize=(7.5, 1.8))
    axes = figure.subplots(1, 3, gridspec_kw={"width_ratios": [2, 2, 1.4]})
    wave = sum(_source_waves().values())
    axes[0].plot(wave, color="0.3", linewidth=0.4)
    axes[0].set_title("track (16 kHz)", fontsize=9)
    rng = np.random.default_rng(0)
    spectrogram = np.cumsum(rng.normal(0, 1, (32, 60)), axis=1) + np.linspace(4, 0, 32)[:, None]
    axes[1].imshow(spectrogram, origin="lower", aspect="auto", cmap="magma")
    axes[1].set_title("mel spectrogram → FCN", fontsize=9)
    axes[2].barh([0], [0.82], color="#2ca02c")
    axes[2].set_xlim(0, 1)
    axes[2].set_title("relevance for you", fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    return _png(figure)


def components_picture(kind: str) -> bytes:
    """The components of a ``time``, ``source`` or ``time+source`` explanation, one highlighted."""
    waves = _source_waves()
    n = len(next(iter(waves.values())))
    edges = np.linspace(0, n, N_SEGMENTS + 1)
    if kind == "time":
        figure = agg_figure(figsize=(7.5, 1.4))
        ax = figure.subplots()
        mix = sum(waves.values())
        ax.plot(mix, color="0.5", linewidth=0.4)
        ax.axvspan(edges[2], edges[3], color="#ffd700", alpha=0.5)
        for x in edges[1:-1]:
            ax.axvline(x, color="k", linewidth=0.8)
        ax.set_yticks([])
        ax.set_xticks((edges[:-1] + edges[1:]) / 2, [f"segment {i}" for i in range(N_SEGMENTS)], fontsize=8)
        return _png(figure)
    figure = agg_figure(figsize=(7.5, 2.6))
    axes = figure.subplots(len(waves), 1, sharex=True)
    for ax, (name, wave) in zip(axes, waves.items(), strict=True):
        ax.plot(wave, color=SOURCE_COLOURS[name], linewidth=0.4)
        ax.set_yticks([])
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
        if kind == "time+source":
            for x in edges[1:-1]:
                ax.axvline(x, color="k", linewidth=0.6)
            if name == "drums":
                ax.axvspan(edges[3], edges[4], color="#ffd700", alpha=0.6)
        elif name == "drums":
            ax.set_facecolor("#fff3b0")
    axes[-1].set_xticks([])
    return _png(figure)
