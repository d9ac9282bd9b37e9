"""End to end in a real browser: the page served by `lemons app` (what `make app` runs), in headless Chromium.

Chromium comes from Debian (``make test`` installs it); Playwright drives it through
``executable_path`` — no browser is downloaded. Screenshots are saved in ``test-artifacts/``.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest

from lemons.config import PROJECT_ROOT
from tests.browser import CHROMIUM, CHROMIUM_FLAGS, served_page
from tests.test_app import MODELS

ARTIFACTS = PROJECT_ROOT / "test-artifacts"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (make test does)"
    ),
]


@pytest.fixture()
def served_app(tiny_catalogue_dir: Path, tmp_path: Path):
    """The page served by `lemons app` on 127.0.0.1 over the tiny catalogue; yields its URL."""
    with served_page(tiny_catalogue_dir, MODELS, tmp_path / "cache", tmp_path) as url:
        yield url


def test_walk_through_in_a_browser(served_app: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 4000})
        page.set_default_timeout(120_000)
        expect.set_options(timeout=120_000)
        external = []
        page.on(
            "request",
            lambda r: (
                external.append(r.url)
                if not r.url.startswith(("http://127.0.0.1", "data:", "blob:", "about:"))
                else None
            ),
        )
        page.goto(served_app)
        expect(page.get_by_text("1 · Who are you?")).to_be_visible()
        expect(page.get_by_text("listening events")).to_be_visible()
        expect(page.get_by_text("Deploy", exact=True)).to_have_count(0)  # visitors get the viewer's toolbar
        # the track player: a waveform canvas and an <audio> element inside the component's iframe
        player = page.frame_locator("iframe").first
        expect(player.locator("audio")).to_have_count(1)
        expect(player.locator("canvas")).to_have_count(1)
        # a click on the waveform seeks there: the middle of a 6 s track is 3 s
        expect(player.locator(".time")).to_have_text("0.0 / 6.0 s")
        player.locator("canvas").click(
            position={"x": player.locator("canvas").bounding_box()["width"] / 2, "y": 10}
        )
        expect(player.locator(".time")).to_have_text(re.compile(r"^(2\.9|3\.0|3\.1) / 6\.0 s$"))
        page.screenshot(path=str(ARTIFACTS / "app-recommendations.png"), full_page=True)
        # a small N_s keeps the test short
        page.get_by_text("advanced").click()
        n_samples = page.get_by_label("perturbations N_s")
        n_samples.fill("32")
        n_samples.press("Enter")
        page.get_by_text("Source", exact=True).click()
        page.get_by_role("button", name="Compute Explanation").click()
        expect(page.get_by_text("fidelity:")).to_be_visible()
        expect(page.get_by_role("heading", name="Top Highlight")).to_be_visible()
        expect(page.get_by_role("heading", name="Top-3")).to_be_visible()
        expect(page.get_by_role("heading", name="All the weights")).to_be_visible()
        # the track's player plus the Top Highlight's and the Top-3's
        expect(page.locator("iframe")).to_have_count(3)
        for index in range(page.locator("iframe").count()):
            expect(page.frame_locator("iframe").nth(index).locator("audio")).to_have_count(1)
        page.screenshot(path=str(ARTIFACTS / "app-explanation.png"), full_page=True)
        # the download is made when it is clicked: lemons explain's files, in one ZIP
        with page.expect_download() as download:
            page.get_by_role("button", name="download the explanation").click()
        with zipfile.ZipFile(download.value.path()) as archive:
            assert {"explanation.json", "explanation.png", "top_highlight.wav"} <= set(archive.namelist())
            assert json.loads(archive.read("explanation.json"))["type"] == "source"
        browser.close()
    assert not external, f"the page asked for outside resources: {external[:5]}"
