"""``lemons precompute`` on a real Ray: a head started here (two CPUs, a temporary folder of its own),
the tiny catalogue, two workers. What is precomputed must be what the single-process commands give,
byte for byte, and then be served by them from the cache; a killed worker and a corrupt track must
not change that."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import explanations.audiolime.pipeline as pipeline
import recsys.ranking as ranking
from explanations.audiolime.pipeline import ExplainSettings, explain_track
from explanations.audiolime.separation import get_separator, separate_cached, separation_path
from explanations.precompute import ClusterOptions, jobs, precompute_rank, precompute_separate
from explanations.precompute.cluster import Batch, _gpus_per_worker, import_ray, one_by_one
from lemons.catalogue import open_catalogue
from lemons.cli import main
from lemons.config import PROJECT_ROOT, get_settings
from lemons.errors import ConfigError
from recsys.candidates import candidates
from recsys.checkpoint import find_model, load_checkpoint
from recsys.ranking import rank_tracks

USERS = ("nina", "elizabeth")
#: An explanation every track of the tiny catalogue gets in a second: three segments, 16 samples.
EXPLAIN_OPTIONS = ["--types", "time", "--segments", "3", "--n-samples", "16", "--top", "3"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _session_processes(sid: int) -> list[int]:
    """Processes of the session ``sid`` (the head and every worker it started)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getsid(int(entry)) == sid:
                    found.append(int(entry))
            except OSError:
                continue
    return found


def _title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@pytest.fixture(scope="module", autouse=True)
def ray_token():
    """Ray's token authentication with a token of these tests (Ray would otherwise keep one in ~/.ray)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_AUTH_MODE", "token")
        patch.setenv("RAY_AUTH_TOKEN", secrets.token_hex(32))
        yield


@pytest.fixture(scope="module")
def ray_head():
    """A Ray head on 127.0.0.1 with 2 CPUs, in a session of its own; yields ``(address, session id)``.

    Stopped by killing that session's processes (``ray stop`` would stop every Ray on the machine).
    """
    import ray  # a test requirement (requirements-dev.txt)

    temp_dir = tempfile.mkdtemp(prefix="lr-", dir="/tmp")  # Ray's socket paths must stay short
    port = _free_port()
    head = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "ray"), "start", "--head", "--port", str(port),
            "--node-ip-address", "127.0.0.1", "--num-cpus", "2", "--num-gpus", "0",
            "--temp-dir", temp_dir, "--include-dashboard=false", "--disable-usage-stats", "--block",
        ],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:  # the head is up when its GCS port answers
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if head.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the Ray head did not start") from None
            time.sleep(0.2)
    yield address, head.pid
    if ray.is_initialized():
        ray.shutdown()
    for pid in _session_processes(head.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    head.wait(timeout=30)
    shutil.rmtree(temp_dir, ignore_errors=True)


def _on(head: tuple[str, int]) -> list[str]:
    return ["--address", head[0], "--workers", "2", "--quiet"]


def _single_process_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, explain: bool) -> Path:
    """What ``lemons rank --include-history`` (and ``lemons explain`` of the top tracks) write into a
    cache folder of their own; the settings are put back to the test's cache folder after."""
    reference = tmp_path / "single-process"
    monkeypatch.setenv("LEMONS_CACHE_DIR", str(reference))
    get_settings.cache_clear()
    for user in USERS:
        assert main(["rank", "--user", user, "--include-history", "--quiet"]) == 0
        if explain:
            recommender = load_checkpoint(find_model(user))
            found = candidates("builtin", recommender, user)
            ranked = rank_tracks(
                recommender, found.catalogue, None, cache_dir=reference, progress=False, history=found.history
            )
            for item in ranked.top(3):
                explain_track(
                    recommender, found.catalogue, item.track_id, ExplainSettings("time", 16, 0, 3),
                    cache_dir=reference,
                )  # fmt: skip
    monkeypatch.delenv("LEMONS_CACHE_DIR")
    get_settings.cache_clear()
    return reference


def _files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.json"))}


def _without_timings(folder: Path) -> dict[str, dict]:
    found = {}
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        data["explanation"].pop("timings")
        found[path.name] = data
    return found


