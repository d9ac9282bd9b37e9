"""Stability of explanations against LIME's random sampling (SPEC §5, after Mishra et al. 2020).

For each user model and test track, the explanation is computed ``n_repeats`` times with different
seeds for each number of perturbations N_s; U_n counts the distinct components among the Top-k of
those runs: k when every run names the same components, more the more they disagree. LEMONS chose
N_s = 2048 where most tracks give the same Top-3.

Each track is separated and factorized once, and one scorer (for the FCN the exact engine, which
remembers the patterns it has scored) serves all its runs, so patterns seen by an earlier run are not
scored again.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from tqdm import tqdm

from explanations.audiolime.engine import scorer_for
from explanations.audiolime.explainer import check_n_samples, explain
from explanations.audiolime.factorization import Factorization
from explanations.audiolime.pipeline import ExplainSettings, track_factorization, track_separator
from explanations.audiolime.scoring import PerturbationScorer
from explanations.studies.report import StudyReport, markdown_table, write_study
from lemons.errors import ConfigError
from recsys.checkpoint import find_model, load_checkpoint
from recsys.data import Dataset

SAMPLE_SIZES = (512, 1024, 2048, 4096)


@dataclass(frozen=True)
class StabilityRow:
    """One user × track × N_s of ``stability.csv``."""

    user: str
    track_id: str
    label: int  # the track's label in the test split (1 = played)
    n_samples: int
    unique: int  # U_n: distinct components among the runs' Top-k
    unique_sources: int  # distinct sources among them
    same_top: bool  # every run named the same components
    top_sets: str  # each run's Top-k, runs separated by '|'
    fidelity: float  # mean over the runs


def track_stability(
    factorization: Factorization,
    scorer: PerturbationScorer,
    sample_sizes: tuple[int, ...],
    n_repeats: int,
    k: int,
    seed: int,
) -> list[dict]:
    """Per N_s: ``n_samples``, ``unique`` (U_n), ``unique_sources``, ``same_top``, ``top_sets``, ``fidelity``.

    ``unique_sources`` counts the distinct sources among the runs' Top-k (for time+source: whether
    the runs agree on *what* is heard even when they differ on *when*).
    """
    results = []
    for n_samples in sample_sizes:
        tops, fidelities = [], []
        for repeat in range(n_repeats):
            explanation = explain(factorization, scorer, n_samples, seed + repeat)
            tops.append(tuple(explanation.top_k(k)))
            fidelities.append(explanation.fidelity)
        chosen = {c for top in tops for c in top}
        results.append(
            {
                "n_samples": n_samples,
                "unique": len(chosen),
                "unique_sources": len({factorization.source_of(c) for c in chosen}),
                "same_top": len({frozenset(t) for t in tops}) == 1,
                "top_sets": "|".join(" ".join(factorization.names[i] for i in top) for top in tops),
                "fidelity": float(np.mean(fidelities)),
            }
        )
    return results


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
    separator: str | None = None,
    device: torch.device | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> list[StabilityRow]:
    """Measure U_n for the first ``n_tracks`` test tracks of each user; write CSV, violins, summary.

    Writes ``stability.csv`` (one row per user × track × N_s), ``stability.png`` (violin of U_n per
    N_s, one panel per user) and ``summary.md`` into ``out_dir``.
    """
    for n in sample_sizes:
        check_n_samples(n)
    for name, value in (("n_tracks", n_tracks), ("n_repeats", n_repeats), ("k", k)):
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive whole number, got {value!r}")
    if n_repeats < 2:
        raise ConfigError("stability needs at least 2 repeats to compare")
    started = time.perf_counter()
    settings = ExplainSettings(kind)
    rows: list[StabilityRow] = []
    catalogue = dataset.catalogue
    for user in users:
        recommender = load_checkpoint(find_model(user), device or "cpu")
        test = dataset.user(user).test[:n_tracks]
        for track_id, label in tqdm(test, desc=f"stability {user}", unit="track", disable=not progress):
            factorization = track_factorization(
                catalogue.load_audio(track_id),
                settings,
                track_separator(settings, catalogue, track_id, separator),
                cache_dir,
            )
            scorer = scorer_for(recommender.model, factorization, device)
            for result in track_stability(factorization, scorer, tuple(sample_sizes), n_repeats, k, seed):
                rows.append(StabilityRow(user, track_id, int(label), **result))
    table = pd.DataFrame([asdict(r) for r in rows])
    summary = stability_summary(
        table, kind=kind, k=k, n_repeats=n_repeats, seconds=time.perf_counter() - started
    )
    figures = {"stability.png": stability_figure(table, k, n_repeats)}
    write_study(StudyReport("stability", table, summary, figures), out_dir)
    return rows


def stability_figure(table: pd.DataFrame, k: int, n_repeats: int) -> Figure:
    """Violins of U_n per N_s, one panel per user (a bar where every track has the same U_n)."""
    users = list(dict.fromkeys(table["user"]))
    sizes = sorted(table["n_samples"].unique())
    figure = Figure(figsize=(2.2 * len(users) + 1, 3), layout="constrained")
    axes = figure.subplots(1, len(users), sharey=True, squeeze=False)[0]
    positions = np.arange(len(sizes))
    jitter = np.random.default_rng(0)
    for ax, user in zip(axes, users, strict=True):
        mine = table[table["user"] == user]
        for position, n in zip(positions, sizes, strict=True):
            values = mine[mine["n_samples"] == n]["unique"].to_numpy()
            if np.ptp(values) > 0:
                ax.violinplot([values], positions=[position], showmedians=True)
            else:  # no spread, no density: a bar at the one value
                ax.hlines(values[0], position - 0.3, position + 0.3, color="C0", lw=3)
            ax.scatter(position + jitter.uniform(-0.08, 0.08, len(values)), values, s=6, c="k", alpha=0.5)
        ax.set_xticks(positions, [str(n) for n in sizes], fontsize=8)
        ax.set_title(user, fontsize=9)
        ax.set_xlabel("N_s", fontsize=8)
        ax.axhline(k, color="grey", lw=0.6, ls="--")
    axes[0].set_ylabel(f"U_n: distinct components in {n_repeats} Top-{k}s")
    return figure


def stability_summary(table: pd.DataFrame, *, kind: str, k: int, n_repeats: int, seconds: float) -> list[str]:
    """``summary.md``: mean and median U_n, distinct sources and agreement per user × N_s, then overall."""
    per_user = (
        (user, n_samples, len(part), f"{part['unique'].mean():.2f}", f"{part['unique'].median():.0f}",
         f"{part['unique_sources'].mean():.2f}", f"{part['same_top'].mean():.0%}",
         f"{part['fidelity'].mean():.2f}")
        for (user, n_samples), part in table.groupby(["user", "n_samples"], sort=False)
    )  # fmt: skip
    overall = (
        (n_samples, f"{part['unique'].mean():.2f}", f"{part['unique_sources'].mean():.2f}",
         f"{part['same_top'].mean():.0%}")
        for n_samples, part in table.groupby("n_samples")
    )  # fmt: skip
    return [
        "# Stability of explanations",
        "",
        f"{kind} explanations of each user's first test tracks, computed {n_repeats} times with different "
        f"seeds for each N_s; U_n = distinct components among the {n_repeats} Top-{k}s ({k} = the same "
        f"components every time). Run time: {seconds / 60:.1f} min.",
        "",
        *markdown_table(
            [
                "user",
                "N_s",
                "tracks",
                "mean U_n",
                "median U_n",
                "distinct sources",
                f"same Top-{k} in every run",
                "mean fidelity",
            ],
            per_user,
        ),
        "",
        *markdown_table(["all users: N_s", "mean U_n", "distinct sources", f"same Top-{k}"], overall),
    ]
