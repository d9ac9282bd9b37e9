"""Segmentation study: do the segmenters find the songs' true structure, and what do time explanations gain?

Two parts, on a catalogue that knows its songs' structure (the built-in catalogue, format 2):

- **boundaries**: each segmenter's interior boundaries, for tracks spread over the genres, against
  the true ones: the F-measure of the section boundaries (where the verse and the chorus begin;
  ``mir_eval.segment.detection`` at ±0.5 s and ±3 s), and the share of boundaries that fall on a
  true bar line (±:data:`BAR_TOLERANCE` s).
- **explanations**: each user's top-ranked tracks explained in time with each segmenter, again and
  again on neighbourhoods of their own: the surrogate's fidelity (R²), U_n (distinct components in
  the runs' Top-k by absolute weight) and whether the Top Highlight is a musical unit: bounded by
  bar lines at both ends, and inside one true section (not straddling where the chorus begins).

The equal split (SPEC's) is the baseline of both.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from tqdm import tqdm

from explanations.audiolime.engine import scorer_for
from explanations.audiolime.factorization import DEFAULT_SEGMENTS, Factorization, factorize
from explanations.audiolime.questions import DEFAULT_QUESTION
from explanations.audiolime.segmenters import SEGMENTERS
from explanations.studies.report import StudyReport, markdown_table, write_study
from explanations.studies.stability import check_repeats, repeated_explanations, runs_agreement
from lemons.audio import SAMPLE_RATE
from lemons.catalogue.base import Catalogue
from lemons.catalogue.structure import SongStructure
from lemons.errors import ConfigError
from recsys.checkpoint import find_model, load_checkpoint
from recsys.ranking import rank_tracks

#: Tolerances (s) of the section-boundary F-measure, as in MIREX structural segmentation.
WINDOWS = (0.5, 3.0)
#: A boundary within this many seconds of a bar line is on it.
BAR_TOLERANCE = 0.1


@dataclass(frozen=True)
class BoundaryRow:
    """One segmenter's boundaries for one track against its true structure."""

    track_id: str
    genre: str
    segmenter: str
    n_segments: int
    f_05: float  # section-boundary F-measure at ±0.5 s
    f_3: float  # at ±3 s
    on_bars: float  # share of interior boundaries on a true bar line


@dataclass(frozen=True)
class ExplanationRow:
    """One user's top-ranked track explained in time with one segmenter, ``n_repeats`` times."""

    user: str
    track_id: str
    segmenter: str
    n_segments: int
    fidelity: float  # mean R² over the runs
    unique: int  # U_n: distinct components among the runs' Top-k by absolute weight
    highlight_on_bars: float  # share of runs whose Top Highlight begins and ends on bar lines
    highlight_in_one_section: float  # share of runs whose Top Highlight lies inside one true section


def interior_boundaries(factorization: Factorization) -> np.ndarray:
    """The time segments' boundaries in seconds, without the track's start and end."""
    return np.asarray(factorization.boundaries[1:-1], dtype=float) / factorization.sr


def section_boundaries(structure: SongStructure, duration: float) -> np.ndarray:
    """Where true sections begin inside the track (s), the track's start left out."""
    return np.array([start for start, _, _ in structure.sections(duration) if start > 0])


def on_bar_lines(times: np.ndarray, structure: SongStructure, duration: float) -> np.ndarray:
    """For each of ``times`` (s): whether it lies within :data:`BAR_TOLERANCE` of a bar line (the track's
    start and end count as such)."""
    lines = np.concatenate((structure.bars(duration), [duration]))
    return np.array([np.min(np.abs(lines - t)) <= BAR_TOLERANCE for t in times], dtype=bool)


def boundary_f_measure(estimated: np.ndarray, reference: np.ndarray, duration: float, window: float) -> float:
    """``mir_eval``'s boundary-detection F-measure of ``estimated`` against ``reference`` interior
    boundaries (s) of a track of ``duration`` s; 1 where both have none."""
    import mir_eval

    if not len(reference) and not len(estimated):
        return 1.0

    def intervals(inner: np.ndarray) -> np.ndarray:
        inside = np.unique(inner[(inner > 1e-3) & (inner < duration - 1e-3)])  # rounding at the ends
        edges = np.concatenate(([0.0], inside, [duration]))
        return np.stack((edges[:-1], edges[1:]), axis=1)

    _, _, f = mir_eval.segment.detection(intervals(reference), intervals(estimated), window=window, trim=True)
    return float(f)


