"""Stability of explanations against LIME's random sampling (SPEC §5, after Mishra et al. 2020).

For each user model and test track, the explanation is computed ``n_repeats`` times for each number
of perturbations N_s, each time on a neighbourhood of its own: the seed of every (N_s, repeat) is
derived from the study's seed (:func:`neighbourhood_seed`), so the draws at different N_s are
independent, not prefixes of one another. U_n counts the distinct components among the Top-k of
those runs: k when every run names the same components, more the more they disagree.

U_n is measured twice. By **absolute** weight (``unique``), the original LEMONS study's measure
(``absolute_feature_sort=True``: the k components with the largest weights of either sign), which
does not depend on the question asked; and by **positive** weight (``unique_positive``): the Top-k
the explanation shows, the components that raise the relevance for the ``relevant`` question (fewer
than k where fewer raise it). LEMONS chose N_s = 2048 where most tracks give the same Top-3.

Each track is separated and factorized once, and one scorer (for the FCN the exact engine, which
remembers the patterns it has scored) serves all its runs, so patterns seen by an earlier run are not
scored again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from tqdm import tqdm

from explanations.audiolime.designs import DESIGNS, UNIFORM
from explanations.audiolime.engine import scorer_for
from explanations.audiolime.explainer import Explanation, LimeParts, check_n_samples, explain
from explanations.audiolime.factorization import Factorization
from explanations.audiolime.pipeline import ExplainSettings, track_factorization, track_separator
from explanations.audiolime.questions import DEFAULT_QUESTION
from explanations.audiolime.scoring import PerturbationScorer
from explanations.studies.report import StudyReport, markdown_table, write_study
from lemons.errors import ConfigError
from lemons.interactions import stable_seed
from recsys.checkpoint import find_model, load_checkpoint
from recsys.data import Dataset

SAMPLE_SIZES = (512, 1024, 2048, 4096)
#: How a run's Top-k is read from its explanation, by the suffix of its columns in ``stability.csv``.
MEASURES: dict[str, Callable[[Explanation, int], list[int]]] = {
    "": Explanation.top_k_absolute,  # by absolute weight, as the original study
    "_positive": Explanation.top_k,  # by positive weight, as the explanation shows it
}


@dataclass(frozen=True)
class StabilityRow:
    """One user × track × N_s of ``stability.csv``; ``*_positive`` are by positive weight."""

    user: str
    track_id: str
    played: int  # the track's label in the test split (1 = played)
    n_samples: int
    unique: int  # U_n: distinct components among the runs' Top-k by absolute weight
    unique_sources: int  # distinct sources among them
    same_top: bool  # every run named the same components
    top_sets: str  # each run's Top-k, runs separated by '|'
    unique_positive: int  # U_n among the runs' Top-k by positive weight
    unique_sources_positive: int
    same_top_positive: bool
    top_sets_positive: str
    fidelity: float  # mean over the runs


def neighbourhood_seed(seed: int, n_samples: int, repeat: int, design: str = UNIFORM) -> int:
    """The seed of the ``repeat``-th neighbourhood of N_s = ``n_samples`` drawn with ``design``: one of
    its own for every (design, N_s, repeat), the same on every machine; below 2**32 (LIME's
    ``random_state``). SPEC's ``uniform`` design keeps the seeds this study always used."""
    other = () if design == UNIFORM else (design,)
    return stable_seed("stability", seed, n_samples, repeat, *other) % 2**32


def agreement(tops: Sequence[Sequence[int]], factorization: Factorization) -> dict:
    """How the runs' Top-k (component indices, one sequence per run) agree.

    Returns ``unique`` (U_n: distinct components), ``unique_sources`` (distinct sources among them:
    for time+source, whether the runs agree on *what* is heard even when they differ on *when*),
    ``same_top`` (every run named the same set) and ``top_sets`` (the runs' names, ``|``-separated).
    """
    chosen = {c for top in tops for c in top}
    return {
        "unique": len(chosen),
        "unique_sources": len({factorization.source_of(c) for c in chosen}),
        "same_top": len({frozenset(t) for t in tops}) == 1,
        "top_sets": "|".join(" ".join(factorization.names[i] for i in top) for top in tops),
    }


