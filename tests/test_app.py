"""The demo page (explanations/lemons.py) driven by Streamlit's AppTest, section by section."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from explanations.page import figures as page_figures
from lemons.config import PROJECT_ROOT, get_settings
from lemons.personas import get_persona
from recsys.data import load_dataset

APP = str(PROJECT_ROOT / "explanations" / "lemons.py")


#: The shipped persona models: trained on the default catalogue, so on the tests' tiny catalogue
#: they are reported as stale, and their relevances are those of real, differing tastes.
MODELS = PROJECT_ROOT / "models"


@pytest.fixture()
def app(shipped_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The page over the tiny catalogue, with the shipped persona models and an empty cache."""
    monkeypatch.setenv("LEMONS_CACHE_DIR", str(tmp_path / "cache"))
    get_settings.cache_clear()
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=240)
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def persona_names(at: AppTest) -> list[str]:
    return [option.split(" — ")[0].lower() for option in at.selectbox(key="persona").options]


def recommendation_titles(at: AppTest) -> list[str]:
    return list(at.table[-1].value["title"])


def test_the_page_reads_top_to_bottom(app: AppTest) -> None:
    assert app.title[0].value.startswith("LEMONS")
    assert [h.value for h in app.header] == [
        "1 · Who are you?", "2 · Your recommendations", "3 · Listen", "4 · Why was it recommended?",
        "How does it work?",
    ]  # fmt: skip
    sidebar = "\n".join(m.value for m in app.sidebar.markdown)
    for words in ("The recommender", "audioLIME", "Time", "Source", "Time + Source"):
        assert words in sidebar
    assert len(app.sidebar.get("image")) == 4  # a picture for the recommender and each explanation type
    assert [b.label for b in app.button] == ["Compute Explanation"]
    assert not app.error
    # the loading notice (drawn under the title while the page loads and scores) is gone once it is done
    assert not [i.value for i in app.info if "⏳" in i.value] and not app.get("progress")


def test_changing_the_persona_updates_profile_and_recommendations(app: AppTest) -> None:
    persona = app.selectbox(key="persona")
    assert persona.value == "marko"
    assert persona_names(app) == ["marko", "matteo", "johnny", "elizabeth", "nina", "paige", "sandra"]
    assert get_persona("marko").description in texts(app)
    assert "listened to **" in texts(app) and "listening events" in texts(app)
    assert "trained on other data" in app.warning[0].value or "stale" in app.warning[0].value.lower()
    before = recommendation_titles(app)
    persona.set_value("sandra").run()
    assert not app.exception
    assert get_persona("sandra").description in texts(app)
    assert get_persona("marko").description not in texts(app)
    assert recommendation_titles(app) != before


def test_the_listening_history_is_drawn_when_opened(app: AppTest) -> None:
    [history] = app.expander
    assert history.label == "the tracks Marko listened to, by playcount" and not app.dataframe
    app.session_state["history"] = True  # what opening it in the browser sets
    app.run()
    data = load_dataset("builtin")
    table = app.dataframe[0].value
    assert set(table["title"]) == {data.catalogue[t].title for t in data.listened("marko")}
    assert list(table["plays"]) == sorted(table["plays"], reverse=True)


def test_planted_personas_appear_with_the_advanced_switch(app: AppTest) -> None:
    app.sidebar.toggle[0].set_value(True).run()
    assert {"clara", "ringo"} <= set(persona_names(app))
    assert [n.label for n in app.sidebar.number_input] == ["perturbations N_s", "seed"]


def test_switching_the_catalogue(app: AppTest, tiny_catalogue_dir: Path) -> None:
    test_ids = load_dataset("builtin").user("marko").ids("test")
    assert len(recommendation_titles(app)) == min(10, len(test_ids))
    app.radio(key="catalogue").set_value("builtin").run()
    data = load_dataset("builtin")
    listened_titles = {data.catalogue[t].title for t in data.listened("marko")}
    assert len(recommendation_titles(app)) == 10  # the top-10 of the 22 tracks less marko's history
    assert not listened_titles & set(recommendation_titles(app))
    assert any(f"{len(listened_titles)} tracks you have already listened to" in c.value for c in app.caption)
    scores = list(app.table[-1].value["relevance"])
    assert scores == sorted(scores, reverse=True)
    app.checkbox(key="include_history").check().run()
    table = app.table[-1].value
    marked = {title for title, mark in zip(table["title"], table["listened"], strict=True) if mark}
    assert marked == listened_titles & set(table["title"])
    app.radio(key="catalogue").set_value("folder").run()  # no folder is allowed: none can be typed in
    assert not app.exception and not app.get("text_input")
    assert "`audio_folder` setting" in app.info[-1].value


