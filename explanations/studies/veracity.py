"""Veracity on planted tastes: does the explanation point at the source a persona's taste depends on?

The planted-taste personas (``clara``: piano, ``ringo``: drums) like tracks in which one source stands
out within their genre. For the tracks their recommender ranks highest, an explanation that tells the
truth should name that source as what drives the relevance up: the Top-1 hit rate and the Top-3 hit
rate are measured here (chance for a source explanation with 5 sources: 20 % and 60 %). The
explanations answer the ``relevant`` question (:mod:`explanations.audiolime.questions`): the
components are ranked by how much they raise the relevance, also where the recommender's relevance
is below 0.5.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from tqdm import tqdm

from explanations.audiolime.pipeline import ExplainSettings, explain_track
from explanations.audiolime.questions import DEFAULT_QUESTION
from explanations.audiolime.separation import get_separator
from explanations.studies.report import StudyReport, markdown_table, write_study
from lemons.catalogue.base import Catalogue
from lemons.errors import ConfigError, SeparationError
from recsys.checkpoint import Recommender
from recsys.ranking import rank_tracks

#: The question the explanations answer: what raises the relevance.
QUESTION = DEFAULT_QUESTION


@dataclass(frozen=True)
class VeracityRow:
    """One explained track: its Top-3 and whether the planted source is among them."""

    track_id: str
    relevance: float
    top_components: list[str]  # the Top-3 component names, best first
    top_sources: list[str]  # their sources
    top1_hit: bool  # the Top Highlight is the planted source
    top3_hit: bool  # the planted source is among the Top-3
    fidelity: float


@dataclass(frozen=True)
class Veracity:
    """The explained tracks of one user × type × separator, with their hit rates."""

    user: str
    planted: str
    kind: str
    separator: str | None
    rows: list[VeracityRow]

    @property
    def top1_rate(self) -> float:
        """Share of tracks whose Top Highlight is the planted source."""
        return sum(r.top1_hit for r in self.rows) / len(self.rows)

    @property
    def top3_rate(self) -> float:
        """Share of tracks with the planted source in the Top-3."""
        return sum(r.top3_hit for r in self.rows) / len(self.rows)

    def to_dict(self) -> dict:
        """Plain data with the rates."""
        return {
            **{k: v for k, v in asdict(self).items() if k != "rows"},
            "top1_rate": self.top1_rate,
            "top3_rate": self.top3_rate,
            "rows": [asdict(r) for r in self.rows],
        }


def planted_veracity(
    recommender: Recommender,
    planted: str,
    catalogue: Catalogue,
    *,
    n_tracks: int = 10,
    settings: ExplainSettings | None = None,
    separator: str | None = None,
    device: torch.device | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> Veracity:
    """Explain the ``n_tracks`` highest-ranked tracks of ``catalogue`` and check for ``planted``."""
    settings = settings or ExplainSettings("source", question=QUESTION)
    if not settings.needs_sources:
        raise ConfigError("veracity needs source components: use a source or time+source explanation")
    ranking = rank_tracks(recommender, catalogue, device=device, cache_dir=cache_dir, progress=progress)
    if not ranking.tracks:
        raise ConfigError(f"no track of the {catalogue.name} catalogue could be scored")
    backend = get_separator(separator, catalogue, ranking.tracks[0].track_id)
    if planted not in backend.sources:
        raise ConfigError(
            f"the {backend.name} separator has no {planted!r} source "
            f"(its sources: {', '.join(backend.sources)})"
        )
    rows: list[VeracityRow] = []
    used: str | None = None
    for ranked in tqdm(ranking.top(n_tracks), desc=f"explain {recommender.user}", disable=not progress):
        result = explain_track(
            recommender, catalogue, ranked.track_id, settings, separator, device=device, cache_dir=cache_dir
        )
        explanation, factorization = result.explanation, result.factorization
        top = explanation.top_k(3, towards_relevance=True)  # what drives the relevance up, whatever was asked
        sources = [factorization.source_of(i) for i in top]
        rows.append(
            VeracityRow(
                track_id=ranked.track_id,
                relevance=ranked.relevance,
                top_components=[factorization.names[i] for i in top],
                top_sources=sources,
                top1_hit=sources[:1] == [planted],
                top3_hit=planted in sources,
                fidelity=explanation.fidelity,
            )
        )
        used = explanation.separator
    return Veracity(recommender.user, planted, settings.kind, used, rows)


def veracity_study(
    users: list[str],
    kinds: list[str],
    separators: list[str],
    catalogue: Catalogue,
    out_dir: Path,
    *,
    n_tracks: int = 10,
    n_samples: int = 2048,
    seed: int = 0,
    device: torch.device | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> list[dict]:
    """Run :func:`planted_veracity` for every user × type × separator; write CSV, figure and summary.

    Writes ``veracity.csv`` (one row per explained track), ``veracity.png`` (Top-1 and Top-3 rates) and
    ``summary.md`` into ``out_dir``. A separator without the planted source is reported, not run.
    Returns the summary rows.
    """
    from lemons.personas import get_persona
    from recsys.checkpoint import find_model, load_checkpoint

    summary: list[dict] = []
    tracks: list[dict] = []
    for user in users:
        persona = get_persona(user)
        if persona.planted is None:
            raise ConfigError(f"{user} has no planted taste; use a planted-taste persona (clara, ringo)")
        recommender = load_checkpoint(find_model(user), device or "cpu")
        for kind in kinds:
            for separator in separators:
                row = {"user": user, "planted": persona.planted, "type": kind, "separator": separator}
                try:
                    result = planted_veracity(
                        recommender, persona.planted, catalogue, n_tracks=n_tracks,
                        settings=ExplainSettings(kind, n_samples, seed, question=QUESTION),
                        separator=separator, device=device, cache_dir=cache_dir, progress=progress,
                    )  # fmt: skip
                except (ConfigError, SeparationError) as exc:  # 2stems has no piano; weights missing
                    summary.append(
                        {**row, "tracks": 0, "top1_rate": None, "top3_rate": None, "note": str(exc)}
                    )
                    continue
                summary.append(
                    {**row, "tracks": len(result.rows), "top1_rate": result.top1_rate,
                     "top3_rate": result.top3_rate, "note": ""}
                )  # fmt: skip
                for r in result.rows:
                    tracks.append({**row, **asdict(r), "top_components": " ".join(r.top_components),
                                   "top_sources": " ".join(r.top_sources)})  # fmt: skip
    report = StudyReport(
        "veracity",
        pd.DataFrame(tracks),
        veracity_summary(summary, n_tracks, n_samples),
        {"veracity.png": veracity_figure(summary)},
    )
    write_study(report, out_dir)
    return summary


def veracity_figure(summary: list[dict]) -> Figure:
    """Top-1 and Top-3 hit rates of every user × type × separator that ran."""
    done = [s for s in summary if s["tracks"]]
    figure = Figure(figsize=(max(4, 1.4 * len(done)), 3), layout="constrained")
    ax = figure.subplots()
    labels = [f"{s['user']}\n{s['type']}\n{s['separator']}" for s in done]
    x = np.arange(len(done))
    ax.bar(x - 0.2, [s["top1_rate"] for s in done], 0.4, label="planted source is Top-1")
    ax.bar(x + 0.2, [s["top3_rate"] for s in done], 0.4, label="planted source in Top-3")
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of top-ranked tracks")
    ax.legend(fontsize=8)
    return figure


def veracity_summary(summary: list[dict], n_tracks: int, n_samples: int) -> list[str]:
    """``summary.md``: the hit rates per user × type × separator (or why it did not run)."""
    rows = (
        [s["user"], s["planted"], s["type"], s["separator"], s["tracks"],
         *((f"{s['top1_rate']:.0%}", f"{s['top3_rate']:.0%}") if s["tracks"] else ("n/a", s["note"]))]
        for s in summary
    )  # fmt: skip
    return [
        "# Veracity on planted tastes",
        "",
        f"For each planted-taste persona, the {n_tracks} tracks its model ranks highest are explained "
        f"(N_s = {n_samples}, `--label {QUESTION}`); a hit is the planted source being the component "
        "that raises the relevance most (Top-1) or among the three that raise it most (Top-3). Chance "
        "for 5 sources: 20 % and 60 %.",
        "",
        *markdown_table(["user", "planted", "type", "separator", "tracks", "Top-1", "Top-3"], rows),
    ]
