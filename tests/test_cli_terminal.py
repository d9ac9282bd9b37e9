"""What the command line prints on a folder of one's own recordings: each skipped file once with its
reason, the recordings' own tags, and none of what native libraries write unless ``--verbose``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from lemons.cli import main as lemons_main
from lemons.config import PROJECT_ROOT
from recsys.checkpoint import save_checkpoint
from recsys.model import FCN, ModelArgs
from tests.test_catalogue_folder import tagged_mp3


@pytest.fixture()
def recordings(tmp_path: Path) -> Path:
    """A tagged MP3, an untagged WAV in the root, a damaged Ogg and an HTML page saved as ``.mp3``."""
    root = tmp_path / "recordings"
    tagged_mp3(root / "01.mp3", {"TIT2": "Blue in Green", "TPE1": "Miles Davis", "TCON": "Jazz"})
    rng = np.random.default_rng(1)
    sf.write(root / "jam.wav", 0.1 * rng.standard_normal(16_000 * 6).astype(np.float32), 16_000)
    sf.write(root / "cut.ogg", 0.1 * rng.standard_normal(16_000 * 6).astype(np.float32), 16_000)
    (root / "cut.ogg").write_bytes((root / "cut.ogg").read_bytes()[:500])
    (root / "download.mp3").write_text("<!DOCTYPE html><html><body>Sign in to continue</body></html>")
    return root


def skipped_lines(err: str) -> list[str]:
    """The report of skipped files: its header and one line per file."""
    lines = err.splitlines()
    start = next(i for i, line in enumerate(lines) if "skipped" in line)
    return lines[start : start + 3]


def test_rank_names_each_skipped_file_once_and_shows_the_tags(
    shipped_models, recordings: Path, capfd
) -> None:
    args = ["rank", "--user", "nina", "--catalogue", "folder", "--path", str(recordings), "--quiet"]
    assert lemons_main(args) == 0
    out, err = capfd.readouterr()
    assert skipped_lines(err) == [
        f"warning: {recordings}: skipped 2 files:",
        f"  {recordings / 'cut.ogg'}: unreadable or corrupt Ogg file (Supported file format but file is "
        "malformed.); re-export or replace it",
        f"  {recordings / 'download.mp3'}: is not an audio file: its content is an HTML page, not MP3 as its "
        "extension says; replace it with the recording or move it out of the way",
    ]
    assert len(err.splitlines()) == 3 and "Warning" not in err  # nothing else: no Python warning
    assert out.startswith("top 2 of 2 tracks for nina:")
    rows = {line.split()[2]: line for line in out.splitlines()[1:]}
    assert rows["01-mp3"].endswith("01-mp3  Miles Davis - Blue in Green  [Jazz]")
    assert rows["jam-wav"].endswith("jam-wav  jam")  # no empty artist, no empty genre


def run_lemons(args: list[str], **env: str) -> subprocess.CompletedProcess:
    """``lemons ARGS`` in a process of its own (TensorFlow reads its log level once per process)."""
    environment = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **env}
    return subprocess.run(
        [sys.executable, "-m", "lemons.cli", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=PROJECT_ROOT,
        timeout=600,
    )


@pytest.mark.slow
def test_spleeter_explanations_keep_tensorflow_quiet_unless_verbose(
    shipped_models, recordings: Path, spleeter_model_dir: Path, tmp_path: Path
) -> None:
    # nina's name on an untrained FCN: the shipped models give the fixture's tone a relevance of 0 for
    # every perturbation, which has nothing to explain; this test is about what reaches the terminal
    torch.manual_seed(0)
    model = tmp_path / "nina.pt"
    save_checkpoint(model, FCN(ModelArgs()), user="nina", dataset="builtin", config={}, metrics={},
                    data_fingerprint="", selection="untrained", epoch=0)  # fmt: skip
    args = [
        "explain", "--user", "nina", "--model", str(model), "--catalogue", "folder",
        "--path", str(recordings), "--track", "01-mp3", "--type", "source",
        "--separator", "spleeter:2stems", "--n-samples", "32", "--quiet",
    ]  # fmt: skip
    # TensorFlow told to log everything: LEMONS still keeps it off the terminal
    env = {"LEMONS_SPLEETER_MODEL_DIR": str(spleeter_model_dir), "TF_CPP_MIN_LOG_LEVEL": "0"}
    quiet = run_lemons([*args, "--out", str(tmp_path / "quiet")], **env, LEMONS_CACHE_DIR=str(tmp_path / "a"))
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.startswith("01-mp3 (Miles Davis - Blue in Green) for nina:")
    assert len(quiet.stderr.splitlines()) == 3 and "skipped 2 files" in quiet.stderr
    verbose = run_lemons(
        [*args, "--out", str(tmp_path / "verbose"), "--verbose"], **env, LEMONS_CACHE_DIR=str(tmp_path / "b")
    )
    assert verbose.returncode == 0, verbose.stderr
    assert len(verbose.stderr.splitlines()) > 3  # TensorFlow's own lines come through