def allow_folders(monkeypatch: pytest.MonkeyPatch, *folders: Path) -> None:
    """Let the page open folders inside ``folders`` (the ``audio_folder`` setting)."""
    monkeypatch.setenv("LEMONS_AUDIO_FOLDER", ":".join(str(folder) for folder in folders))
    get_settings.cache_clear()


def test_the_page_opens_folders_only_inside_the_allowed_ones(
    app: AppTest, tmp_path: Path, monkeypatch
) -> None:
    allowed = tmp_path / "music"
    allowed.mkdir()
    (tmp_path / "private").mkdir()
    (allowed / "out").symlink_to(tmp_path / "private")
    allow_folders(monkeypatch, allowed)
    app.radio(key="catalogue").set_value("folder").run()
    assert app.text_input(key="folder").value == str(allowed)
    for typed, says in [
        (str(tmp_path / "private"), f"outside the folders this page may open ({allowed})"),
        (f"{allowed}/../private", "folders written with '..' are not accepted"),
        (str(allowed / "out"), "a symbolic link in it leads outside the folders this page may open"),
        (str(allowed / "missing"), "no such folder"),
    ]:
        app.text_input(key="folder").set_value(typed).run()
        assert not app.exception and says in app.error[0].value, typed
        assert not app.get("table")  # no recommendations


def test_a_folder_of_ones_own_shows_its_tags_and_what_was_skipped(
    app: AppTest, tmp_path: Path, monkeypatch
) -> None:
    import numpy as np
    import soundfile as sf

    from tests.test_catalogue_folder import tagged_mp3

    folder = tmp_path / "mine"
    tagged_mp3(folder / "01.mp3", {"TIT2": "Blue in Green", "TPE1": "Miles Davis", "TCON": "Jazz"})
    sf.write(folder / "take.wav", 0.1 * np.random.default_rng(0).standard_normal(16_000 * 6), 16_000)
    (folder / "page.mp3").write_text("<!DOCTYPE html><html><body>Sign in</body></html>")
    allow_folders(monkeypatch, tmp_path)
    app.radio(key="catalogue").set_value("folder").run()
    app.text_input(key="folder").set_value(str(folder)).run()
    assert not app.exception and not app.error
    [skipped] = [w.value for w in app.warning if "skipped" in w.value]
    assert (
        skipped.startswith("1 file(s) of the folder were skipped")
        and "page.mp3: is not an audio file" in skipped
    )
    table = app.table[-1].value
    rows = {
        title: (artist, genre)
        for title, artist, genre in zip(table["title"], table["artist"], table["genre"], strict=True)
    }
    assert rows == {"Blue in Green": ("Miles Davis", "Jazz"), "take": ("", "")}
    labels = app.selectbox(key="track").options  # "1. title — artist", the artist only where there is one
    assert sorted(label.split(". ", 1)[1] for label in labels) == ["Blue in Green — Miles Davis", "take"]


def wav_bytes(seconds: float) -> bytes:
    """``seconds`` of noise as a 16 kHz WAV file's bytes."""
    import io

    import numpy as np
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(
        buffer, 0.1 * np.random.default_rng(1).standard_normal(int(16_000 * seconds)), 16_000, format="WAV"
    )
    return buffer.getvalue()