def repeated_explanations(
    factorization: Factorization,
    scorer: PerturbationScorer,
    n_samples: int,
    n_repeats: int,
    seed: int,
    question: str = DEFAULT_QUESTION,
    design: str = UNIFORM,
) -> list[Explanation]:
    """``n_repeats`` explanations at N_s = ``n_samples``, each on a neighbourhood of its own drawn with
    ``design`` (a name in :data:`~explanations.audiolime.designs.DESIGNS`; :func:`neighbourhood_seed`)."""
    parts = LimeParts(sampler=DESIGNS[design].sample)  # STANDARD_PARTS for uniform
    return [
        explain(
            factorization,
            scorer,
            n_samples,
            neighbourhood_seed(seed, n_samples, r, design),
            parts=parts,
            question=question,
        )
        for r in range(n_repeats)
    ]


def runs_agreement(runs: Sequence[Explanation], k: int, factorization: Factorization) -> dict:
    """:func:`agreement`'s keys of the runs' Top-k for each of :data:`MEASURES` (suffixed), and
    ``fidelity`` (the runs' mean)."""
    result: dict = {}
    for suffix, top_k in MEASURES.items():
        measured = agreement([top_k(run, k) for run in runs], factorization)
        result |= {f"{key}{suffix}": value for key, value in measured.items()}
    return result | {"fidelity": float(np.mean([run.fidelity for run in runs]))}


def track_stability(
    factorization: Factorization,
    scorer: PerturbationScorer,
    sample_sizes: tuple[int, ...],
    n_repeats: int,
    k: int,
    seed: int,
    question: str = DEFAULT_QUESTION,
) -> list[dict]:
    """Per N_s: ``n_samples`` and :func:`runs_agreement`'s keys; every run on its own neighbourhood
    (:func:`neighbourhood_seed`)."""
    return [
        {"n_samples": n_samples}
        | runs_agreement(
            repeated_explanations(factorization, scorer, n_samples, n_repeats, seed, question),
            k,
            factorization,
        )
        for n_samples in sample_sizes
    ]


def check_repeats(sample_sizes: Iterable[int], n_tracks: int, n_repeats: int, k: int) -> None:
    """Raise :class:`ConfigError` unless the settings of a study of repeated explanations make sense."""
    for n in sample_sizes:
        check_n_samples(n)
    for name, value in (("n_tracks", n_tracks), ("n_repeats", n_repeats), ("k", k)):
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive whole number, got {value!r}")
    if n_repeats < 2:
        raise ConfigError("stability needs at least 2 repeats to compare")


@dataclass
class StudyTrack:
    """A test track ready to be explained again and again: its components and one scorer for them."""

    user: str
    track_id: str
    played: int  # the track's label in the test split (1 = played)
    factorization: Factorization
    scorer: PerturbationScorer


