"""LEMONS demo page: ``streamlit run explanations/lemons.py``.

A thin page over the library: pick a persona, see their profile and recommendations, listen to a
track with its waveform, and compute a listenable explanation of why it was recommended.
Works offline on the built-in catalogue (no external images, fonts or scripts).

The title and a loading notice are drawn before the recommender and the explainer are imported
(several seconds in a fresh server process), and the notice then shows the scoring of the
recommendations with a progress bar until the page is complete.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

# `streamlit run` puts this script's folder first on sys.path, where this very file would shadow the
# `lemons` package; the checkout goes before it (installed or not, the package must win).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamlit as st

TITLE = "LEMONS: Listenable Explanations for Music recOmmeNder Systems"
#: The first module imported below: once it is loaded, this server process has nothing heavy to import.
HEAVY_MODULE = "explanations.audiolime.pipeline"

st.set_page_config(page_title="LEMONS", page_icon="🍋", layout="wide")
st.title(TITLE)
#: Where the page says what it is loading, until it is complete (:func:`main` empties it).
loading = st.empty()
first_load = HEAVY_MODULE not in sys.modules
if first_load:
    loading.info("⏳ Loading the recommender and the explainer (the first visit takes a few seconds)…")

import pandas as pd

from explanations.audiolime.engine import prepare_engine
from explanations.audiolime.factorization import EXPLANATION_TYPES
from explanations.audiolime.listen import Highlight, empty_highlight_note, highlight
from explanations.audiolime.pipeline import ExplainSettings, TrackExplanation, explain_track
from explanations.audiolime.questions import QUESTIONS, lowers, raises
from explanations.audiolime.segmenters import DEFAULT_SEGMENTER, SEGMENTERS
from explanations.audiolime.separation import SEPARATORS, available_separators
from explanations.page import illustrations, ui
from explanations.page.access import allowed_folders, check_tracks_inside, confined_folder, no_folder_allowed
from explanations.page.figures import page_figure_png
from explanations.page.outputs import outputs_zip
from explanations.page.uploads import UploadLimits, new_session_folder, remove_session, store_upload
from lemons.allocator import keep_freed_memory
from lemons.catalogue.base import Catalogue, Track
from lemons.catalogue.registry import CATALOGUES, CatalogueEntry
from lemons.config import get_settings
from lemons.errors import LemonsError
from lemons.personas import DEMO_PERSONAS, PERSONAS, avatar_png, get_persona, history_of, profile
from recsys.candidates import candidates
from recsys.checkpoint import Recommender, find_model, load_checkpoint
from recsys.data import load_dataset
from recsys.evaluate import stale_warning
from recsys.inference import resolve_device
from recsys.ranking import rank_tracks

if first_load:
    loading.info("⏳ Opening the catalogue and preparing your recommendations…")

TOP_N = 10


# ----------------------------------------------------------------------------- cached resources


@st.cache_resource(show_spinner="loading the recommender…")
def recommender_of(user: str) -> Recommender:
    """The user's published recommender on the device setting (loaded once per process), with the
    explanation engine ready for it."""
    device = resolve_device(get_settings().device)
    recommender = load_checkpoint(find_model(user), device)
    prepare_engine(recommender.model, device)
    return recommender


@st.cache_resource(show_spinner="opening the catalogue…")
def catalogue_of(name: str, path: str | None) -> Catalogue:
    """The catalogue registered as ``name``, opened at ``path`` (default: its setting), once per process."""
    return CATALOGUES[name].open(path)


@st.cache_resource(scope="session", on_release=remove_session, show_spinner=False)
def session_uploads() -> Path:
    """This session's folder of uploaded files, removed when the session ends."""
    return new_session_folder(get_settings().cache_dir)


@st.cache_data(show_spinner=False)
def picture(kind: str) -> bytes:
    """PNG of the recommender (``recommender``) or of an explanation type's components."""
    return (
        illustrations.recommender_picture()
        if kind == "recommender"
        else illustrations.components_picture(kind)
    )