def test_uploads_are_checked_kept_for_the_session_and_removed(
    app: AppTest, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("LEMONS_UPLOAD_MAX_MB", "0.1")
    get_settings.cache_clear()
    app.radio(key="catalogue").set_value("upload").run()
    assert "up to 1 MB" in app.info[-1].value
    refusals = [
        ("page.mp3", b"<!DOCTYPE html><html><body>Sign in</body></html>", "page.mp3 is not an audio file"),
        ("long.wav", wav_bytes(6), "long.wav is 0.2 MB; the page accepts files of up to 0.1 MB"),
    ]
    for name, data, says in refusals:
        app.file_uploader[0].set_value((name, data, "audio/wav")).run()
        assert not app.exception and says in app.error[0].value, name
    uploads = tmp_path / "cache" / "uploads"
    assert not [path for path in uploads.rglob("*") if path.is_file()]
    monkeypatch.delenv("LEMONS_UPLOAD_MAX_MB")
    get_settings.cache_clear()
    app.run()  # another limit is another upload widget
    app.file_uploader[0].set_value(("take.wav", wav_bytes(6), "audio/wav")).run()
    assert not app.exception and not app.error
    assert recommendation_titles(app) == ["take"]
    [stored] = uploads.glob("*/*/take.wav")  # <cache_dir>/uploads/<session>/<content>/take.wav
    st.cache_resource.clear()  # what the end of the session does: its resources are released
    assert not stored.parent.parent.exists()


def test_catalogues_and_separators_registered_elsewhere_are_offered(registered, app: AppTest) -> None:
    assert "an elsewhere folder" in app.radio(key="catalogue").options
    app.radio(key="type").set_value("Source").run()
    assert "halves" in app.selectbox(key="separator").options


@pytest.fixture()
def msd_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An MSD folder in the real formats (metadata database, 7digital snippets), set as msd_dir."""
    from tests.test_catalogue_msd import write_audio_dir, write_sqlite

    root = tmp_path / "msd"
    write_audio_dir(root)
    write_sqlite(root / "track_metadata.db")
    monkeypatch.setenv("LEMONS_MSD_DIR", str(root))
    return root


def test_the_msd_is_offered_where_it_is_configured(app: AppTest, msd_folder: Path) -> None:
    assert "the Million Song Dataset" not in app.radio(key="catalogue").options  # set after the first run
    get_settings.cache_clear()
    app.run()
    assert "the Million Song Dataset" in app.radio(key="catalogue").options
    app.radio(key="catalogue").set_value("msd").run()
    assert not app.exception and not app.error
    titles = recommendation_titles(app)
    assert len(titles) == 10 and all(title.startswith("Title ") for title in titles)


@pytest.mark.slow
@pytest.mark.parametrize("label", ["Time", "Source", "Time + Source"])
def test_compute_explanation_only_when_pressed_then_from_the_cache(
    app: AppTest, label: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app.sidebar.toggle[0].set_value(True).run()
    app.sidebar.number_input[0].set_value(32).run()
    app.radio(key="type").set_value(label).run()
    assert "Top Highlight" not in [s.value for s in app.subheader]  # nothing computed on page load
    if label != "Time":
        assert app.selectbox(key="separator").value == "reference"
    app.button[0].click().run()
    assert not app.exception and not app.error
    assert [s.value for s in app.subheader][-3:] == ["Top Highlight", "Top-3", "All the weights"]
    assert len(app.get("imgs")) + len(app.get("image")) >= 3  # per-source rows twice, the weight grid
    assert "no component has a positive weight" not in texts(app)
    assert "fidelity:" in texts(app)
    assert any("N_s = 32" in c.value and "computed in" in c.value for c in app.caption)
    assert [i.value for i in app.info][-1].startswith("This explanation answers: why is the track relevant?")
    assert len(app.get("download_button")) == 1
    app.button[0].click().run()  # the same request again
    assert any("from the cache" in c.value for c in app.caption)
    figures = sorted((get_settings().cache_dir / "explanations").glob("*.png"))
    assert len(figures) == 3  # kept with the explanation, so that a new server does not draw them
    st.cache_data.clear()  # as in a new server
    monkeypatch.setattr(page_figures, "PAGE_FIGURES", {})  # drawing one now would fail
    app.button[0].click().run()
    assert not app.exception and len(app.get("imgs")) + len(app.get("image")) >= 3


@pytest.mark.slow
def test_time_segments_can_follow_the_songs_sections(app: AppTest) -> None:
    app.sidebar.toggle[0].set_value(True).run()
    app.sidebar.number_input[0].set_value(32).run()
    segmenter = app.sidebar.selectbox(key="segmenter")
    assert list(segmenter.options) == ["Equal", "Bars", "Sections"] and segmenter.value == "equal"
    segmenter.set_value("sections").run()
    app.radio(key="type").set_value("Time").run()
    app.button[0].click().run()
    assert not app.exception and not app.error
    assert any("time explanation, sections segments" in c.value for c in app.caption)
    assert re.search(r", section [A-Z]\b", texts(app))  # components are named by their span and section


@pytest.mark.slow
def test_the_question_is_chosen_and_said(app: AppTest) -> None:
    question = app.radio(key="question")
    assert question.value == "relevant" and list(question.options) == [
        "Why is it recommended?", "Why not?", "LIME's top label (the original LEMONS)",
    ]  # fmt: skip
    app.sidebar.toggle[0].set_value(True).run()
    app.sidebar.number_input[0].set_value(32).run()
    app.radio(key="question").set_value("not-relevant").run()
    app.button[0].click().run()
    assert not app.exception and not app.error
    assert app.info[-1].value.startswith("This explanation answers: why is the track not relevant?")
    assert any("red lowers the relevance, blue raises it" in c.value for c in app.caption)
    headings = [s.value for s in app.subheader]
    if "Top-3" not in headings:  # nothing lowers the relevance: said plainly, with what raises it
        assert "No component lowers the relevance" in texts(app)


def test_errors_are_messages_not_tracebacks(app: AppTest, tmp_path, monkeypatch) -> None:
    empty = tmp_path / "no-models"
    empty.mkdir()
    monkeypatch.setenv("LEMONS_MODELS_DIR", str(empty))
    get_settings.cache_clear()
    st.cache_resource.clear()
    app.run()
    assert not app.exception
    assert "no model for user 'marko'" in app.error[0].value and "recsys/experiment.py" in app.error[0].value
