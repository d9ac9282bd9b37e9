"""One record of what the virtual environment holds: `make demo` after `make test` (and again after
`make demo`) installs nothing, while a changed requirement or another checkout installs again."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lemons.config import PROJECT_ROOT

SCRIPTS = PROJECT_ROOT / "scripts"
spec = importlib.util.spec_from_file_location("venv_stamp", SCRIPTS / "venv_stamp.py")
venv_stamp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(venv_stamp)

INPUTS = ("requirements.txt", "requirements-scale.txt", "requirements-dev.txt", "constraints.txt", "setup.py")


@pytest.fixture()
def checkout(tmp_path: Path) -> Path:
    """A copy of the checkout's requirement files, to change them."""
    root = tmp_path / "checkout"
    root.mkdir()
    for name in INPUTS:
        shutil.copy(PROJECT_ROOT / name, root / name)
    return root


def test_the_dev_requirements_include_the_runtime_ones_and_ray() -> None:
    assert venv_stamp.included(PROJECT_ROOT, "requirements-dev.txt") == [
        "requirements-dev.txt",
        "requirements.txt",
        "requirements-scale.txt",
    ]
    assert venv_stamp.included(PROJECT_ROOT, "requirements.txt") == ["requirements.txt"]


def test_demo_after_test_after_demo_installs_only_what_is_new(checkout: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    venv.mkdir()

    def current(name: str) -> bool:
        return venv_stamp.is_current(venv, checkout, name)

    assert not current("requirements.txt")  # a new venv: make demo installs
    venv_stamp.record(venv, checkout, "requirements.txt")
    assert current("requirements.txt") and not current("requirements-dev.txt")  # make test adds its tools
    venv_stamp.record(venv, checkout, "requirements-dev.txt")
    assert current("requirements.txt") and current("requirements-dev.txt")  # make demo again: nothing


def test_the_dev_install_covers_the_runtime_requirements(checkout: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    venv.mkdir()
    venv_stamp.record(venv, checkout, "requirements-dev.txt")  # make test on a fresh clone
    assert venv_stamp.is_current(venv, checkout, "requirements.txt")  # then make demo: nothing to do


@pytest.mark.parametrize(
    ("changed", "stale"),
    [
        ("requirements.txt", {"requirements.txt", "requirements-dev.txt"}),
        ("requirements-dev.txt", {"requirements-dev.txt"}),
        ("requirements-scale.txt", {"requirements-dev.txt"}),  # Ray: the tests', not the demo's
        ("constraints.txt", {"requirements.txt", "requirements-dev.txt"}),
        ("setup.py", {"requirements.txt", "requirements-dev.txt"}),
    ],
)
def test_a_changed_input_installs_again(
    checkout: Path, tmp_path: Path, changed: str, stale: set[str]
) -> None:
    venv = tmp_path / "venv"
    venv.mkdir()
    venv_stamp.record(venv, checkout, "requirements-dev.txt")
    with open(checkout / changed, "a") as handle:
        handle.write("\n# changed\n")
    assert {
        n
        for n in ("requirements.txt", "requirements-dev.txt")
        if not venv_stamp.is_current(venv, checkout, n)
    } == stale


def test_another_checkout_or_an_unreadable_stamp_installs_again(checkout: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    venv.mkdir()
    venv_stamp.record(venv, checkout, "requirements-dev.txt")
    moved = tmp_path / "moved"
    shutil.copytree(checkout, moved)
    assert not venv_stamp.is_current(venv, moved, "requirements.txt")  # the editable install points elsewhere
    (venv / venv_stamp.STAMP).write_text("0123abcd /old/checkout requirements.txt\n")  # an older stamp
    assert not venv_stamp.is_current(venv, checkout, "requirements.txt")


def test_ensure_venv_skips_an_install_recorded_by_the_other_target(tmp_path: Path) -> None:
    """The real script on a venv whose record says `make test` ran: `make demo`'s step does nothing."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    venv_stamp.record(venv, PROJECT_ROOT, "requirements-dev.txt")
    before = (venv / venv_stamp.STAMP).read_text()
    result = subprocess.run(
        ["bash", str(SCRIPTS / "ensure-venv.sh"), str(venv), sys.executable, "requirements.txt"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("virtual environment: up to date")
    assert (venv / venv_stamp.STAMP).read_text() == before and sorted(p.name for p in venv.iterdir()) == [
        venv_stamp.STAMP,
        "bin",
    ]
