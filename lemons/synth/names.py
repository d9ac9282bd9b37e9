"""Plausible generated names for titles, artists and albums (no real artist is named)."""

from __future__ import annotations

import numpy as np

ADJECTIVES = (
    "Silver",
    "Broken",
    "Electric",
    "Midnight",
    "Golden",
    "Hollow",
    "Crimson",
    "Quiet",
    "Restless",
    "Velvet",
    "Frozen",
    "Burning",
    "Distant",
    "Neon",
    "Wild",
    "Lonely",
    "Savage",
    "Paper",
    "Iron",
    "Gentle",
    "Bitter",
    "Endless",
    "Faded",
    "Heavy",
    "Sacred",
    "Lucky",
    "Northern",
    "Violet",
    "Hidden",
    "Rusty",
)
NOUNS = (
    "Heart",
    "River",
    "Highway",
    "Garden",
    "Machine",
    "Summer",
    "Ghost",
    "Mirror",
    "Ocean",
    "Signal",
    "Window",
    "Thunder",
    "Shadow",
    "Island",
    "Engine",
    "Letter",
    "Harbor",
    "Dream",
    "Crown",
    "Fever",
    "Storm",
    "Echo",
    "Lantern",
    "Horizon",
    "Wolves",
    "Satellite",
    "Canyon",
    "Parade",
    "Memory",
    "Skyline",
)
VERBS = (
    "Running",
    "Falling",
    "Waiting",
    "Dancing",
    "Breaking",
    "Calling",
    "Fading",
    "Holding",
    "Chasing",
    "Drifting",
)
FIRST = (
    "Mara",
    "Jonas",
    "Lena",
    "Theo",
    "Ines",
    "Kofi",
    "Ruby",
    "Nils",
    "Ayla",
    "Milo",
    "Zora",
    "Cyrus",
    "Odile",
    "Ravi",
    "Elsa",
    "Tomas",
    "Nadia",
    "Jules",
    "Priya",
    "Otis",
)
LAST = (
    "Hale",
    "Moreau",
    "Okafor",
    "Lindqvist",
    "Ferreira",
    "Novak",
    "Castell",
    "Brandt",
    "Achebe",
    "Whitlock",
    "Sato",
    "Delacroix",
    "Marsh",
    "Ivanova",
    "Quinn",
    "Berger",
    "Toussaint",
    "Reyes",
    "Aalto",
    "Kerr",
)

ARTIST_FORMS = {
    "hip-hop": ("Lil {a}", "MC {n}", "{n} Da {a}", "Young {n}", "{a} {n}z"),
    "electronic": ("{a}{n}", "DJ {n}", "{n} Collective", "{a} Systems"),
    "classical": ("{f} {l}", "{l} Quartet", "{l} Ensemble", "Orchestra {a}"),
    "jazz": ("{f} {l} Trio", "{f} {l}", "{f} {l} Quintet"),
    "metal": ("{n} of {a}", "{a} {n}", "Black {n}", "{n}fall"),
    "reggae": ("{f} {l} & the {n}s", "Roots {n}", "{a} Lion", "{f} {l}"),
}
DEFAULT_FORMS = ("The {a} {n}s", "{f} {l}", "{a} {n}", "{n} {n2}", "The {n}s")


def _pick(rng: np.random.Generator, items: tuple[str, ...]) -> str:
    return items[int(rng.integers(len(items)))]


def _fill(form: str, rng: np.random.Generator) -> str:
    return form.format(
        a=_pick(rng, ADJECTIVES),
        n=_pick(rng, NOUNS),
        n2=_pick(rng, NOUNS),
        f=_pick(rng, FIRST),
        l=_pick(rng, LAST),
        v=_pick(rng, VERBS),
    )


def artist_name(genre: str, rng: np.random.Generator) -> str:
    """A made-up artist name in the manner of ``genre``."""
    return _fill(_pick(rng, ARTIST_FORMS.get(genre, DEFAULT_FORMS)), rng)


def album_title(rng: np.random.Generator) -> str:
    """A made-up album title."""
    return _fill(_pick(rng, ("{a} {n}", "{n}s", "The {a} Years", "{v} {n}s", "{n} & {n2}")), rng)


def track_title(genre: str, rng: np.random.Generator) -> str:
    """A made-up track title (classical titles name a form and a key)."""
    if genre == "classical":
        form = _pick(rng, ("Prelude in {a}", "Nocturne No. {k}", "Etude for {n}", "Sonata {k}: {a}"))
        return form.replace("{k}", str(int(rng.integers(1, 30)))).format(
            a=_pick(rng, ADJECTIVES), n=_pick(rng, NOUNS)
        )
    return _fill(_pick(rng, ("{a} {n}", "{v} {n}", "{n}", "{v}", "{n} of {n2}", "{a} {n} {v}")), rng)
