"""Stability of explanations against LIME's random sampling (SPEC §5, after Mishra et al. 2020).

For each user model and test track, the explanation is computed ``n_repeats`` times with different
seeds for each number of perturbations N_s; U_n counts the distinct components among the Top-k of
those runs: k when every run names the same components, more the more they disagree. LEMONS chose
N_s = 2048 where most tracks give the same Top-3.

Each track is separated and factorized once, and one :class:`explanations.audiolime.engine.FCNScorer` serves
all its runs, so perturbation patterns seen by an earlier run are not scored again.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from explanations.audiolime.engine import FCNScorer
from explanations.audiolime.explainer import check_n_samples, explain
from explanations.audiolime.factorization import factorize
from explanations.audiolime.separation import get_separator, separate_cached
from lemons.errors import ConfigError
from recsys.checkpoint import find_model, load_checkpoint
from recsys.data import Dataset

SAMPLE_SIZES = (512, 1024, 2048, 4096)


@dataclass(frozen=True)
class StabilityRow:
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
    factorization, scorer, sample_sizes: tuple[int, ...], n_repeats: int, k: int, seed: int
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
    rows: list[StabilityRow] = []
    catalogue = dataset.catalogue
    for user in users:
        recommender = load_checkpoint(find_model(user), device or "cpu")
        test = dataset.user(user).test[:n_tracks]
        for track_id, label in tqdm(test, desc=f"stability {user}", unit="track", disable=not progress):
            audio = catalogue.load_audio(track_id)
            separation = None
            if kind != "time":
                backend = get_separator(separator, catalogue, track_id)
                separation = separate_cached(backend, audio, cache_dir=cache_dir)
            factorization = factorize(kind, audio, separation)
            scorer = FCNScorer(recommender.model, factorization, device)
            for result in track_stability(factorization, scorer, tuple(sample_sizes), n_repeats, k, seed):
                rows.append(StabilityRow(user, track_id, int(label), **result))
    write_study(rows, out_dir, kind=kind, k=k, n_repeats=n_repeats, seconds=time.perf_counter() - started)
    return rows


def write_study(
    rows: list[StabilityRow], out_dir: Path, *, kind: str, k: int, n_repeats: int, seconds: float
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from lemons.io import atomic_open, atomic_path

    out_dir.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame([asdict(r) for r in rows])
    with atomic_open(out_dir / "stability.csv") as handle:
        table.to_csv(handle, index=False)
    users = list(dict.fromkeys(table["user"]))
    sizes = sorted(table["n_samples"].unique())
    figure, axes = plt.subplots(
        1, len(users), figsize=(2.2 * len(users) + 1, 3), sharey=True, squeeze=False, layout="constrained"
    )
    for ax, user in zip(axes[0], users, strict=True):
        mine = table[table["user"] == user]
        data = [mine[mine["n_samples"] == n]["unique"].to_numpy() for n in sizes]
        positions = np.arange(len(sizes))
        jitter = np.random.default_rng(0)
        for position, values in zip(positions, data, strict=True):
            if np.ptp(values) > 0:
                ax.violinplot([values], positions=[position], showmedians=True)
            else:  # no spread, no density: a bar at the one value
                ax.hlines(values[0], position - 0.3, position + 0.3, color="C0", lw=3)
            ax.scatter(position + jitter.uniform(-0.08, 0.08, len(values)), values, s=6, c="k", alpha=0.5)
        ax.set_xticks(positions, [str(n) for n in sizes], fontsize=8)
        ax.set_title(user, fontsize=9)
        ax.set_xlabel("N_s", fontsize=8)
        ax.axhline(k, color="grey", lw=0.6, ls="--")
    axes[0][0].set_ylabel(f"U_n: distinct components in {n_repeats} Top-{k}s")
    with atomic_path(out_dir / "stability.png", suffix=".png") as tmp:
        figure.savefig(tmp, dpi=100, format="png")
    plt.close(figure)
    lines = [
        "# Stability of explanations",
        "",
        f"{kind} explanations of each user's first test tracks, computed {n_repeats} times with different "
        f"seeds for each N_s; U_n = distinct components among the {n_repeats} Top-{k}s ({k} = the same "
        f"components every time). Run time: {seconds / 60:.1f} min.",
        "",
        "| user | N_s | tracks | mean U_n | median U_n | same Top-"
        + str(k)
        + " in every run | mean fidelity |",
        "|---|---|---|---|---|---|---|",
    ]
    for (user, n_samples), part in table.groupby(["user", "n_samples"], sort=False):
        lines.append(
            f"| {user} | {n_samples} | {len(part)} | {part['unique'].mean():.2f} "
            f"| {part['unique'].median():.0f} | {part['unique_sources'].mean():.2f} "
            f"| {part['same_top'].mean():.0%} "
            f"| {part['fidelity'].mean():.2f} |"
        )
    lines += ["", f"| all users: N_s | mean U_n | distinct sources | same Top-{k} |", "|---|---|---|---|"]
    for n_samples, part in table.groupby("n_samples"):
        lines.append(
            f"| {n_samples} | {part['unique'].mean():.2f} | {part['unique_sources'].mean():.2f} "
            f"| {part['same_top'].mean():.0%} |"
        )
    with atomic_open(out_dir / "summary.md") as handle:
        handle.write("\n".join(lines) + "\n")
