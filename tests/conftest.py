"""Shared fixtures: isolated settings and small built-in catalogues generated once per session."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest

from lemons.allocator import keep_freed_memory
from lemons.config import get_settings


def pytest_sessionstart(session: pytest.Session) -> None:
    """Tune the allocator as the entry points do (the suite's inference then runs about twice as fast)."""
    keep_freed_memory()


@pytest.fixture(scope="session")
def empty_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("config") / "config.py"
    path.write_text("# no overrides\n")
    return path


@pytest.fixture(autouse=True)
def isolated_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory, empty_config
):
    """Every test sees default settings under a fresh home, whatever the caller's environment or config.py."""
    import os

    for key in list(os.environ):
        if key.startswith("LEMONS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("LEMONS_HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.setenv("LEMONS_CONFIG", str(empty_config))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _build(root: Path, n_tracks: int, duration: float) -> Path:
    from lemons.synth.build import build_catalogue

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a track failing to render must fail the fixture
        build_catalogue(root, n_tracks=n_tracks, seed=7, duration=duration, workers=2, progress=False)
    return root


@pytest.fixture(scope="session")
def tiny_catalogue_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """22 tracks (two per genre) of 6 s. Read-only: copy it (``catalogue_copy``) to change it."""
    return _build(tmp_path_factory.mktemp("tiny") / "catalogue", n_tracks=22, duration=6.0)


@pytest.fixture()
def catalogue_copy(tiny_catalogue_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "catalogue"
    shutil.copytree(tiny_catalogue_dir, target)
    return target


@pytest.fixture(scope="session")
def persona_catalogue_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default number of tracks, each 5 s long: the personas' tastes need a full-size catalogue."""
    from lemons.synth.build import DEFAULT_TRACKS

    return _build(tmp_path_factory.mktemp("personas") / "catalogue", n_tracks=DEFAULT_TRACKS, duration=5.0)


@pytest.fixture()
def shipped_models(tiny_catalogue_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shipped persona models over the tiny catalogue (set as models_dir and catalogue_dir)."""
    from lemons.config import PROJECT_ROOT

    monkeypatch.setenv("LEMONS_CATALOGUE_DIR", str(tiny_catalogue_dir))
    monkeypatch.setenv("LEMONS_MODELS_DIR", str(PROJECT_ROOT / "models"))
    get_settings.cache_clear()
    return PROJECT_ROOT / "models"


def fcn_with_statistics(seed: int):
    """An untrained FCN (eval mode) whose batch norms have non-trivial statistics, as after training."""
    import torch

    from recsys.model import FCN

    torch.manual_seed(seed)
    model = FCN()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model.eval()


#: The test user of the recommender tests: likes rock-family tracks of the tiny catalogue.
TEST_USER = "tester"


@pytest.fixture()
def recsys_catalogue(catalogue_copy: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the tiny catalogue with splits for :data:`TEST_USER`, set as the catalogue_dir."""
    from lemons.catalogue.builtin import BuiltinCatalogue
    from lemons.interactions import Triplet, load_splits, make_splits, save_splits, write_triplets

    catalogue = BuiltinCatalogue(catalogue_copy)
    liked = [t.id for t in catalogue if t.genre in ("rock", "metal", "punk", "pop", "blues")][:10]
    write_triplets(catalogue_copy / "taste_profile.txt", [Triplet(TEST_USER, t, 2) for t in liked])
    splits = load_splits(catalogue_copy / "splits.json")
    splits[TEST_USER] = make_splits(TEST_USER, liked, catalogue.ids, seed=0)
    save_splits(catalogue_copy / "splits.json", splits.values())
    monkeypatch.setenv("LEMONS_CATALOGUE_DIR", str(catalogue_copy))
    get_settings.cache_clear()
    return catalogue_copy


@pytest.fixture(scope="session")
def spleeter_model_dir() -> Path:
    """Deezer's official Spleeter 2stems weights, installed once into the project's default model dir
    (``lemons setup weights``; ``make test`` installs them first)."""
    from lemons.config import PROJECT_ROOT
    from lemons.weights import install_weights

    model_dir = PROJECT_ROOT / "data" / "pretrained_models"
    install_weights(model_dir, "2stems")
    return model_dir


@pytest.fixture()
def registered(tmp_path: Path):
    """A catalogue (``elsewhere``) and a separator (``halves``) registered as a module of one's own
    would register them; unregistered after the test."""
    import numpy as np

    from explanations.audiolime.separation import SEPARATORS, Separator, SeparatorEntry
    from lemons.catalogue.folder import FolderCatalogue
    from lemons.catalogue.registry import CATALOGUES, CatalogueEntry

    class HalfAndHalf(Separator):
        """Two sources, each half of the mix."""

        name = "halves"
        sources = ("left", "right")

        def separate(self, audio: np.ndarray, sr: int = 16_000) -> dict[str, np.ndarray]:
            return {"left": audio / 2, "right": audio / 2}

    catalogue = CATALOGUES.register(
        CatalogueEntry("elsewhere", "an elsewhere folder", FolderCatalogue, location="folder")
    )
    separator = SEPARATORS.register(
        SeparatorEntry("halves", "the mix cut in two", HalfAndHalf, lambda *_: HalfAndHalf(), lambda *_: True)
    )
    yield catalogue, separator
    CATALOGUES.unregister("elsewhere")
    SEPARATORS.unregister("halves")
