"""``lemons data build``: generate the built-in catalogue, resumably and in parallel.

Every track is finished on its own (its FLAC files first, then ``track.json`` as the completion
mark, all written atomically), so an interrupted build continues where it stopped. The same seed
gives the same catalogue whatever the number of worker processes.
"""

from __future__ import annotations

import csv
import multiprocessing
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from lemons.audio import write_audio
from lemons.catalogue.base import STEMS
from lemons.catalogue.builtin import FORMAT, FORMAT_VERSION, METADATA_COLUMNS, track_dir
from lemons.errors import DataError, LemonsError
from lemons.interactions import stable_seed
from lemons.io import atomic_open, read_json, sha256_file, write_json
from lemons.synth import names
from lemons.synth.styles import GENRE_BY_NAME, GENRES

DEFAULT_TRACKS = 1100  # 100 per genre: histories of 220 played tracks, test splits of 22
DEFAULT_DURATION = 30.0
SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class TrackSpec:
    """What the main process decides for a track before it is rendered."""

    id: str
    genre: str
    seed: int
    title: str
    artist: str
    album: str
    popularity: float


@dataclass
class BuildReport:
    """What a catalogue build did: tracks built, already done, failed (with why), time and size."""

    root: Path
    n_tracks: int
    n_built: int
    n_skipped_done: int
    failed: list[tuple[str, str]]
    seconds: float
    bytes_on_disk: int


ARTISTS_PER_GENRE = 10


def non_default_note(n_tracks: int, seed: int, duration: float) -> str | None:
    """What a user should know when the catalogue differs from the one the shipped models learned from."""
    if (n_tracks, seed, duration) == (DEFAULT_TRACKS, 0, DEFAULT_DURATION):
        return None
    return (
        f"note: the shipped models were trained on the default catalogue ({DEFAULT_TRACKS} tracks of "
        f"{DEFAULT_DURATION:.0f} s, seed 0); on this one the personas' histories differ, so the page and "
        "`lemons rank` report them as trained on other data. Retrain them here with `make models`."
    )


