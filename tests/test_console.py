"""What reaches the terminal: native libraries' output kept back unless verbose, warnings as one line."""

from __future__ import annotations

import logging
import os
import warnings

import pytest

from lemons import console
from lemons.cli import build_parser


@pytest.fixture(autouse=True)
def not_verbose():
    console.set_verbose(None)
    yield
    console.set_verbose(None)


def test_what_native_code_writes_is_collected_not_shown(capfd) -> None:
    with console.native_output_captured() as output:
        os.write(2, b"I0000 cpu_feature_guard.cc:227] This TensorFlow binary is optimized\n")
        assert "cpu_feature_guard" in output()  # there for an error message
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"


def test_overlapping_captures_share_one_redirection(capfd) -> None:
    """Threads reading MP3s at once: standard error comes back when the last of them is done."""
    first, second = console.native_output_captured(), console.native_output_captured()
    with first as first_output:
        with second as second_output:
            os.write(2, b"note from the second reader\n")
        os.write(2, b"note from the first reader\n")
        assert "first reader" in first_output() and "second reader" in first_output()
        assert "second reader" in second_output()
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"


def test_verbose_lets_it_through(capfd, monkeypatch) -> None:
    monkeypatch.setenv("LEMONS_VERBOSE", "1")
    assert console.is_verbose()
    with console.native_output_captured() as output:
        os.write(2, b"oneDNN custom operations are on\n")
        assert output() == ""
    assert capfd.readouterr().err == "oneDNN custom operations are on\n"


def test_a_command_prints_warnings_as_single_lines(capsys) -> None:
    console.configure(verbose=False)
    try:
        logging.getLogger("lemons.catalogue.folder").warning(
            "%s: skipped 1 file:\n  %s", "/music", "x.mp3: …"
        )
        logging.getLogger("lemons.catalogue.folder").info("not shown")
        warnings.warn("a model trained on other data", UserWarning, stacklevel=1)
    finally:
        root = logging.getLogger()
        for handler in [h for h in root.handlers if isinstance(h, console._TerminalHandler)]:
            root.removeHandler(handler)
    assert capsys.readouterr().err == (
        "warning: /music: skipped 1 file:\n  x.mp3: …\nwarning: a model trained on other data\n"
    )


@pytest.mark.parametrize(
    ("argv", "verbose"),
    [(["config"], False), (["--verbose", "config"], True), (["config", "--verbose"], True),
     (["data", "validate", "--verbose"], True)],
)  # fmt: skip
def test_verbose_goes_before_or_after_the_command(argv: list[str], verbose: bool) -> None:
    assert build_parser().parse_args(argv).verbose is verbose
