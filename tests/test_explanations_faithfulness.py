"""Faithfulness (SPEC §6): keep only / delete the top-k components; audioLIME against SLIME and random."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from explanations.audiolime.explainer import Explanation
from explanations.studies.faithfulness import keep_and_delete, random_ranking, upward_ranking
from lemons.errors import ConfigError


def explanation(weights: list[float], label: int = 1, silent: list[int] | None = None) -> Explanation:
    n = len(weights)
    return Explanation(
        "time", [f"segment{i}" for i in range(n)], ["mix"], n, weights, 0.0, 0.9, 0.5, 0.6, label,
        "relevant" if label == 1 else "not-relevant", 64, 0, None, silent or [],
    )  # fmt: skip


def test_rankings_follow_the_weight_towards_relevance() -> None:
    assert list(upward_ranking(explanation([0.1, 0.5, -0.2, 0.3, 0.0]))) == [1, 3, 0, 4, 2]
    # label 0 explains "not relevant": its weights are mirrored to rank what raises the relevance
    assert list(upward_ranking(explanation([0.1, 0.5, -0.2, 0.3, 0.0], label=0))) == [2, 4, 0, 3, 1]
    assert list(upward_ranking(explanation([0.1, 0.5, -0.2], silent=[1]))) == [0, 2, 1]


def test_random_ranking_draws_the_positive_components_first() -> None:
    rng = np.random.default_rng(0)
    rankings = [random_ranking(explanation([0.1, -0.5, 0.2, -0.3, 0.4]), rng) for _ in range(50)]
    assert all(set(r[:3]) == {0, 2, 4} and set(r[3:]) == {1, 3} for r in rankings)
    assert len({tuple(r) for r in rankings}) > 5  # random order within each part


def test_keep_and_delete_switch_the_top_components() -> None:
    seen = []

    def scorer(masks: np.ndarray, on_progress=None) -> np.ndarray:
        seen.append(masks.copy())
        return masks @ np.array([0.5, 0.1, 0.3, 0.05])

    keep, delete = keep_and_delete(np.array([0, 2, 1, 3]), scorer, 3)
    np.testing.assert_allclose(keep, [0.5, 0.8, 0.9])
    np.testing.assert_allclose(delete, [0.45, 0.15, 0.05])
    assert seen[0].tolist()[0] == [1, 0, 0, 0] and seen[0].tolist()[3] == [0, 1, 1, 1]


@pytest.mark.slow
def test_faithfulness_command_compares_the_three_methods(shipped_models: Path, tmp_path, capsys):
    from lemons.cli import main as lemons_main

    out = tmp_path / "faithfulness"
    args = ["experiments", "faithfulness", "--users", "ringo", "--types", "time", "source",
            "--n-tracks", "2", "--n-samples", "32", "--random", "2", "--k-max", "3",
            "--out", str(out), "--quiet"]  # fmt: skip
    assert lemons_main(args) == 0
    printed = capsys.readouterr().out
    for method in ("audioLIME", "SLIME", "random"):
        assert f"source, {method}: top-1 alone keeps" in printed
    rows = (out / "faithfulness.csv").read_text().splitlines()
    # 2 tracks × 2 types × (audioLIME + SLIME + 2 random draws) × k = 1…3
    assert len(rows) == 1 + 2 * 2 * 4 * 3
    header = rows[0].split(",")
    kept, k = header.index("kept"), header.index("k")
    assert {r.split(",")[kept] for r in rows[1:]} <= {"True", "False"}
    assert {r.split(",")[k] for r in rows[1:]} == {"1", "2", "3"}
    assert (
        "silence_relevance" in header
        and "Silence alone (every component off)" in (out / "summary.md").read_text()
    )
    summary = (out / "summary.md").read_text()
    assert "## time (2 tracks" in summary and "## source (2 tracks" in summary
    for name in ("faithfulness-time.png", "faithfulness-source.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    assert lemons_main([*args[:2], "--users", "ringo", "--random", "0", "--out", str(out)]) == 2
    assert "n_random" in capsys.readouterr().err


def test_faithfulness_refuses_an_unknown_type(tmp_path) -> None:
    from explanations.studies.faithfulness import faithfulness_study

    with pytest.raises(ConfigError, match="unknown explanation type"):
        faithfulness_study(["ringo"], None, tmp_path, kinds=("spectral",))  # type: ignore[arg-type]
