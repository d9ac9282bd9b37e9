"""Each persona's listening history fits their description (measured on a full-size catalogue)."""

from __future__ import annotations

import io

import numpy as np
import pytest

from lemons.catalogue.builtin import BuiltinCatalogue
from lemons.cli import main
from lemons.errors import UnknownPersonaError
from lemons.personas import (
    DEMO_PERSONAS,
    PERSONAS,
    PLANTED_PERSONAS,
    avatar_png,
    get_persona,
    history_of,
    profile,
    utilities,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def catalogue(persona_catalogue_dir) -> BuiltinCatalogue:
    return BuiltinCatalogue(persona_catalogue_dir)


@pytest.fixture(scope="module")
def profiles(catalogue):
    triplets = catalogue.triplets()
    return {p.name: profile(p, catalogue, history_of(p, triplets)) for p in PERSONAS}


def listened(profiles, name):
    return [track for track, _ in profiles[name].top_tracks]


def mean(values) -> float:
    return float(np.mean([v for v in values if v is not None]))


def tag_rate(tracks, tag) -> float:
    return float(np.mean([tag in t.tags for t in tracks])) if tracks else 0.0


def test_marko_reggae_niche_and_loud(profiles, catalogue) -> None:
    assert profiles["marko"].genre_share({"reggae"}) >= 0.6
    his_reggae = [t for t in listened(profiles, "marko") if t.genre == "reggae"]
    all_reggae = [t for t in catalogue if t.genre == "reggae"]
    assert mean(t.loudness for t in his_reggae) > mean(t.loudness for t in all_reggae)
    assert mean(t.popularity for t in listened(profiles, "marko")) < mean(t.popularity for t in catalogue)


def test_matteo_trance_blues_progressive(profiles, catalogue) -> None:
    assert profiles["matteo"].genre_share({"electronic", "blues", "progressive rock"}) >= 0.8
    his_electronic = [t for t in listened(profiles, "matteo") if t.genre == "electronic"]
    assert tag_rate(his_electronic, "trance") > tag_rate(
        [t for t in catalogue if t.genre == "electronic"], "trance"
    )


def test_johnny_has_the_most_diverse_history(profiles) -> None:
    entropies = {name: profiles[name].genre_entropy for name in DEMO_PERSONAS}
    assert max(entropies, key=entropies.get) == "johnny"
    assert len(profiles["johnny"].genre_counts) == 11


def test_elizabeth_rock_and_metal(profiles, catalogue) -> None:
    assert profiles["elizabeth"].genre_share({"rock", "metal"}) >= 0.8
    assert {g for g, _ in profiles["elizabeth"].genre_counts[:2]} == {"rock", "metal"}
    her_metal = [t for t in listened(profiles, "elizabeth") if t.genre == "metal"]
    assert tag_rate(her_metal, "alternative metal") + tag_rate(her_metal, "heavy metal") >= 1.0


def test_nina_rock_emo_post_hardcore(profiles, catalogue) -> None:
    assert profiles["nina"].genre_share({"rock", "punk"}) >= 0.8
    her_punk = [t for t in listened(profiles, "nina") if t.genre == "punk"]
    all_punk = [t for t in catalogue if t.genre == "punk"]
    emo_or_phc = lambda ts: float(np.mean([("emo" in t.tags) or ("post-hardcore" in t.tags) for t in ts]))  # noqa: E731
    assert emo_or_phc(her_punk) > emo_or_phc(all_punk)


def test_paige_popular_music(profiles, catalogue) -> None:
    assert profiles["paige"].genre_share({"pop"}) >= 0.6
    assert (
        mean(t.popularity for t in listened(profiles, "paige")) > mean(t.popularity for t in catalogue) + 10
    )


def test_sandra_hip_hop_especially_dirty_south(profiles, catalogue) -> None:
    assert profiles["sandra"].genre_share({"hip-hop"}) >= 0.8
    her_hip_hop = [t for t in listened(profiles, "sandra") if t.genre == "hip-hop"]
    all_hip_hop = [t for t in catalogue if t.genre == "hip-hop"]
    assert tag_rate(her_hip_hop, "dirty south rap") > tag_rate(all_hip_hop, "dirty south rap") + 0.15


@pytest.mark.parametrize("name", PLANTED_PERSONAS)
def test_planted_personas_follow_their_source_not_a_genre(profiles, catalogue, name) -> None:
    persona = get_persona(name)
    tracks = catalogue.tracks
    u = dict(zip([t.id for t in tracks], utilities(persona, tracks), strict=True))
    theirs = [u[t.id] for t in listened(profiles, name)]
    assert np.mean(theirs) > np.mean(list(u.values())) + 1.5  # utility is 6 * (within-genre percentile - 0.5)
    key = f"share_{persona.planted}"
    for genre in {t.genre for t in listened(profiles, name)}:
        mine = [t.extra[key] for t in listened(profiles, name) if t.genre == genre]
        everyone = [t.extra[key] for t in tracks if t.genre == genre]
        assert np.median(mine) >= np.median(everyone), genre
    assert len(profiles[name].genre_counts) >= 8
    assert profiles[name].genre_counts[0][1] / profiles[name].n_tracks <= 0.3


@pytest.mark.parametrize("name", [p.name for p in PERSONAS])
def test_playcounts_are_heavy_tailed_and_splits_exist(profiles, catalogue, name) -> None:
    counts = np.array([c for _, c in profiles[name].top_tracks])
    assert np.median(counts) <= 2 and counts.max() >= 8 * np.median(counts)
    assert profiles[name].n_events == counts.sum()
    splits = catalogue.splits()[name]
    for split in ("train", "val", "test"):
        assert set(splits.labels(split)) == {0.0, 1.0}


def test_personas_show_prints_the_profile(persona_catalogue_dir, monkeypatch, capsys) -> None:
    from lemons.config import get_settings
    from lemons.synth.build import DEFAULT_TRACKS

    monkeypatch.setenv("LEMONS_CATALOGUE_DIR", str(persona_catalogue_dir))
    get_settings.cache_clear()
    assert main(["personas", "show", "Elizabeth", "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "Elizabeth's top 3 genres are rock, alternative metal, and heavy metal." in out
    listened = round(0.15 * DEFAULT_TRACKS)  # elizabeth's listen_fraction of the default catalogue
    assert f"listened to {listened} tracks for a total of" in out and "top genres: " in out
    assert len([line for line in out.splitlines() if line.startswith("  ") and "LM" in line]) == 3


def test_unknown_persona_names_the_valid_ones(capsys) -> None:
    with pytest.raises(UnknownPersonaError, match="choose one of: marko, matteo, johnny"):
        get_persona("eliza")
    assert main(["personas", "show", "eliza"]) == 2
    assert "unknown persona 'eliza'" in capsys.readouterr().err


def test_personas_show_without_a_catalogue_says_how_to_build_it(capsys) -> None:
    assert main(["personas", "show", "nina"]) == 2
    assert "lemons data build --out" in capsys.readouterr().err


def test_avatars_are_drawn_locally_and_differ() -> None:
    from PIL import Image

    pictures = {p.name: avatar_png(p) for p in PERSONAS}
    assert len(set(pictures.values())) == len(PERSONAS)
    assert avatar_png(PERSONAS[0]) == pictures[PERSONAS[0].name]
    image = Image.open(io.BytesIO(pictures["nina"]))
    assert image.size == (256, 256) and image.format == "PNG"


def test_taste_ceiling_is_what_the_audible_taste_ranks(catalogue) -> None:
    from sklearn.metrics import roc_auc_score

    from lemons.errors import EvaluationError
    from lemons.personas import taste_ceiling

    splits = catalogue.splits()
    assert taste_ceiling(get_persona("ringo"), catalogue, splits["ringo"].test) >= 0.9
    paige, test = get_persona("paige"), splits["paige"].test + splits["paige"].val + splits["paige"].train
    u = dict(zip(catalogue.ids, utilities(paige, catalogue.tracks), strict=True))
    with_popularity = roc_auc_score([label for _, label in test], [u[t] for t, _ in test])
    assert taste_ceiling(paige, catalogue, test) < with_popularity  # popularity is metadata, not sound
    with pytest.raises(EvaluationError, match="played and unplayed"):
        taste_ceiling(paige, catalogue, [(t, 1) for t, _ in test])