@st.cache_data(show_spinner=False)
def avatar(name: str) -> bytes:
    """PNG of a persona's avatar."""
    return avatar_png(get_persona(name), 160)


@st.cache_data(max_entries=96, show_spinner=False)
def explanation_png(request: str, name: str, _result: TrackExplanation) -> bytes:
    """A figure of the explanation asked for by ``request`` (its ``repr``), drawn once: kept in this
    process for any visitor and in the explanations cache for the next server."""
    return page_figure_png(_result, name, cache_dir=get_settings().cache_dir)


@st.cache_data(show_spinner=False)
def stale_message(user: str) -> str | None:
    """The warning for a model trained on other data than the built-in catalogue now holds, if it is."""
    return stale_warning(recommender_of(user), load_dataset("builtin"), user)


# ----------------------------------------------------------------------------- page sections


def sidebar() -> tuple[bool, int, int, str]:
    """How it works, and the advanced settings: (show planted personas, N_s, seed, segmenter)."""
    with st.sidebar:
        st.header("How does it work?")
        st.markdown(
            "**The recommender.** For every user a neural network (an FCN) has learned from the audio "
            "of the tracks they played which tracks they like. It hears a track as a mel spectrogram "
            "and answers with a *relevance* between 0 and 1."
        )
        st.image(picture("recommender"))
        st.markdown(
            "**The explanation (audioLIME).** The track is split into components you can listen to. "
            "Thousands of versions of the track with some components switched off are scored by the "
            "recommender; a linear model fitted to those scores tells how much each component drove "
            "the relevance. You hear the components that mattered most."
        )
        for kind in EXPLANATION_TYPES:
            st.markdown(f"**{kind.label}.** {kind.description}")
            st.image(picture(kind.name))
        st.divider()
        advanced = st.toggle(
            "advanced", value=False, help="planted-taste personas, sampling settings and time segments"
        )
        n_samples, seed, segmenter = 2048, 0, DEFAULT_SEGMENTER
        if advanced:
            n_samples = int(st.number_input("perturbations N_s", 16, 16384, 2048, step=256))
            seed = int(st.number_input("seed", 0, 2**31 - 1, 0))
            segmenter = st.selectbox(
                "time segments",
                SEGMENTERS.names(),
                format_func=lambda name: SEGMENTERS[name].label,
                help=" ".join(f"{s.label}: {s.description}." for s in SEGMENTERS),
                key="segmenter",
            )
    return advanced, n_samples, seed, segmenter


def persona_section(show_planted: bool) -> str:
    """Persona choice and profile; returns the persona's name."""
    st.header("1 · Who are you?")
    names = [p.name for p in PERSONAS if show_planted or p.name in DEMO_PERSONAS]
    name = st.selectbox(
        "persona", names, format_func=lambda n: f"{n.capitalize()} — {get_persona(n).short}", key="persona"
    )
    persona = get_persona(name)
    catalogue = catalogue_of("builtin", None)
    summary = profile(persona, catalogue, history_of(persona, catalogue.triplets()))
    left, right = st.columns([1, 4])
    left.image(avatar(name), width=120)
    right.subheader(name.capitalize())
    right.write(persona.description)
    right.write(
        f"listened to **{summary.n_tracks}** tracks for a total of **{summary.n_events}** listening events"
    )
    right.write("top genres: " + ", ".join(f"{g} ({c})" for g, c in summary.genre_counts[:3]))
    history = st.expander(
        f"the tracks {name.capitalize()} listened to, by playcount", key="history", on_change="rerun"
    )
    if history.open:  # drawn when opened: the page's first render has no interactive table to load
        rows = [
            {"plays": count, "title": t.title, "artist": t.artist, "genre": t.genre, "track": t.id}
            for t, count in summary.top_tracks
        ]
        history.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    message = stale_message(name)
    if message:
        st.warning(message)
    return name


def offered(entry: CatalogueEntry) -> bool:
    """Whether the page offers a catalogue: one the user names or uploads, or one whose setting is set."""
    return entry.location != "setting" or entry.configured()


