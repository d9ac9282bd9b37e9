"""What the shared model hears of each stem (recsys/hearing.py) and its table in the evaluation report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lemons.catalogue.base import STEMS, Track
from lemons.config import get_settings
from recsys.eval import ex as eval_ex
from recsys.experiment import ex as train_ex
from recsys.hearing import stem_hearing, stem_levels, within_group_r
from recsys.pretrain import ex as pretrain_ex
from tests.conftest import TEST_USER

QUICK = {"progress": False, "num_workers": 1, "device": "cpu"}


def test_a_level_the_embedding_holds_is_heard_and_one_it_lacks_is_not() -> None:
    rng = np.random.default_rng(0)
    genres = np.repeat(["jazz", "rock", "pop", "punk"], 40)
    offsets = {"jazz": 1.0, "rock": -1.0, "pop": 0.0, "punk": -2.0}
    embeddings = rng.normal(size=(len(genres), 12))
    genre_level = np.array([offsets[g] for g in genres])
    levels = rng.normal(size=(len(genres), len(STEMS)))  # nothing the embedding holds...
    levels[:, STEMS.index("piano")] = embeddings[:, 0] - 0.5 * embeddings[:, 3]  # ...but the piano
    levels[:, STEMS.index("drums")] = genre_level + 0.01 * rng.normal(size=len(genres))  # the genre, no more
    embeddings[:, 5] = genre_level
    heard = stem_hearing(embeddings, levels, genres)
    assert heard["piano"]["r"] > 0.99 and heard["piano"]["r_within_genre"] > 0.99
    assert abs(heard["vocals"]["r_within_genre"]) < 0.3 and heard["vocals"]["n_tracks"] == len(genres)
    # a level that only follows the genre correlates over all tracks, not within a genre
    assert heard["drums"]["r"] > 0.99 and abs(heard["drums"]["r_within_genre"]) < 0.3
    with pytest.raises(ValueError, match="same tracks"):
        stem_hearing(embeddings[:-1], levels, genres)


def test_within_genre_r_leaves_out_small_genres_and_levels_that_do_not_vary() -> None:
    truth = np.arange(30.0)
    prediction = truth.copy()
    prediction[20:] = -truth[20:]  # the third genre is heard backwards...
    groups = np.repeat(["a", "b", "c"], 10)
    assert within_group_r(prediction, truth, groups) == pytest.approx((1 + 1 - 1) / 3)
    truth[:10] = 0.0  # a stem silent in a whole genre (drums in classical) says nothing there
    assert within_group_r(prediction, truth, groups) == pytest.approx(0.0)
    assert within_group_r(prediction[:12], truth[:12], np.array(["a"] * 6 + ["b"] * 6)) is None


def test_stem_levels_are_the_recorded_shares_in_bels_floored_at_minus_30_db() -> None:
    shares = {f"share_{stem}": share for stem, share in zip(STEMS, (0.5, 0.0, 0.3, 0.1, 0.1), strict=True)}
    levels = stem_levels([Track("a", "A", "B", extra=shares)])
    assert levels is not None
    assert levels[0] == pytest.approx(np.log10([0.5, 1e-3, 0.3, 0.1, 0.1]))
    assert stem_levels([Track("b", "A", "B")]) is None  # a catalogue that does not record them


def test_the_evaluation_report_says_how_well_the_shared_model_hears_each_stem(recsys_catalogue) -> None:
    config = {**QUICK, "n_steps": 2, "batch_size": 4, "val_every": 1, "min_tag_count": 2, "publish": True}
    pretrain_ex.run(config_updates=config)
    train_ex.run(
        config_updates={**QUICK, "user_name": TEST_USER, "init": "shared", "n_epochs": 0, "publish": True}
    )
    eval_ex.run(config_updates={**QUICK, "user_name": "all"})
    folder = get_settings().models_dir
    summary = json.loads((folder / "eval_report.json").read_text())
    hearing = summary["hearing"]
    assert hearing["model"] == "shared.pt" and hearing["n_tracks"] == 22
    assert set(hearing["stems"]) <= set(STEMS) and "piano" in hearing["stems"]
    assert all(-1 <= row["r"] <= 1 for row in hearing["stems"].values())
    table = (folder / "eval_report.md").read_text()
    assert "| piano |" in table and "| clara |" in table and "level heard" in table
    # without a model made from the shared one, the table would describe a model nobody uses
    train_ex.run(
        config_updates={**QUICK, "user_name": TEST_USER, "init": "scratch", "n_epochs": 1, "publish": True}
    )
    eval_ex.run(config_updates={**QUICK, "user_name": "all"})
    assert "hearing" not in json.loads((folder / "eval_report.json").read_text())
