"""Nothing leaks to a visitor: random walks over the page's widgets (AppTest) with odd values — planted
personas shown and hidden again, empty, huge, silent and non-audio uploads, paths that lead out or
nowhere, N_s and seeds at and inside their bounds — and the page never shows a traceback."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explanations.audiolime.factorization import EXPLANATION_TYPES
from explanations.audiolime.questions import QUESTIONS
from lemons.catalogue.builtin import BuiltinCatalogue
from lemons.config import get_settings
from lemons.personas import PERSONA_NAMES
from tests.test_app import APP, allow_folders, wav_bytes

#: Steps of one walk; each is one change of a widget and a run of the page.
STEPS = 20


def noise_wav(seconds: float, amplitude: float = 0.1) -> bytes:
    import io

    import soundfile as sf

    buffer = io.BytesIO()
    audio = amplitude * np.random.default_rng(2).standard_normal(int(16_000 * seconds))
    sf.write(buffer, audio, 16_000, format="WAV")
    return buffer.getvalue()


def uploads() -> list[tuple[str, bytes]]:
    """Files a visitor might upload: empty, non-audio, audio with a wrong name, too short, silent,
    too large for the limit the walk sets (0.2 MB), and good ones."""
    return [
        ("empty.wav", b""),
        ("notes.txt.wav", b"just some text, not audio"),
        ("random.flac", np.random.default_rng(3).bytes(4096)),
        ("page.mp3", b"<!DOCTYPE html><html><body>Sign in</body></html>"),
        ("tiny.wav", noise_wav(0.5)),
        ("silent.wav", noise_wav(6, amplitude=0.0)),
        ("huge.wav", noise_wav(30)),
        ("take.ogg", wav_bytes(6)),  # WAV content under another extension: the content decides
        ("take.wav", wav_bytes(6)),
    ]


def folder_paths(allowed: Path) -> list[str]:
    return [
        str(allowed), "", "/", "..", f"{allowed}/..", "/etc", "~", "relative/path", "a" * 5000,
        str(allowed / "missing"), f"{allowed}/\x00", str(allowed / "song.wav"),
    ]  # fmt: skip


def actions(
    at: AppTest, rng: random.Random, allowed: Path, track_ids: list[str]
) -> list[tuple[str, Callable[[], object]]]:
    """The changes a visitor can make to the page as it is now."""

    def on(key: str, kind: str):
        found = [widget for widget in at.get(kind) if getattr(widget, "key", None) == key]
        return found[0] if found else None

    found: list[tuple[str, Callable[[], object]]] = []
    if (persona := on("persona", "selectbox")) is not None:  # a planted one may then be hidden again
        shown = [name for name in PERSONA_NAMES if persona.format_func(name) in persona.options]
        found.append(("persona", lambda: persona.set_value(rng.choice(shown))))
    if (catalogue := on("catalogue", "radio")) is not None:
        found.append(
            ("catalogue", lambda: catalogue.set_value(rng.choice(["test", "builtin", "folder", "upload"])))
        )
    if (folder := on("folder", "text_input")) is not None:
        found.append(("folder", lambda: folder.set_value(rng.choice(folder_paths(allowed)))))
    if at.get("file_uploader"):
        uploader = at.get("file_uploader")[0]
        found.append(("upload", lambda: uploader.set_value((*rng.choice(uploads()), "audio/wav"))))
    for key, values in (
        ("type", [kind.label for kind in EXPLANATION_TYPES]),
        ("question", QUESTIONS.names()),
    ):
        if (radio := on(key, "radio")) is not None:
            found.append((key, lambda radio=radio, values=values: radio.set_value(rng.choice(values))))
    if (track := on("track", "selectbox")) is not None:
        offered = [t for t in track_ids if track.format_func(t) in track.options]
        if offered:
            found.append(("track", lambda: track.set_value(rng.choice(offered))))
    found.append(("advanced", lambda: at.sidebar.toggle[0].set_value(rng.random() < 0.8)))
    numbers = at.sidebar.number_input
    if len(numbers) == 2:
        found.append(("n_samples", lambda: numbers[0].set_value(rng.choice([16, 17, 31, 64, 100, 255]))))
        found.append(
            ("seed", lambda: numbers[1].set_value(rng.choice([0, 1, 7, 2**31 - 1, rng.randrange(2**31)])))
        )
        if at.button:  # computing is kept to small N_s so that a walk stays short
            found.append(("compute", lambda: at.button[0].click()))
    return found


def pick(
    found: list[tuple[str, Callable[[], object]]], rng: random.Random
) -> tuple[str, Callable[[], object]]:
    """A change to make: mostly what the walk's catalogue offers (a folder, an upload) or computing an
    explanation, else any change at all."""
    by_name = dict(found)
    for name, share in (("upload", 0.3), ("folder", 0.3), ("compute", 0.25)):
        if name in by_name and rng.random() < share:
            return name, by_name[name]
    return rng.choice(found)


@pytest.mark.slow
@pytest.mark.parametrize("start", ["builtin", "folder", "upload"])
def test_random_walks_over_the_widgets_never_show_a_traceback(
    shipped_models, tiny_catalogue_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start: str
) -> None:
    import streamlit as st

    allowed = tmp_path / "music"
    allowed.mkdir()
    (allowed / "song.wav").write_bytes(wav_bytes(6))
    (allowed / "broken.wav").write_bytes(b"RIFF....WAVEfmt ")
    allow_folders(monkeypatch, allowed)
    monkeypatch.setenv("LEMONS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("LEMONS_UPLOAD_MAX_MB", "0.2")
    get_settings.cache_clear()
    st.cache_data.clear()
    st.cache_resource.clear()
    rng = random.Random(start)
    track_ids = list(BuiltinCatalogue(tiny_catalogue_dir).ids)
    at = AppTest.from_file(APP, default_timeout=240).run()
    at.sidebar.toggle[0].set_value(True).run()  # N_s and seed are changed from the start
    at.radio(key="catalogue").set_value(start).run()
    done = []
    for _ in range(STEPS):
        name, change = pick(actions(at, rng, allowed, track_ids), rng)
        change()
        done.append(name)
        at.run()
        assert not at.exception, (done, [e.value for e in at.exception])
    print(start, sorted(Counter(done).items()))
    if start in ("folder", "upload"):
        assert start in done
    # wherever the walk ended, an explanation can still be computed on the built-in catalogue
    at.radio(key="catalogue").set_value("builtin").run()
    at.sidebar.toggle[0].set_value(True).run()
    at.sidebar.number_input[0].set_value(32).run()
    at.button[0].click().run()
    assert not at.exception and "fidelity:" in "\n".join(m.value for m in at.markdown)