@pytest.mark.slow
def test_precomputed_rankings_and_explanations_equal_and_are_served_by_the_single_process_commands(
    ray_head, shipped_models, tmp_path, monkeypatch, capsys
):
    reference = _single_process_caches(tmp_path, monkeypatch, explain=True)
    capsys.readouterr()
    command = ["precompute", "explain", "--users", *USERS, *EXPLAIN_OPTIONS, *_on(ray_head)]
    assert main(command) == 0
    out = capsys.readouterr().out
    assert "rank: 44 scores computed, 0 already cached, 0 skipped" in out
    assert "explain: 6 explanations computed, 0 already cached, 0 skipped" in out
    assert "on 2 workers" in out

    cache_dir = get_settings().cache_dir
    # the same files as the single-process commands wrote: the scores byte for byte, the explanations
    # but for how long they took
    assert _files(cache_dir / "scores") == _files(reference / "scores")
    assert len(_files(reference / "explanations")) == 6
    assert _without_timings(cache_dir / "explanations") == _without_timings(reference / "explanations")

    # served from the cache: the page's and the commands' paths compute nothing any more
    def computes(*args, **kwargs):
        raise AssertionError("computed again what was precomputed")

    monkeypatch.setattr(ranking, "track_logits", computes)
    monkeypatch.setattr(pipeline, "explain", computes)
    catalogue = open_catalogue("builtin")
    for user in USERS:
        assert main(["rank", "--user", user, "--quiet"]) == 0
        top = [line.split()[2] for line in capsys.readouterr().out.splitlines()[1:4]]
        out_dir = tmp_path / "out" / user
        assert main(["explain", "--user", user, "--track", top[0], "--type", "time", "--segments", "3",
                     "--n-samples", "16", "--out", str(out_dir), "--quiet"]) == 0  # fmt: skip
        assert "(from the cache)" in capsys.readouterr().out
        recommender = load_checkpoint(find_model(user))
        for track in top[1:]:
            result = explain_track(
                recommender, catalogue, track, ExplainSettings("time", 16, 0, 3), cache_dir=cache_dir
            )
            assert result.cached

    # run again: everything is found in the cache
    assert main(command) == 0
    out = capsys.readouterr().out
    assert "rank: 0 scores computed, 44 already cached" in out
    assert "explain: 0 explanations computed, 6 already cached" in out


