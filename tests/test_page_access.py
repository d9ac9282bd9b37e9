"""The folders the demo page may open: only inside the operator's ``audio_folder`` folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from explanations.page.access import allowed_folders, check_tracks_inside, confined_folder
from lemons.catalogue.folder import FolderCatalogue
from lemons.config import get_settings
from lemons.errors import AccessError


@pytest.fixture()
def music(tmp_path: Path) -> Path:
    """An allowed folder with a sub-folder, beside a folder that is not allowed."""
    (tmp_path / "music" / "rock").mkdir(parents=True)
    (tmp_path / "private").mkdir()
    return tmp_path / "music"


def test_folders_inside_the_allowed_ones_are_opened(music: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    assert confined_folder(str(music), [music]) == music.resolve()
    assert confined_folder(str(music / "rock"), [music]) == (music / "rock").resolve()
    assert confined_folder("rock", [music]) == (music / "rock").resolve()  # relative: in the first
    assert confined_folder(str(other), [music, other]) == other.resolve()
    assert confined_folder(str(music / "rock" / "missing"), [music]) == (music / "rock" / "missing").resolve()


def test_a_folder_outside_is_refused(music: Path, tmp_path: Path) -> None:
    with pytest.raises(AccessError, match="outside the folders this page may open") as refused:
        confined_folder(str(tmp_path / "private"), [music])
    assert str(music) in str(refused.value)  # says which folders may be opened
    with pytest.raises(AccessError, match="outside"):
        confined_folder("/", [music])
    with pytest.raises(AccessError, match="outside"):
        confined_folder(str(music) + "-and-more", [music])  # a name that only begins like it


@pytest.mark.parametrize(
    "text", ["rock/../../private", "../private", "{music}/../private", "{music}/rock/.."]
)
def test_a_folder_written_with_dot_dot_is_refused(music: Path, text: str) -> None:
    with pytest.raises(AccessError, match=r"'\.\.' are not accepted"):
        confined_folder(text.format(music=music), [music])


def test_a_symbolic_link_leading_out_is_refused(music: Path, tmp_path: Path) -> None:
    (music / "link").symlink_to(tmp_path / "private")
    with pytest.raises(AccessError, match="symbolic link") as refused:
        confined_folder(str(music / "link"), [music])
    assert "private" not in str(refused.value)  # where it leads is not said
    (music / "inner").symlink_to(music / "rock")  # a link that stays inside is fine
    assert confined_folder(str(music / "inner"), [music]) == (music / "rock").resolve()


def test_an_allowed_folder_reached_through_a_link_is_opened(music: Path, tmp_path: Path) -> None:
    (tmp_path / "alias").symlink_to(music)
    assert (
        confined_folder(str(tmp_path / "alias" / "rock"), [tmp_path / "alias"]) == (music / "rock").resolve()
    )


def test_no_allowed_folder_means_no_folder(music: Path) -> None:
    assert allowed_folders() == ()
    with pytest.raises(AccessError, match="`audio_folder` setting"):
        confined_folder(str(music), allowed_folders())


def test_allowed_folders_come_from_the_setting(music: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LEMONS_AUDIO_FOLDER", f"{music}:{tmp_path / 'other'}")
    get_settings.cache_clear()
    assert allowed_folders() == (music, tmp_path / "other")


def test_a_file_linking_outside_makes_the_folder_refused(music: Path, tmp_path: Path) -> None:
    audio = 0.1 * np.random.default_rng(0).standard_normal(8_000 * 6)
    sf.write(music / "rock" / "take.wav", audio, 8_000)
    sf.write(tmp_path / "private" / "secret.wav", audio, 8_000)
    check_tracks_inside(FolderCatalogue(music / "rock"), music / "rock", [music])  # nothing leads out
    (music / "rock" / "borrowed.wav").symlink_to(tmp_path / "private" / "secret.wav")
    with pytest.raises(AccessError, match=r"1 file\(s\) are symbolic links .*borrowed\.wav"):
        check_tracks_inside(FolderCatalogue(music / "rock"), music / "rock", [music])
