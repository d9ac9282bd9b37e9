"""Evaluation (python recsys/eval.py), stale-model detection and catalogue ranking."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sklearn.metrics import average_precision_score, roc_auc_score

from lemons.catalogue.folder import FolderCatalogue
from lemons.cli import main as lemons_main
from lemons.config import get_settings
from lemons.errors import EvaluationError, ModelError, UnknownPersonaError
from lemons.interactions import UserSplits, load_splits, save_splits
from lemons.io import read_json
from recsys import ranking
from recsys.checkpoint import find_model, load_checkpoint
from recsys.data import load_dataset
from recsys.eval import ex as eval_ex
from recsys.experiment import ex as train_ex
from recsys.ranking import rank_tracks
from tests.conftest import TEST_USER

QUICK = {"progress": False, "num_workers": 1, "device": "cpu"}


@pytest.fixture()
def published(recsys_catalogue) -> Path:
    """A one-epoch model of the test user, published to the models folder."""
    train_ex.run(
        config_updates={**QUICK, "user_name": TEST_USER, "n_epochs": 1, "init": "scratch", "publish": True}
    )
    return find_model(TEST_USER)


def evaluate(**updates):
    return eval_ex.run(config_updates={**QUICK, **updates})


def test_eval_writes_report_and_predictions_next_to_the_model(published: Path) -> None:
    run = evaluate(user_name="all")
    report = json.loads(published.with_suffix(".eval.json").read_text())
    with open(published.with_suffix(".predictions.csv"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    test = load_dataset("builtin").user(TEST_USER)
    assert sorted(r["track_id"] for r in rows) == sorted(test.ids("test"))
    labels = np.array([int(r["label"]) for r in rows])
    scores = np.array([float(r["relevance"]) for r in rows])
    assert report["auc"] == pytest.approx(roc_auc_score(labels, scores))
    assert report["ap"] == pytest.approx(average_precision_score(labels, scores))
    assert report["n_tracks"] == len(rows) and report["n_positives"] == labels.sum()
    assert not report["stale"] and report["checkpoint"] == published.name
    assert list(scores) == sorted(scores, reverse=True)  # most relevant first
    summary = json.loads((published.parent / "eval_report.json").read_text())
    assert summary["groups"]["all users"]["auc_mean"] == pytest.approx(report["auc"])
    assert run.result["all users"]["auc_std"] == 0.0
    table = (published.parent / "eval_report.md").read_text()
    assert f"| {TEST_USER} |" in table and "AUC" in table


def test_stale_model_is_evaluated_but_reported_as_stale(published: Path, recsys_catalogue, capsys) -> None:
    path = recsys_catalogue / "splits.json"
    splits = load_splits(path)
    mine = splits[TEST_USER]
    splits[TEST_USER] = UserSplits(TEST_USER, mine.train[1:], mine.val, mine.test)  # data changed
    save_splits(path, splits.values())
    evaluate(user_name=TEST_USER)
    assert json.loads(published.with_suffix(".eval.json").read_text())["stale"] is True
    err = capsys.readouterr().err
    assert "trained on other data" in err and "publish=True" in err


def test_eval_errors(published: Path, recsys_catalogue, tmp_path: Path) -> None:
    with pytest.raises(UnknownPersonaError, match="unknown user 'nobody'"):
        evaluate(user_name="nobody")
    with pytest.raises(ModelError, match="no recommender checkpoint"):
        evaluate(user_name=TEST_USER, model_load_path=str(tmp_path / "missing.pt"))
    with pytest.raises(ModelError, match="no model of any user"):
        evaluate(user_name="all", model_load_path=str(tmp_path))
    path = recsys_catalogue / "splits.json"
    splits = load_splits(path)
    mine = splits[TEST_USER]
    splits[TEST_USER] = UserSplits(TEST_USER, mine.train, mine.val, tuple(i for i in mine.test if i[1] == 0))
    save_splits(path, splits.values())
    published.with_suffix(".eval.json").unlink(missing_ok=True)
    with pytest.raises(EvaluationError, match="test split of tester holds only negatives"):
        evaluate(user_name=TEST_USER)
    assert not published.with_suffix(".eval.json").exists()


def test_ranking_scores_every_track_once_and_caches_the_scores(published: Path, monkeypatch) -> None:
    recommender = load_checkpoint(published)
    catalogue = load_dataset("builtin").catalogue
    cache_dir = get_settings().cache_dir
    reported: list[tuple[int, int]] = []
    first = rank_tracks(
        recommender,
        catalogue,
        cache_dir=cache_dir,
        progress=False,
        chunk=8,
        on_progress=lambda *a: reported.append(a),
    )
    assert sorted(r.track_id for r in first.tracks) == sorted(catalogue.ids) and not first.skipped
    n = len(catalogue)  # the page's progress bar: from nothing, chunk by chunk, to every track
    assert reported == [(0, n), *((min(done, n), n) for done in range(8, n + 8, 8))]
    logits = [r.logit for r in first.tracks]
    assert logits == sorted(logits, reverse=True)
    assert all(0 <= r.relevance <= 1 for r in first.tracks)

    def no_scoring(*args, **kwargs):
        raise AssertionError("cached scores must not be recomputed")

    monkeypatch.setattr(ranking, "score_waveforms", no_scoring)
    reported.clear()
    again = rank_tracks(
        recommender, catalogue, cache_dir=cache_dir, progress=False, on_progress=lambda *a: reported.append(a)
    )
    assert again.tracks == first.tracks and reported == []  # nothing to score, nothing to show
    monkeypatch.undo()
    for cache_file in (cache_dir / "scores").glob("*.json"):
        cache_file.write_text("{ not json")  # a damaged cache is rebuilt, not trusted
    assert rank_tracks(recommender, catalogue, cache_dir=cache_dir, progress=False).tracks == first.tracks


def test_warming_serves_the_pages_first_rankings_from_the_cache(
    shipped_models: Path, monkeypatch, capsys
) -> None:
    from recsys.candidates import candidates

    assert lemons_main(["setup", "warm", "--users", "marko", "nina", "--quiet"]) == 0
    assert "caches warmed for marko, nina" in capsys.readouterr().out

    def no_scoring(*args, **kwargs):
        raise AssertionError("the warmed rankings must come from the cache")

    monkeypatch.setattr(ranking, "track_logits", no_scoring)
    for user in ("marko", "nina"):
        recommender = load_checkpoint(find_model(user))
        for name in ("test", "builtin"):  # the page's first view, then the whole catalogue
            found = candidates(name, recommender, user)
            for include_history in (False, True):
                ranked = rank_tracks(recommender, found.catalogue, found.track_ids, progress=False,
                                     cache_dir=get_settings().cache_dir, history=found.history,
                                     include_history=include_history)  # fmt: skip
                assert ranked.tracks and not ranked.skipped
    monkeypatch.undo()
    with pytest.raises(SystemExit):
        lemons_main(["setup", "warm", "--users", "nobody"])


def test_ranking_a_folder_skips_unusable_files_with_the_reason(published: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    rng = np.random.default_rng(0)
    sf.write(folder / "noise.wav", 0.1 * rng.standard_normal(16_000 * 6), 16_000)
    sf.write(folder / "silence.wav", np.zeros(16_000 * 6), 16_000)
    result = rank_tracks(load_checkpoint(published), FolderCatalogue(folder), progress=False)
    assert [r.track_id for r in result.tracks] == ["noise-wav"]
    assert result.skipped[0][0] == "silence-wav" and "silent" in result.skipped[0][1]


def test_rank_command_lists_the_top_tracks(published: Path, capsys) -> None:
    assert lemons_main(["rank", "--user", TEST_USER, "--catalogue", "test", "--top", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"top 2 of 2 tracks for {TEST_USER}:")
    assert [line.split(".")[0].strip() for line in out.splitlines()[1:]] == ["1", "2"]
    assert lemons_main(["rank", "--user", "nobody", "--quiet"]) == 2
    assert "no model for user 'nobody'" in capsys.readouterr().err


def test_recommendations_leave_out_the_listening_history_unless_asked(published: Path, capsys) -> None:
    data = load_dataset("builtin")
    listened = data.listened(TEST_USER)
    assert listened and listened == {t for t, y in data.user(TEST_USER).train + data.user(TEST_USER).val
                                     + data.user(TEST_USER).test if y == 1}  # fmt: skip
    recommender = load_checkpoint(published)
    new = rank_tracks(recommender, data.catalogue, history=listened, progress=False)
    assert {r.track_id for r in new.tracks} == set(data.catalogue.ids) - listened
    assert new.n_excluded == len(listened) and not new.listened
    everything = rank_tracks(
        recommender, data.catalogue, history=listened, include_history=True, progress=False
    )
    assert len(everything.tracks) == len(data.catalogue) and everything.listened == listened

    assert lemons_main(["rank", "--user", TEST_USER, "--top", "30", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"({len(listened)} tracks of {TEST_USER}'s listening history left out" in out
    assert "(in the listening history)" not in out
    assert lemons_main(["rank", "--user", TEST_USER, "--top", "30", "--quiet", "--include-history"]) == 0
    assert capsys.readouterr().out.count("(in the listening history)") == len(listened)


def test_evaluation_reports_bootstrap_intervals_and_calibration(published: Path) -> None:
    evaluate(user_name=TEST_USER)
    report = read_json(published.with_suffix(".eval.json"))
    low, high = report["auc_ci95"]
    assert low <= report["auc"] <= high and 0 <= low <= high <= 1
    assert report["ap_ci95"][0] <= report["ap"] <= report["ap_ci95"][1]
    assert 0 <= report["ece_balanced"] <= 1 and report["reliability_balanced"]
    assert sum(b["weight"] for b in report["reliability_balanced"]) == pytest.approx(1.0)
    assert report["init"] == "scratch"


def test_cross_validation_scores_every_labelled_track_and_the_report_shows_it(published: Path) -> None:
    from recsys.crossval import ex as crossval_ex

    result = crossval_ex.run(config_updates={**QUICK, "user_name": TEST_USER, "folds": 2}).result[TEST_USER]
    cv = read_json(published.with_suffix(".cv.json"))
    splits = load_dataset("builtin").user(TEST_USER)
    labelled = {(t, y) for s in ("train", "val", "test") for t, y in splits[s]}
    assert {(p["track_id"], p["label"]) for p in cv["predictions"]} == labelled
    assert cv["model_sha256"] == load_checkpoint(published).checksum and cv["init"] == "scratch"
    scores = [p["logit"] for p in cv["predictions"]]
    assert cv["auc"] == pytest.approx(roc_auc_score([p["label"] for p in cv["predictions"]], scores))
    assert cv["auc_ci95"][0] <= cv["auc"] <= cv["auc_ci95"][1] and result["auc"] == cv["auc"]
    assert len(cv["train_seconds_per_fold"]) == 2

    evaluate(user_name="all", recommendations=True)
    report = read_json(published.with_suffix(".eval.json"))
    assert report["cross_validation"]["auc"] == cv["auc"]
    recommended = report["recommendations"]
    listened = load_dataset("builtin").listened(TEST_USER)
    assert not {r["track_id"] for r in recommended["top"]} & listened
    assert recommended["n_history_excluded"] == len(listened)
    assert 0 <= recommended["silence_at_or_above"] <= len(recommended["top"]) == 10
    relevances = [r["relevance"] for r in recommended["top"]]
    assert (
        relevances == sorted(relevances, reverse=True) and recommended["top5_min_relevance"] == relevances[4]
    )
    table = (published.parent / "eval_report.md").read_text()
    assert "cross-validated AUC" in table and f"| {TEST_USER} | {cv['auc']:.3f} [" in table
