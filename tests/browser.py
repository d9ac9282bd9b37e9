"""The demo page served by ``streamlit run`` and visited in headless Chromium (Debian's, driven by
Playwright through ``executable_path``: no browser is downloaded).

Used by the browser tests and by ``benchmarks/page_load_bench.py``: :func:`served_page` starts the
server, :func:`visit` walks one visitor through the page (persona, catalogue, explanation) and
times each step, :func:`visitors` sends several at once, each in a browser context of its own (a
session of its own on the server).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lemons.config import PROJECT_ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
#: How long a visitor waits for one step (seconds): five visitors share two cores.
STEP_TIMEOUT_S = 600
#: What the page shows when a step failed: an exception (a traceback) or an error message.
FAILURES = '[data-testid="stException"], [data-testid="stAlertContentError"]'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def served_page(catalogue_dir: Path, models_dir: Path, cache_dir: Path, workdir: Path) -> Iterator[str]:
    """``streamlit run explanations/lemons.py`` on 127.0.0.1 over ``catalogue_dir`` with the models of
    ``models_dir``; yields its URL. The server runs in ``workdir`` with the project's Streamlit
    settings; its output is in ``workdir/streamlit.log``."""
    port = free_port()
    env = {
        **os.environ,
        "LEMONS_CATALOGUE_DIR": str(catalogue_dir),
        "LEMONS_MODELS_DIR": str(models_dir),
        "LEMONS_CACHE_DIR": str(cache_dir),
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    }
    command = [
        sys.executable, "-m", "streamlit", "run", str(PROJECT_ROOT / "explanations" / "lemons.py"),
        "--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(port),
    ]  # fmt: skip
    (workdir / ".streamlit").mkdir(parents=True, exist_ok=True)  # read from the working folder
    shutil.copy(PROJECT_ROOT / ".streamlit" / "config.toml", workdir / ".streamlit" / "config.toml")
    log_path = workdir / "streamlit.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(240):
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as response:
                        if response.status == 200:
                            break
                except OSError:
                    time.sleep(0.5)
            else:
                raise AssertionError("streamlit did not start:\n" + log_path.read_text())
            yield url
        finally:
            server.terminate()
            server.wait(timeout=60)


@dataclass(frozen=True)
class Plan:
    """What one visitor does: the persona, the catalogue (its description on the page), the
    explanation type (its label) and N_s; ``leave_early``: close the page right after pressing
    **Compute Explanation**."""

    persona: str
    catalogue: str = "the whole built-in catalogue"
    explanation: str = "Time"
    n_samples: int = 2048
    leave_early: bool = False


@dataclass
class Visit:
    """What happened to one visitor: seconds per step, the failures the page showed, and the caption
    of the explanation (says whether it was computed or came from the cache)."""

    plan: Plan
    seconds: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    caption: str = ""


async def _idle(page) -> None:
    """Wait until the run of the page's script that a change started has finished: Streamlit's
    "Running..." icon appears (unless the run was over first) and is gone again."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    running = page.get_by_test_id("stStatusWidgetRunningIcon")
    try:
        await running.wait_for(state="attached", timeout=2000)
    except PlaywrightTimeout:
        pass  # a run of less than the icon's delay
    await running.wait_for(state="detached", timeout=STEP_TIMEOUT_S * 1000)


async def visit(browser, url: str, plan: Plan) -> Visit:
    """One visitor's walk through the page in a context of its own; times each step."""
    from playwright.async_api import expect

    result = Visit(plan)
    context = await browser.new_context(viewport={"width": 1280, "height": 3000})
    page = await context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_S * 1000)
    timeout = {"timeout": STEP_TIMEOUT_S * 1000}

    async def step(name: str, action) -> None:
        started = time.perf_counter()
        await action()
        result.seconds[name] = time.perf_counter() - started

    async def first_render() -> None:
        await page.goto(url)
        await expect(page.get_by_text("listening events")).to_be_visible(**timeout)
        await expect(page.get_by_text("relevance for you")).to_be_visible(**timeout)

    async def persona() -> None:
        await page.get_by_label("persona").click()  # the selectbox's input
        await page.get_by_role("option", name=f"{plan.persona.capitalize()} — ").click()
        await expect(page.get_by_role("heading", name=plan.persona.capitalize(), exact=True)).to_be_visible(
            **timeout
        )
        await _idle(page)

    async def catalogue() -> None:
        await page.get_by_text(plan.catalogue, exact=True).click()
        await _idle(page)

    async def explanation() -> None:
        await page.get_by_text("advanced").click()
        n_samples = page.get_by_label("perturbations N_s")
        await n_samples.fill(str(plan.n_samples))
        await n_samples.press("Enter")
        await _idle(page)
        await page.get_by_text(plan.explanation, exact=True).click()
        await _idle(page)
        await page.get_by_role("button", name="Compute Explanation").click()
        if plan.leave_early:
            await page.wait_for_timeout(500)  # the computation has started on the server
            return
        await expect(page.get_by_text("fidelity:")).to_be_visible(**timeout)
        result.caption = await page.get_by_text(f"N_s = {plan.n_samples}").first.inner_text()

    try:
        await step("first render", first_render)
        await step("persona", persona)
        await step("catalogue", catalogue)
        await step("explanation", explanation)
        if not plan.leave_early:
            result.failures = [await f.inner_text() for f in await page.locator(FAILURES).all()]
    except Exception as exc:  # a step that never finished is a failure of the visit, not of the driver
        result.failures.append(f"{type(exc).__name__}: {exc}")
    finally:
        await context.close()
    return result


def visitors(url: str, plans: list[Plan]) -> list[Visit]:
    """Every plan's visitor at once, in one headless Chromium."""
    from playwright.async_api import async_playwright

    async def run() -> list[Visit]:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            try:
                return list(await asyncio.gather(*(visit(browser, url, plan) for plan in plans)))
            finally:
                await browser.close()

    return asyncio.run(run())
