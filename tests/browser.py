"""The demo page served by ``lemons app`` and visited in headless Chromium (Debian's, driven by
Playwright through ``executable_path``: no browser is downloaded).

Used by the browser tests and by the page benchmarks (``benchmarks/page_load_bench.py``,
``benchmarks/app_bench.py``): :func:`served_page` starts the server, :class:`PageDriver` takes the
steps of a walk through the page, :func:`visit` walks one visitor through it (persona, catalogue,
explanation) and times each step, :func:`visitors` sends several at once, each in a browser context
of its own (a session of its own on the server).
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
    """The demo page served as ``make app`` serves it (``lemons app``: ``streamlit run
    explanations/lemons.py``, the page's modules loaded first) on 127.0.0.1 over ``catalogue_dir``
    with the models of ``models_dir``; yields its URL. The server runs in ``workdir`` with the
    project's Streamlit settings; its output is in ``workdir/streamlit.log``."""
    port = free_port()
    env = {
        **os.environ,
        "LEMONS_CATALOGUE_DIR": str(catalogue_dir),
        "LEMONS_MODELS_DIR": str(models_dir),
        "LEMONS_CACHE_DIR": str(cache_dir),
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    }
    command = [sys.executable, "-m", "lemons.cli", "app", "--address", "127.0.0.1", "--port", str(port)]
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


#: An action that has not started a run of the page's script after this long (seconds) started none.
NO_RUN_S = 2.0
#: The two frames after a script run's last message: the browser has drawn what the run sent.
DRAWN = "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"


class PageDriver:
    """One visitor's page (a browser context of its own, so a session of its own on the server) and
    the steps of a walk through it; each step returns once the page has finished running.

    A step ends when the server says so: the driver reads the page's websocket and counts the
    ``script_finished`` messages of the runs (whole page or fragment) that were not cut short by a
    newer one, then waits for the browser to draw what they sent.
    """

    def __init__(self, page) -> None:
        self.page = page
        self.timeout = {"timeout": STEP_TIMEOUT_S * 1000}
        self.started = 0  # script runs the server started for this page
        self.runs = 0  # and finished
        page.set_default_timeout(STEP_TIMEOUT_S * 1000)
        page.on("websocket", lambda socket: socket.on("framereceived", self._on_message))

    def _on_message(self, payload: str | bytes) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        if isinstance(payload, str):
            return
        try:
            message = ForwardMsg.FromString(payload)
        except Exception:  # not a message of the page's protocol, so not the end of a run
            return
        kind = message.WhichOneof("type")
        if kind == "session_status_changed" and message.session_status_changed.script_is_running:
            self.started += 1
        elif kind == "script_finished" and message.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
            self.runs += 1

    async def _run(self, action) -> None:
        """Take ``action`` (a change of a widget), then wait until the run it started has finished
        and the browser has drawn it. An action that starts no run within :data:`NO_RUN_S` (a
        widget set to the value it had) is done."""
        started, finished = self.started, self.runs
        await action
        now = time.perf_counter()
        while self.runs == finished:
            waited = time.perf_counter() - now
            if self.started == started and waited > NO_RUN_S:
                break  # the action started no run
            if waited > STEP_TIMEOUT_S:
                raise TimeoutError(f"the page did not finish running within {STEP_TIMEOUT_S} s")
            await asyncio.sleep(0.01)
        await self.page.evaluate(DRAWN)

    @classmethod
    async def open(cls, browser, width: int = 1280, height: int = 3000) -> PageDriver:
        """A new page of ``browser`` in a window of ``width`` × ``height`` CSS pixels."""
        context = await browser.new_context(viewport={"width": width, "height": height})
        return cls(await context.new_page())

    async def close(self) -> None:
        await self.page.context.close()

    async def first_render(self, url: str) -> None:
        """Open the page: the persona's profile and the recommendations' player are shown."""
        from playwright.async_api import expect

        await self._run(self.page.goto(url))
        await expect(self.page.get_by_text("listening events")).to_be_visible(**self.timeout)
        await expect(self.page.get_by_text("relevance for you")).to_be_visible(**self.timeout)

    async def persona(self, name: str) -> None:
        from playwright.async_api import expect

        await self.page.get_by_label("persona").click()  # the selectbox's input
        await self._run(self.page.get_by_role("option", name=f"{name.capitalize()} — ").click())
        heading = self.page.get_by_role("heading", name=name.capitalize(), exact=True)
        await expect(heading).to_be_visible(**self.timeout)

    async def catalogue(self, description: str) -> None:
        if not await self.page.get_by_role("radio", name=description, exact=True).is_checked():
            await self._run(self.page.get_by_text(description, exact=True).click())

    async def n_samples(self, n_samples: int) -> None:
        """Open the advanced settings and set N_s."""
        if not await self.page.get_by_label("perturbations N_s").count():
            await self._run(self.page.get_by_text("advanced").click())
        field = self.page.get_by_label("perturbations N_s")
        if await field.input_value() != str(n_samples):
            await field.fill(str(n_samples))
            await self._run(field.press("Enter"))

    async def choose(self, kind: str) -> None:
        """Choose the explanation type (its label)."""
        if not await self.page.get_by_role("radio", name=kind, exact=True).is_checked():
            await self._run(self.page.get_by_text(kind, exact=True).click())

    async def explain(self, kind: str, wait: bool = True) -> str:
        """Choose the explanation type (its label), press **Compute Explanation** and return the
        explanation's caption (N_s, seed, and whether it was computed or came from the cache)."""
        from playwright.async_api import expect

        await self.choose(kind)
        press = self.page.get_by_role("button", name="Compute Explanation").click()
        if not wait:
            await press
            await self.page.wait_for_timeout(500)  # the computation has started on the server
            return ""
        await self._run(press)
        await expect(self.page.get_by_text("fidelity:")).to_be_visible(**self.timeout)
        return await self.page.get_by_text("N_s = ").first.inner_text()

    async def failures(self) -> list[str]:
        """What the page shows of a failure: tracebacks and error messages."""
        return [await failure.inner_text() for failure in await self.page.locator(FAILURES).all()]


async def visit(browser, url: str, plan: Plan) -> Visit:
    """One visitor's walk through the page (:class:`Plan`); times each step."""
    result = Visit(plan)
    driver = await PageDriver.open(browser)

    async def step(name: str, action) -> None:
        started = time.perf_counter()
        await action
        result.seconds[name] = time.perf_counter() - started

    async def explanation() -> None:
        await driver.n_samples(plan.n_samples)
        result.caption = await driver.explain(plan.explanation, wait=not plan.leave_early)

    try:
        await step("first render", driver.first_render(url))
        await step("persona", driver.persona(plan.persona))
        await step("catalogue", driver.catalogue(plan.catalogue))
        await step("explanation", explanation())
        if not plan.leave_early:
            result.failures = await driver.failures()
    except Exception as exc:  # a step that never finished is a failure of the visit, not of the driver
        result.failures.append(f"{type(exc).__name__}: {exc}")
    finally:
        await driver.close()
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
