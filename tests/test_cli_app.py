"""``lemons app``: the demo page served with its modules loaded and the page run once."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import streamlit as st

from lemons.cli.app import PAGE, page_imports, rehearse
from lemons.config import get_settings

HEAVY_MODULE = next(  # the module whose absence makes the page show its loading notice
    node.value.value
    for node in ast.parse(PAGE.read_text()).body
    if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "HEAVY_MODULE"
)


def test_lemons_app_loads_what_the_page_imports_before_it_serves() -> None:
    names = page_imports()
    assert names[0] == "sys" and "streamlit" in names and HEAVY_MODULE in names
    assert "__future__" not in names and len(names) == len(set(names))
    script = (
        "import sys; from lemons.cli.app import load_page_modules; load_page_modules(); "
        f"print({HEAVY_MODULE!r} in sys.modules, 'lime.lime_base' in sys.modules)"
    )
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert loaded.stdout.split() == ["True", "True"]  # the page's first visitor is served at once


def test_lemons_app_runs_the_page_once_and_reports_what_it_showed_wrong(
    shipped_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEMONS_CACHE_DIR", str(tmp_path / "cache"))
    get_settings.cache_clear()
    seconds, errors = rehearse()
    assert seconds > 0 and errors == []
    assert list((tmp_path / "cache" / "scores").iterdir())  # the first page's rankings are cached

    monkeypatch.setenv("LEMONS_MODELS_DIR", str(tmp_path / "no-models"))
    get_settings.cache_clear()
    st.cache_resource.clear()
    _, errors = rehearse()
    assert errors and "marko" in errors[0]  # said, and the page is served all the same
