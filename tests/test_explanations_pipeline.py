"""Explaining catalogue tracks end to end: the explanation cache, listenable files, the CLI."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from explanations.audiolime.engine import scorer_for
from explanations.audiolime.listen import highlight
from explanations.audiolime.pipeline import ExplainSettings, TrackExplanation, explain_audio, explain_track
from lemons.catalogue.builtin import BuiltinCatalogue
from lemons.cli import main as lemons_main
from lemons.errors import AudioError, ConfigError, SeparationError
from recsys.checkpoint import load_checkpoint, save_checkpoint
from recsys.model import FCN


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained FCN (seeded) saved as a checkpoint: its relevance varies with the input."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "listener.pt"
    return save_checkpoint(
        path,
        FCN(),
        user="listener",
        dataset="builtin",
        data_fingerprint="-",
        config={},
        metrics={},
        selection="",
        epoch=0,
        revision="test",
    )


@pytest.fixture(scope="module")
def catalogue(tiny_catalogue_dir: Path) -> BuiltinCatalogue:
    return BuiltinCatalogue(tiny_catalogue_dir)


def test_a_repeated_request_comes_from_the_cache(model_path, catalogue, tmp_path: Path) -> None:
    recommender = load_checkpoint(model_path)
    track_id = catalogue.ids[5]
    settings = ExplainSettings("time+source", n_samples=64, seed=2)
    first = explain_track(recommender, catalogue, track_id, settings, cache_dir=tmp_path)
    assert not first.cached and first.explanation.separator == "reference"
    assert first.explanation.n_samples == 64 and len(first.explanation.weights) == 25
    assert set(first.explanation.timings) >= {"separation_s", "scoring_s", "surrogate_s", "total_s"}
    again = explain_track(recommender, catalogue, track_id, settings, cache_dir=tmp_path)
    assert again.cached and again.explanation.weights == first.explanation.weights
    # every part of the request is part of the key
    other_seed = explain_track(
        recommender, catalogue, track_id, ExplainSettings("time+source", 64, 3), cache_dir=tmp_path
    )
    assert not other_seed.cached and other_seed.explanation.weights != first.explanation.weights
    # the relevance explained is the recommender's for the whole track
    audio = catalogue.load_audio(track_id)
    with torch.inference_mode():
        expected = float(recommender.model.relevance(torch.from_numpy(audio[None, : 5 * (len(audio) // 5)])))
    assert first.explanation.relevance == pytest.approx(expected, abs=1e-5)
    # a damaged cache entry is recomputed, never trusted
    for entry in (tmp_path / "explanations").glob("*.json"):
        entry.write_text("{not json")
    assert not explain_track(recommender, catalogue, track_id, settings, cache_dir=tmp_path).cached


def test_visitors_asking_for_the_same_explanation_at_once_compute_it_once(
    model_path, catalogue, tmp_path: Path
) -> None:
    recommender = load_checkpoint(model_path)
    track_id, settings = catalogue.ids[3], ExplainSettings("time", n_samples=64, seed=1)
    scorers = []

    def slow_scorer(model, factorization, device):  # long enough for every visitor to find no entry
        scorers.append(factorization)
        time.sleep(1.0)
        return scorer_for(model, factorization, device)

    visitors = threading.Barrier(3)

    def visit() -> TrackExplanation:
        visitors.wait()
        return explain_track(
            recommender, catalogue, track_id, settings, cache_dir=tmp_path, scorer=slow_scorer
        )

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: visit(), range(3)))
    assert len(scorers) == 1  # computed by one visitor; the others waited and read it from the cache
    assert sorted(result.cached for result in results) == [False, True, True]
    assert all(result.explanation.weights == results[0].explanation.weights for result in results)
    assert len(list((tmp_path / "explanations").glob("*.json"))) == 1


def test_top_k_audio_is_the_components_as_heard_trimmed_of_silence(model_path, catalogue) -> None:
    recommender = load_checkpoint(model_path)
    result = explain_track(recommender, catalogue, catalogue.ids[2], ExplainSettings("source", 64, 0))
    explanation, factorization = result.explanation, result.factorization
    top = highlight(explanation, factorization, 3)
    assert top.indices == explanation.top_k(3)
    assert list(top.rows) == [factorization.names[i] for i in top.indices]  # one row per source
    assert all(explanation.weights[i] > 0 for i in top.indices)
    start = int(round(top.start * factorization.sr))
    summed = factorization.components[top.indices].sum(axis=0)
    np.testing.assert_allclose(top.audio, summed[start : start + len(top.audio)], atol=1e-6)
    assert np.max(np.abs(summed[:start]), initial=0) < 1e-4  # only silence was cut


def test_bad_requests_fail_clearly(model_path, catalogue) -> None:
    recommender = load_checkpoint(model_path)
    audio = catalogue.load_audio(catalogue.ids[0])
    with pytest.raises(AudioError, match="NaN or infinite"):
        explain_audio(
            recommender, np.where(np.arange(len(audio)) == 9, np.nan, audio), ExplainSettings("time")
        )
    with pytest.raises(AudioError, match="silent"):
        explain_audio(recommender, np.zeros_like(audio), ExplainSettings("time"))
    with pytest.raises(AudioError, match="at least 5 s"):
        explain_audio(recommender, audio[:16_000], ExplainSettings("time"))
    with pytest.raises(ConfigError, match="needs a separator"):
        explain_audio(recommender, audio, ExplainSettings("source"))
    with pytest.raises(ConfigError, match="unknown explanation type"):
        ExplainSettings("melody")
    with pytest.raises(ConfigError, match="whole number ≥ 2"):
        ExplainSettings("time", n_samples=1)
    with pytest.raises(SeparationError, match="weights are missing"):
        explain_track(recommender, catalogue, catalogue.ids[0], ExplainSettings("source"), "spleeter:5stems")


@pytest.mark.parametrize("kind", ["time", "source", "time+source"])
def test_explain_command_writes_listenable_files_a_report_and_a_figure(
    kind, model_path, tiny_catalogue_dir, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("LEMONS_CATALOGUE_DIR", str(tiny_catalogue_dir))
    track_id = BuiltinCatalogue(tiny_catalogue_dir).ids[7]
    out = tmp_path / "out"
    args = [
        "explain",
        "--user",
        "listener",
        "--model",
        str(model_path),
        "--track",
        track_id,
        "--type",
        kind,
        "--n-samples",
        "48",
        "--seed",
        "1",
        "--out",
        str(out),
        "--quiet",
    ]
    assert lemons_main(args) == 0
    printed = capsys.readouterr().out
    assert "fidelity (R²):" in printed and "Top Highlight:" in printed
    assert "answers: why is the track relevant? (--label relevant" in printed
    report = json.loads((out / "explanation.json").read_text())
    assert report["type"] == kind and report["track"] == track_id
    assert report["question"] == "relevant" and report["explained_label"] == "relevant"
    assert report["answers"] in printed
    n_segments = 1 if kind == "source" else 5  # a source explanation covers the whole track
    assert report["parameters"] == {
        "n_samples": 48, "seed": 1, "n_segments": n_segments, "segmenter": "equal", "k": 3
    }  # fmt: skip
    assert len(report["segments"]) == n_segments and report["segments"][0]["start_s"] == 0.0
    assert report["separator"] == (None if kind == "time" else "reference")
    n_components = {"time": 5, "source": 5, "time+source": 25}[kind]
    assert len(report["components"]) == n_components
    assert -1.0 <= report["fidelity"] <= 1.0 and 0.0 <= report["relevance"] <= 1.0
    assert report["top_highlight"]["components"] == report["top_3"]["components"][:1]
    for name in ("top_highlight", "top_3"):
        info = sf.info(str(out / f"{name}.wav"))
        assert info.samplerate == 16_000 and info.subtype == "PCM_16" and info.channels == 1
    assert (out / "explanation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the same request again is answered from the cache
    assert lemons_main(args) == 0
    assert "(from the cache)" in capsys.readouterr().out


def test_explain_command_cuts_a_folder_track_at_bars_and_sections(model_path, tmp_path, capsys) -> None:
    from tests.test_explanations_segmenters import click_track

    music = tmp_path / "music"
    music.mkdir()
    sf.write(str(music / "click.wav"), click_track(20.0, 120, 0.25), 16_000)  # bars of 2 s from 0.25 s
    args = ["explain", "--user", "listener", "--model", str(model_path), "--catalogue", "folder",
            "--path", str(music), "--track", "click-wav", "--type", "time", "--n-samples", "48",
            "--quiet"]  # fmt: skip
    for segmenter in ("beats", "sections"):
        out = tmp_path / segmenter
        assert lemons_main([*args, "--segmenter", segmenter, "--out", str(out)]) == 0
        assert f"segments ({segmenter}): 0.0–" in capsys.readouterr().out
        report = json.loads((out / "explanation.json").read_text())
        assert report["parameters"]["segmenter"] == segmenter
        ends = [segment["end_s"] for segment in report["segments"]]
        assert ends[-1] == 20.0  # the whole track is explained
        if segmenter == "beats":  # every inner boundary on a bar line
            assert all(min(abs(end - 0.25 - 2 * np.arange(10))) < 0.05 for end in ends[:-1])
        else:
            assert all("label" in segment for segment in report["segments"])


def test_explain_command_reports_errors_without_a_traceback(
    model_path, tiny_catalogue_dir, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("LEMONS_CATALOGUE_DIR", str(tiny_catalogue_dir))
    args = ["explain", "--user", "listener", "--model", str(model_path), "--out", str(tmp_path)]
    assert lemons_main([*args, "--track", "no-such-track"]) != 0
    assert "no track with id 'no-such-track'" in capsys.readouterr().err
    track_id = BuiltinCatalogue(tiny_catalogue_dir).ids[0]
    assert (
        lemons_main([*args, "--track", track_id, "--separator", "spleeter:4stems", "--type", "source"]) != 0
    )
    assert "lemons setup weights --model 4stems" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_explain_command_answers_the_question_asked(
    model_path, tiny_catalogue_dir, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("LEMONS_CATALOGUE_DIR", str(tiny_catalogue_dir))
    track_id = BuiltinCatalogue(tiny_catalogue_dir).ids[3]
    args = ["explain", "--user", "listener", "--model", str(model_path), "--track", track_id,
            "--type", "time", "--n-samples", "64", "--quiet"]  # fmt: skip
    reports = {}
    for question in ("relevant", "not-relevant", "top"):
        assert lemons_main([*args, "--label", question, "--out", str(tmp_path / question)]) == 0
        reports[question] = json.loads((tmp_path / question / "explanation.json").read_text())
        assert reports[question]["question"] == question
        assert f"--label {question}" in capsys.readouterr().out
    weights = {q: np.array([c["weight"] for c in r["components"]]) for q, r in reports.items()}
    np.testing.assert_allclose(weights["not-relevant"], -weights["relevant"], atol=1e-9)
    relevant = reports["relevant"]["relevance"] >= 0.5
    assert reports["top"]["explained_label"] == ("relevant" if relevant else "not relevant")
    np.testing.assert_array_equal(weights["top"], weights["relevant" if relevant else "not-relevant"])
    # each question's Top-3 are components that push its way; the others push the other way
    for question, sign in (("relevant", 1), ("not-relevant", -1)):
        names = [c["name"] for c in reports[question]["components"]]
        assert all(
            sign * weights["relevant"][names.index(n)] > 0 for n in reports[question]["top_3"]["components"]
        )
        assert all(
            sign * weights["relevant"][names.index(n)] < 0
            for n in reports[question]["against_3"]["components"]
        )
    with pytest.raises(SystemExit):
        lemons_main([*args, "--label", "why", "--out", str(tmp_path / "why")])
    assert "invalid choice: 'why' (choose from 'relevant', 'not-relevant', 'top')" in capsys.readouterr().err


def test_an_empty_top_highlight_says_so_and_names_what_lowers_the_relevance(
    model_path, catalogue, tmp_path
) -> None:
    from explanations.page.outputs import write_outputs

    recommender = load_checkpoint(model_path)
    result = explain_track(recommender, catalogue, catalogue.ids[2], ExplainSettings("time", 64, 0))
    explanation = result.explanation
    explanation.weights = [-abs(w) - 0.01 for w in explanation.weights]  # nothing raises the relevance
    data = write_outputs(result, tmp_path, 3)
    assert data["top_highlight"]["components"] == [] and "top_highlight" not in data["files"]
    assert data["note"].startswith("no component raises the relevance; the components that lower it most: ")
    assert data["against_3"]["descriptions"] and all(
        d in data["note"] for d in data["against_3"]["descriptions"]
    )


def relative_luminance(rgb) -> float:
    """WCAG 2 relative luminance of an sRGB colour (components 0-1)."""
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb[:3]]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first, second) -> float:
    """WCAG 2 contrast ratio of two colours (1 to 21; 4.5 is the minimum for small text)."""
    light, dark = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_highlight_labels_stay_readable_over_the_marked_regions(model_path, catalogue) -> None:
    from matplotlib.colors import to_rgb, to_rgba

    from explanations.page.figures import TOP_COLOUR, draw_source_rows

    result = explain_track(
        load_checkpoint(model_path), catalogue, catalogue.ids[7], ExplainSettings("time+source", n_samples=48)
    )
    figure = draw_source_rows(result, 3)
    labels = [text for ax in figure.axes for text in ax.texts]
    assert sorted(t.get_text() for t in labels) == sorted(["Top Highlight", "Top-2", "Top-3"][: len(labels)])
    assert labels, "the Top-3 components are labelled"
    for text in labels:
        box = text.get_bbox_patch()
        assert box is not None  # drawn on a box of its own, not straight onto the red region
        *face, alpha = to_rgba(box.get_facecolor())
        # the box as seen over the highlight colour (the worst case: the region it names)
        seen = [alpha * f + (1 - alpha) * r for f, r in zip(face, to_rgb(TOP_COLOUR), strict=True)]
        assert contrast(to_rgb(text.get_color()), seen) >= 4.5


def test_page_figures_are_drawn_by_visitors_at_once_without_pyplot(
    model_path, catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    import matplotlib.pyplot as plt

    from explanations.page import illustrations
    from explanations.page.figures import PAGE_FIGURES, page_figure_png

    def refused(*args, **kwargs):
        raise AssertionError("pyplot's registry of figures is shared by the server's threads")

    monkeypatch.setattr(plt, "figure", refused)
    result = explain_track(
        load_checkpoint(model_path), catalogue, catalogue.ids[7], ExplainSettings("time+source", n_samples=48)
    )
    one_by_one = {name: page_figure_png(result, name) for name in PAGE_FIGURES}
    names = list(PAGE_FIGURES) * 4
    with ThreadPoolExecutor(max_workers=6) as pool:  # as the server's threads draw for six visitors
        at_once = list(pool.map(lambda name: page_figure_png(result, name), names))
    assert at_once == [one_by_one[name] for name in names]
    pictures = [illustrations.recommender_picture()] + [
        illustrations.components_picture(kind) for kind in ("time", "source", "time+source")
    ]
    assert all(picture.startswith(b"\x89PNG") for picture in pictures)