def boundary_rows(
    catalogue: Catalogue, track_ids: Sequence[str], segmenters: Sequence[str], n_segments: int, progress: bool
) -> list[BoundaryRow]:
    """:class:`BoundaryRow` per track × segmenter."""
    rows = []
    for track_id in tqdm(track_ids, desc="segment", unit="track", disable=not progress):
        audio = catalogue.load_audio(track_id)
        structure = catalogue.structure(track_id)
        assert structure is not None  # the study checked that the catalogue has structure
        duration = len(audio) / SAMPLE_RATE
        reference = section_boundaries(structure, duration)
        for name in segmenters:
            factorization = factorize("time", audio, n_segments=n_segments, segmenter=name)
            estimated = interior_boundaries(factorization)
            rows.append(
                BoundaryRow(
                    track_id,
                    catalogue[track_id].genre,
                    name,
                    factorization.n_segments,
                    *(boundary_f_measure(estimated, reference, duration, w) for w in WINDOWS),
                    float(on_bar_lines(estimated, structure, duration).mean()) if len(estimated) else 1.0,
                )
            )
    return rows


def highlight_units(
    runs: Sequence, factorization: Factorization, structure: SongStructure, duration: float
) -> tuple[float, float]:
    """Shares of ``runs`` whose Top Highlight is bounded by bar lines, and lies inside one true section."""
    sections = np.concatenate(([0.0], section_boundaries(structure, duration), [duration]))
    on_bars = in_section = 0
    for run in runs:
        top = run.top_k(1)
        if not top:
            continue
        start, end = factorization.segmentation.span_seconds(factorization.segment_of(top[0]))
        on_bars += bool(on_bar_lines(np.array([start, end]), structure, duration).all())
        crossed = sections[(sections > start + WINDOWS[0]) & (sections < end - WINDOWS[0])]
        in_section += not len(crossed)
    return on_bars / len(runs), in_section / len(runs)


