"""``lemons app``: serve the demo page, with its modules loaded and the page run once before the
first visitor arrives.

``streamlit run explanations/lemons.py`` imports the page's modules (PyTorch, the recommender, the
explainer) when the first visitor opens the page, who waits for them: most of a first render. And the
page's first run in a process does more than any later one (Matplotlib loads its fonts for the
pictures, the recommender and the catalogue are opened, the rankings read). ``lemons app`` imports
the modules into the server process, runs the page once there without a browser (Streamlit's own
test runner), and then starts the same Streamlit server on the same page, so the first visitor is
served like any later one.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import logging
import time
from pathlib import Path

import explanations
from lemons.cli.options import Commands

#: The demo page's script.
PAGE = Path(explanations.__file__).resolve().parent / "lemons.py"
#: Modules the page imports on first use (the explainer's surrogate), loaded ahead too.
LOADED_ON_FIRST_USE = ("lime.lime_base", "sklearn.linear_model", "sklearn.metrics")
#: Streamlit's settings for the demo (the server binds to the given address and port only).
STREAMLIT_FLAGS = ("--server.headless", "true", "--browser.gatherUsageStats", "false",
                   "--client.toolbarMode", "viewer")  # fmt: skip


def page_imports(page: Path = PAGE) -> list[str]:
    """The modules the page's script imports at its top level, in the order it imports them."""
    names = []
    for node in ast.parse(page.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return [name for name in dict.fromkeys(names) if name != "__future__"]


def load_page_modules(page: Path = PAGE) -> float:
    """Import what the page imports (and :data:`LOADED_ON_FIRST_USE`); returns the seconds it took."""
    started = time.perf_counter()
    for name in (*page_imports(page), *LOADED_ON_FIRST_USE):
        importlib.import_module(name)
    return time.perf_counter() - started


#: How long the page's run without a browser may take (a first ranking on an empty cache included).
REHEARSAL_TIMEOUT_S = 600


def rehearse(page: Path = PAGE) -> tuple[float, list[str]]:
    """Run the page once in this process, as its first visitor would but without a browser; returns
    the seconds it took and the errors the page showed (it is served all the same)."""
    from streamlit.testing.v1 import AppTest

    started = time.perf_counter()
    bare = logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context")
    level = bare.level
    bare.setLevel(logging.ERROR)  # not "missing ScriptRunContext": a run without a browser has none
    try:
        run = AppTest.from_file(str(page), default_timeout=REHEARSAL_TIMEOUT_S).run()
    finally:
        bare.setLevel(level)
    errors = [element.value for element in (*run.exception, *run.error)]
    return time.perf_counter() - started, [str(e).partition("\n")[0] for e in errors]


def cmd_app(args: argparse.Namespace) -> int:
    """Load the page's modules and run the page once, then serve it with Streamlit until interrupted."""
    seconds = load_page_modules()
    print(f"loaded the page's modules in {seconds:.1f} s")
    from streamlit.web import bootstrap
    from streamlit.web import cli as streamlit_cli

    extra = args.streamlit_options[1:] if args.streamlit_options[:1] == ["--"] else args.streamlit_options
    flags = ["--server.address", args.address, "--server.port", str(args.port), *STREAMLIT_FLAGS, *extra]
    command = ["run", str(PAGE), *flags]
    # the page's run below reads Streamlit's settings: read them as the server will, flags included
    options = streamlit_cli.main_run.make_context("run", command[1:]).params
    bootstrap.load_config_options({k: v for k, v in options.items() if k not in ("target", "args")})
    print("running the page once before serving it (on an empty cache it ranks the first persona's tracks)…")
    seconds, errors = rehearse()
    print(f"ran the page once in {seconds:.1f} s" + "".join(f"\n  the page says: {e}" for e in errors))
    streamlit_cli.main(args=command, prog_name="streamlit", standalone_mode=False)
    return 0


def add_commands(commands: Commands) -> None:
    """Add ``app``."""
    sub = commands.add_parser(
        "app",
        help="serve the demo page (as `streamlit run explanations/lemons.py`, its modules loaded first)",
        description="Serve the demo page. Streamlit options go after `--`, e.g. "
        "`lemons app --port 8600 -- --server.maxUploadSize 20`.",
    )
    sub.add_argument("--address", default="127.0.0.1", help="address to serve on (127.0.0.1: this machine)")
    sub.add_argument("--port", type=int, default=8501, help="port to serve on (8501)")
    sub.add_argument("streamlit_options", nargs=argparse.REMAINDER, help="Streamlit's own options, after --")
    sub.set_defaults(func=cmd_app)
