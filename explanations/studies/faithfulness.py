"""Faithfulness (SPEC §6, after the audioLIME paper): do the top components carry the decision?

For each user, the tracks the recommender ranks highest (its recommendations) are explained, with
the ``relevant`` question (:mod:`explanations.audiolime.questions`): the components are ranked by how
much they raise the relevance, whatever the relevance of the track. The decision is "recommended":
the track's relevance reaches that of the last track of the user's top-``n_tracks`` list (so every
explained track starts recommended). For k = 1 … K:

- **keep**: only the k components that push the relevance up most are fed back; the decision is
  kept when the relevance still reaches the threshold;
- **deletion**: those k components are removed and the relevance is recorded (relative to the
  original); a faithful explanation makes it fall fast.

Three rankings of components are compared: audioLIME's weights; SLIME's weights over as many
rectangular time–frequency regions of the spectrogram (:mod:`explanations.audiolime.slime`); and a random
ranking that puts audioLIME's positive-weight components first in random order (SPEC: "k random
components among those with positive weight"), then the others at random.
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
from explanations.audiolime.explainer import Explanation, explain
from explanations.audiolime.factorization import Factorization
from explanations.audiolime.pipeline import ExplainSettings, track_factorization, track_separator
from explanations.audiolime.questions import DEFAULT_QUESTION
from explanations.audiolime.scoring import PerturbationScorer
from explanations.audiolime.slime import MATCHING_GRIDS, slime_scorer
from explanations.studies.report import StudyReport, markdown_table, write_study
from lemons.catalogue.base import Catalogue
from lemons.errors import ConfigError
from recsys.checkpoint import find_model, load_checkpoint
from recsys.model import FCN
from recsys.ranking import rank_tracks

METHODS = ("audioLIME", "SLIME", "random")
#: Relevances this close count as equal (the same input scored by two exact routes differs by ~1e-7).
TOLERANCE = 1e-6
#: The question the explanations answer: what raises the relevance.
QUESTION = DEFAULT_QUESTION


@dataclass(frozen=True)
class FaithfulnessRow:
    """One user × track × type × method × draw × k of ``faithfulness.csv``."""

    user: str
    track_id: str
    kind: str
    method: str
    repeat: int  # the random ranking's draw (0 for audioLIME and SLIME)
    k: int
    relevance: float  # of the whole track
    threshold: float  # relevance of the user's last recommended track (or the track's, if lower)
    keep_relevance: float  # only the top-k components
    delete_relevance: float  # all but the top-k components
    kept: bool  # keep_relevance >= threshold (to TOLERANCE): still recommended
    silence_relevance: float  # every component off: how the recommender scores silence


def upward_ranking(explanation: Explanation) -> np.ndarray:
    """Component indices by weight towards relevance, largest first (silent components last)."""
    weights = explanation.towards_relevance()
    weights[explanation.silent] = -np.inf
    return np.argsort(-weights, kind="stable")


def random_ranking(explanation: Explanation, rng: np.random.Generator) -> np.ndarray:
    """audioLIME's components that raise the relevance in random order, then the rest in random order."""
    weights = explanation.towards_relevance()
    positive = np.flatnonzero(weights > 0)
    others = np.flatnonzero(weights <= 0)
    return np.concatenate([rng.permutation(positive), rng.permutation(others)]).astype(int)


def keep_and_delete(
    ranking: np.ndarray, scorer: PerturbationScorer, k_max: int
) -> tuple[np.ndarray, np.ndarray]:
    """Relevance ``[k_max]`` with only the top-k components on, and ``[k_max]`` with them off (k = 1…)."""
    n = len(ranking)
    keep = np.zeros((k_max, n), dtype=np.uint8)
    delete = np.ones((k_max, n), dtype=np.uint8)
    for k in range(1, k_max + 1):
        keep[k - 1, ranking[:k]] = 1
        delete[k - 1, ranking[:k]] = 0
    values = scorer(np.concatenate([keep, delete]))
    return values[:k_max], values[k_max:]


