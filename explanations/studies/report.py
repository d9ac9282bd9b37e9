"""One writer for every study's files: its table as CSV, its figures as PNG, its summary as Markdown.

A study builds a :class:`StudyReport` (a table, :class:`matplotlib.figure.Figure` objects drawn
without pyplot, and the lines of ``summary.md``) and :func:`write_study` writes it into the study's
output folder, each file atomically.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from lemons.io import atomic_open, atomic_path

#: Resolution of the studies' figures.
FIGURE_DPI = 100


@dataclass
class StudyReport:
    """What a study writes: ``<name>.csv`` from ``table``, a PNG per figure, and ``summary.md``.

    ``figures`` maps file names (``stability.png``) to figures; ``float_format`` formats the CSV's
    floats (pandas' default when ``None``).
    """

    name: str
    table: pd.DataFrame
    summary: list[str]
    figures: dict[str, Figure] = field(default_factory=dict)
    float_format: str | None = None


def write_study(report: StudyReport, out_dir: Path | str) -> list[Path]:
    """Write ``report`` into ``out_dir`` (created if needed); returns the paths written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / f"{report.name}.csv"]
    with atomic_open(written[0]) as handle:
        report.table.to_csv(handle, index=False, float_format=report.float_format)
    for name, figure in report.figures.items():
        with atomic_path(out_dir / name, suffix=".png") as tmp:
            figure.savefig(tmp, dpi=FIGURE_DPI, format="png")
        written.append(out_dir / name)
    written.append(out_dir / "summary.md")
    with atomic_open(written[-1]) as handle:
        handle.write("\n".join(report.summary) + "\n")
    return written


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """The lines of a Markdown table with ``header`` and one line per row (cells as given).

    Raises:
        ValueError: a row has more or fewer cells than the header (its cells would sit under the
            wrong headings).
    """
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for number, row in enumerate(rows, 1):
        cells = [str(cell) for cell in row]
        if len(cells) != len(header):
            raise ValueError(f"row {number} of a table has {len(cells)} cells under {len(header)} headings")
        lines.append("| " + " | ".join(cells) + " |")
    return lines
