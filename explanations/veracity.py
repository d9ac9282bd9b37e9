"""Veracity on planted tastes: does the explanation point at the source a persona's taste depends on?

The planted-taste personas (``clara``: piano, ``ringo``: drums) like tracks in which one source stands
out within their genre. For the tracks their recommender ranks highest, an explanation that tells the
truth should name that source as what drives the relevance up: the Top-1 hit rate and the Top-3 hit
rate are measured here (chance for a source explanation with 5 sources: 20 % and 60 %). The
components are ranked by their weight towards relevance even where the recommender's relevance is
below 0.5 (where the explained label is "not relevant" and the weights are its mirror image).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from explanations.pipeline import ExplainSettings, explain_track
from lemons.catalogue.base import Catalogue
from lemons.errors import ConfigError
from recsys.checkpoint import Recommender
from recsys.ranking import rank_tracks


@dataclass(frozen=True)
class VeracityRow:
    track_id: str
    relevance: float
    top_components: list[str]  # the Top-3 component names, best first
    top_sources: list[str]  # their sources
    top1_hit: bool  # the Top Highlight is the planted source
    top3_hit: bool  # the planted source is among the Top-3
    fidelity: float


@dataclass(frozen=True)
class Veracity:
    user: str
    planted: str
    kind: str
    separator: str | None
    rows: list[VeracityRow]

    @property
    def top1_rate(self) -> float:
        return sum(r.top1_hit for r in self.rows) / len(self.rows)

    @property
    def top3_rate(self) -> float:
        return sum(r.top3_hit for r in self.rows) / len(self.rows)

    def to_dict(self) -> dict:
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
    settings = settings or ExplainSettings("source")
    if settings.kind == "time":
        raise ConfigError("veracity needs source components: use a source or time+source explanation")
    ranking = rank_tracks(recommender, catalogue, device=device, cache_dir=cache_dir, progress=progress)
    rows: list[VeracityRow] = []
    used: str | None = None
    for ranked in tqdm(ranking.top(n_tracks), desc=f"explain {recommender.user}", disable=not progress):
        result = explain_track(
            recommender, catalogue, ranked.track_id, settings, separator, device=device, cache_dir=cache_dir
        )
        explanation, factorization = result.explanation, result.factorization
        if planted not in explanation.sources:
            raise ConfigError(
                f"the {explanation.separator} separator has no {planted!r} source; "
                f"its sources: {', '.join(explanation.sources)}"
            )
        top = explanation.top_k(3, towards_relevance=True)  # what drives the relevance up
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