@pytest.mark.slow
def test_the_pages_first_views_and_top_3_explanations_are_served_precomputed(
    ray_head, shipped_models, monkeypatch, capsys
):
    """What the page first shows a persona (the ranking of its test tracks) and the explanations of its
    Top-3 with the page's default settings (time, N_s 2048, seed 0, five segments), precomputed for
    two personas, are then shown by the page without computing anything."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    users = ("marko", "nina")  # marko: the persona the page opens with
    command = ["precompute", "explain", "--users", *users, "--catalogue", "test", "--types", "time"]
    assert main([*command, *_on(ray_head)]) == 0

    def computes(*args, **kwargs):
        raise AssertionError("computed what was precomputed")

    monkeypatch.setattr(ranking, "track_logits", computes)
    monkeypatch.setattr(pipeline, "explain", computes)
    st.cache_data.clear()
    st.cache_resource.clear()
    page = AppTest.from_file(str(PROJECT_ROOT / "explanations" / "lemons.py"), default_timeout=240).run()
    for user in users:
        page.selectbox(key="persona").set_value(user).run()
        assert not page.exception and not page.error, (page.exception, page.error)
        assert page.radio(key="catalogue").value == "test" and len(page.table[-1].value) > 0
        page.radio(key="type").set_value("Time").run()
        capsys.readouterr()
        assert main(["rank", "--user", user, "--catalogue", "test", "--quiet"]) == 0  # served from the cache
        top = [line.split()[2] for line in capsys.readouterr().out.splitlines()[1:4]]
        tracks = page.selectbox(key="track")
        assert top and [tracks.format_func(track) for track in top] == tracks.options[: len(top)]
        for track in top:
            page.selectbox(key="track").set_value(track).run()
            page.button[0].click().run()
            assert not page.exception and not page.error, (page.exception, page.error)
            assert any("N_s = 2048" in c.value and "from the cache" in c.value for c in page.caption)


@pytest.mark.slow
def test_a_worker_killed_in_the_middle_of_a_task_loses_nothing(
    ray_head, shipped_models, tmp_path, monkeypatch
):
    reference = _single_process_caches(tmp_path, monkeypatch, explain=False)
    monkeypatch.setattr(jobs, "SAVE_EVERY_S", 0.0)  # the scores saved after every task, in any order
    killed: list[int] = []
    stop = threading.Event()

    def kill_a_busy_worker() -> None:  # as soon as a worker is scoring, kill it
        while not stop.is_set() and not killed:
            for pid in _session_processes(ray_head[1]):
                if _title(pid).startswith("ray::PrecomputeWorker.score"):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    break
            time.sleep(0.02)

    killer = threading.Thread(target=kill_a_busy_worker, daemon=True)
    killer.start()
    try:
        report = precompute_rank(
            "builtin", USERS, options=ClusterOptions(address=ray_head[0], workers=2), progress=False
        )
    finally:
        stop.set()
        killer.join()
    assert killed, "no worker was seen scoring"
    assert (report.computed, report.cached, report.skipped) == (44, 0, [])
    assert _files(get_settings().cache_dir / "scores") == _files(reference / "scores")


@pytest.mark.slow
def test_a_corrupt_track_is_reported_and_skipped_on_a_local_ray(catalogue_copy, monkeypatch, capsys):
    monkeypatch.setenv("LEMONS_CATALOGUE_DIR", str(catalogue_copy))
    monkeypatch.setenv("LEMONS_MODELS_DIR", str(PROJECT_ROOT / "models"))
    get_settings.cache_clear()
    mix = catalogue_copy / "audio" / "LM00005" / "mix.flac"
    mix.write_bytes(b"fLaC" + b"\0garbage" * 64)
    command = ["precompute", "rank", "--users", "nina", "--workers", "2", "--quiet"]  # no --address
    assert main(command) == 0
    printed = capsys.readouterr()
    assert "rank: 21 scores computed, 0 already cached, 1 skipped" in printed.out
    assert "on a local Ray" in printed.out
    assert "skipped LM00005:" in printed.err and "mix.flac" in printed.err


@pytest.mark.slow
def test_separations_are_precomputed_into_the_separation_cache(ray_head, shipped_models, registered):
    options = ClusterOptions(address=ray_head[0], workers=2)
    report = precompute_separate("builtin", "halves", options=options, progress=False)
    assert (report.computed, report.cached, report.skipped) == (22, 0, [])
    cache_dir = get_settings().cache_dir
    catalogue = open_catalogue("builtin")
    for track_id in catalogue.ids[:3]:  # what explaining the track would read
        audio = catalogue.load_audio(track_id)
        separator = get_separator("halves", catalogue, track_id)
        assert separation_path(separator, audio, 16_000, cache_dir).is_file()
        cached = separate_cached(separator, audio, 16_000, cache_dir)
        np.testing.assert_array_equal(cached.stems, separator.separation(audio).stems)
    again = precompute_separate("builtin", "halves", options=options, progress=False)
    assert (again.computed, again.cached) == (0, 22)


def test_the_true_stems_are_not_precomputed(shipped_models):
    with pytest.raises(ConfigError, match="reference separator is read as it is"):
        precompute_separate("builtin", "reference")


def test_without_ray_the_command_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError, match=r"pip install '\.\[scale\]'"):
        import_ray()


def test_a_failed_batch_is_run_again_item_by_item():
    assert one_by_one(Batch(("a", "b", "c"), 7)) == [Batch(("a",), 3), Batch(("b",), 2), Batch(("c",), 2)]
    assert one_by_one(Batch(("a",), 5)) == []


def test_cluster_options_are_checked():
    with pytest.raises(ConfigError, match="workers"):
        ClusterOptions(workers=0)
    with pytest.raises(ConfigError, match="gpus"):
        ClusterOptions(gpus_per_worker=-1)


def test_workers_share_the_gpus_there_are_and_run_on_cpu_without():
    assert _gpus_per_worker(ClusterOptions(), cluster_gpus=2, workers=4) == 0.5
    assert _gpus_per_worker(ClusterOptions(), cluster_gpus=8, workers=4) == 1.0
    assert _gpus_per_worker(ClusterOptions(), cluster_gpus=0, workers=4) == 0.0
    assert _gpus_per_worker(ClusterOptions(gpus_per_worker=0.25), cluster_gpus=1, workers=8) == 0.25
    with pytest.warns(UserWarning, match="no GPU; the workers run on CPU"):
        assert _gpus_per_worker(ClusterOptions(gpus_per_worker=1), cluster_gpus=0, workers=2) == 0.0
