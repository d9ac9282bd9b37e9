"""The segmentation study scores segmenters against the true structure and compares their explanations."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from explanations.studies.segmentation import boundary_f_measure, on_bar_lines, section_boundaries
from lemons.catalogue.structure import planned_structure


def test_boundary_scores_on_hand_made_boundaries() -> None:
    assert boundary_f_measure(np.array([10.0]), np.array([10.3]), 30.0, 0.5) == 1.0
    assert boundary_f_measure(np.array([12.0]), np.array([10.3]), 30.0, 0.5) == 0.0
    assert boundary_f_measure(np.array([12.0]), np.array([10.3]), 30.0, 3.0) == 1.0
    # four boundaries against one true one: precision 1/4, recall 1
    assert boundary_f_measure(
        np.array([6.0, 12.0, 18.0, 24.0]), np.array([17.9]), 30.0, 0.5
    ) == pytest.approx(0.4)
    structure = planned_structure(bpm=120, intro_bars=1, chorus_bar=8)  # bars of 2 s
    np.testing.assert_array_equal(section_boundaries(structure, 30.0), [2.0, 16.0])
    assert list(on_bar_lines(np.array([4.05, 5.0, 30.0]), structure, 30.0)) == [True, False, True]


@pytest.mark.slow
def test_segmentation_command_writes_both_parts(shipped_models: Path, tmp_path, capsys) -> None:
    from lemons.cli import main as lemons_main

    out = tmp_path / "segmentation"
    args = ["experiments", "segmentation", "--users", "ringo", "--per-genre", "1", "--n-tracks", "1",
            "--n-samples", "64", "--repeats", "2", "--segments", "3", "--out", str(out),
            "--quiet"]  # fmt: skip
    assert lemons_main(args) == 0
    printed = capsys.readouterr().out
    for name in ("equal", "beats", "sections"):
        assert f"{name}: section boundaries F " in printed
    with open(out / "segmentation.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    boundaries = [r for r in rows if r["part"] == "boundaries"]
    explained = [r for r in rows if r["part"] == "explanations"]
    assert len(boundaries) == 11 * 3 and len(explained) == 3  # 11 genres × 3 segmenters; 1 track × 3
    assert all(0 <= float(r["f_3"]) <= 1 and 0 <= float(r["on_bars"]) <= 1 for r in boundaries)
    # the tiny catalogue's songs are in 4/4 from time 0: equal thirds of 6 s rarely fall on a bar line,
    # the beats segmenter's boundaries do more often
    on_bars = {
        n: np.mean([float(r["on_bars"]) for r in boundaries if r["segmenter"] == n])
        for n in ("equal", "beats")
    }
    assert on_bars["beats"] > on_bars["equal"], on_bars
    summary = (out / "summary.md").read_text()
    assert "| segmenter | segments | F at 0.5 s | F at 3 s | on a bar line |" in summary
    assert (out / "segmentation.png").read_bytes()[:4] == b"\x89PNG"


def test_a_catalogue_without_structure_is_refused(catalogue_copy: Path, tmp_path) -> None:
    from explanations.studies.segmentation import segmentation_study
    from lemons.catalogue.builtin import BuiltinCatalogue
    from lemons.errors import ConfigError

    manifest = json.loads((catalogue_copy / "manifest.json").read_text())
    (catalogue_copy / "manifest.json").write_text(json.dumps(manifest | {"version": 1}))
    with open(catalogue_copy / "metadata.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["section_labels"] = ""  # a version-1 catalogue has no structure columns
    with open(catalogue_copy / "metadata.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(ConfigError, match=r"does not know its songs' structure.*lemons data build"):
        segmentation_study(["ringo"], BuiltinCatalogue(catalogue_copy), tmp_path, progress=False)