def segmentation_study(
    users: Sequence[str],
    catalogue: Catalogue,
    out_dir: Path,
    *,
    segmenters: Sequence[str] = tuple(SEGMENTERS.names()),
    n_segments: int = DEFAULT_SEGMENTS,
    per_genre: int = 10,
    n_tracks: int = 3,
    n_samples: int = 2048,
    n_repeats: int = 5,
    k: int = 3,
    seed: int = 0,
    device: torch.device | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> tuple[list[BoundaryRow], list[ExplanationRow]]:
    """Run both parts; write ``segmentation.csv`` (both parts' rows, ``part`` says which),
    ``segmentation.png`` and ``summary.md`` into ``out_dir``.

    ``per_genre`` tracks of each genre are segmented for the boundary part; each user's ``n_tracks``
    top-ranked tracks are explained ``n_repeats`` times at N_s = ``n_samples`` per segmenter.
    """
    if not catalogue.has_structure:
        raise ConfigError(
            f"the {catalogue.name} catalogue does not know its songs' structure; a built-in catalogue "
            "records it from format 2 on: run `lemons data build` to add it"
        )
    for name in segmenters:
        SEGMENTERS[name]  # an unknown segmenter raises ConfigError, listing the valid ones
    check_repeats([n_samples], max(n_tracks, 1), n_repeats, k)
    started = time.perf_counter()
    by_genre: dict[str, list[str]] = {}
    for track in catalogue:
        by_genre.setdefault(track.genre, []).append(track.id)
    spread = [t for ids in by_genre.values() for t in ids[:per_genre]]
    boundaries = boundary_rows(catalogue, spread, segmenters, n_segments, progress)
    explained: list[ExplanationRow] = []
    for user in users:
        recommender = load_checkpoint(find_model(user), device or "cpu")
        ranking = rank_tracks(recommender, catalogue, device=device, cache_dir=cache_dir, progress=progress)
        for ranked in tqdm(ranking.top(n_tracks), desc=f"explain {user}", disable=not progress):
            audio = catalogue.load_audio(ranked.track_id)
            structure = catalogue.structure(ranked.track_id)
            assert structure is not None
            duration = len(audio) / SAMPLE_RATE
            for name in segmenters:
                factorization = factorize("time", audio, n_segments=n_segments, segmenter=name)
                scorer = scorer_for(recommender.model, factorization, device)
                runs = repeated_explanations(
                    factorization, scorer, n_samples, n_repeats, seed, DEFAULT_QUESTION
                )
                agreement = runs_agreement(runs, k, factorization)
                on_bars, in_section = highlight_units(runs, factorization, structure, duration)
                explained.append(
                    ExplanationRow(
                        user, ranked.track_id, name, factorization.n_segments, agreement["fidelity"],
                        agreement["unique"], on_bars, in_section,
                    )
                )  # fmt: skip
    table = pd.concat(
        [
            pd.DataFrame([asdict(r) for r in boundaries]).assign(part="boundaries"),
            pd.DataFrame([asdict(r) for r in explained]).assign(part="explanations"),
        ],
        ignore_index=True,
    )
    summary = segmentation_summary(
        boundaries, explained, segmenters, n_samples=n_samples, n_repeats=n_repeats, k=k,
        seconds=time.perf_counter() - started,
    )  # fmt: skip
    figures = {"segmentation.png": segmentation_figure(boundaries, explained, segmenters)}
    write_study(StudyReport("segmentation", table, summary, figures, float_format="%.4f"), out_dir)
    return boundaries, explained


def segmentation_summary(
    boundaries: Sequence[BoundaryRow],
    explained: Sequence[ExplanationRow],
    segmenters: Sequence[str],
    *,
    n_samples: int,
    n_repeats: int,
    k: int,
    seconds: float,
) -> list[str]:
    """The lines of ``summary.md``: a table per part, per segmenter (and per genre for the boundaries)."""
    b = pd.DataFrame([asdict(r) for r in boundaries])
    lines = [
        "# Segmentation",
        "",
        f"Boundaries: {b.track_id.nunique()} tracks over {b.genre.nunique()} genres against their true "
        f"sections and bar lines; F-measure of the section boundaries at ±{WINDOWS[0]} s and ±{WINDOWS[1]} s "
        f"(mir_eval), share of boundaries on a bar line (±{BAR_TOLERANCE} s).",
        "",
    ]
    rows = []
    for name in segmenters:
        mine = b[b.segmenter == name]
        rows.append(
            [name, f"{mine.n_segments.mean():.1f}", f"{mine.f_05.mean():.2f}", f"{mine.f_3.mean():.2f}",
             f"{mine.on_bars.mean():.0%}"]
        )  # fmt: skip
    lines += markdown_table(["segmenter", "segments", "F at 0.5 s", "F at 3 s", "on a bar line"], rows)
    lines += ["", "F at 3 s per genre:", ""]
    genres = sorted(b.genre.unique())
    lines += markdown_table(
        ["segmenter", *genres],
        [
            [name] + [f"{b[(b.segmenter == name) & (b.genre == g)].f_3.mean():.2f}" for g in genres]
            for name in segmenters
        ],
    )
    if explained:
        e = pd.DataFrame([asdict(r) for r in explained])
        lines += [
            "",
            f"Explanations: {e.user.nunique()} users' top {e.groupby('user').track_id.nunique().max()} "
            f"tracks, time explanations at N_s = {n_samples}, {n_repeats} runs each; U_n of the Top-{k} "
            "by absolute weight.",
            "",
        ]
        rows = []
        for name in segmenters:
            mine = e[e.segmenter == name]
            rows.append(
                [name, f"{mine.fidelity.mean():.2f}", f"{mine.unique.mean():.2f}",
                 f"{np.median(mine.unique):g}", f"{mine.highlight_on_bars.mean():.0%}",
                 f"{mine.highlight_in_one_section.mean():.0%}"]
            )  # fmt: skip
        lines += markdown_table(
            ["segmenter", "mean fidelity", "mean U_n", "median U_n", "Top Highlight on bar lines",
             "Top Highlight inside one section"],
            rows,
        )  # fmt: skip
    lines += ["", f"{seconds / 60:.1f} min."]
    return lines


def segmentation_figure(
    boundaries: Sequence[BoundaryRow], explained: Sequence[ExplanationRow], segmenters: Sequence[str]
) -> Figure:
    """Boundary F-measures and bar-line shares per segmenter; fidelity and U_n of the explanations."""
    b = pd.DataFrame([asdict(r) for r in boundaries])
    figure = Figure(figsize=(12, 3.8))
    axes = figure.subplots(1, 3)
    x = np.arange(len(segmenters))
    for offset, (column, label) in enumerate(
        (("f_05", "F at 0.5 s"), ("f_3", "F at 3 s"), ("on_bars", "on a bar line"))
    ):
        values = [b[b.segmenter == name][column].mean() for name in segmenters]
        axes[0].bar(x + (offset - 1) * 0.27, values, width=0.27, label=label)
    axes[0].set_xticks(x, segmenters)
    axes[0].set_ylim(0, 1)
    axes[0].set_title("boundaries against the true structure")
    axes[0].legend(fontsize=8)
    if explained:
        e = pd.DataFrame([asdict(r) for r in explained])
        axes[1].boxplot([e[e.segmenter == name].fidelity for name in segmenters], tick_labels=segmenters)
        axes[1].set_title("fidelity (R²) of time explanations")
        axes[2].boxplot([e[e.segmenter == name].unique for name in segmenters], tick_labels=segmenters)
        axes[2].set_title("U_n (distinct Top-k components)")
    figure.tight_layout()
    return figure
