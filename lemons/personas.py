"""The LEMONS personas, defined in this one place, and their listening histories.

The seven personas of the LEMONS demo (marko, matteo, johnny, elizabeth, nina, paige, sandra)
each have a *taste model* over the built-in catalogue: affinities for genres and tags, plus audio
traits their description names (loudness, popularity/niche-ness). Two *planted-taste* personas
(clara, ringo) like tracks for one source alone, whatever the genre: clara the tracks whose piano
stem is most prominent within their genre, ringo those whose drums are. They are the ground truth
for checking explanations: a good explanation of their recommendations points at that source.

A history is sampled from the taste model: which tracks were played (a Gumbel top-k draw from the
utilities) and how often (heavy-tailed, Zipf-distributed playcounts, the most liked tracks
played most). Everything is deterministic for a catalogue and seed.
"""

from __future__ import annotations

import io
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from lemons.catalogue.base import Catalogue, Track
from lemons.errors import DataError, EvaluationError, UnknownPersonaError
from lemons.interactions import Triplet, UserSplits, make_splits, save_splits, stable_seed, write_triplets


@dataclass(frozen=True)
class Persona:
    """A user of the demo and the taste model their history is drawn from.

    ``genres``: affinity per genre (genres not listed get ``base``); ``tags``: bonus (log scale) for
    tracks carrying a tag; ``traits``: coefficient on the z-score of a track attribute
    (``loudness``, ``popularity``, ``tempo``); ``planted``: a stem whose within-genre prominence
    alone decides the taste.
    """

    name: str
    short: str
    description: str
    color: str
    genres: dict[str, float] = field(default_factory=dict)
    tags: dict[str, float] = field(default_factory=dict)
    traits: dict[str, float] = field(default_factory=dict)
    base: float = 0.03
    planted: str | None = None
    listen_fraction: float = 0.2  # share of the catalogue the persona has played
    #: Scale of the taste against the Gumbel noise of the draw (lower = a more consistent history).
    #: At 1.0 the histories held so little of the taste that the taste model itself, told only what
    #: can be heard (no popularity), ranked the demo personas' test splits at AUC 0.85 on average;
    #: at 0.7 it does at 0.92 (`taste_ceiling`), and the descriptions still leave room for surprises.
    temperature: float = 0.7

    @property
    def is_planted(self) -> bool:
        """Whether the taste depends on one source (clara, ringo)."""
        return self.planted is not None


ALL_GENRES = (
    "rock",
    "metal",
    "punk",
    "reggae",
    "electronic",
    "blues",
    "progressive rock",
    "hip-hop",
    "pop",
    "jazz",
    "classical",
)

PERSONAS: tuple[Persona, ...] = (
    Persona(
        "marko",
        "reggae, niche tracks, loud music",
        "Marko's favourite genre is reggae. He prefers more niche tracks and loud music.",
        "#2e8b57",
        genres={"reggae": 1.0, "hip-hop": 0.08},
        traits={"loudness": 1.0, "popularity": -1.0},
        listen_fraction=0.08,
    ),
    Persona(
        "matteo",
        "trance, blues, progressive",
        "Matteo's favourite genres are trance, blues, and progressive.",
        "#6a5acd",
        genres={"electronic": 0.7, "blues": 1.0, "progressive rock": 1.0},
        tags={"trance": 1.2, "progressive": 0.4},
    ),
    Persona(
        "johnny",
        "diverse music taste",
        "Johnny has a diverse music taste: he listens to a bit of everything, the more up-tempo the better.",
        "#ff8c00",
        genres=dict.fromkeys(ALL_GENRES, 1.0),
        traits={"tempo": 1.0},  # an audible taste: uniform over genres alone, nothing could learn it
        listen_fraction=0.25,
        temperature=1.0,  # a sharper taste for tempo would narrow his history to a few fast genres
    ),
    Persona(
        "elizabeth",
        "rock, alternative metal, heavy metal",
        "Elizabeth's top 3 genres are rock, alternative metal, and heavy metal.",
        "#b22222",
        genres={"rock": 1.0, "metal": 1.0, "punk": 0.06},
        tags={"alternative metal": 0.5, "heavy metal": 0.5, "hard rock": 0.3},
        listen_fraction=0.15,
    ),
    Persona(
        "nina",
        "rock, emo, post-hardcore",
        "Nina's favourite genres are rock, emo, and post-hardcore.",
        "#c71585",
        genres={"rock": 0.8, "punk": 1.0},
        tags={"emo": 1.0, "post-hardcore": 1.0},
        listen_fraction=0.15,
    ),
    Persona(
        "paige",
        "popular music",
        "Paige mostly listens to popular music.",
        "#1e90ff",
        genres={"pop": 1.0, "rock": 0.08, "electronic": 0.08, "hip-hop": 0.08},
        traits={"popularity": 1.5},
        listen_fraction=0.08,
    ),
    Persona(
        "sandra",
        "hip-hop, rap, dirty south rap",
        "Sandra's favourite genres are hip-hop and rap, especially dirty south rap.",
        "#8b4513",
        genres={"hip-hop": 1.0},
        tags={"dirty south rap": 1.5, "rap": 0.3},
        listen_fraction=0.06,
    ),
    # Planted-taste personas: ground truth for explanations.
    Persona(
        "clara",
        "prominent piano, any genre",
        "Clara (planted taste) likes tracks where the piano stands out, whatever the genre.",
        "#708090",
        genres=dict.fromkeys(ALL_GENRES, 1.0),
        planted="piano",
        temperature=0.35,
    ),
    Persona(
        "ringo",
        "prominent drums, any genre",
        "Ringo (planted taste) likes tracks where the drums stand out, whatever the genre.",
        "#556b2f",
        genres=dict.fromkeys(ALL_GENRES, 1.0),
        planted="drums",
        temperature=0.35,
    ),
)