def catalogue_location(entry: CatalogueEntry) -> str | None:
    """The folder of the chosen catalogue: asked for (inside the folders the page may open), uploaded,
    or ``None`` (its setting)."""
    if entry.location == "folder":
        roots = allowed_folders()
        if not roots:
            st.info(no_folder_allowed())
            st.stop()
        folder = st.text_input("folder with WAV, FLAC, MP3, OGG or AIFF files", str(roots[0]), key="folder")
        if not folder:
            st.info("give the folder that holds your audio files")
            st.stop()
        return str(confined_folder(folder, roots))
    if entry.location == "upload":
        limits = UploadLimits.from_settings()
        uploaded = st.file_uploader(
            "an audio file",
            type=["wav", "flac", "mp3", "ogg", "oga", "aiff", "aif"],
            max_upload_size=limits.max_megabytes,
        )
        if uploaded is None:
            minutes = f"{limits.max_seconds / 60:g}"
            st.info(
                f"upload an audio file (5 s to {minutes} minutes, up to {limits.max_megabytes} MB) "
                "to hear why it would be recommended"
            )
            st.stop()
        return str(store_upload(session_uploads(), uploaded.name, uploaded.getvalue(), limits))
    return None


def open_chosen(entry: CatalogueEntry, path: str | None) -> Catalogue:
    """The chosen catalogue, opened once per process; an upload, which is this session's alone, each run."""
    if entry.location == "upload":
        return entry.open(path)
    catalogue = catalogue_of(entry.name, path)
    if entry.location == "folder" and path is not None:
        check_tracks_inside(catalogue, Path(path), allowed_folders())
    return catalogue


def catalogue_choice(user: str) -> tuple[Catalogue, list[str] | None, frozenset[str], bool]:
    """The catalogue to recommend from, the track ids (None: all of it), the user's listening history
    in it and whether to include that history in the recommendations."""
    options = [entry.name for entry in CATALOGUES if offered(entry)]
    choice = st.radio(
        "recommend from",
        options,
        format_func=lambda name: CATALOGUES[name].description,
        horizontal=True,
        key="catalogue",
    )
    entry = CATALOGUES[choice]
    path = catalogue_location(entry)
    found = candidates(choice, recommender_of(user), user, path, catalogue=open_chosen(entry, path))
    include = bool(found.history) and st.checkbox(
        "include tracks you have already listened to",
        key="include_history",
        help="recommendations are new to you; tick this to rank your listening history too",
    )
    return found.catalogue, found.track_ids, found.history, include


def scoring_progress(user: str, started: float) -> Callable[[int, int], None]:
    """Show the scoring of the recommendations in the loading notice: a bar and the time left."""

    def on_progress(done: int, total: int) -> None:
        elapsed = time.perf_counter() - started
        left = f", about {elapsed * (total - done) / done:.0f} s left" if done else ""
        text = f"⏳ Scoring {total} tracks for {user.capitalize()}: {done} of {total}{left}…"
        loading.progress(done / total, text=text)

    return on_progress