def study_tracks(
    users: Sequence[str],
    dataset: Dataset,
    settings: ExplainSettings,
    n_tracks: int,
    *,
    study: str = "stability",
    separator: str | None = None,
    device: torch.device | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> Iterator[StudyTrack]:
    """The first ``n_tracks`` test tracks of each user, separated and factorized once, each with one
    scorer of the user's model (for the FCN the exact engine, which remembers the patterns it scored)."""
    catalogue = dataset.catalogue
    for user in users:
        recommender = load_checkpoint(find_model(user), device or "cpu")
        test = dataset.user(user).test[:n_tracks]
        for track_id, label in tqdm(test, desc=f"{study} {user}", unit="track", disable=not progress):
            factorization = track_factorization(
                catalogue.load_audio(track_id),
                settings,
                track_separator(settings, catalogue, track_id, separator),
                cache_dir,
            )
            yield StudyTrack(
                user,
                track_id,
                int(label),
                factorization,
                scorer_for(recommender.model, factorization, device),
            )


def stability_study(
    users: list[str],
    dataset: Dataset,
    out_dir: Path,
    *,
    kind: str = "time+source",
    n_tracks: int = 5,
    sample_sizes: tuple[int, ...] = SAMPLE_SIZES,
    n_repeats: int = 5,
    k: int = 3,
    seed: int = 0,
    question: str = DEFAULT_QUESTION,
    separator: str | None = None,
    device: torch.device | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> list[StabilityRow]:
    """Measure U_n for the first ``n_tracks`` test tracks of each user; write CSV, violins, summary.

    ``question`` is the one the explanations answer (it decides the Top-k by positive weight only).
    Writes ``stability.csv`` (one row per user × track × N_s), ``stability.png`` (the original's
    layout: one axes, a violin of U_n by absolute weight per user and N_s), ``stability-users.png``
    (one panel per user, both measures) and ``summary.md`` into ``out_dir``.
    """
    check_repeats(sample_sizes, n_tracks, n_repeats, k)
    started = time.perf_counter()
    settings = ExplainSettings(kind, question=question)  # unknown types and questions raise here
    rows: list[StabilityRow] = []
    tracks = study_tracks(
        users, dataset, settings, n_tracks, separator=separator, device=device, cache_dir=cache_dir,
        progress=progress,
    )  # fmt: skip
    for track in tracks:
        for result in track_stability(
            track.factorization, track.scorer, tuple(sample_sizes), n_repeats, k, seed, question
        ):
            rows.append(StabilityRow(track.user, track.track_id, track.played, **result))
    table = pd.DataFrame([asdict(r) for r in rows])
    summary = stability_summary(
        table, kind=kind, k=k, n_repeats=n_repeats, question=question, seconds=time.perf_counter() - started
    )
    figures = {
        "stability.png": stability_violins(table, k, n_repeats),
        "stability-users.png": stability_figure(table, k, n_repeats),
    }
    write_study(StudyReport("stability", table, summary, figures), out_dir)
    return rows


#: A column of a summary table: its header, and its cell for a group of ``stability.csv``'s rows.
Column = tuple[str, Callable[[pd.DataFrame], object]]


def summary_columns(k: int) -> list[Column]:
    """The summary's columns after the grouping ones: U_n by absolute and by positive weight, etc."""
    return [
        ("tracks", len),
        ("mean U_n (abs)", lambda t: f"{t['unique'].mean():.2f}"),
        ("median U_n (abs)", lambda t: f"{t['unique'].median():g}"),
        ("mean U_n (pos)", lambda t: f"{t['unique_positive'].mean():.2f}"),
        ("median U_n (pos)", lambda t: f"{t['unique_positive'].median():g}"),
        ("distinct sources (abs)", lambda t: f"{t['unique_sources'].mean():.2f}"),
        (f"same Top-{k} in every run (abs)", lambda t: f"{t['same_top'].mean():.0%}"),
        (f"same Top-{k} in every run (pos)", lambda t: f"{t['same_top_positive'].mean():.0%}"),
        ("mean fidelity", lambda t: f"{t['fidelity'].mean():.2f}"),
    ]


def grouped_table(table: pd.DataFrame, by: Sequence[tuple[str, str]], columns: Iterable[Column]) -> list[str]:
    """A Markdown table with a row per group of ``table`` by ``by`` (``(column, header)`` pairs, groups in
    order of appearance), then a cell per column: header and rows come from the same lists."""
    columns = list(columns)
    header = [name for _, name in by] + [name for name, _ in columns]
    rows = (
        [*keys, *(cell(part) for _, cell in columns)]
        for keys, part in table.groupby([column for column, _ in by], sort=False)
    )
    return markdown_table(header, rows)


def stability_summary(
    table: pd.DataFrame, *, kind: str, k: int, n_repeats: int, question: str, seconds: float
) -> list[str]:
    """``summary.md``: U_n by absolute and by positive weight, distinct sources, agreement and fidelity
    per user × N_s, then per N_s over all users."""
    columns = summary_columns(k)
    return [
        "# Stability of explanations",
        "",
        f"{kind} explanations of each user's first test tracks, computed {n_repeats} times for each N_s, "
        f"each time on a neighbourhood of its own; U_n = distinct components among the {n_repeats} "
        f"Top-{k}s ({k} = the same components every time). *abs*: the Top-{k} by absolute weight, as the "
        f"original LEMONS study; *pos*: by positive weight, the Top-{k} the explanation shows "
        f"(`--label {question}`; with `relevant`, the components that raise the relevance; fewer than "
        f"{k} where fewer have a positive weight). Run time: {seconds / 60:.1f} min.",
        "",
        *grouped_table(table, [("user", "user"), ("n_samples", "N_s")], columns),
        "",
        *grouped_table(
            table.sort_values("n_samples", kind="stable"), [("n_samples", "all users: N_s")], columns
        ),
    ]


def draw_violin(
    ax: Axes, values: np.ndarray, position: float, width: float, colour: str, jitter: np.random.Generator
) -> None:
    """A violin of ``values`` at ``position`` with its median and the points (a bar where they are equal)."""
    if np.ptp(values) > 0:
        parts = ax.violinplot([values], positions=[position], widths=width, showmedians=True)
        for body in parts["bodies"]:
            body.set_facecolor(colour)
            body.set_alpha(0.45)
        for key in ("cmedians", "cmins", "cmaxes", "cbars"):
            parts[key].set_color(colour)
    else:  # no spread, no density: a bar at the one value
        ax.hlines(values[0], position - width / 2, position + width / 2, color=colour, lw=3)
    spread = jitter.uniform(-width / 6, width / 6, len(values))
    ax.scatter(position + spread, values, s=5, c="k", alpha=0.5, zorder=3)


def grouped_violins(ax: Axes, table: pd.DataFrame, groups: Sequence[tuple[str, pd.DataFrame, str]]) -> None:
    """At each N_s of ``table``, a violin per group side by side; ``groups`` are ``(label, rows of
    stability.csv, column of U_n)``, coloured in order and named in a legend."""
    sizes = sorted(table["n_samples"].unique())
    width = 0.8 / len(groups)
    jitter = np.random.default_rng(0)
    for index, (label, rows, column) in enumerate(groups):
        colour = f"C{index % 10}"
        for position, n in enumerate(sizes):
            values = rows[rows["n_samples"] == n][column].to_numpy()
            if values.size:
                draw_violin(ax, values, position - 0.4 + width * (index + 0.5), width * 0.9, colour, jitter)
        ax.plot([], [], color=colour, lw=6, alpha=0.6, label=label)
    ax.set_xticks(range(len(sizes)), [str(n) for n in sizes])
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # U_n counts components
    ax.set_xlabel("N_s")


def stability_violins(table: pd.DataFrame, k: int, n_repeats: int) -> Figure:
    """The original's layout: one axes, at each N_s a violin of U_n (Top-k by absolute weight) per user."""
    users = list(dict.fromkeys(table["user"]))
    figure = Figure(
        figsize=(max(6.0, 1.2 + 0.45 * len(users) * table["n_samples"].nunique()), 4), layout="constrained"
    )
    ax = figure.subplots()
    grouped_violins(ax, table, [(user, table[table["user"] == user], "unique") for user in users])
    ax.axhline(k, color="grey", lw=0.6, ls="--")
    ax.set_ylabel(f"U_n: distinct components in {n_repeats} Top-{k}s (by |weight|)")
    ax.legend(title="user", fontsize=8, ncols=min(len(users), 7), loc="upper right")
    return figure


def stability_figure(table: pd.DataFrame, k: int, n_repeats: int) -> Figure:
    """One panel per user: violins of U_n per N_s, by absolute and by positive weight side by side."""
    users = list(dict.fromkeys(table["user"]))
    figure = Figure(figsize=(2.6 * len(users) + 1, 3.2), layout="constrained")
    axes = figure.subplots(1, len(users), sharey=True, squeeze=False)[0]
    for ax, user in zip(axes, users, strict=True):
        mine = table[table["user"] == user]
        grouped_violins(ax, mine, [("|weight|", mine, "unique"), ("weight > 0", mine, "unique_positive")])
        ax.set_title(user, fontsize=9)
        ax.axhline(k, color="grey", lw=0.6, ls="--")
    axes[0].set_ylabel(f"U_n: distinct components in {n_repeats} Top-{k}s")
    axes[0].legend(fontsize=7)
    return figure
