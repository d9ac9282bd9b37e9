"""Veracity: explanations of the shipped planted-taste model point at the source its taste depends on."""

from __future__ import annotations

from pathlib import Path

import pytest

from explanations.audiolime.pipeline import ExplainSettings
from explanations.studies.veracity import planted_veracity
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


@pytest.mark.slow
def test_veracity_command_writes_rates_table_and_figure(shipped_models: Path, tmp_path, capsys):
    from lemons.cli import main as lemons_main

    out = tmp_path / "veracity"
    args = ["experiments", "veracity", "--users", "ringo", "--types", "source", "time+source",
            "--separators", "reference", "spleeter:4stems", "--n-tracks", "3", "--n-samples", "32",
            "--out", str(out), "--quiet"]  # fmt: skip
    assert lemons_main(args) == 0
    printed = capsys.readouterr().out
    assert "ringo (drums), source, reference: Top-1" in printed
    assert "spleeter:4stems" in printed and "lemons setup weights --model 4stems" in printed
    rows = (out / "veracity.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 3  # header + 3 tracks for each type with the reference stems
    summary = (out / "summary.md").read_text()
    assert "| ringo | drums | time+source | reference | 3 |" in summary
    assert (out / "veracity.png").read_bytes()[:4] == b"\x89PNG"
    assert lemons_main([*args[:2], "--users", "nina", "--out", str(out)]) == 2  # no planted taste
    assert "nina has no planted taste" in capsys.readouterr().err
