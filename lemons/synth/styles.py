"""Genres of the built-in catalogue: grooves, tempi, harmony, instruments, mix balance and loudness.

Each genre has two or three *styles* (sub-genres). A style decides the tags a track carries and
constrains its sound (grooves, tempo range, drum kit), so tags mean something audible.
Instruments are General MIDI program numbers (0-based) of the FluidR3_GM SoundFont.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# MMA sequences for the parts a groove may lack. ``{n}`` fills in nothing; they are plain strings.
BASS_PATTERNS = {
    "root_fifth": "{1 4 1 95; 2.5 8 5 80; 3 4 1 90; 4 8 5 80}",
    "eighths": "{1 8 1 95; 1.5 8 1 80; 2 8 1 90; 2.5 8 1 80; 3 8 1 95; 3.5 8 1 80; 4 8 1 90; 4.5 8 1 80}",
    "one_drop": "{1 4. 1 100; 2.5 8 5 85; 3 4 3 90; 4 8 1 85}",
    "offbeat": "{1.5 8 1 100; 2.5 8 1 100; 3.5 8 1 100; 4.5 8 1 100}",
    "long_808": "{1 2 1 110; 3.5 8 1 90; 4 4 5 90}",
    "boom_bap": "{1 4 1 100; 2.75 16 1 80; 3 8 5 90; 4.5 8 1 85}",
    "gallop": "{1 8 1 100; 1.5 16 1 80; 1.75 16 1 80; 2 8 1 100; 2.5 16 1 80; 2.75 16 1 80; "
    "3 8 1 100; 3.5 16 1 80; 3.75 16 1 80; 4 8 1 100; 4.5 16 1 80; 4.75 16 1 80}",
    "slow_roots": "{1 2 1 90; 3 2 5 80}",
}
WALK_PATTERN = "{1 4 90; 2 4 80; 3 4 85; 4 4 80}"
CHORD_PATTERNS = {
    "halves": "{1 2 75; 3 2 70}",
    "whole": "{1 1 70}",
    "skank": "{2 8 90; 4 8 90}",
    "double_skank": "{2 16 90; 2.25 16 70; 4 16 90; 4.25 16 70}",
    "eighths": "{1 8 85; 1.5 8 70; 2 8 80; 2.5 8 70; 3 8 85; 3.5 8 70; 4 8 80; 4.5 8 70}",
    "stabs": "{1 8 90; 2.5 8 85; 4 8 80}",
    "jazz_comp": "{1.5 8 70; 3 4 75; 4.5 8 70}",
    "offbeat_stabs": "{1.5 16 90; 2.5 16 90; 3.5 16 90; 4.5 16 90}",
    "power_eighths": "{1 8 100; 1.5 8 90; 2 8 95; 2.5 8 90; 3 8 100; 3.5 8 90; 4 8 95; 4.5 8 90}",
}
ARPEGGIO_PATTERNS = {
    "sixteenths": "{1 16 90; 1.25 16 75; 1.5 16 80; 1.75 16 75; 2 16 90; 2.25 16 75; 2.5 16 80; "
    "2.75 16 75; 3 16 90; 3.25 16 75; 3.5 16 80; 3.75 16 75; 4 16 90; 4.25 16 75; 4.5 16 80; "
    "4.75 16 75}",
    "eighths": "{1 8 85; 1.5 8 75; 2 8 80; 2.5 8 75; 3 8 85; 3.5 8 75; 4 8 80; 4.5 8 75}",
    "quarters": "{1 4 80; 2 4 70; 3 4 75; 4 4 70}",
}

# Vocal-line rhythms (one or two bars each, ``z`` is a bar of rest).
MELODIC_LINES = (
    "{1 4 90; 2 8 80; 2.5 8 80; 3 4 90; 4 4 80} {1 2 90; 3 4 80; 4 8 85; 4.5 8 80}",
    "{1 8 90; 1.5 8 80; 2 4 85; 3 2 90} {1 4 85; 2 4 80; 3 4 90; 4 4 70}",
    "{1 2. 90; 4 4 80} {1 4 85; 2 4 85; 3 8 80; 3.5 8 80; 4 4 85}",
    "{1 4 90; 2 4 85; 3 2 90} z",
    "{1.5 8 85; 2 8 80; 2.5 4 90; 3.5 8 80; 4 4 85} {1 1 90}",
    "{1 4. 90; 2.5 8 80; 3 4 85; 4 4 85} {1 2 90; 3 8 80; 3.5 8 80; 4 4 85} z",
)
RAP_LINES = (
    "{1 16 90; 1.25 16 80; 1.5 8 85; 2 16 90; 2.25 16 80; 2.5 8 85; 3 16 90; 3.25 16 80; "
    "3.5 16 85; 3.75 16 80; 4 8 90}",
    "{1 8 90; 1.5 16 80; 1.75 16 80; 2 8 90; 2.5 8 80; 3 8 90; 3.5 16 80; 3.75 16 80; 4.5 8 85}",
    "{1.5 16 90; 1.75 16 80; 2 8 85; 2.5 16 90; 2.75 16 80; 3 8 85; 4 16 90; 4.25 16 80; 4.5 8 85}",
)


@dataclass(frozen=True)
class Progression:
    """Chord symbols in C major (``minor=False``) or A minor (``minor=True``), transposed per track."""

    chords: tuple[str, ...]
    minor: bool = False


def _progs(*specs: tuple[str, bool]) -> tuple[Progression, ...]:
    return tuple(Progression(tuple(text.split()), minor) for text, minor in specs)


@dataclass(frozen=True)
class Style:
    """A sub-genre: what a track of this style sounds like and which tags it carries."""

    name: str
    tags: tuple[str, ...]
    grooves: tuple[str, ...]
    bpm: tuple[int, int]
    drum_kits: tuple[int, ...] = (0,)  # GM drum kit (bank 128) programs; () = no drums


@dataclass(frozen=True)
class Genre:
    """Everything the generator needs to write songs of one genre."""

    name: str
    styles: tuple[Style, ...]
    progressions: tuple[Progression, ...]
    vocals: tuple[int, ...]  # GM programs of the lead "voice"
    piano: tuple[int, ...]
    bass: tuple[int, ...]
    other: tuple[int, ...]
    bass_patterns: tuple[str, ...]
    piano_patterns: tuple[str, ...]
    other_patterns: tuple[str, ...]  # names from CHORD_PATTERNS, or "arp:<name>" for ARPEGGIO_PATTERNS
    rap: bool = False
    walking_bass: bool = False
    level_db: dict[str, float] = field(default_factory=dict)  # mix balance per stem (dB)
    loudness_db: tuple[float, float] = (-16.0, -11.0)  # RMS of the mix, dBFS
    popularity: float = 0.4  # mean artist popularity, 0-1

    @property
    def tags(self) -> tuple[str, ...]:
        """The tags of every style of the genre, without repeats, in style order."""
        seen: dict[str, None] = {}
        for style in self.styles:
            seen.update(dict.fromkeys(style.tags))
        return tuple(seen)


MAJOR_POP = ("C G Am F", False), ("Am F C G", False), ("F G Em Am", False), ("C Am F G", False)
ROCK_PROGS = _progs(*MAJOR_POP[:2], ("C F G F", False), ("G F C C", False), ("C Bb F C", False))
MINOR_ROCK = _progs(("Am Am F G", True), ("Am C D F", True), ("Am G F E", True), ("Am F Dm E", True))

GENRES: tuple[Genre, ...] = (
    Genre(
        "rock",
        styles=(
            Style(
                "classic rock",
                ("rock", "classic rock"),
                ("Rock1", "60sRock", "BasicRock", "ROCK01"),
                (110, 138),
                (0, 8),
            ),
            Style(
                "hard rock",
                ("rock", "hard rock"),
                ("Rock2", "HRK01", "ROCK05", "ROCK10"),
                (120, 150),
                (16, 0),
            ),
            Style(
                "indie rock",
                ("rock", "indie rock", "alternative"),
                ("SoftRock", "PopRock1", "8Beat1"),
                (100, 130),
                (8, 0),
            ),
        ),
        progressions=ROCK_PROGS + MINOR_ROCK[:2],
        vocals=(53, 54, 85),
        piano=(0, 1, 2, 4),
        bass=(33, 34),
        other=(29, 30, 27),
        bass_patterns=("eighths", "root_fifth"),
        piano_patterns=("halves", "eighths", "stabs"),
        other_patterns=("power_eighths", "eighths", "halves"),
        level_db={"vocals": 0, "piano": -5, "drums": -1, "bass": -3, "other": -1},
        loudness_db=(-14.0, -9.0),
        popularity=0.5,
    ),
    Genre(
        "metal",
        styles=(
            Style(
                "heavy metal",
                ("heavy metal", "metal"),
                ("HeavyMetal", "metal1A", "MTL01", "MTL03"),
                (140, 185),
                (16, 0),
            ),
            Style(
                "alternative metal",
                ("alternative metal", "metal", "nu metal"),
                ("metal2A", "MTL02", "MTL04", "HRK03"),
                (95, 135),
                (16, 8),
            ),
        ),
        progressions=MINOR_ROCK + _progs(("Em Em C D", True), ("Em G D A", True), ("Em C Am B", True)),
        vocals=(54, 85, 52),
        piano=(0, 1, 3),
        bass=(34, 33, 38),
        other=(30, 29),
        bass_patterns=("gallop", "eighths"),
        piano_patterns=("whole", "halves"),
        other_patterns=("power_eighths", "stabs"),
        level_db={"vocals": -2, "piano": -9, "drums": 0, "bass": -2, "other": 1},
        loudness_db=(-11.0, -7.0),
        popularity=0.35,
    ),
    Genre(
        "punk",
        styles=(
            Style("punk rock", ("punk rock", "punk"), ("PUNK01", "PUNK02"), (165, 200), (0, 16)),
            Style(
                "emo", ("emo", "punk rock", "pop punk"), ("PUNK02", "8Beat1", "ROCK10"), (140, 175), (0, 8)
            ),
            Style(
                "post-hardcore",
                ("post-hardcore", "emo", "screamo"),
                ("PUNK01", "MTL02", "HRK03"),
                (150, 190),
                (16, 0),
            ),
        ),
        progressions=_progs(
            ("C G Am F", False), ("G D Em C", False), ("Am F C G", True), ("C F Am G", False)
        ),
        vocals=(54, 85, 53),
        piano=(1, 0),
        bass=(34, 33),
        other=(30, 29, 27),
        bass_patterns=("eighths",),
        piano_patterns=("eighths", "halves"),
        other_patterns=("power_eighths",),
        level_db={"vocals": 0, "piano": -9, "drums": 0, "bass": -2, "other": 0},
        loudness_db=(-12.0, -8.0),
        popularity=0.35,
    ),
    Genre(
        "reggae",
        styles=(
            Style(
                "roots reggae",
                ("reggae", "roots reggae"),
                ("REGG01", "REGG02", "REGG03", "REGG04"),
                (66, 84),
                (0, 8),
            ),
            Style("dub", ("reggae", "dub"), ("REGG02", "REGG04"), (64, 78), (8, 0)),
            Style("ska", ("ska", "reggae"), ("Ska", "SKA01"), (100, 130), (0,)),
        ),
        progressions=_progs(
            ("C F G F", False), ("Am Dm Am Dm", True), ("C C F G", False), ("Dm G Dm G", True)
        ),
        vocals=(53, 52, 54),
        piano=(0, 4, 1),
        bass=(33, 32, 38),
        other=(16, 28, 27),
        bass_patterns=("one_drop",),
        piano_patterns=("skank", "double_skank"),
        other_patterns=("skank", "double_skank", "offbeat_stabs"),
        level_db={"vocals": 0, "piano": -4, "drums": -2, "bass": 1, "other": -4},
        loudness_db=(-15.0, -9.0),
        popularity=0.3,
    ),
    Genre(
        "electronic",
        styles=(
            Style(
                "trance",
                ("trance", "electronic"),
                ("Trance", "Trance1", "Trance2", "TECH05"),
                (128, 142),
                (24, 25),
            ),
            Style(
                "techno",
                ("techno", "electronic"),
                ("Techno", "TECH01", "TeamTechno", "Rave"),
                (125, 140),
                (25, 24),
            ),
            Style(
                "house", ("house", "electronic", "dance"), ("House", "HOUS01", "Dance1"), (118, 128), (24, 0)
            ),
        ),
        progressions=_progs(
            ("Am F C G", True), ("Am Em F G", True), ("Dm Bb F C", True), ("Am Am F G", True)
        ),
        vocals=(54, 85, 91),
        piano=(4, 5, 1),
        bass=(38, 39),
        other=(81, 80, 90, 89),
        bass_patterns=("offbeat", "eighths"),
        piano_patterns=("offbeat_stabs", "whole"),
        other_patterns=("arp:sixteenths", "arp:eighths", "offbeat_stabs"),
        level_db={"vocals": -3, "piano": -6, "drums": 1, "bass": -1, "other": 0},
        loudness_db=(-12.0, -8.0),
        popularity=0.4,
    ),
    Genre(
        "blues",
        styles=(
            Style(
                "electric blues",
                ("blues", "electric blues"),
                ("Blues", "FastBlues", "BLUS01"),
                (85, 120),
                (0, 8),
            ),
            Style(
                "blues rock",
                ("blues", "blues rock"),
                ("ShuffleBoggie", "BLUS02", "ShuffleRock"),
                (100, 135),
                (0, 16),
            ),
            Style("slow blues", ("blues", "slow blues"), ("SlowBlues", "CountryBlues"), (60, 80), (8, 32)),
        ),
        progressions=_progs(
            ("C7 F7 C7 C7 F7 F7 C7 C7 G7 F7 C7 G7", False),
            ("C7 C7 F7 C7 G7 F7 C7 G7", False),
            ("Am7 Dm7 Am7 E7", True),
        ),
        vocals=(53, 52),
        piano=(0, 1, 3),
        bass=(32, 33),
        other=(29, 22, 27),
        bass_patterns=("root_fifth",),
        piano_patterns=("halves", "stabs"),
        other_patterns=("stabs", "halves"),
        level_db={"vocals": 0, "piano": -3, "drums": -2, "bass": -3, "other": 0},
        loudness_db=(-18.0, -13.0),
        popularity=0.3,
    ),
    Genre(
        "progressive rock",
        styles=(
            Style(
                "progressive rock",
                ("progressive rock", "progressive"),
                ("JazzRock", "Fusion"),
                (90, 130),
                (0, 8),
            ),
            Style(
                "art rock",
                ("art rock", "progressive rock"),
                ("LFusion", "HRK05"),
                (80, 120),
                (8, 0),
            ),
            Style(
                "space rock",
                ("space rock", "progressive"),
                ("JazzRock", "LFusion"),
                (70, 100),
                (8,),
            ),
        ),
        progressions=_progs(
            ("Am G F Em Dm E", True),
            ("C Em Am F Dm G", False),
            ("Dm Bb C Am", True),
            ("Em C D Bm Am B", True),
        ),
        vocals=(53, 85, 52),
        piano=(4, 6),
        bass=(35, 34, 33),
        other=(16, 17, 18, 19, 49),
        bass_patterns=("root_fifth", "eighths"),
        piano_patterns=("halves", "stabs"),
        other_patterns=("arp:eighths", "whole", "power_eighths"),
        level_db={"vocals": -1, "piano": -3, "drums": -2, "bass": -3, "other": -1},
        loudness_db=(-16.0, -11.0),
        popularity=0.3,
    ),
    Genre(
        "hip-hop",
        styles=(
            Style(
                "east coast rap",
                ("hip-hop", "rap", "east coast rap"),
                ("Hip-Hop", "HIP01", "HIP05", "HIP10"),
                (86, 98),
                (0, 8),
            ),
            Style(
                "dirty south rap",
                ("hip-hop", "rap", "dirty south rap"),
                ("HipHop", "HIP15", "HIP20"),
                (68, 82),
                (25,),
            ),
            Style("trip hop", ("hip-hop", "trip hop"), ("TripHop", "TRIP01"), (75, 92), (25, 8)),
        ),
        progressions=_progs(
            ("Am7 Am7 Dm7 Em7", True),
            ("Cm7 Fm7 Cm7 Gm7", True),
            ("Am7 Fmaj7 Dm7 E7", True),
            ("Dm7 Dm7 Am7 Am7", True),
        ),
        vocals=(54, 85),
        piano=(4, 5, 0),
        bass=(38, 39, 33),
        other=(89, 88, 61, 48),
        bass_patterns=("long_808", "boom_bap"),
        piano_patterns=("stabs", "halves"),
        other_patterns=("whole", "stabs"),
        rap=True,
        level_db={"vocals": 0, "piano": -6, "drums": 2, "bass": 0, "other": -6},
        loudness_db=(-12.0, -8.0),
        popularity=0.5,
    ),
    Genre(
        "pop",
        styles=(
            Style(
                "dance pop",
                ("pop", "dance pop"),
                ("DancePop1", "POP01", "POP05", "ElectricPop"),
                (112, 128),
                (24, 0),
            ),
            Style("pop rock", ("pop", "pop rock"), ("8BeatPop1", "Pop", "PopRock1"), (100, 126), (0, 8)),
            Style("synthpop", ("pop", "synthpop"), ("80sPop", "8BeatPop2", "SoulPop"), (105, 124), (24, 25)),
        ),
        progressions=_progs(*MAJOR_POP, ("C G F F", False)),
        vocals=(53, 52, 85),
        piano=(0, 1),
        bass=(33, 38, 36),
        other=(48, 27, 61, 25),
        bass_patterns=("eighths", "root_fifth"),
        piano_patterns=("halves", "eighths", "stabs"),
        other_patterns=("whole", "halves", "stabs"),
        level_db={"vocals": 4, "piano": -4, "drums": -1, "bass": -2, "other": -5},
        loudness_db=(-12.0, -8.0),
        popularity=0.75,
    ),
    Genre(
        "jazz",
        styles=(
            Style("bebop", ("jazz", "bebop"), ("Bebop", "JazzCombo", "JAZZ01"), (150, 200), (32, 40)),
            Style("swing", ("jazz", "swing"), ("Swing", "EasySwing", "JAZZ03"), (110, 150), (32, 40)),
            Style("cool jazz", ("jazz", "cool jazz"), ("ModernJazz", "MellowJazz"), (90, 130), (40, 32)),
        ),
        progressions=_progs(
            ("Dm7 G7 Cmaj7 A7", False),
            ("Cmaj7 Am7 Dm7 G7", False),
            ("Em7 A7 Dm7 G7", False),
            ("Am7 D7 Gmaj7 Cmaj7", False),
        ),
        vocals=(52, 53),
        piano=(0, 1, 4),
        bass=(32,),
        other=(66, 65, 56),
        bass_patterns=("root_fifth",),
        piano_patterns=("jazz_comp", "stabs"),
        other_patterns=("jazz_comp", "halves"),
        walking_bass=True,
        level_db={"vocals": -1, "piano": -1, "drums": -6, "bass": -3, "other": -2},
        loudness_db=(-22.0, -15.0),
        popularity=0.25,
    ),
    Genre(
        "classical",
        styles=(
            Style(
                "romantic", ("classical", "romantic"), ("Arpeggio4", "Arpeggio8", "PianoBallad"), (60, 90), ()
            ),
            Style("baroque", ("classical", "baroque"), ("Arpeggio48", "Arpeggio8"), (80, 110), ()),
            Style(
                "chamber music",
                ("classical", "chamber music"),
                ("StringBallad", "Hymn", "Arpeggio4"),
                (60, 96),
                (),
            ),
        ),
        progressions=_progs(
            ("C F G C", False), ("Am Dm E Am", True), ("C Am F G", False), ("Dm Gm A Dm", True)
        ),
        vocals=(52, 53),
        piano=(0, 6),
        bass=(43, 32, 42),
        other=(48, 49, 40, 73, 71),
        bass_patterns=("slow_roots",),
        piano_patterns=("halves", "whole"),
        other_patterns=("whole", "arp:quarters", "halves"),
        level_db={"vocals": -2, "piano": 0, "drums": -60, "bass": -6, "other": -1},
        loudness_db=(-26.0, -18.0),
        popularity=0.2,
    ),
)

GENRE_BY_NAME = {genre.name: genre for genre in GENRES}