PERSONA_NAMES = tuple(p.name for p in PERSONAS)
DEMO_PERSONAS = tuple(p.name for p in PERSONAS if not p.is_planted)
PLANTED_PERSONAS = tuple(p.name for p in PERSONAS if p.is_planted)


def get_persona(name: str) -> Persona:
    """The persona called ``name`` (case-insensitive); :class:`UnknownPersonaError` lists valid names."""
    for persona in PERSONAS:
        if persona.name == name.strip().lower():
            return persona
    raise UnknownPersonaError(
        f"unknown persona {name!r}; choose one of: {', '.join(PERSONA_NAMES)} (see `lemons personas list`)"
    )


def _zscore(values: np.ndarray) -> np.ndarray:
    finite = np.isfinite(values)
    if finite.sum() < 2:
        return np.zeros_like(values)
    mean, std = values[finite].mean(), values[finite].std()
    return np.where(finite, (values - mean) / (std if std > 0 else 1.0), 0.0)


def _within_genre_percentile(tracks: list[Track], values: np.ndarray) -> np.ndarray:
    """Rank of each value among tracks of the same genre, in [0, 1]; zeros rank lowest."""
    out = np.zeros(len(tracks))
    by_genre: dict[str, list[int]] = {}
    for i, track in enumerate(tracks):
        by_genre.setdefault(track.genre, []).append(i)
    for indices in by_genre.values():
        group = values[indices]
        ranks = np.array([np.sum(group < v) for v in group], dtype=float)
        out[indices] = np.where(group > 0, ranks / max(len(group) - 1, 1), 0.0)
    return out


def utilities(persona: Persona, tracks: list[Track]) -> np.ndarray:
    """The persona's taste for each track (log scale, higher = more liked)."""
    if persona.planted:
        share = np.array([float(t.extra.get(f"share_{persona.planted}", 0.0)) for t in tracks])
        return 6.0 * (_within_genre_percentile(tracks, share) - 0.5)
    u = np.log(np.array([persona.genres.get(t.genre, persona.base) for t in tracks]))
    u += np.array([sum(persona.tags.get(tag, 0.0) for tag in t.tags) for t in tracks])
    for trait, coefficient in persona.traits.items():
        raw = np.array(
            [getattr(t, trait) if getattr(t, trait) is not None else np.nan for t in tracks], float
        )
        u += coefficient * _zscore(raw)
    return u


#: Track attributes a taste may depend on that are metadata, not sound: no recommender that hears
#: only the audio can learn them.
METADATA_TRAITS = ("popularity",)


def taste_ceiling(persona: Persona, catalogue: Catalogue, labelled: Sequence[tuple[str, int]]) -> float:
    """AUC of the persona's own taste model, restricted to what can be heard, on ``labelled`` tracks.

    ``labelled`` holds ``(track_id, label)`` pairs (a split). The histories are drawn with noise, so
    even the taste that generated them does not rank a split perfectly: this is about the best an
    audio recommender can do there, a yardstick for its test AUC.
    """
    from sklearn.metrics import roc_auc_score

    audible = replace(persona, traits={k: v for k, v in persona.traits.items() if k not in METADATA_TRAITS})
    u = dict(zip(catalogue.ids, utilities(audible, catalogue.tracks), strict=True))
    labels = [label for _, label in labelled]
    if set(labels) != {0, 1}:
        raise EvaluationError(f"{persona.name}'s split needs played and unplayed tracks for an AUC")
    return float(roc_auc_score(labels, [u[track_id] for track_id, _ in labelled]))


