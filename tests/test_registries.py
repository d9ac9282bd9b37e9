"""The registries of catalogues, separators and explanation types, and the command line reading them."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from explanations.audiolime.designs import DESIGNS
from explanations.audiolime.factorization import EXPLANATION_TYPES
from explanations.audiolime.separation import (
    SEPARATORS,
    ReferenceSeparator,
    SpleeterSeparator,
    available_separators,
    get_separator,
)
from lemons.catalogue import open_catalogue
from lemons.catalogue.builtin import BuiltinCatalogue
from lemons.catalogue.folder import FolderCatalogue
from lemons.catalogue.registry import CATALOGUES, CatalogueEntry, catalogue_names, dataset_names
from lemons.cli import build_parser
from lemons.config import get_settings
from lemons.errors import ConfigError, SeparationError
from lemons.registry import Registry


def test_the_catalogues_and_what_each_offers() -> None:
    assert CATALOGUES.names() == ("test", "builtin", "msd", "musdb18", "folder", "upload")
    offers = {e.name: (e.true_stems, e.dataset_name, e.held_out, e.location, e.setting) for e in CATALOGUES}
    assert offers == {
        "test": (True, "builtin", True, "setting", "catalogue_dir"),
        "builtin": (True, "builtin", False, "setting", "catalogue_dir"),
        "msd": (False, "msd", False, "setting", "msd_dir"),
        "musdb18": (True, None, False, "setting", "musdb_dir"),
        "folder": (False, None, False, "folder", "audio_folder"),
        "upload": (False, None, False, "upload", None),
    }
    assert dataset_names() == ("builtin", "msd")
    assert catalogue_names() == ("test", "builtin", "msd", "musdb18", "folder")
    assert catalogue_names(held_out=False) == ("builtin", "msd", "musdb18", "folder")


def test_a_catalogue_opens_from_its_setting_or_a_path(tiny_catalogue_dir: Path, monkeypatch) -> None:
    with pytest.raises(ConfigError, match=r"no folder for the msd catalogue: set msd_dir \(LEMONS_MSD_DIR"):
        open_catalogue("msd")
    assert not CATALOGUES["msd"].configured() and CATALOGUES["builtin"].configured()
    assert len(open_catalogue("builtin", tiny_catalogue_dir)) == 22
    monkeypatch.setenv("LEMONS_CATALOGUE_DIR", str(tiny_catalogue_dir))
    get_settings.cache_clear()
    assert isinstance(open_catalogue("builtin"), BuiltinCatalogue)
    with pytest.raises(ConfigError, match="unknown catalogue 'spotify'; use one of test, builtin, msd"):
        open_catalogue("spotify")


def test_a_folder_setting_naming_several_opens_the_first(tmp_path: Path, monkeypatch) -> None:
    import numpy as np
    import soundfile as sf

    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        sf.write(
            tmp_path / name / f"{name}.wav", 0.1 * np.random.default_rng(0).standard_normal(8_000 * 6), 8_000
        )
    assert not CATALOGUES["folder"].configured()
    monkeypatch.setenv("LEMONS_AUDIO_FOLDER", f"{tmp_path / 'one'}:{tmp_path / 'two'}")
    get_settings.cache_clear()
    assert CATALOGUES["folder"].configured()
    assert open_catalogue("folder").ids == ["one-wav"]


def test_the_separators_and_what_each_offers(tiny_catalogue_dir: Path, tmp_path: Path) -> None:
    assert SEPARATORS.names() == ("reference", "spleeter:5stems", "spleeter:4stems", "spleeter:2stems")
    reference = SEPARATORS["reference"]
    assert reference.true_stems and not reference.cacheable and reference.setting is None
    for name in SEPARATORS.names()[1:]:
        entry = SEPARATORS[name]
        assert entry.cacheable and not entry.true_stems and entry.setting == "spleeter_model_dir"
    catalogue = BuiltinCatalogue(tiny_catalogue_dir)
    assert available_separators(catalogue, tmp_path) == ["reference"]  # no Spleeter weights there
    assert isinstance(get_separator(None, catalogue, catalogue.ids[0], tmp_path), ReferenceSeparator)
    with pytest.raises(SeparationError, match="5stems weights are missing"):
        get_separator("spleeter:5stems", catalogue, catalogue.ids[0], tmp_path)
    assert ReferenceSeparator.true_stems and SpleeterSeparator.cacheable


def test_the_explanation_types() -> None:
    assert EXPLANATION_TYPES.names() == ("time", "source", "time+source")
    assert [t.needs_sources for t in EXPLANATION_TYPES] == [False, True, True]
    assert [t.label for t in EXPLANATION_TYPES] == ["Time", "Source", "Time + Source"]


def test_a_registry_refuses_a_second_entry_of_a_name_and_names_its_entries_when_asked_wrongly() -> None:
    registry: Registry[CatalogueEntry] = Registry("catalogue")
    entry = registry.register(CatalogueEntry("a", "A", FolderCatalogue, location="folder"))
    with pytest.raises(ValueError, match="a catalogue called 'a' is already registered"):
        registry.register(entry)
    with pytest.raises(ConfigError, match="unknown catalogue 'b'; use one of a"):
        registry["b"]
    assert registry.unregister("a") is entry and len(registry) == 0 and "a" not in registry


def subcommand(parser: argparse.ArgumentParser, *path: str) -> argparse.ArgumentParser:
    """The parser of the subcommand at ``path`` (``rank``; ``experiments stability``)."""
    for name in path:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


def choices(parser: argparse.ArgumentParser, *path: str) -> dict[str, tuple[str, ...]]:
    """``{option: choices}`` of the subcommand at ``path``."""
    sub = subcommand(parser, *path)
    return {a.option_strings[0]: tuple(a.choices) for a in sub._actions if a.option_strings and a.choices}


def test_the_command_lines_choices_come_from_the_registries() -> None:
    parser = build_parser()
    assert choices(parser, "rank")["--catalogue"] == catalogue_names()
    explain = choices(parser, "explain")
    assert explain["--catalogue"] == catalogue_names(held_out=False)
    assert explain["--separator"] == SEPARATORS.names()
    assert explain["--type"] == EXPLANATION_TYPES.names()
    assert choices(parser, "experiments", "stability")["--dataset"] == dataset_names()
    assert choices(parser, "experiments", "veracity")["--types"] == ("source", "time+source")
    assert choices(parser, "precompute", "rank")["--catalogue"] == catalogue_names()
    assert choices(parser, "precompute", "explain")["--types"] == EXPLANATION_TYPES.names()
    assert choices(parser, "precompute", "explain")["--separator"] == SEPARATORS.names()
    assert choices(parser, "precompute", "separate")["--separator"] == SEPARATORS.names()


def test_the_perturbation_designs_are_offered_to_their_study_only() -> None:
    parser = build_parser()
    study = choices(parser, "experiments", "sample-efficiency")
    assert study["--designs"] == DESIGNS.names() and study["--dataset"] == dataset_names()
    help_text = " ".join(subcommand(parser, "experiments", "sample-efficiency").format_help().split())
    assert "antithetic (pairs of a mask and its complement)" in help_text
    for path in (("explain",), ("experiments", "stability"), ("experiments", "faithfulness")):
        options = [o for a in subcommand(parser, *path)._actions for o in a.option_strings]
        assert "design" not in " ".join(options)  # SPEC's uniform masks until the study says otherwise


def test_an_entry_registered_in_one_module_appears_in_the_command_line(registered) -> None:
    parser = build_parser()
    assert "elsewhere" in choices(parser, "rank")["--catalogue"]
    assert "elsewhere" in choices(parser, "explain")["--catalogue"]
    assert "halves" in choices(parser, "explain")["--separator"]
    assert "halves" in choices(parser, "experiments", "veracity")["--separators"]
    assert "halves" in choices(parser, "precompute", "separate")["--separator"]
    assert "the mix cut in two" in subcommand(parser, "explain").format_help()
    assert available_separators(None)[-1] == "halves"
