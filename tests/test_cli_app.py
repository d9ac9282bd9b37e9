"""``lemons app``: the demo page served with its modules already loaded."""

from __future__ import annotations

import ast
import subprocess
import sys

from lemons.cli.app import PAGE, page_imports

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
