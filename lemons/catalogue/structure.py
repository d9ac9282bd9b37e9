"""A song's true musical structure: its beat and bar grid and its sections, as a catalogue records them.

The built-in catalogue composes every song on a grid it knows (a constant tempo in 4/4 from time 0)
and in sections it chose (an intro of 0–2 bars, the verse progression up to the middle bar, the
chorus progression from there), so segmentations found in the audio can be scored against the
truth. A catalogue without this knowledge (an older built-in catalogue, a folder of music) has no
structure for its tracks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

#: The metadata columns that hold a track's structure (built-in catalogue format 2).
STRUCTURE_COLUMNS = ("first_beat_s", "beats_per_bar", "section_starts_s", "section_labels")


@dataclass(frozen=True)
class SongStructure:
    """Beats every ``beat_period`` s from ``first_beat``, a bar every ``beats_per_bar`` beats from the
    first, and sections starting at ``section_starts`` (s, the first at 0) named ``section_labels``."""

    first_beat: float
    beat_period: float
    beats_per_bar: int
    section_starts: tuple[float, ...]
    section_labels: tuple[str, ...]

    def beats(self, duration: float) -> np.ndarray:
        """Beat times (s) within ``[0, duration)``."""
        return np.arange(self.first_beat, duration, self.beat_period)

    def bars(self, duration: float) -> np.ndarray:
        """Bar-line times (s) within ``[0, duration)``: every ``beats_per_bar``-th beat."""
        return self.beats(duration)[:: self.beats_per_bar]

    def sections(self, duration: float) -> list[tuple[float, float, str]]:
        """``(start, end, label)`` of each section that begins before ``duration`` (s)."""
        starts = [s for s in self.section_starts if s < duration]
        ends = [*starts[1:], duration]
        return [(a, b, label) for a, b, label in zip(starts, ends, self.section_labels, strict=False)]

    def to_row(self) -> dict[str, str]:
        """The metadata columns :data:`STRUCTURE_COLUMNS` (the tempo column gives the beat period)."""
        return {
            "first_beat_s": f"{self.first_beat:.3f}",
            "beats_per_bar": str(self.beats_per_bar),
            "section_starts_s": ";".join(f"{s:.3f}" for s in self.section_starts),
            "section_labels": ";".join(self.section_labels),
        }

    @classmethod
    def from_row(cls, row: Mapping[str, object], tempo: float | None) -> SongStructure | None:
        """The structure in a metadata row, or ``None`` where the row (or the tempo) has none."""
        if tempo is None or not all(str(row.get(column) or "") for column in STRUCTURE_COLUMNS):
            return None
        return cls(
            first_beat=float(str(row["first_beat_s"])),
            beat_period=60.0 / tempo,
            beats_per_bar=int(str(row["beats_per_bar"])),
            section_starts=tuple(float(s) for s in str(row["section_starts_s"]).split(";")),
            section_labels=tuple(str(row["section_labels"]).split(";")),
        )


def planned_structure(bpm: float, intro_bars: int, chorus_bar: int, beats_per_bar: int = 4) -> SongStructure:
    """The structure of a built-in song: an intro of ``intro_bars`` bars (none at 0), the verse up to
    bar ``chorus_bar``, the chorus from there; the grid starts at 0."""
    bar = beats_per_bar * 60.0 / bpm
    starts, labels = [], []
    if intro_bars:
        starts.append(0.0), labels.append("intro")
    starts.append(intro_bars * bar), labels.append("verse")
    starts.append(chorus_bar * bar), labels.append("chorus")
    return SongStructure(0.0, 60.0 / bpm, beats_per_bar, tuple(starts), tuple(labels))