def track_faithfulness(
    model: FCN,
    audio: np.ndarray,
    factorization: Factorization,
    threshold: float,
    *,
    n_samples: int,
    seed: int,
    n_random: int,
    k_max: int | None,
    device: torch.device | None,
) -> list[dict]:
    """The keep/deletion measurements of one track for every method (dicts of :class:`FaithfulnessRow`).

    ``audio`` ``[samples]`` (16 kHz) is the track, ``factorization`` its audioLIME components; SLIME's
    regions are cut from ``audio``'s spectrogram.
    """
    kind = factorization.kind
    scorer = scorer_for(model, factorization, device)
    audiolime = explain(factorization, scorer, n_samples, seed, question=QUESTION)
    grid, region_scorer = slime_scorer(model, audio, *MATCHING_GRIDS[kind], device=device)
    slime = explain(grid, region_scorer, n_samples, seed, question=QUESTION)
    k_max = min(k_max or factorization.n_components, factorization.n_components, grid.n_components)
    relevance = audiolime.relevance
    # the whole (recomposed) track is recommended by construction, even where recomposing the
    # separated sources moved its relevance a little below the list's last one
    threshold = min(threshold, relevance)
    rankings: list[tuple[str, int, np.ndarray, PerturbationScorer]] = [
        ("audioLIME", 0, upward_ranking(audiolime), scorer),
        ("SLIME", 0, upward_ranking(slime), region_scorer),
    ]
    silence = float(scorer(np.zeros((1, factorization.n_components), dtype=np.uint8))[0])
    rng = np.random.default_rng(seed)
    rankings += [("random", r, random_ranking(audiolime, rng), scorer) for r in range(n_random)]
    rows = []
    for method, repeat, ranking, method_scorer in rankings:
        keep, delete = keep_and_delete(ranking, method_scorer, k_max)
        for k in range(1, k_max + 1):
            rows.append(
                dict(method=method, repeat=repeat, k=k, relevance=relevance, threshold=threshold,
                     keep_relevance=float(keep[k - 1]), delete_relevance=float(delete[k - 1]),
                     kept=bool(keep[k - 1] >= threshold - TOLERANCE), silence_relevance=silence)
            )  # fmt: skip
    return rows


