"""MSDCatalogue and Taste Profile user selection on fixtures in the real MSD file formats."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from lemons.audio import SAMPLE_RATE
from lemons.catalogue.msd import (
    MSDCatalogue,
    find_snippets,
    select_msd_users,
    snippet_relpath,
    write_msd_users,
)
from lemons.errors import DataError
from lemons.interactions import load_splits, read_triplets
from lemons.io import read_json
from recsys.checkpoint import load_checkpoint, save_checkpoint
from recsys.model import FCN, ModelArgs

SNIPPET_SECONDS = 6.0
SNIPPET_SR = 22050


def track_id(i: int) -> str:
    return f"TRA{chr(ord('A') + i % 3)}{chr(ord('A') + i // 3)}BD128F429CF{i:02d}"


def song_id(i: int) -> str:
    return f"SOAAADD12AB018A9{i:02d}"


def user_id(name: str) -> str:
    return (name.encode().hex() * 40)[:40]


# Songs 0-14 have one track each (T0-T14) with audio; T15 is a second track of song 0 (audio too);
# T16/T17 are in the metadata without audio; T18 has audio but no metadata row.
N_TRACKS = 19
WITH_AUDIO = set(range(16)) | {18}
IN_METADATA = range(18)


def song_of(i: int) -> str:
    return song_id(0 if i == 15 else i)


def freq_of(i: int) -> float:
    return 300.0 + 50.0 * i


USERS = {  # user -> {song index: playcount}
    "ua": {**{s: s + 1 for s in range(10)}, 16: 7},  # 10 songs with audio
    "ub": dict.fromkeys(range(5, 11), 2),  # 6 songs with audio
    "uc": {**dict.fromkeys(range(5), 1), 16: 3, 17: 3, 99: 4},  # exactly 5 with audio, 8 lines
    "ud": dict.fromkeys(range(11, 14), 1),  # 3
}


def write_snippet(path: Path, freq: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(SNIPPET_SECONDS * SNIPPET_SR)) / SNIPPET_SR
    sf.write(str(path), (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), SNIPPET_SR, format="MP3")


def write_audio_dir(root: Path) -> Path:
    audio = root / "audio"
    for i in sorted(WITH_AUDIO):
        tid = track_id(i)
        if i == 3:
            rel = Path(f"{tid}.mp3")  # flat layout
        elif i == 4:
            rel = snippet_relpath(tid, ".mp3")  # nested, plain .mp3
        else:
            rel = snippet_relpath(tid)
        write_snippet(audio / rel, freq_of(i))
    (audio / snippet_relpath(track_id(5), ".mp3")).write_bytes(b"not used: .clip.mp3 wins")
    (audio / "README.txt").write_text("ignored")
    return audio


def metadata_rows() -> list[tuple]:
    rows = []
    for i in IN_METADATA:
        hot = None if i == 2 else 0.01 * (i + 20)
        rows.append(
            (
                track_id(i),
                f"Title {i}",
                song_of(i),
                f"Release {i}",
                "ARID",
                "",
                f"Artist {i}",
                180.0 + i,
                0.5,
                hot,
                1990 + i if i else 0,
                1000 + i,
                0,
                0,
            )
        )
    return rows


def write_sqlite(path: Path) -> Path:
    connection = sqlite3.connect(path)
    connection.execute(
        "CREATE TABLE songs (track_id text PRIMARY KEY, title text, song_id text, release text, "
        "artist_id text, artist_mbid text, artist_name text, duration real, artist_familiarity real, "
        "artist_hotttnesss real, year int, track_7digitalid int, shs_perf int, shs_work int)"
    )
    connection.executemany(f"INSERT INTO songs VALUES ({','.join('?' * 14)})", metadata_rows())
    connection.commit()
    connection.close()
    return path


def write_unique_tracks(path: Path) -> Path:
    lines = [
        f"{tid}<SEP>{sid}<SEP>{artist}<SEP>{title}"
        for tid, title, sid, _, _, _, artist, *_ in metadata_rows()
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_genres(path: Path) -> Path:
    path.write_text(
        "# Genre annotations for the MSD, CD2\n# TRACKID\tmajority\tminority\n"
        f"{track_id(0)}\tReggae\n{track_id(1)}\tRock\tMetal\n{track_id(16)}\tJazz\n",
        encoding="utf-8",
    )
    return path


def write_taste_profile(path: Path) -> Path:
    lines = []
    for position in range(20):  # interleave users: the file is not assumed grouped by user
        for name, history in USERS.items():
            songs = sorted(history)
            if position < len(songs):
                s = songs[position]
                lines.append(f"{user_id(name)}\t{song_id(s)}\t{history[s]}\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def msd(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("msd")
    return {
        "audio": write_audio_dir(root),
        "db": write_sqlite(root / "track_metadata.db"),
        "txt": write_unique_tracks(root / "unique_tracks.txt"),
        "genres": write_genres(root / "msd_tagtraum_cd2.cls"),
        "triplets": write_taste_profile(root / "train_triplets.txt"),
    }


@pytest.fixture(scope="module")
def catalogue(msd: dict[str, Path]) -> MSDCatalogue:
    return MSDCatalogue(msd["db"], msd["audio"], genres_path=msd["genres"])


def test_snippet_layout_follows_the_track_id() -> None:
    assert snippet_relpath("TRAAABD128F429CF47") == Path("A/A/A/TRAAABD128F429CF47.clip.mp3")


def test_only_tracks_with_audio_and_metadata_are_in_the_catalogue(catalogue: MSDCatalogue) -> None:
    assert catalogue.name == "msd"
    assert catalogue.ids == [track_id(i) for i in range(16)]  # metadata order
    assert catalogue.unmatched_audio == [track_id(18)]


def test_flat_plain_and_clip_snippets_are_found(msd: dict[str, Path], catalogue: MSDCatalogue) -> None:
    assert catalogue[track_id(3)].path == msd["audio"] / f"{track_id(3)}.mp3"
    assert catalogue[track_id(4)].path == msd["audio"] / snippet_relpath(track_id(4), ".mp3")
    assert catalogue[track_id(5)].path == msd["audio"] / snippet_relpath(track_id(5))
    assert find_snippets(msd["audio"])[track_id(5)].name.endswith(".clip.mp3")


def test_sqlite_metadata_is_mapped(catalogue: MSDCatalogue) -> None:
    track = catalogue[track_id(1)]
    assert (track.title, track.artist, track.album) == ("Title 1", "Artist 1", "Release 1")
    assert (track.genre, track.tags) == ("Rock", ("Rock", "Metal"))
    assert track.popularity == pytest.approx(21.0)
    assert track.duration is None and track.offset == 0.0  # the whole snippet
    assert track.extra["song_id"] == song_id(1)
    assert track.extra["song_duration"] == pytest.approx(181.0)
    assert track.extra["year"] == 1991
    assert catalogue[track_id(0)].genre == "Reggae" and "year" not in catalogue[track_id(0)].extra
    assert catalogue[track_id(2)].popularity is None  # NULL hotttnesss
    assert catalogue[track_id(3)].genre == "" and catalogue[track_id(3)].tags == ()


def test_songs_map_to_their_first_track_with_audio(catalogue: MSDCatalogue) -> None:
    assert catalogue.song_to_track[song_id(0)] == track_id(0)
    assert catalogue.song_tracks[song_id(0)] == [track_id(0), track_id(15)]
    assert song_id(16) not in catalogue.song_to_track


def test_unique_tracks_txt_gives_the_same_tracks(msd: dict[str, Path], catalogue: MSDCatalogue) -> None:
    from_text = MSDCatalogue(msd["txt"], msd["audio"])
    assert from_text.ids == catalogue.ids
    track = from_text[track_id(7)]
    assert (track.title, track.artist, track.album, track.genre) == ("Title 7", "Artist 7", "", "")
    assert track.popularity is None
    assert from_text.song_to_track == catalogue.song_to_track


def test_snippet_loads_whole_at_16k_mono(catalogue: MSDCatalogue) -> None:
    audio = catalogue.load_audio(track_id(6))
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(audio.size / SAMPLE_RATE - SNIPPET_SECONDS) < 0.05
    spectrum = np.abs(np.fft.rfft(audio))
    assert np.fft.rfftfreq(audio.size, 1 / SAMPLE_RATE)[np.argmax(spectrum)] == pytest.approx(
        freq_of(6), abs=1
    )


def test_users_with_more_than_min_tracks_are_selected(msd: dict[str, Path], catalogue: MSDCatalogue) -> None:
    triplets, splits = select_msd_users(msd["triplets"], catalogue, min_tracks=5)
    assert list(splits) == [user_id("ua"), user_id("ub")]  # uc has exactly 5 tracks with audio
    users = list(dict.fromkeys(t.user for t in triplets))
    assert users == [user_id("ua"), user_id("ub")]
    ua = [t for t in triplets if t.user == user_id("ua")]
    assert {t.track_id for t in ua} == {track_id(s) for s in range(10)}  # song 0 → its first track
    assert [t.playcount for t in ua] == sorted((s + 1 for s in range(10)), reverse=True)
    assert select_msd_users(msd["triplets"], catalogue, min_tracks=4)[1].keys() == {
        user_id("ua"),
        user_id("ub"),
        user_id("uc"),
    }


def test_max_users_keeps_the_users_with_most_tracks(msd: dict[str, Path], catalogue: MSDCatalogue) -> None:
    triplets, splits = select_msd_users(msd["triplets"], catalogue, min_tracks=2, max_users=2)
    assert list(splits) == [user_id("ua"), user_id("ub")]
    assert {t.user for t in triplets} == set(splits)


def test_splits_hold_both_classes_and_negatives_were_never_played(
    msd: dict[str, Path], catalogue: MSDCatalogue
) -> None:
    triplets, splits = select_msd_users(msd["triplets"], catalogue, min_tracks=5, seed=3)
    for user, user_splits in splits.items():
        played = {t.track_id for t in triplets if t.user == user}
        played_songs = {catalogue[t].extra["song_id"] for t in played}
        positives, negatives = set(), set()
        for split in ("train", "val", "test"):
            labels = user_splits.labels(split)
            assert set(labels.tolist()) == {0.0, 1.0}, (user, split)
            for tid, label in user_splits[split]:
                (positives if label else negatives).add(tid)
        assert positives == played
        assert negatives and negatives <= set(catalogue.ids)
        assert not {catalogue[t].extra["song_id"] for t in negatives} & played_songs
    # ua played song 0, so its duplicate track T15 is no negative although it was never "played" as T15
    ua_negatives = {t for s in ("train", "val", "test") for t, y in splits[user_id("ua")][s] if not y}
    assert ua_negatives == {track_id(i) for i in range(10, 15)}


def test_written_files_round_trip(msd: dict[str, Path], catalogue: MSDCatalogue, tmp_path: Path) -> None:
    triplets, splits = select_msd_users(msd["triplets"], catalogue, min_tracks=5)
    write_msd_users(tmp_path / "out", triplets, splits)
    assert read_triplets(tmp_path / "out" / "triplets.txt") == triplets
    assert load_splits(tmp_path / "out" / "splits.json") == splits
    assert read_json(tmp_path / "out" / "users.json") == {
        user_id("ua"): {"n_tracks": 10, "n_events": 55},
        user_id("ub"): {"n_tracks": 6, "n_events": 12},
    }


def test_malformed_triplets_line_is_reported(
    msd: dict[str, Path], catalogue: MSDCatalogue, tmp_path: Path
) -> None:
    bad = tmp_path / "bad_triplets.txt"
    bad.write_text(f"{user_id('ua')}\t{song_id(1)}\t3\n{user_id('ua')} {song_id(2)} 3\n")
    with pytest.raises(DataError, match=r"bad_triplets.txt:2"):
        select_msd_users(bad, catalogue, min_tracks=1)


def test_missing_inputs_are_data_errors(msd: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such audio folder"):
        MSDCatalogue(msd["db"], tmp_path / "nope")
    with pytest.raises(DataError, match="no such metadata file"):
        MSDCatalogue(tmp_path / "nope.db", msd["audio"])
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE songs (track_id text)").connection.commit()
    with pytest.raises(DataError, match="lacks"):
        MSDCatalogue(other, msd["audio"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no MSD snippets"):
        MSDCatalogue(msd["db"], tmp_path / "empty")


def test_recommender_trains_and_evaluates_on_msd(
    msd: dict[str, Path], catalogue: MSDCatalogue, monkeypatch
) -> None:
    from lemons.config import get_settings
    from recsys.data import load_dataset
    from recsys.eval import ex as eval_ex
    from recsys.experiment import ex as train_ex

    root = msd["db"].parent
    monkeypatch.setenv("LEMONS_MSD_DIR", str(root))
    get_settings.cache_clear()
    users_dir = root / "users"
    shutil.rmtree(users_dir, ignore_errors=True)
    with pytest.raises(DataError, match="lemons data msd-users"):
        load_dataset("msd")
    write_msd_users(users_dir, *select_msd_users(msd["triplets"], catalogue, min_tracks=5))
    user = user_id("ua")
    quick = {"user_name": user, "dataset": "msd", "progress": False, "device": "cpu"}
    train_ex.run(config_updates={**quick, "n_epochs": 1, "init": "scratch", "publish": True})
    result = eval_ex.run(config_updates=quick).result
    assert 0.0 <= result["all users"]["auc_mean"] <= 1.0
    report = read_json(get_settings().models_dir / f"{user}.eval.json")
    assert report["dataset"] == "msd" and not report["stale"]


def test_the_msd_folder_is_ranked_and_explained_from_the_command_line(
    msd: dict[str, Path], tmp_path: Path, monkeypatch, capsys
) -> None:
    from lemons.cli import main
    from lemons.config import PROJECT_ROOT, get_settings

    monkeypatch.setenv("LEMONS_MSD_DIR", str(msd["db"].parent))
    get_settings.cache_clear()
    # A persona's name (no history in the MSD) on an untrained FCN: the shipped persona models are
    # sure that the fixture's pure tones are not music they like, and a relevance of 0 for every
    # perturbation has nothing to explain.
    torch.manual_seed(0)
    shipped = load_checkpoint(PROJECT_ROOT / "models" / "marko.pt")
    model = str(tmp_path / "marko.pt")
    save_checkpoint(model, FCN(ModelArgs()), user="marko", dataset="builtin", config={}, metrics={},
                    data_fingerprint=shipped.data_fingerprint, selection="untrained", epoch=0)  # fmt: skip
    user = ["--user", "marko", "--model", model, "--catalogue", "msd", "--quiet"]
    assert main(["rank", *user, "--top", "3"]) == 0
    printed = capsys.readouterr().out
    assert "top 3 of 16 tracks for marko" in printed and "Artist " in printed and "left out" not in printed
    out = tmp_path / "explained"
    explain = ["--track", track_id(7), "--type", "time", "--n-samples", "16", "--out", str(out)]
    assert main(["explain", *user, *explain]) == 0
    report = read_json(out / "explanation.json")
    assert report["catalogue"] == "msd" and report["track"] == track_id(7) and report["title"] == "Title 7"
    assert report["separator"] is None and len(report["components"]) == 5
