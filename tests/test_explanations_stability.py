"""Stability (SPEC §5): U_n counts distinct Top-k components across seeds; the command writes the study."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from explanations.audiolime.explainer import Explanation, sample_perturbations
from explanations.audiolime.factorization import time_factorization
from explanations.audiolime.scoring import ProgressFn, WaveformScorer
from explanations.studies.report import markdown_table
from explanations.studies.stability import (
    StabilityRow,
    agreement,
    neighbourhood_seed,
    stability_summary,
    track_stability,
)
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
    assert [(r["unique_positive"], r["same_top_positive"]) for r in results] == [(1, True), (1, True)]


def test_noise_gives_unstable_top_components() -> None:
    audio = np.random.default_rng(1).normal(0, 0.1, 16_000 * 5).astype(np.float32)
    factorization = time_factorization(audio)
    rng = np.random.default_rng(2)
    scorer = WaveformScorer(factorization, lambda batch: rng.uniform(0.2, 0.8, len(batch)), deduplicate=False)
    results = track_stability(factorization, scorer, (16,), n_repeats=5, k=2, seed=0)
    assert results[0]["unique"] > 2 and not results[0]["same_top"]  # pure noise: the seeds disagree


def hand_made(weights: list[float], silent: tuple[int, ...] = ()) -> Explanation:
    """A time explanation of 5 segments with the given weights (explaining "relevant")."""
    names = [f"segment{i}" for i in range(5)]
    return Explanation(
        kind="time", component_names=names, sources=["mix"], n_segments=5, weights=weights,
        intercept=0.5, fidelity=0.8, local_prediction=0.4, relevance=0.4, label=1, question="relevant",
        n_samples=64, seed=0, separator=None, silent=list(silent),
    )  # fmt: skip


def test_u_n_by_absolute_weight_counts_negative_components_as_the_original_did() -> None:
    factorization = time_factorization(np.random.default_rng(0).normal(0, 0.1, 16_000 * 5).astype(np.float32))
    runs = [
        hand_made([0.5, -0.6, 0.1, 0.0, -0.05]),  # by |w|: 1, 0, 2
        hand_made([0.4, -0.7, -0.2, 0.05, 0.0]),  # by |w|: 1, 0, 2 — the same set
        hand_made([-0.3, 0.2, 0.0, -0.9, 0.1]),  # by |w|: 3, 0, 1
    ]
    absolute = agreement([run.top_k_absolute(3) for run in runs], factorization)
    assert absolute == {
        "unique": 4, "unique_sources": 1, "same_top": False,
        "top_sets": "segment1 segment0 segment2|segment1 segment0 segment2|segment3 segment0 segment1",
    }  # fmt: skip
    positive = agreement([run.top_k(3) for run in runs], factorization)
    assert positive["top_sets"] == "segment0 segment2|segment0 segment3|segment1 segment4"
    assert positive["unique"] == 5  # fewer per run, yet more distinct: the positive measure is not the same
    # where no weight is positive the positive Top-k is empty; by absolute weight every run names k
    same = agreement([hand_made([-0.1, -0.2, -0.3, -0.4, -0.5]).top_k_absolute(3)] * 5, factorization)
    assert (same["unique"], same["same_top"]) == (3, True)
    assert agreement([hand_made([-0.1, -0.2, -0.3, -0.4, -0.5]).top_k(3)] * 5, factorization)["unique"] == 0
    assert hand_made([0.9, -0.5, 0.1, 0.2, 0.3], silent=(0,)).top_k_absolute(2) == [1, 4]


class RecordingScorer:
    """Scores with a :class:`WaveformScorer` and keeps every neighbourhood it was asked to score."""

    def __init__(self, scorer: WaveformScorer) -> None:
        self.scorer, self.seen = scorer, []

    def __call__(self, masks: np.ndarray, on_progress: ProgressFn | None = None) -> np.ndarray:
        self.seen.append(masks.copy())
        return self.scorer(masks, on_progress)


def test_every_n_s_and_repeat_draws_a_neighbourhood_of_its_own() -> None:
    audio = np.random.default_rng(0).normal(0, 0.1, 16_000 * 5).astype(np.float32)
    factorization = time_factorization(audio)
    scorer = RecordingScorer(WaveformScorer(factorization, segment_listener(3)))
    track_stability(factorization, scorer, (64, 128, 256), n_repeats=3, k=1, seed=0)
    assert [len(m) for m in scorer.seen] == [64] * 3 + [128] * 3 + [256] * 3
    draws = [m[1:65].tobytes() for m in scorer.seen]  # the first 64 random rows of each neighbourhood
    assert len(set(draws)) == 9  # none is a prefix of another, within or across N_s
    seeds = {neighbourhood_seed(0, n, r) for n in (64, 128, 256) for r in range(3)}
    assert len(seeds) == 9 and all(0 <= s < 2**32 for s in seeds)
    assert neighbourhood_seed(0, 64, 1) == neighbourhood_seed(0, 64, 1) != neighbourhood_seed(1, 64, 1)
    # with one generator seeded alike at every N_s the draws would nest: what this guards against
    assert np.array_equal(sample_perturbations(5, 128, seed=0)[:64], sample_perturbations(5, 64, seed=0))


def summary_rows(k: int = 3) -> pd.DataFrame:
    """Hand-made rows of ``stability.csv``: two users, two N_s, two tracks each."""
    rows = [
        StabilityRow(user, f"T{track}", 1, n, unique, 2, unique == k, "", positive, 1, False, "", 0.5)
        for user, base in (("ringo", 6), ("clara", 3))
        for n, unique, positive in ((512, base, base - 1), (2048, base - 1, base - 2))
        for track in range(2)
    ]
    return pd.DataFrame([r.__dict__ for r in rows])


def markdown_tables(lines: list[str]) -> list[list[dict[str, str]]]:
    """Each Markdown table in ``lines`` as rows of ``{heading: cell}``; a row must fit its header."""
    tables, header = [], None
    for line in lines:
        cells = (
            [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else None
        )
        if cells is None:
            header = None
        elif header is None:
            header = cells
            tables.append([])
        elif set(line) != {"|", "-"}:
            assert len(cells) == len(header), f"{line!r} does not fit {header}"
            tables[-1].append(dict(zip(header, cells, strict=True)))
    return tables


def test_the_summary_tables_header_and_rows_agree() -> None:
    summary = stability_summary(
        summary_rows(), kind="time+source", k=3, n_repeats=5, question="relevant", seconds=60
    )
    per_user, overall = markdown_tables(summary)
    assert [(r["user"], r["N_s"]) for r in per_user] == [
        ("ringo", "512"), ("ringo", "2048"), ("clara", "512"), ("clara", "2048"),
    ]  # fmt: skip
    ringo = per_user[0]
    assert (ringo["tracks"], ringo["mean U_n (abs)"], ringo["median U_n (abs)"]) == ("2", "6.00", "6")
    assert (ringo["mean U_n (pos)"], ringo["median U_n (pos)"]) == ("5.00", "5")
    assert ringo["distinct sources (abs)"] == "2.00" and ringo["same Top-3 in every run (abs)"] == "0%"
    assert ringo["same Top-3 in every run (pos)"] == "0%" and ringo["mean fidelity"] == "0.50"
    assert per_user[2]["same Top-3 in every run (abs)"] == "100%"  # clara at 512: U_n = k
    assert [(r["all users: N_s"], r["mean U_n (abs)"], r["tracks"]) for r in overall] == [
        ("512", "4.50", "4"), ("2048", "3.50", "4"),
    ]  # fmt: skip


def test_a_row_that_does_not_fit_its_header_is_refused() -> None:
    assert markdown_table(["a", "b"], [[1, 2]])[-1] == "| 1 | 2 |"
    with pytest.raises(ValueError, match="row 2 of a table has 3 cells under 2 headings"):
        markdown_table(["a", "b"], [[1, 2], [1, 2, 3]])


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
    assert "by absolute weight" in printed and "by positive weight" in printed
    table = pd.read_csv(out / "stability.csv")
    assert len(table) == 2 * 2 * 2  # users × tracks × N_s
    assert list(table.columns) == [
        "user", "track_id", "played", "n_samples", "unique", "unique_sources", "same_top", "top_sets",
        "unique_positive", "unique_sources_positive", "same_top_positive", "top_sets_positive", "fidelity",
    ]  # fmt: skip
    # by absolute weight every run names k = 3 of the 5 sources; by positive weight at most that
    assert table["unique"].between(3, 5).all() and (table["unique_sources"] == table["unique"]).all()
    assert table["unique_positive"].between(0, 5).all()
    summary = (out / "summary.md").read_text()
    assert "| ringo | 16 | 2 |" in summary and "| elizabeth | 64 | 2 |" in summary
    for name in ("stability.png", "stability-users.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    assert lemons_main([*args[:-3], "--repeats", "1", "--out", str(out)]) == 2
    assert "at least 2 repeats" in capsys.readouterr().err


def test_stability_refuses_bad_settings(tmp_path) -> None:
    from explanations.studies.stability import stability_study

    with pytest.raises(ConfigError, match="perturbations"):
        stability_study(["ringo"], None, tmp_path, sample_sizes=(1,))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="n_tracks"):
        stability_study(["ringo"], None, tmp_path, n_tracks=0)  # type: ignore[arg-type]
