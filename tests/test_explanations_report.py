"""The one writer of every study's files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from explanations.studies.report import StudyReport, markdown_table, write_study


def test_a_study_writes_its_table_figures_and_summary(tmp_path: Path) -> None:
    figure = Figure(figsize=(2, 2))
    figure.subplots().plot([0, 1], [1, 0])
    table = pd.DataFrame({"user": ["nina", "paige"], "score": [0.123456, 1.0]})
    report = StudyReport("trial", table, ["# Trial", "", *markdown_table(["user", "n"], [["nina", 3]])])
    report.figures["trial.png"] = figure
    report.float_format = "%.2f"
    written = write_study(report, tmp_path / "out")
    assert [p.name for p in written] == ["trial.csv", "trial.png", "summary.md"]
    assert (tmp_path / "out" / "trial.csv").read_text().splitlines() == [
        "user,score",
        "nina,0.12",
        "paige,1.00",
    ]
    assert (tmp_path / "out" / "trial.png").read_bytes()[:4] == b"\x89PNG"
    assert (
        tmp_path / "out" / "summary.md"
    ).read_text() == "# Trial\n\n| user | n |\n|---|---|\n| nina | 3 |\n"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["summary.md", "trial.csv", "trial.png"]