def recommendations_section(user: str) -> tuple[Catalogue, str]:
    """Top-10 of the chosen catalogue; returns the catalogue and the picked track id."""
    st.header("2 · Your recommendations")
    catalogue, ids, history, include_history = catalogue_choice(user)
    if catalogue.skipped:
        lines = "\n".join(f"- {reason}" for _, reason in catalogue.skipped)
        st.warning(f"{len(catalogue.skipped)} file(s) of the folder were skipped:\n{lines}")
    recommender = recommender_of(user)
    with st.spinner("scoring the tracks…"):
        ranking = rank_tracks(
            recommender, catalogue, ids, cache_dir=get_settings().cache_dir, progress=False,
            history=history, include_history=include_history,
            on_progress=scoring_progress(user, time.perf_counter()),
        )  # fmt: skip
    loading.empty()
    for track_id, reason in ranking.skipped:
        st.warning(f"{track_id} was skipped: {reason}")
    if not ranking.tracks:
        st.error("none of these tracks could be scored; choose another catalogue")
        st.stop()
    top = ranking.top(TOP_N)
    table = pd.DataFrame(
        [
            {
                "rank": i + 1,
                "title": catalogue[r.track_id].title,
                "artist": catalogue[r.track_id].artist,
                "genre": catalogue[r.track_id].genre,
                "relevance": round(r.relevance, 3),
                **({"listened": "✓" if r.track_id in ranking.listened else ""} if ranking.listened else {}),
            }
            for i, r in enumerate(top)
        ]
    )
    st.table(ui.static_table(table, bar="relevance"), hide_index=True)
    if ranking.n_excluded:
        st.caption(f"{ranking.n_excluded} tracks you have already listened to are left out")
    st.header("3 · Listen")
    labels = {r.track_id: f"{i + 1}. {heading(catalogue[r.track_id])}" for i, r in enumerate(top)}
    track_id = st.selectbox("track", list(labels), format_func=labels.get, key="track")
    relevance = next(r.relevance for r in top if r.track_id == track_id)
    st.markdown(
        "relevance for you: " + ui.badge(f"{relevance:.2f}", ui.scale_colour(relevance)),
        unsafe_allow_html=True,
    )
    audio = catalogue.load_audio(track_id)
    track = catalogue[track_id]
    st.iframe(ui.player_html(audio, 16_000, heading(track)), height=120)
    return catalogue, track_id


@st.fragment
def explanation_section(
    user: str, catalogue: Catalogue, track_id: str, n_samples: int, seed: int, segmenter: str
) -> None:
    """The explanation type, the separator, and the explanation once **Compute Explanation** is pressed.

    A fragment: its own widgets rerun this section alone, not the persona and the rankings above it.
    """
    try:
        explanation_controls(user, catalogue, track_id, n_samples, seed, segmenter)
    except LemonsError as exc:  # a rerun of the fragment alone is not inside main()'s handler
        st.error(str(exc))


def explanation_controls(
    user: str, catalogue: Catalogue, track_id: str, n_samples: int, seed: int, segmenter: str
) -> None:
    """The section's widgets, and the explanation asked for."""
    st.header("4 · Why was it recommended?")
    types = {kind.label: kind for kind in EXPLANATION_TYPES}
    kind = types[st.radio("explain by", list(types), horizontal=True, key="type")]
    left, right = st.columns([2, 3])
    left.write(kind.description)
    right.image(picture(kind.name))
    separator = None
    if kind.needs_sources:
        choices = available_separators(catalogue)
        if not choices:
            st.error("no source separator is available: run `lemons setup weights` and reload the page")
            return
        separator = st.selectbox(
            "source separator",
            choices,
            help="; ".join(f"{name} = {SEPARATORS[name].description}" for name in choices),
            key="separator",
        )
    question = st.radio(
        "question",
        QUESTIONS.names(),
        format_func=lambda name: QUESTIONS[name].title,
        horizontal=True,
        key="question",
        help="; ".join(f"{q.title} {q.description}" for q in QUESTIONS),
    )
    segmenter = segmenter if kind.has_segments else DEFAULT_SEGMENTER
    settings = ExplainSettings(kind.name, n_samples, seed, question=question, segmenter=segmenter)
    request = (user, catalogue.name, track_id, str(catalogue[track_id].path), settings, separator)
    if st.button("Compute Explanation", type="primary"):
        st.session_state["explanation"] = (request, compute(user, catalogue, track_id, settings, separator))
    stored = st.session_state.get("explanation")
    if stored is None or stored[0] != request:
        st.caption("press **Compute Explanation** to hear why this track is recommended")
        return
    show_explanation(stored[1], user, catalogue, track_id, repr(request))