def sample_history(persona: Persona, catalogue: Catalogue, seed: int = 0) -> list[Triplet]:
    """The persona's listening history over ``catalogue`` as Taste Profile triplets, most played first."""
    tracks = catalogue.tracks
    rng = np.random.default_rng(stable_seed("history", persona.name, seed))
    u = utilities(persona, tracks) / persona.temperature
    n = min(max(3, int(round(persona.listen_fraction * len(tracks)))), len(tracks) // 2)
    noisy = u + rng.gumbel(size=len(tracks))
    chosen = np.argsort(-noisy, kind="stable")[:n]
    counts = np.sort(np.minimum(rng.zipf(1.9, size=n), 250))[::-1]
    return [Triplet(persona.name, tracks[i].id, int(c)) for i, c in zip(chosen, counts, strict=True)]


#: Negatives drawn per played track in the personas' splits. Persona histories are short (26–110
#: tracks), so three negatives per positive give the recommender more to learn from and make the
#: validation and test AUC less noisy; AUC does not depend on the ratio, average precision does
#: (its chance level is 0.25 instead of 0.5).
PERSONA_NEGATIVES_PER_POSITIVE = 3.0


def persona_splits(
    persona: Persona, catalogue: Catalogue, history: list[Triplet], seed: int = 0
) -> UserSplits:
    """The persona's train/val/test splits of its played tracks and unplayed negatives (80/10/10)."""
    return make_splits(
        persona.name,
        [t.track_id for t in history],
        catalogue.ids,
        seed=seed,
        negatives_per_positive=PERSONA_NEGATIVES_PER_POSITIVE,
    )


def write_persona_data(catalogue, seed: int = 0) -> None:
    """Write every persona's history (``taste_profile.txt``) and splits (``splits.json``) to the catalogue.

    Personas whose history cannot be split (a catalogue of a handful of tracks) get no splits and a warning.
    """
    histories = {p.name: sample_history(p, catalogue, seed) for p in PERSONAS}
    write_triplets(catalogue.root / "taste_profile.txt", [t for h in histories.values() for t in h])
    splits, unsplit = [], []
    for persona in PERSONAS:
        try:
            splits.append(persona_splits(persona, catalogue, histories[persona.name], seed))
        except DataError:
            unsplit.append(persona.name)
    if unsplit:
        warnings.warn(
            f"{len(catalogue)} tracks are too few to split the histories of {', '.join(unsplit)}; "
            "build at least 44 tracks for the recommender",
            stacklevel=2,
        )
    save_splits(catalogue.root / "splits.json", splits)


@dataclass(frozen=True)
class Profile:
    """What the demo and ``lemons personas show`` tell about a persona's listening."""

    persona: Persona
    n_tracks: int
    n_events: int
    genre_counts: list[tuple[str, int]]
    top_tracks: list[tuple[Track, int]]
    genre_entropy: float

    def genre_share(self, genres: set[str]) -> float:
        """Share of the listened tracks whose genre is in ``genres``."""
        return sum(c for g, c in self.genre_counts if g in genres) / max(self.n_tracks, 1)


def profile(persona: Persona, catalogue: Catalogue, history: list[Triplet]) -> Profile:
    """Summarise a history: tracks, listening events, genres (most listened first), tracks by playcount."""
    genre_counts = Counter(catalogue[t.track_id].genre for t in history)
    counts = np.array(list(genre_counts.values()), dtype=float)
    p = counts / counts.sum()
    ordered = sorted(history, key=lambda t: (-t.playcount, t.track_id))
    return Profile(
        persona=persona,
        n_tracks=len(history),
        n_events=sum(t.playcount for t in history),
        genre_counts=genre_counts.most_common(),
        top_tracks=[(catalogue[t.track_id], t.playcount) for t in ordered],
        genre_entropy=float(-(p * np.log2(p)).sum()),
    )


def history_of(persona: Persona, triplets: list[Triplet]) -> list[Triplet]:
    """The persona's lines of the listening histories."""
    return [t for t in triplets if t.user == persona.name]


def avatar_png(persona: Persona, size: int = 256) -> bytes:
    """A locally drawn avatar: a face in the persona's colour with their initial (PNG bytes)."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    s = size / 256
    draw.ellipse((4 * s, 4 * s, 252 * s, 252 * s), fill=persona.color)
    draw.ellipse((70 * s, 40 * s, 186 * s, 156 * s), fill="#f5deb3")  # head
    draw.ellipse((100 * s, 85 * s, 112 * s, 97 * s), fill="#333333")
    draw.ellipse((144 * s, 85 * s, 156 * s, 97 * s), fill="#333333")
    draw.arc(
        (105 * s, 100 * s, 151 * s, 135 * s), start=20, end=160, fill="#333333", width=max(1, int(4 * s))
    )
    draw.pieslice((40 * s, 150 * s, 216 * s, 330 * s), start=180, end=360, fill="#f5f5f5")  # shoulders
    font = ImageFont.load_default(size=int(56 * s))
    draw.text((128 * s, 205 * s), persona.name[0].upper(), fill=persona.color, font=font, anchor="mm")
    if persona.planted:  # a note symbol marks planted-taste personas
        draw.text(
            (205 * s, 50 * s), "♪", fill="white", font=ImageFont.load_default(size=int(40 * s)), anchor="mm"
        )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
