"""Veracity: explanations of the shipped planted-taste model point at the source its taste depends on."""

from __future__ import annotations

from pathlib import Path

import pytest

from explanations.pipeline import ExplainSettings
from explanations.veracity import planted_veracity
from lemons.catalogue.builtin import BuiltinCatalogue
from lemons.config import PROJECT_ROOT
from lemons.personas import get_persona
from recsys.checkpoint import load_checkpoint


@pytest.mark.slow
def test_ringos_recommendations_are_explained_by_their_drums(persona_catalogue_dir: Path, tmp_path) -> None:
    """Ringo's shipped model, on tracks it has never heard (another seed of the catalogue, 5 s each)."""
    recommender = load_checkpoint(PROJECT_ROOT / "models" / "ringo.pt")
    catalogue = BuiltinCatalogue(persona_catalogue_dir)
    result = planted_veracity(
        recommender,
        get_persona("ringo").planted,
        catalogue,
        n_tracks=10,
        settings=ExplainSettings("source", n_samples=256),
        cache_dir=tmp_path,
        progress=False,
    )
    assert result.separator == "reference" and len(result.rows) == 10
    assert result.top3_rate >= 0.8, result.to_dict()
    assert result.top1_rate >= 0.6, result.to_dict()  # chance: 20 %
