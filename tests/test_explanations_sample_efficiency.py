"""Sample efficiency of perturbation designs: U_n and the distance to a reference fit, per design and N_s."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from explanations.audiolime.designs import DESIGNS
from explanations.audiolime.factorization import time_factorization
from explanations.audiolime.scoring import WaveformScorer
from explanations.studies.sample_efficiency import (
    SampleEfficiencyRow,
    offer_rule_rows,
    reference_agreement,
    reference_seed,
    sample_efficiency_summary,
    track_sample_efficiency,
    weight_distance,
)
from explanations.studies.stability import neighbourhood_seed, track_stability
from lemons.errors import ConfigError
from tests.test_explanations_stability import RecordingScorer, hand_made, markdown_tables, segment_listener


def test_the_distance_compares_directions_of_the_sounding_components() -> None:
    reference = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    assert weight_distance(reference, reference) == 0 and weight_distance(4 * reference, reference) < 1e-12
    assert math.isclose(weight_distance(-reference, reference), 2)
    assert math.isclose(weight_distance(np.array([1.0, 0, 0]), np.array([0, 1.0, 0])), math.sqrt(2))
    assert weight_distance(np.zeros(3), np.array([0, 1.0, 0])) == 1  # no direction at all
    # a silent component's weight is noise: left out, only the sounding ones count
    assert weight_distance(np.array([9.0, 1.0, 2.0]), np.array([-9.0, 1.0, 2.0]), silent=[0]) < 1e-12


def test_the_reference_agreement_of_hand_made_runs() -> None:
    reference = hand_made([0.5, -0.6, 0.1, 0.0, -0.05])  # Top-3 by |w|: 1, 0, 2
    runs = [hand_made([0.5, -0.6, 0.1, 0.0, -0.05]), hand_made([1.0, -1.2, 0.0, 0.3, -0.1])]  # 1, 0, 3
    measured = reference_agreement(runs, reference, k=3)
    assert math.isclose(measured["reference_overlap"], (1 + 2 / 3) / 2)
    expected = weight_distance(np.array([1.0, -1.2, 0.0, 0.3, -0.1]), np.array([0.5, -0.6, 0.1, 0.0, -0.05]))
    assert math.isclose(measured["distance"], expected / 2) and expected > 0


def tiny_track():
    """A 5 s track in 5 time segments and a recommender that only hears segment 3."""
    audio = np.random.default_rng(0).normal(0, 0.1, 16_000 * 5).astype(np.float32)
    factorization = time_factorization(audio)
    return factorization, WaveformScorer(factorization, segment_listener(3))


def test_every_design_finds_the_segment_the_recommender_hears() -> None:
    factorization, scorer = tiny_track()
    results = track_sample_efficiency(
        factorization, scorer, DESIGNS.names(), (32, 128), n_repeats=3, k=1, seed=0, reference_samples=256
    )
    assert [(r["design"], r["n_samples"]) for r in results] == [
        (design, n) for design in DESIGNS.names() for n in (32, 128)
    ]
    for result in results:
        assert (result["unique"], result["same_top"], result["reference_top"]) == (1, True, "segment3")
        assert result["reference_overlap"] == 1 and 0 <= result["distance"] < 0.5
    # the uniform runs are the stability study's runs for the same seed
    stability = track_stability(factorization, scorer, (32, 128), n_repeats=3, k=1, seed=0)
    uniform = [r for r in results if r["design"] == "uniform"]
    for mine, theirs in zip(uniform, stability, strict=True):
        assert {key: mine[key] for key in theirs} == theirs


def test_every_design_n_s_and_repeat_draws_a_neighbourhood_of_its_own() -> None:
    factorization, scorer = tiny_track()
    recording = RecordingScorer(scorer)
    track_sample_efficiency(
        factorization, recording, DESIGNS.names(), (64, 128), n_repeats=2, k=1, seed=5, reference_samples=512
    )
    sizes = [len(m) for m in recording.seen]
    assert sizes == [512] + [64, 64, 128, 128] * len(DESIGNS)  # the reference first, then the runs
    draws = [m[1:64].tobytes() for m in recording.seen]
    assert len(set(draws)) == len(draws)  # no neighbourhood repeats or begins another
    seeds = [neighbourhood_seed(5, n, r, d) for d in DESIGNS.names() for n in (64, 128) for r in range(2)]
    assert len({*seeds, reference_seed(5)}) == len(seeds) + 1
    assert neighbourhood_seed(5, 64, 1, "balanced") == neighbourhood_seed(5, 64, 1, "balanced")
    # the same again for the same seed
    again = RecordingScorer(scorer)
    track_sample_efficiency(
        factorization, again, DESIGNS.names(), (64, 128), n_repeats=2, k=1, seed=5, reference_samples=512
    )
    assert all(np.array_equal(a, b) for a, b in zip(recording.seen, again.seen, strict=True))


def summary_rows() -> pd.DataFrame:
    """Hand-made rows of ``sample-efficiency.csv``: two tracks, three designs, N_s 1024 and 2048."""
    unique = {("uniform", 1024): 6, ("uniform", 2048): 5, ("balanced", 1024): 4, ("balanced", 2048): 3}
    unique |= {("antithetic", 1024): 7, ("antithetic", 2048): 5}

    def row(track: int, design: str, n: int) -> SampleEfficiencyRow:
        return SampleEfficiencyRow(
            "ringo", f"T{track}", 1, design, n, unique[design, n] + track, 2, False, "", 4, 2, False, "",
            fidelity=0.5, distance=0.1 * unique[design, n], reference_overlap=2 / 3,
            reference_top="drums1 drums2 bass0", reference_fidelity=0.6,
        )  # fmt: skip

    rows = [row(t, d, n) for t in (0, 1) for d in ("uniform", "antithetic", "balanced") for n in (1024, 2048)]
    return pd.DataFrame([r.__dict__ for r in rows])


def test_the_summary_states_the_offer_rule_per_design() -> None:
    table = summary_rows()
    assert offer_rule_rows(table) == [
        ["antithetic", "7.50", "5.50", "0.700", "0.500", "no"],
        ["balanced", "4.50", "5.50", "0.400", "0.500", "yes"],
    ]
    lines = sample_efficiency_summary(
        table, kind="time+source", k=3, n_repeats=5, reference_samples=16384, seconds=90
    )
    per_design, rule = markdown_tables(lines)
    assert [(r["design"], r["N_s"], r["tracks"]) for r in per_design][:2] == [
        ("uniform", "1024", "2"), ("uniform", "2048", "2"),
    ]  # fmt: skip
    assert per_design[0]["mean U_n (abs)"] == "6.50" and per_design[0]["distance to the reference"] == "0.600"
    assert per_design[0]["reference Top-3 named"] == "67%" and per_design[0]["median U_n (abs)"] == "6.5"
    assert [(r["design"], r["at least as stable"]) for r in rule] == [
        ("antithetic", "no"),
        ("balanced", "yes"),
    ]
    assert "explanations of 2 test tracks of ringo" in lines[2] and "N_s = 16384" in lines[2]
    assert offer_rule_rows(table[table["n_samples"] == 1024]) == []  # no uniform at 2048: no verdict
    without_rule = sample_efficiency_summary(
        table[table["n_samples"] == 2048], kind="time", k=3, n_repeats=5, reference_samples=4096, seconds=1
    )
    assert len(markdown_tables(without_rule)) == 1


def test_sample_efficiency_refuses_bad_settings(tmp_path) -> None:
    from explanations.studies.sample_efficiency import sample_efficiency_study

    def study(**settings):
        sample_efficiency_study(["ringo"], None, tmp_path, **settings)  # type: ignore[arg-type]

    with pytest.raises(ConfigError, match="unknown perturbation design 'latin'"):
        study(designs=("uniform", "latin"))
    with pytest.raises(ConfigError, match="at least one perturbation design"):
        study(designs=())
    with pytest.raises(
        ConfigError, match=r"as many perturbations as the largest N_s compared \(4096\), got 2048"
    ):
        study(reference_samples=2048)
    with pytest.raises(ConfigError, match="at least 2 repeats"):
        study(n_repeats=1)


@pytest.mark.slow
def test_sample_efficiency_command_writes_table_figure_and_summary(shipped_models: Path, tmp_path, capsys):
    from lemons.cli import main as lemons_main

    out = tmp_path / "sample-efficiency"
    args = ["experiments", "sample-efficiency", "--users", "ringo", "--type", "source", "--n-tracks", "1",
            "--sample-sizes", "16", "32", "--reference-samples", "64", "--repeats", "2",
            "--out", str(out), "--quiet"]  # fmt: skip
    assert lemons_main(args) == 0
    printed = capsys.readouterr().out
    for design in DESIGNS.names():
        assert f"{design}, N_s 16: mean U_n" in printed and f"{design}, N_s 32: mean U_n" in printed
    assert "distance to the reference" in printed and "as stable as uniform" not in printed  # no 1024/2048
    table = pd.read_csv(out / "sample-efficiency.csv")
    assert len(table) == len(DESIGNS) * 2  # designs × N_s for one track
    assert list(table.columns) == list(SampleEfficiencyRow.__dataclass_fields__)
    assert table["unique"].between(3, 5).all() and table["distance"].between(0, 2).all()
    assert table["reference_top"].nunique() == 1 and table["reference_overlap"].between(0, 1).all()
    summary = (out / "summary.md").read_text()
    assert "| uniform | 16 | 1 |" in summary and "| stratified | 32 | 1 |" in summary
    assert (out / "sample-efficiency.png").read_bytes()[:4] == b"\x89PNG"
    assert lemons_main([*args, "--reference-samples", "16"]) == 2
    assert "the reference fit needs at least as many perturbations" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        lemons_main([*args, "--designs", "uniform", "sobol"])
    assert "invalid choice: 'sobol' (choose from 'uniform', 'antithetic'" in capsys.readouterr().err
