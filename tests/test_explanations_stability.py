"""Stability (SPEC §5): U_n counts distinct Top-k components across seeds; the command writes the study."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from explanations.audiolime.factorization import time_factorization
from explanations.audiolime.scoring import WaveformScorer
from explanations.studies.stability import track_stability
from lemons.errors import ConfigError


def segment_listener(segment: int, n_segments: int = 5):
    """A recommender that hears only one time segment: relevance grows with its energy."""

    def relevance(batch: np.ndarray) -> np.ndarray:
        part = np.array_split(batch, n_segments, axis=1)[segment]
        return 1 / (1 + np.exp(-(np.sqrt((part**2).mean(axis=1)) * 40 - 1)))

    return relevance


def test_a_clear_answer_is_the_same_for_every_seed() -> None:
    audio = np.random.default_rng(0).normal(0, 0.1, 16_000 * 5).astype(np.float32)
    factorization = time_factorization(audio)
    scorer = WaveformScorer(factorization, segment_listener(3))
    results = track_stability(factorization, scorer, (64, 256), n_repeats=4, k=1, seed=0)
    assert [(r["n_samples"], r["unique"], r["same_top"]) for r in results] == [(64, 1, True), (256, 1, True)]
    assert results[0]["top_sets"] == "|".join(["segment3"] * 4) and results[0]["unique_sources"] == 1


def test_noise_gives_unstable_top_components() -> None:
    audio = np.random.default_rng(1).normal(0, 0.1, 16_000 * 5).astype(np.float32)
    factorization = time_factorization(audio)
    rng = np.random.default_rng(2)
    scorer = WaveformScorer(factorization, lambda batch: rng.uniform(0.2, 0.8, len(batch)), deduplicate=False)
    results = track_stability(factorization, scorer, (16,), n_repeats=5, k=2, seed=0)
    assert results[0]["unique"] > 2 and not results[0]["same_top"]  # pure noise: the seeds disagree


@pytest.mark.slow
def test_stability_command_writes_violins_table_and_rows(shipped_models: Path, tmp_path, capsys):
    from lemons.cli import main as lemons_main

    out = tmp_path / "stability"
    args = ["experiments", "stability", "--users", "ringo", "elizabeth", "--type", "source",
            "--n-tracks", "2", "--sample-sizes", "16", "64", "--repeats", "3",
            "--out", str(out), "--quiet"]  # fmt: skip
    assert lemons_main(args) == 0
    printed = capsys.readouterr().out
    assert "N_s 16: mean U_n" in printed and "N_s 64: mean U_n" in printed
    rows = (out / "stability.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 2 * 2  # users × tracks × N_s
    assert rows[0] == "user,track_id,label,n_samples,unique,unique_sources,same_top,top_sets,fidelity"
    unique = [(int(r.split(",")[4]), int(r.split(",")[5])) for r in rows[1:]]
    # at most repeats × k distinct components; none where no component pushes towards the label
    assert all(0 <= s <= u <= 3 * 3 for u, s in unique) and any(u > 0 for u, _ in unique)
    summary = (out / "summary.md").read_text()
    assert "| ringo | 16 | 2 |" in summary and "| elizabeth | 64 | 2 |" in summary
    assert (out / "stability.png").read_bytes()[:4] == b"\x89PNG"
    assert lemons_main([*args[:-3], "--repeats", "1", "--out", str(out)]) == 2
    assert "at least 2 repeats" in capsys.readouterr().err


def test_stability_refuses_bad_settings(tmp_path) -> None:
    from explanations.studies.stability import stability_study

    with pytest.raises(ConfigError, match="perturbations"):
        stability_study(["ringo"], None, tmp_path, sample_sizes=(1,))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="n_tracks"):
        stability_study(["ringo"], None, tmp_path, n_tracks=0)  # type: ignore[arg-type]
