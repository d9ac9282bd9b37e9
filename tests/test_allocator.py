"""The allocator tuning that makes large-tensor work about twice as fast on glibc systems.

It is an explicit call at the entry points, never a side effect of importing a package.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")

TUNED = "from lemons.allocator import is_tuned; print(is_tuned())"


def run(code: str, env: dict[str, str] | None = None) -> str:
    """The last line ``code`` prints, run in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **(env or {})}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_glibc_is_tuned_once_unless_the_user_opts_out() -> None:
    check = "from lemons.allocator import keep_freed_memory; print(keep_freed_memory(), keep_freed_memory())"
    assert run(check) == "True True"
    assert run(check, {"LEMONS_MALLOC_DEFAULTS": "1"}) == "False False"


def test_importing_the_packages_leaves_the_allocator_alone() -> None:
    imports = "import recsys.model, recsys.observers, explanations.audiolime.engine, lemons.cli"
    assert run(f"{imports}; {TUNED}") == "False"


@pytest.mark.parametrize(
    "entry",
    [
        "from lemons.cli import main; assert main(['config']) == 0",
        "from recsys.eval import ex; from recsys.observers import run_commandline; "
        "run_commandline(ex, ['eval.py', 'print_config'])",
    ],
    ids=["lemons", "sacred-script"],
)
def test_the_entry_points_tune_it_unless_the_user_opts_out(entry: str) -> None:
    assert run(f"{entry}; {TUNED}") == "True"
    assert run(f"{entry}; {TUNED}", {"LEMONS_MALLOC_DEFAULTS": "1"}) == "False"
