"""Compose one song as MIDI: an MMA groove plus generated parts, one MIDI instrument per stem part.

The song is drawn from a genre's styles with a seeded generator: style, groove, tempo, key, chord
progressions (verse and chorus), vocal line (rhythm, contour, octave), instruments and drum kit.
MMA (Debian package ``mma``) turns the text into a MIDI file; ``RndSeed`` makes its own
humanisation deterministic.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pretty_midi

from lemons.catalogue.base import STEMS
from lemons.catalogue.structure import SongStructure, planned_structure
from lemons.errors import SetupError
from lemons.synth.styles import (
    ARPEGGIO_PATTERNS,
    BASS_PATTERNS,
    CHORD_PATTERNS,
    MELODIC_LINES,
    RAP_LINES,
    WALK_PATTERN,
    Genre,
)

NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
VOICE_PROGRAMS = {52, 53, 54, 85, 91}  # voice-like GM programs: only the vocals stem may use them
ADDED_PREFIX = {
    "piano": "chord-xpiano",
    "bass": ("bass-xbass", "walk-xbass"),
    "other": ("chord-xother", "arpeggio-xother"),
}


@dataclass(frozen=True)
class SongPlan:
    """What was drawn for one song (also written to the catalogue's metadata)."""

    genre: str
    style: str
    tags: tuple[str, ...]
    groove: str
    bpm: int
    key: str
    transpose: int
    progression: tuple[str, ...]
    programs: dict[str, int]
    drum_kit: int | None
    intro_bars: int  # bars before the vocal line enters (0-2)
    chorus_bar: int  # the first bar of the chorus progression

    def structure(self) -> SongStructure:
        """The song's true beat grid and sections (intro, verse, chorus)."""
        return planned_structure(self.bpm, self.intro_bars, self.chorus_bar)


def stem_of(instrument: pretty_midi.Instrument) -> str:
    """Which of the five stems a MIDI part belongs to.

    A part already assigned (name ``"<stem>:<part>"``) keeps its stem; added parts go by name,
    groove parts by General MIDI program.
    """
    name = instrument.name.lower()
    prefix = name.split(":", 1)[0]
    if prefix in STEMS and ":" in name:
        return prefix
    if instrument.is_drum:
        return "drums"
    if name.startswith("aria"):
        return "vocals"
    for stem, prefixes in ADDED_PREFIX.items():
        if name.startswith(prefixes):
            return stem
    if 0 <= instrument.program <= 7:
        return "piano"
    if 32 <= instrument.program <= 39:
        return "bass"
    return "other"


def _pick(rng: np.random.Generator, items):
    return items[int(rng.integers(len(items)))]


def mma_available() -> bool:
    """Whether Debian's ``mma`` (the grooves' MIDI generator) is on PATH."""
    return shutil.which("mma") is not None


def plan_song(genre: Genre, rng: np.random.Generator, duration: float) -> tuple[SongPlan, str]:
    """Draw a song of ``genre`` lasting at least ``duration`` seconds: ``(plan, MMA source text)``."""
    style = _pick(rng, genre.styles)
    bpm = int(rng.integers(style.bpm[0], style.bpm[1] + 1))
    groove = _pick(rng, style.grooves)
    transpose = int(rng.integers(-5, 7))
    verse = _pick(rng, genre.progressions)
    chorus = _pick(rng, [p for p in genre.progressions if p.minor == verse.minor])
    tonic = NOTE_NAMES[((9 if verse.minor else 0) + transpose) % 12]
    programs = {
        "vocals": int(_pick(rng, genre.vocals)),
        "piano": int(_pick(rng, genre.piano)),
        "bass": int(_pick(rng, genre.bass)),
        "other": int(_pick(rng, genre.other)),
    }
    drum_kit = int(_pick(rng, style.drum_kits)) if style.drum_kits else None
    walking = genre.walking_bass and rng.random() < 0.6
    bass_seq = WALK_PATTERN if walking else BASS_PATTERNS[_pick(rng, genre.bass_patterns)]
    other_pattern = _pick(rng, genre.other_patterns)
    if other_pattern.startswith("arp:"):
        other_track, other_seq = "Arpeggio-XOther", ARPEGGIO_PATTERNS[other_pattern[4:]]
    else:
        other_track, other_seq = "Chord-XOther", CHORD_PATTERNS[other_pattern]
    header = [
        f"Tempo {bpm}",
        f"RndSeed {int(rng.integers(1, 1 << 30))}",
        f"Groove {groove}",
        f"Transpose {transpose}",
        f"Begin Aria\n Voice {programs['vocals']}\n Octave {4 if genre.rap else _pick(rng, (4, 5, 5))}",
        f" Sequence z\n Articulate {60 if genre.rap else 95}\n Volume f\nEnd",
        f"Begin {'Walk' if walking else 'Bass'}-XBass\n Voice {programs['bass']}\n Sequence {bass_seq}",
        " Octave 3\n Volume f\nEnd",
        f"Begin Chord-XPiano\n Voice {programs['piano']}",
        f" Sequence {CHORD_PATTERNS[_pick(rng, genre.piano_patterns)]}\n Octave 5\n Volume mf\nEnd",
        f"Begin {other_track}\n Voice {programs['other']}\n Sequence {other_seq}",
        f" Octave {_pick(rng, (4, 5))}\n Volume mf\nEnd",
    ]
    # The vocal line enters after an intro of 0-2 bars; the chorus progression takes the second half.
    line = _pick(rng, RAP_LINES if genre.rap else MELODIC_LINES)
    contour = " ".join(
        str(int(x)) for x in rng.choice([0, 0, 1, -1] if genre.rap else [1, -1, 2, -2, 1, 0], 7)
    )
    intro_bars = int(rng.integers(0, 3))
    n_bars = math.ceil(duration * bpm / 60.0 / 4.0) + 2  # every groove used is in 4/4
    body = []
    for i in range(n_bars):
        if i == intro_bars:
            body.append(f"Aria Sequence {line}\nAria Direction {contour}")
            body.append(f"Aria ScaleType {'Chord' if genre.rap else 'Scale'}")
        chords = verse.chords if i < n_bars // 2 else chorus.chords
        body.append(chords[i % len(chords)])
    plan = SongPlan(
        genre=genre.name,
        style=style.name,
        tags=style.tags,
        groove=groove,
        bpm=bpm,
        key=f"{tonic} {'minor' if verse.minor else 'major'}",
        transpose=transpose,
        progression=verse.chords,
        programs=programs,
        drum_kit=drum_kit,
        intro_bars=intro_bars,
        chorus_bar=n_bars // 2,
    )
    return plan, "\n".join(header + body) + "\n"


def compose(genre: Genre, seed: int, duration: float) -> tuple[SongPlan, pretty_midi.PrettyMIDI]:
    """Draw a song of ``genre`` from ``seed``: its plan and its MIDI (parts mapped by :func:`stem_of`)."""
    if not mma_available():
        raise SetupError("the 'mma' program is missing; install it with: sudo apt-get install mma")
    rng = np.random.default_rng(seed)
    plan, text = plan_song(genre, rng, duration)
    with tempfile.TemporaryDirectory(prefix="lemons-mma-") as tmp:
        source, target = Path(tmp) / "song.mma", Path(tmp) / "song.mid"
        source.write_text(text)
        result = subprocess.run(
            ["mma", "-w", str(source), "-f", str(target)], capture_output=True, text=True, check=False
        )
        if result.returncode != 0 or not target.is_file():
            raise SetupError(
                f"mma failed for groove {plan.groove!r}: {(result.stdout + result.stderr)[-400:]}"
            )
        midi = pretty_midi.PrettyMIDI(str(target))
    _assign_programs(midi, plan, rng)
    return plan, midi


def _assign_programs(midi: pretty_midi.PrettyMIDI, plan: SongPlan, rng: np.random.Generator) -> None:
    """Keep voice-like programs for the vocals; re-voice groove parts with the drawn instruments."""
    kept = []
    for inst in midi.instruments:
        if not inst.notes:
            continue
        stem = stem_of(inst)
        inst.name = f"{stem}:{inst.name}"  # re-voicing below must not move the part to another stem
        if inst.is_drum:
            if plan.drum_kit is None:
                continue
            inst.program = plan.drum_kit
        elif stem == "vocals":
            inst.program = plan.programs["vocals"]
        elif stem in ("piano", "bass") and rng.random() < 0.7:
            inst.program = plan.programs[stem]
        elif inst.program in VOICE_PROGRAMS:
            inst.program = 48  # string ensemble instead of a choir outside the vocals stem
        kept.append(inst)
    midi.instruments = kept


def parts_by_stem(midi: pretty_midi.PrettyMIDI) -> dict[str, list[pretty_midi.Instrument]]:
    """MIDI parts grouped by stem name (every stem present, possibly empty)."""
    groups: dict[str, list[pretty_midi.Instrument]] = {stem: [] for stem in STEMS}
    for inst in midi.instruments:
        groups[stem_of(inst)].append(inst)
    return groups
