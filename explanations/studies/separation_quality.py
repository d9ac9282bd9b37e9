"""How well Spleeter separates the built-in catalogue: SDR per source against the true stems.

Source explanations are only as trustworthy as the sources they are made of. The built-in catalogue
ships each track's true stems (the mix is their exact sum), so every installed Spleeter model can be
scored against them with BSS-eval v4 (``museval``, the SiSEC 2018 measure): the signal-to-distortion
ratio (SDR, dB) of each source, per one-second frame, summarised per track by the median over frames
and per model × source by the median over tracks.

The ``reference`` separator needs no such study: it *is* the true stems, exact by construction.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from tqdm import tqdm

from explanations.audiolime.separation import (
    SPLEETER_MODELS,
    Separation,
    SpleeterSeparator,
    separate_cached,
    spleeter_models_installed,
)
from explanations.studies.report import StudyReport, markdown_table, write_study
from lemons.audio import SAMPLE_RATE
from lemons.catalogue.base import Catalogue, Track
from lemons.config import get_settings
from lemons.errors import ConfigError, EvaluationError, SeparationError

#: Spleeter's catch-all sources: each takes every true stem that no other source of its model takes.
RESIDUAL_SOURCES = ("accompaniment", "other")


@dataclass(frozen=True)
class SourceScore:
    """The SDR of one source of one track separated by one model (a row of ``separation.csv``)."""

    model: str
    track_id: str
    title: str
    genre: str
    source: str
    sdr: float  # dB, median over frames; NaN when the true source is silent throughout
    frames: int  # frames with a defined SDR


def reference_sources(stems: dict[str, np.ndarray], sources: tuple[str, ...]) -> np.ndarray:
    """The true signal of each of a separator's ``sources``, built from a catalogue's true ``stems``.

    A source named like a stem is that stem. A catch-all source (:data:`RESIDUAL_SOURCES`) is the sum of
    the stems that no other source of the model takes: Spleeter 2stems' ``accompaniment`` is
    ``piano + drums + bass + other``, 4stems' ``other`` is ``piano + other`` (4stems has no piano) and
    5stems' ``other`` is ``other``. So the references of a model always add up to the mix.

    Args:
        stems: ``{stem: [samples]}`` at one sample rate, aligned with each other (the built-in catalogue's
            ``vocals, piano, drums, bass, other``, or musdb18's four); cut to the shortest.
        sources: the separator's source names, in its order.

    Returns:
        ``[n_sources, samples]`` float32 in ``sources`` order.

    Raises:
        SeparationError: a source has no true stem (5stems' ``piano`` on musdb18, whose ``other``
            holds the piano).
    """
    n = min(len(s) for s in stems.values())
    taken = {source for source in sources if source not in RESIDUAL_SOURCES}
    rows = []
    for source in sources:
        if source in RESIDUAL_SOURCES:
            members = [name for name in stems if name not in taken]
        elif source in stems:
            members = [source]
        else:
            raise SeparationError(
                f"there is no true {source!r} stem to measure {source!r} against "
                f"(the true stems: {', '.join(stems)})"
            )
        row = np.zeros(n, dtype=np.float32)
        for name in members:
            row += np.asarray(stems[name][:n], dtype=np.float32)
        rows.append(row)
    return np.stack(rows)


def _import_museval() -> ModuleType:
    try:
        import museval
    except ImportError as exc:
        raise EvaluationError(f"cannot import museval ({exc}); install it: pip install museval") from exc
    except Exception as exc:  # museval imports musdb, whose stempeg raises when ffmpeg is missing
        raise EvaluationError(
            f"cannot import museval ({exc}); it needs ffmpeg and ffprobe: install Debian's ffmpeg "
            "(`apt-get install ffmpeg`)"
        ) from exc
    return museval


def track_sdr(
    reference: np.ndarray, estimate: np.ndarray, sr: int = SAMPLE_RATE, window_s: float = 1.0
) -> np.ndarray:
    """The median BSS-eval v4 SDR (dB) of each source over frames of ``window_s`` seconds (hop = window).

    Each source is passed to ``museval.evaluate`` on its own, as ``[1, samples, 1 channel]``: in
    BSS-eval v4's image mode a source's SDR depends only on its reference and its estimate, but museval
    marks a frame undefined for every source as soon as any one reference is silent in it, which would
    drop the accompaniment's frames wherever the vocals rest. Frames where the reference is silent are
    undefined (NaN) and left out of the median; frames where only the estimate is silent score 0 dB,
    the SDR of an all-zero estimate (museval would call them undefined too).

    Args:
        reference: true sources ``[n_sources, samples]`` at ``sr`` Hz.
        estimate: separated sources ``[n_sources, samples]`` at ``sr`` Hz, in the same order.
        sr: sample rate in Hz.
        window_s: frame length in seconds (SiSEC 2018: one second).

    Returns:
        ``[n_sources]`` float64: median SDR over defined frames, NaN where the reference is silent
        throughout (``inf`` for an estimate that is exactly the reference).
    """
    reference = np.asarray(reference, dtype=np.float64)
    estimate = np.asarray(estimate, dtype=np.float64)
    if reference.ndim != 2 or reference.shape != estimate.shape:
        raise ValueError(
            f"reference {reference.shape} and estimate {estimate.shape} must both be [n_sources, samples]"
        )
    frames = frame_sdr(reference, estimate, sr, window_s)
    return np.array([np.nanmedian(sdr) if not np.all(np.isnan(sdr)) else np.nan for sdr in frames])


def frame_sdr(
    reference: np.ndarray, estimate: np.ndarray, sr: int = SAMPLE_RATE, window_s: float = 1.0
) -> np.ndarray:
    """Per-frame SDR (dB) as in :func:`track_sdr`: ``[n_sources, n_frames]``, NaN where undefined."""
    museval = _import_museval()
    reference = np.asarray(reference, dtype=np.float64)
    estimate = np.asarray(estimate, dtype=np.float64)
    win = max(1, round(window_s * sr))
    frames = list(museval.metrics.Framing(win, win, reference.shape[1]))
    result = np.full((len(reference), len(frames)), np.nan)
    for j, (ref, est) in enumerate(zip(reference, estimate, strict=True)):
        if not np.any(ref):
            continue  # silent throughout: no SDR (museval would return NaN for every frame)
        if np.any(est):
            sdr, _, _, _ = museval.evaluate(ref[None, :, None], est[None, :, None], win=win, hop=win)
            result[j] = sdr[0]
        for t, frame in enumerate(frames):
            if np.any(ref[frame]) and not np.any(est[frame]):
                result[j, t] = 0.0  # estimate silent, reference not: all error, 0 dB
    return result


def spread_over_genres(catalogue: Catalogue, n_tracks: int) -> list[Track]:
    """``n_tracks`` tracks taken round-robin over the genres: the first track of each genre (genres in
    the order they first appear in the catalogue), then the second of each, and so on. Deterministic,
    and every genre appears as soon as ``n_tracks`` is at least the number of genres."""
    by_genre: dict[str, list[Track]] = {}
    for track in catalogue:
        by_genre.setdefault(track.genre, []).append(track)
    chosen: list[Track] = []
    for rank in range(max((len(tracks) for tracks in by_genre.values()), default=0)):
        chosen += [tracks[rank] for tracks in by_genre.values() if rank < len(tracks)]
    return chosen[:n_tracks]


def summarise(scores: list[SourceScore]) -> list[dict]:
    """One row per model × source (in the order first met): median and mean SDR over the tracks where
    it is defined, the number of those tracks and of the tracks where the true source is silent."""
    groups: dict[tuple[str, str], list[float]] = {}
    for score in scores:
        groups.setdefault((score.model, score.source), []).append(score.sdr)
    summary = []
    for (model, source), values in groups.items():
        defined = np.array([v for v in values if not np.isnan(v)])
        summary.append(
            {
                "model": model,
                "source": source,
                "median_sdr": float(np.median(defined)) if len(defined) else None,
                "mean_sdr": float(np.mean(defined)) if len(defined) else None,
                "tracks": len(defined),
                "silent": len(values) - len(defined),
            }
        )
    return summary


def separation_study(
    catalogue: Catalogue,
    out_dir: Path,
    *,
    models: list[str] | None = None,
    n_tracks: int = 10,
    window_s: float = 1.0,
    model_dir: Path | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> list[dict]:
    """Score Spleeter's separations of ``n_tracks`` tracks against the catalogue's true stems.

    The tracks are spread over the genres (:func:`spread_over_genres`). Every track's 16 kHz mix is
    separated by each model in ``models`` (default: every installed one, best first; separations are
    cached in ``<cache_dir>/separation/``) and each source gets its :func:`track_sdr` against
    :func:`reference_sources`. Writes ``separation.csv`` (one row per model × track × source),
    ``separation.png`` (SDR over tracks per model and source) and ``summary.md`` into ``out_dir``.

    Returns:
        the summary rows (see :func:`summarise`), also written as the table of ``summary.md``.

    Raises:
        SeparationError: the catalogue has no true stems, or a model's weights are not installed.
        ConfigError: an unknown model name, or ``n_tracks`` below 1.
    """
    if not catalogue.has_stems:
        raise SeparationError(
            f"the {catalogue.name} catalogue has no true stems to measure separation against; "
            "use the built-in catalogue (or musdb18)"
        )
    if n_tracks < 1:
        raise ConfigError(f"n_tracks must be at least 1, got {n_tracks}")
    separators = spleeter_separators(models, model_dir)
    cache_dir = cache_dir or get_settings().cache_dir
    tracks = spread_over_genres(catalogue, n_tracks)
    scores: list[SourceScore] = []
    started = time.perf_counter()
    for track in tqdm(tracks, desc="separation quality", disable=not progress):
        audio = catalogue.load_audio(track.id)
        stems = catalogue.load_stems(track.id)
        for separator in separators:
            separation = separate_cached(separator, audio, SAMPLE_RATE, cache_dir)
            scores += source_scores(separator.model, track, separation, stems, window_s)
    summary = summarise(scores)
    seconds = time.perf_counter() - started
    report = StudyReport(
        "separation",
        pd.DataFrame([asdict(s) for s in scores]),
        separation_summary(summary, len(tracks), window_s, seconds),
        {"separation.png": separation_figure(summary, scores, len(tracks))},
        float_format="%.3f",
    )
    write_study(report, out_dir)
    return summary


def spleeter_separators(models: list[str] | None, model_dir: Path | None = None) -> list[SpleeterSeparator]:
    """Spleeter separators of ``models`` (default: every installed model, best first).

    Raises:
        SeparationError: no model is installed, or one of ``models`` lacks its weights.
        ConfigError: an unknown model name.
    """
    if models is None:
        models = spleeter_models_installed(model_dir)
        if not models:
            raise SeparationError(
                "no Spleeter model is installed to evaluate; install one with: lemons setup weights"
            )
    unknown = [model for model in models if model not in SPLEETER_MODELS]
    if unknown:
        raise ConfigError(
            f"unknown Spleeter model {', '.join(map(repr, unknown))}; use {', '.join(SPLEETER_MODELS)}"
        )
    return [SpleeterSeparator(model, model_dir) for model in models]


def source_scores(
    model: str, track: Track, separation: Separation, stems: dict[str, np.ndarray], window_s: float
) -> list[SourceScore]:
    """The SDR of every source of ``separation`` (``model``'s, of ``track``) against the true ``stems``."""
    reference = reference_sources(stems, separation.sources)
    n = separation.stems.shape[1]
    reference = np.pad(reference[:, :n], ((0, 0), (0, max(0, n - reference.shape[1]))))
    frames = frame_sdr(reference, separation.stems, separation.sr, window_s)
    scores = []
    for source, sdr in zip(separation.sources, frames, strict=True):
        defined = int(np.sum(~np.isnan(sdr)))
        sdr_value = float(np.nanmedian(sdr)) if defined else float("nan")
        scores.append(SourceScore(model, track.id, track.title, track.genre, source, sdr_value, defined))
    return scores


def separation_figure(summary: list[dict], scores: list[SourceScore], n_tracks: int) -> Figure:
    """Box plots of the tracks' SDR per model × source (red: the median)."""
    defined: dict[tuple[str, str], list[float]] = {}
    for x in scores:
        if not np.isnan(x.sdr):
            defined.setdefault((x.model, x.source), []).append(x.sdr)
    groups = [(s, defined[s["model"], s["source"]]) for s in summary if (s["model"], s["source"]) in defined]
    figure = Figure(figsize=(max(4, 0.9 * len(groups) + 1), 3.2), layout="constrained")
    ax = figure.subplots()
    if groups:
        ax.boxplot([values for _, values in groups], showmeans=False, medianprops={"color": "#d62728"})
        ax.set_xticks(
            range(1, len(groups) + 1), [f"{s['model']}\n{s['source']}" for s, _ in groups], fontsize=8
        )
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.set_ylabel("SDR (dB), median over frames")
    ax.set_title(f"Spleeter vs the true stems ({n_tracks} tracks; red: median)", fontsize=9)
    return figure


def separation_summary(summary: list[dict], n_tracks: int, window_s: float, seconds: float) -> list[str]:
    """``summary.md``: how SDR is measured, and the median and mean SDR per model × source."""

    def sdr(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1f}"

    rows = (
        [s["model"], s["source"], sdr(s["median_sdr"]), sdr(s["mean_sdr"]), s["tracks"], s["silent"]]
        for s in summary
    )
    return [
        "# Separation quality",
        "",
        f"Each of {n_tracks} tracks of the catalogue (spread over its genres) was separated by Spleeter "
        "and every source compared with the catalogue's true stems (Spleeter's accompaniment is the sum of "
        "every stem but the vocals; 4stems' other is piano + other). The score is the signal-to-distortion "
        "ratio (SDR) of BSS-eval v4 (museval), in dB: the energy of the true source over the energy of "
        "everything else in the estimate (leaked sources, artefacts, missing parts), per frame of "
        f"{window_s:g} s, summarised per track by the median over frames. Higher is better: 0 dB means "
        "as much error as signal, each further 10 dB ten times less error (published Spleeter results on "
        "the real recordings of musdb18 are around 4–7 dB per source). A source that is silent "
        "throughout a track has no SDR and counts under 'silent'. The reference separator (the true "
        "stems) is exact by construction: its SDR would be infinite, and explanations made with it carry "
        "no separation error.",
        "",
        *markdown_table(["model", "source", "median SDR (dB)", "mean SDR (dB)", "tracks", "silent"], rows),
        "",
        f"Computed in {seconds:.0f} s (separations may come from the cache).",
    ]