def faithfulness_study(
    users: list[str],
    catalogue: Catalogue,
    out_dir: Path,
    *,
    kinds: tuple[str, ...] = ("time", "source"),
    n_tracks: int = 5,
    n_samples: int = 2048,
    seed: int = 0,
    n_random: int = 5,
    k_max: int | None = 5,
    separator: str | None = None,
    device: torch.device | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> list[FaithfulnessRow]:
    """Explain each user's top ``n_tracks`` recommendations and measure keep and deletion curves.

    Writes ``faithfulness.csv`` (one row per user × track × type × method × draw × k),
    ``faithfulness-<type>.png`` (keep and deletion curves per method) and ``summary.md``.
    """
    settings = {kind: ExplainSettings(kind, n_samples, seed, question=QUESTION) for kind in kinds}
    without_grid = [kind for kind in kinds if kind not in MATCHING_GRIDS]
    if without_grid:
        raise ConfigError(f"SLIME has no grid matching {', '.join(without_grid)} explanations")
    if not isinstance(n_tracks, int) or n_tracks < 1 or not isinstance(n_random, int) or n_random < 1:
        raise ConfigError(
            f"n_tracks and n_random must be positive whole numbers, got {n_tracks!r}, {n_random!r}"
        )
    started = time.perf_counter()
    rows: list[FaithfulnessRow] = []
    for user in users:
        recommender = load_checkpoint(find_model(user), device or "cpu")
        ranking = rank_tracks(recommender, catalogue, device=device, cache_dir=cache_dir, progress=progress)
        top = ranking.top(n_tracks)
        if not top:
            raise ConfigError(f"no track of the {catalogue.name} catalogue could be scored")
        threshold = top[-1].relevance
        jobs = [(ranked, kind) for ranked in top for kind in kinds]
        for ranked, kind in tqdm(jobs, desc=f"faithfulness {user}", unit="explanation", disable=not progress):
            audio = catalogue.load_audio(ranked.track_id)
            backend = track_separator(settings[kind], catalogue, ranked.track_id, separator)
            factorization = track_factorization(audio, settings[kind], backend, cache_dir)
            for values in track_faithfulness(
                recommender.model, audio, factorization, threshold,
                n_samples=n_samples, seed=seed, n_random=n_random, k_max=k_max, device=device,
            ):  # fmt: skip
                rows.append(FaithfulnessRow(user=user, track_id=ranked.track_id, kind=kind, **values))
    table = pd.DataFrame([asdict(r) for r in rows])
    summary = faithfulness_summary(table, n_tracks, n_samples, time.perf_counter() - started)
    write_study(StudyReport("faithfulness", table, summary, faithfulness_figures(table)), out_dir)
    return rows


def curves(table: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Per method and k: share of decisions kept; mean relevance after deletion relative to the original."""
    part = table[table["kind"] == kind].assign(
        delete_ratio=lambda t: t["delete_relevance"] / t["relevance"].clip(lower=1e-12)
    )
    return part.groupby(["method", "k"]).agg(kept=("kept", "mean"), delete_ratio=("delete_ratio", "mean"))


def faithfulness_figure(table: pd.DataFrame, kind: str) -> Figure:
    """Keep (left) and deletion (right) curves of every method for explanations of type ``kind``."""
    summary = curves(table, kind)
    ks = sorted(summary.index.get_level_values("k").unique())
    figure = Figure(figsize=(8, 3), layout="constrained")
    left, right = figure.subplots(1, 2)
    for method in METHODS:
        if method not in summary.index.get_level_values("method"):
            continue
        values = summary.loc[method]
        left.plot(values.index, values["kept"], marker="o", label=method)
        right.plot(values.index, values["delete_ratio"], marker="o", label=method)
    left.set(xlabel="k (components kept)", ylabel="decision kept", ylim=(-0.02, 1.02), xticks=ks)
    right.set(xlabel="k (components removed)", ylabel="relevance / original", xticks=ks)
    left.set_title(f"{kind}: keep only the top-k", fontsize=9)
    right.set_title(f"{kind}: delete the top-k", fontsize=9)
    left.legend(fontsize=8)
    return figure


def figure_name(kind: str) -> str:
    """The file of ``kind``'s curves: ``faithfulness-time+source`` → ``faithfulness-time-source.png``."""
    return f"faithfulness-{kind.replace('+', '-')}.png"


def faithfulness_figures(table: pd.DataFrame) -> dict[str, Figure]:
    """One figure of curves per explanation type in ``table``, by file name."""
    return {figure_name(kind): faithfulness_figure(table, kind) for kind in dict.fromkeys(table["kind"])}


def faithfulness_summary(table: pd.DataFrame, n_tracks: int, n_samples: int, seconds: float) -> list[str]:
    """``summary.md``: per type, how often silence is recommended and the keep / deletion table."""
    lines = [
        "# Faithfulness of explanations",
        "",
        f"Each user's top-{n_tracks} recommendations explained with N_s = {n_samples}, answering "
        f"`--label {QUESTION}` (the components ranked by how much they raise the relevance). *Kept*: "
        f"share of tracks still recommended (relevance ≥ that of the user's #{n_tracks}) when only the top-k "
        "components are played; *deletion*: mean relevance with the top-k components removed, relative "
        "to the whole track (lower = the explanation found what mattered). SLIME uses as many "
        "time–frequency regions as the type has components; random draws among audioLIME's "
        f"positive-weight components first. Run time: {seconds / 60:.1f} min.",
    ]
    for kind in dict.fromkeys(table["kind"]):
        summary = curves(table, kind)
        tracks = table[table["kind"] == kind].drop_duplicates(["user", "track_id"])
        silent_kept = (tracks["silence_relevance"] >= tracks["threshold"]).mean()
        rows = (
            [k, *(f"{summary.loc[(m, k), 'kept']:.0%}" for m in METHODS),
             *(f"{summary.loc[(m, k), 'delete_ratio']:.2f}" for m in METHODS)]
            for k in sorted(summary.index.get_level_values("k").unique())
        )  # fmt: skip
        lines += [
            "",
            f"## {kind} ({len(tracks)} tracks; figure `{figure_name(kind)}`)",
            "",
            f"Silence alone (every component off) would still be recommended for {silent_kept:.0%} of "
            "these tracks: where it is, keeping few components keeps the decision whatever they are.",
            "",
            *markdown_table(
                ["k", *(f"kept: {m}" for m in METHODS), *(f"deletion: {m}" for m in METHODS)], rows
            ),
        ]
    return lines
