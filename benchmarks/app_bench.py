"""What a visitor of the page waits for, on an empty cache, after the caches were warmed, and on a
cache that holds everything; and ``lemons explain``.

Serves ``explanations/lemons.py`` with ``lemons app`` (as ``make app`` does) and drives it in
headless Chromium (as the browser tests do): first render, a persona switch, the switch to the whole
catalogue, then for each explanation type: choosing it, computing it, asking for it again (from the
cache). Three times, each with the server started anew: on an empty cache; on the rankings that run
left but no explanations (what a newcomer meets after ``make demo``, which warms the rankings); on
everything the first run left. Then ``lemons explain`` of the persona's first test track per type,
computed and cached. One table, with the CPU it ran on.

    python benchmarks/app_bench.py                                  # the built-in catalogue
    python benchmarks/app_bench.py --persona elizabeth --n-samples 2048
    python benchmarks/app_bench.py --device cuda                   # the page and the CLI on a GPU
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.page_load_bench import cpu_name
from lemons.config import get_settings
from recsys.data import load_dataset
from tests.browser import CHROMIUM, CHROMIUM_FLAGS, PageDriver, served_page

TYPES = ("Time", "Source", "Time + Source")
CLI_TYPES = {"Time": "time", "Source": "source", "Time + Source": "time+source"}


async def walk(url: str, persona: str, n_samples: int) -> tuple[dict[str, float], list[str]]:
    """Seconds per step of one visitor, and what failed."""
    from playwright.async_api import async_playwright

    seconds: dict[str, float] = {}

    async def step(name: str, action) -> object:
        started = time.perf_counter()
        result = await action
        seconds[name] = time.perf_counter() - started
        return result

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        driver = await PageDriver.open(browser)
        try:
            await step("first render", driver.first_render(url))
            await step("persona switch", driver.persona(persona))
            await step("catalogue switch (whole catalogue)", driver.catalogue("the whole built-in catalogue"))
            await driver.n_samples(n_samples)
            for kind in TYPES:
                await step(f"{kind}: choosing the type", driver.choose(kind))
                caption = await step(f"{kind} explanation", driver.explain(kind))
                caption_again = await step(f"{kind} explanation, asked again", driver.explain(kind))
                if "from the cache" not in str(caption_again):
                    raise AssertionError(f"asked again, {kind} was not served from the cache: {caption}")
            failures = await driver.failures()
        finally:
            await browser.close()
    return seconds, failures


def lemons_explain(persona: str, track: str, kind: str, n_samples: int, out: Path) -> float:
    """Seconds of ``lemons explain`` of a track for a persona (the command, started anew)."""
    started = time.perf_counter()
    subprocess.run(
        [str(Path(sys.executable).parent / "lemons"), "explain", "--user", persona, "--track", track,
         "--type", kind, "--n-samples", str(n_samples), "--out", str(out), "--quiet"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--catalogue-dir", type=Path, help="a built-in catalogue (default: its setting)")
    parser.add_argument("--persona", default="elizabeth", help="the persona switched to (elizabeth)")
    parser.add_argument("--n-samples", type=int, default=2048, help="N_s of the explanations (2048)")
    parser.add_argument("--device", help="cpu | cuda (default: the device setting)")
    args = parser.parse_args()
    if args.device:
        os.environ["LEMONS_DEVICE"] = args.device
        get_settings.cache_clear()
    settings = get_settings()
    catalogue_dir = args.catalogue_dir or settings.catalogue_dir
    rows: dict[str, list[str]] = {}  # page steps: one time per run of the server
    commands: dict[str, list[str]] = {}  # lemons explain: computed, then from the cache
    failed = False
    with tempfile.TemporaryDirectory(prefix="lemons-app-") as temp:
        cache_dir, rankings_only = Path(temp) / "cache", Path(temp) / "rankings-cache"
        for run, cache in (("empty", cache_dir), ("rankings", rankings_only), ("everything", cache_dir)):
            with served_page(catalogue_dir, settings.models_dir, cache, Path(temp) / run) as url:
                seconds, failures = asyncio.run(walk(url, args.persona, args.n_samples))
            failed |= bool(failures)
            for step, value in seconds.items():
                rows.setdefault(f"page: {step}", []).append(f"{value:.1f} s")
            if run == "empty":  # the rankings it left, without its explanations (linked, not copied)
                ignore = shutil.ignore_patterns("explanations")
                shutil.copytree(cache_dir, rankings_only, ignore=ignore, copy_function=os.link)
        os.environ["LEMONS_CACHE_DIR"] = str(Path(temp) / "cli-cache")
        os.environ["LEMONS_CATALOGUE_DIR"] = str(catalogue_dir)
        get_settings.cache_clear()
        track = load_dataset("builtin").user(args.persona).ids("test")[0]
        for kind in TYPES:
            for _ in ("computed", "cached"):
                out = Path(temp) / "out"
                took = lemons_explain(args.persona, track, CLI_TYPES[kind], args.n_samples, out)
                commands.setdefault(f"lemons explain --type {CLI_TYPES[kind]}", []).append(f"{took:.1f} s")
    print(
        f"CPU: {cpu_name()}; device: {settings.device}; persona {args.persona}; N_s = {args.n_samples}; "
        f"catalogue {catalogue_dir}"
    )
    print("| page step | empty cache | rankings cached (after `make demo`) | everything cached |")
    print("|---|---|---|---|")
    for step, values in rows.items():
        print(f"| {step} | " + " | ".join(values) + " |")
    print("\n| command (a new process each) | computed | from the cache |")
    print("|---|---|---|")
    for command, values in commands.items():
        print(f"| {command} | " + " | ".join(values) + " |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