def compute(
    user: str, catalogue: Catalogue, track_id: str, settings: ExplainSettings, separator: str | None
) -> TrackExplanation:
    """Explain with a progress bar and a time estimate."""
    bar = st.progress(0.0, text="separating the sources…" if settings.needs_sources else "starting…")
    started = time.perf_counter()

    def on_progress(done: int, total: int) -> None:
        elapsed = time.perf_counter() - started
        left = elapsed * (total - done) / done if done else float("nan")
        bar.progress(
            done / total, text=f"scoring the perturbed tracks: {done / total:.0%}, about {left:.0f} s left"
        )

    result = explain_track(
        recommender_of(user),
        catalogue,
        track_id,
        settings,
        separator,
        cache_dir=get_settings().cache_dir,
        on_progress=on_progress,
    )
    bar.empty()
    return result


def show_highlight(chosen: Highlight, title: str) -> None:
    """The chosen components' descriptions and a player of them."""
    st.write("; ".join(chosen.descriptions))
    st.iframe(ui.player_html(chosen.audio, chosen.sr, title), height=120)


def show_against(result: TrackExplanation) -> None:
    """Where no component works for the explained label: say so, and play the 3 that work against it."""
    explanation = result.explanation
    against = highlight(explanation, result.factorization, 3, against=True)
    st.write(empty_highlight_note(explanation, against).capitalize() + ".")
    if not against.empty:
        title = f"What {lowers(explanation.label)}s the relevance most"
        st.subheader(title)
        show_highlight(against, title)


def show_explanation(
    result: TrackExplanation, user: str, catalogue: Catalogue, track_id: str, request: str
) -> None:
    """The question answered, the fidelity, the Top Highlight and Top-3 with players and figures (or,
    where no component works for the explained label, the ones that work against it), the weights,
    the download (its ZIP made when it is clicked). ``request``: what was asked, the key of the figures."""
    explanation, factorization = result.explanation, result.factorization
    took = "from the cache" if result.cached else f"computed in {explanation.timings.get('total_s', 0):.0f} s"
    segments = factorization.segmentation
    cut = f", {segments.segmenter} segments" if EXPLANATION_TYPES[explanation.kind].has_segments else ""
    st.caption(
        f"{explanation.kind} explanation{cut}, separator {explanation.separator or 'none'}, "
        f"N_s = {explanation.n_samples}, seed {explanation.seed} — {took}"
    )
    st.markdown(
        "fidelity: "
        + ui.badge(f"{explanation.fidelity:.2f}", ui.scale_colour(explanation.fidelity))
        + f" &nbsp; {ui.fidelity_meaning(explanation.fidelity)}",
        unsafe_allow_html=True,
    )
    st.info(f"This explanation answers: {explanation.answers()}")
    for title, k in (("Top Highlight", 1), ("Top-3", 3)):
        chosen = highlight(explanation, factorization, k)
        st.subheader(title)
        if chosen.empty:
            show_against(result)
            break
        show_highlight(chosen, title)
        st.image(explanation_png(request, f"top-{k}", result), width="stretch")
    st.subheader("All the weights")
    label = explanation.label
    st.caption(f"red {raises(label)}s the relevance, blue {lowers(label)}s it")
    st.image(explanation_png(request, "weights", result), width="stretch")
    track = catalogue[track_id]
    context = {"user": user, "title": track.title, "artist": track.artist, "catalogue": catalogue.name}
    st.download_button(
        "download the explanation (WAVs, JSON report, figure)",
        data=lambda: outputs_zip(result, 3, context),
        file_name=f"lemons-{user}-{track_id}-{explanation.kind.replace('+', '-')}.zip",
        mime="application/zip",
    )


def heading(track: Track) -> str:
    """``"title — artist"``, or the title alone for a track without an artist."""
    return f"{track.title} — {track.artist}" if track.artist else track.title


def main() -> None:
    """The page, top to bottom (the title and the loading notice are drawn before the imports)."""
    keep_freed_memory()
    st.html(ui.PAGE_STYLE)
    show_planted, n_samples, seed, segmenter = sidebar()
    try:
        user = persona_section(show_planted)
        catalogue, track_id = recommendations_section(user)
        explanation_section(user, catalogue, track_id, n_samples, seed, segmenter)
    except LemonsError as exc:
        st.error(str(exc))
    finally:
        loading.empty()  # whatever stopped the page (an error, st.stop), it is no longer loading


main()