def plan_catalogue(n_tracks: int, seed: int) -> list[TrackSpec]:
    """Genres, names, artists, albums and popularity of every track, deterministically from ``seed``.

    Track ``i`` depends only on ``seed`` and ``i``: a smaller catalogue is the beginning of a larger
    one. Each run of 11 consecutive tracks holds every genre once.
    """
    if n_tracks < 1:
        raise DataError(f"--n-tracks must be at least 1, got {n_tracks}")
    artist_rng = np.random.default_rng(stable_seed("artists", seed))
    artists: dict[str, list[tuple[str, list[str], float]]] = {}
    for genre in GENRES:
        pool = []
        for _ in range(ARTISTS_PER_GENRE):
            popularity = float(artist_rng.beta(2 * genre.popularity + 0.5, 2 * (1 - genre.popularity) + 0.5))
            albums = [names.album_title(artist_rng) for _ in range(int(artist_rng.integers(1, 3)))]
            pool.append((names.artist_name(genre.name, artist_rng), albums, popularity))
        artists[genre.name] = pool
    weights = 1.0 / np.arange(1, ARTISTS_PER_GENRE + 1)  # a few artists have many tracks
    weights /= weights.sum()
    specs = []
    for index in range(n_tracks):
        block_rng = np.random.default_rng(stable_seed("genres", seed, index // len(GENRES)))
        genre = GENRES[int(block_rng.permutation(len(GENRES))[index % len(GENRES)])].name
        rng = np.random.default_rng(stable_seed("track", seed, index))
        artist, albums, artist_pop = artists[genre][int(rng.choice(ARTISTS_PER_GENRE, p=weights))]
        popularity = float(np.clip(100 * artist_pop + rng.normal(0, 8), 0, 100))
        specs.append(
            TrackSpec(
                id=f"LM{index:05d}",
                genre=genre,
                seed=stable_seed("song", seed, index),
                title=names.track_title(genre, rng),
                artist=artist,
                album=albums[int(rng.integers(len(albums)))],
                popularity=round(popularity, 1),
            )
        )
    return specs


_RENDERER = None


def _worker_init() -> None:
    global _RENDERER
    from lemons.synth.render import StemRenderer

    _RENDERER = StemRenderer(SAMPLE_RATE)


def render_track(spec: TrackSpec, root: Path, duration: float) -> dict[str, object]:
    """Generate one track into ``root/audio/<id>/`` and return its metadata row."""
    from lemons.synth.generate import generate_song
    from lemons.synth.mixing import stem_shares

    if _RENDERER is None:
        _worker_init()
    song = generate_song(GENRE_BY_NAME[spec.genre], spec.seed, duration, _RENDERER)
    folder = track_dir(root, spec.id)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(".*"):  # temporary files of an interrupted earlier attempt
        stale.unlink()
    for stem in STEMS:
        write_audio(folder / f"{stem}.flac", song.stems[stem], SAMPLE_RATE)
    write_audio(folder / "mix.flac", song.mix, SAMPLE_RATE)
    shares = stem_shares(song.stems)
    row: dict[str, object] = {
        "id": spec.id,
        "title": spec.title,
        "artist": spec.artist,
        "album": spec.album,
        "genre": spec.genre,
        "style": song.plan.style,
        "tags": ";".join(song.plan.tags),
        "tempo": song.plan.bpm,
        "key": song.plan.key,
        "duration": round(song.mix.shape[0] / SAMPLE_RATE, 3),
        "loudness": round(song.loudness, 2),
        "popularity": spec.popularity,
        "groove": song.plan.groove,
        "drum_kit": "" if song.plan.drum_kit is None else song.plan.drum_kit,
        "featured_stem": song.featured,
        "background_stem": song.background,
        **{f"share_{stem}": round(shares[stem], 4) for stem in STEMS},
        **song.plan.structure().to_row(),
    }
    write_json(folder / "track.json", row)
    return row


def _render_task(args: tuple[TrackSpec, Path, float]) -> tuple[str, dict | None, str]:
    spec, root, duration = args
    try:
        return spec.id, render_track(spec, root, duration), ""
    except LemonsError as exc:
        return spec.id, None, str(exc)
    except Exception as exc:  # one bad song must not stop a build of hundreds
        return spec.id, None, f"{type(exc).__name__}: {exc}"


def _check_build_params(root: Path, params: dict[str, object], specs: list[TrackSpec]) -> None:
    """Refuse a folder built with other parameters; a version-1 catalogue of the same parameters is
    upgraded in place (:func:`add_structure`)."""
    path = root / "build.json"
    if path.is_file():
        existing = read_json(path)
        if existing.get("version") == 1 and {**existing, "version": params["version"]} == params:
            add_structure(root, specs, float(str(params["duration"])))
            write_json(path, params)
            return
        if existing != params:
            differing = ", ".join(f"{k}={existing.get(k)!r}" for k in params if existing.get(k) != params[k])
            raise DataError(
                f"{root} holds a catalogue built with other parameters ({differing}); "
                "use another --out directory, or delete this one to rebuild"
            )
    else:
        write_json(path, params)


def add_structure(root: Path, specs: list[TrackSpec], duration: float) -> int:
    """Add each complete track's structure to its ``track.json`` (format 1 → 2) without rendering it
    again: the song's plan is drawn anew from its seed, as its build drew it. Returns the tracks updated."""
    from lemons.synth.song import plan_song

    updated = 0
    for spec in specs:
        marker = _marker(root, spec)
        if not marker.is_file():
            continue
        plan, _ = plan_song(GENRE_BY_NAME[spec.genre], np.random.default_rng(spec.seed), duration)
        write_json(marker, {**read_json(marker), **plan.structure().to_row()})
        updated += 1
    return updated


def build_catalogue(
    root: Path | str,
    n_tracks: int = DEFAULT_TRACKS,
    seed: int = 0,
    duration: float = DEFAULT_DURATION,
    workers: int = 2,
    progress: bool = True,
) -> BuildReport:
    """Generate (or finish) a catalogue in ``root``; tracks already complete are kept.

    Args:
        root: output directory.
        n_tracks: number of tracks (genres are balanced: 11 genres).
        seed: catalogue seed; the same seed gives the same audio and metadata.
        duration: track length in seconds (30 s by default; shorter only for quick tests).
        workers: worker processes (0 or 1: render in this process).
    """
    _check_tools(duration)
    root = Path(root)
    started = time.perf_counter()
    root.mkdir(parents=True, exist_ok=True)
    params = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "seed": seed,
        "n_tracks": n_tracks,
        "duration": duration,
        "sample_rate": SAMPLE_RATE,
    }
    specs = plan_catalogue(n_tracks, seed)
    _check_build_params(root, params, specs)
    rows = {spec.id: read_json(_marker(root, spec)) for spec in specs if _marker(root, spec).is_file()}
    todo = [spec for spec in specs if spec.id not in rows]
    done_before = len(rows)
    with tqdm(
        total=len(specs), initial=done_before, desc="build catalogue", unit="track", disable=not progress
    ) as bar:
        failed = _render_tracks([(spec, root, duration) for spec in todo], workers, rows, bar)
    if failed:
        warnings.warn(f"{len(failed)} of {n_tracks} tracks failed and were skipped", stacklevel=2)
    _finalise(root, [rows[s.id] for s in specs if s.id in rows], params, progress)
    size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    return BuildReport(
        root, n_tracks, len(todo) - len(failed), done_before, failed, time.perf_counter() - started, size
    )


def _check_tools(duration: float) -> None:
    """Refuse a too short ``duration`` and a machine without ``mma`` or the SoundFont."""
    from lemons.synth.render import find_soundfont
    from lemons.synth.song import mma_available

    if duration < 5.0:
        raise DataError(f"--duration must be at least 5 s, got {duration}")
    if not mma_available():
        raise DataError("the 'mma' program is missing; run `make system-deps` or: sudo apt-get install mma")
    find_soundfont()


def _marker(root: Path, spec: TrackSpec) -> Path:
    """The file whose presence marks a track as complete (its metadata, written last)."""
    return track_dir(root, spec.id) / "track.json"


def _render_tracks(
    tasks: list[tuple[TrackSpec, Path, float]], workers: int, rows: dict[str, dict], bar: tqdm
) -> list[tuple[str, str]]:
    """Render ``tasks`` (in ``workers`` processes), adding each track's metadata to ``rows``.

    Returns the tracks that failed, with why (each also a warning).
    """
    failed: list[tuple[str, str]] = []
    if workers <= 1 or len(tasks) <= 1:
        results = map(_render_task, tasks)
        pool = None
    else:
        pool = multiprocessing.get_context("spawn").Pool(min(workers, len(tasks)), initializer=_worker_init)
        results = pool.imap_unordered(_render_task, tasks)
    try:
        for track_id, row, error in results:
            if row is None:
                failed.append((track_id, error))
                warnings.warn(f"track {track_id} skipped: {error}", stacklevel=3)
            else:
                rows[track_id] = row
            bar.update(1)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    return failed


def _finalise(root: Path, rows: list[dict], params: dict[str, object], progress: bool) -> None:
    """Write metadata.csv, manifest.json and the personas' histories and splits."""
    from lemons.catalogue.builtin import BuiltinCatalogue
    from lemons.personas import write_persona_data

    with atomic_open(root / "metadata.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=METADATA_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    files = {}
    for row in tqdm(rows, desc="checksums", unit="track", disable=not progress):
        for name in ("mix", *STEMS):
            rel = f"audio/{row['id']}/{name}.flac"
            files[rel] = sha256_file(root / rel)
    write_json(
        root / "manifest.json", {**params, "n_tracks_built": len(rows), "stems": list(STEMS), "files": files}
    )
    write_persona_data(BuiltinCatalogue(root))


def report_dict(report: BuildReport) -> dict[str, object]:
    """The report as plain data (``build.json``)."""
    data = asdict(report)
    data["root"] = str(report.root)
    return data
