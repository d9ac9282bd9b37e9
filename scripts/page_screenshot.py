"""The README's picture of the demo page, taken anew from the page as ``lemons app`` serves it.

The page is visited in headless Chromium (Debian's, as in the browser tests) with the shipped models
and the built-in catalogue: a persona, its held-out test tracks, and an explanation of the first
recommendation; the whole page is saved as a PNG.

    python scripts/page_screenshot.py docs/images/app.png
    python scripts/page_screenshot.py /tmp/page.png --persona ringo --explanation "Time + Source"
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lemons.config import get_settings
from tests.browser import CHROMIUM, CHROMIUM_FLAGS, DRAWN, PageDriver, served_page

#: The picture's width in CSS pixels; its height is the whole page's.
WIDTH = 960
#: The height of the page's content in CSS pixels: the tallest scrolled element's.
HEIGHT = "() => Math.max(...[...document.querySelectorAll('*')].map(e => e.scrollHeight))"


async def take(url: str, out: Path, persona: str, explanation: str) -> None:
    """Walk ``url``'s page to ``persona``'s explanation of its first test track and save the page."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            driver = await PageDriver.open(browser, WIDTH, 1400)
            await driver.first_render(url)
            await driver.persona(persona)
            await driver.catalogue("your held-out test tracks")
            caption = await driver.explain(explanation)
            failures = await driver.failures()
            if failures:
                raise SystemExit("error: the page showed a failure:\n" + "\n".join(failures))
            # the page scrolls inside its main section, so the window is made as tall as that section
            height = await driver.page.evaluate(HEIGHT)
            await driver.page.set_viewport_size({"width": WIDTH, "height": height})
            await driver.page.evaluate(DRAWN)
            await driver.page.screenshot(path=str(out), full_page=True)
            print(f"{out}: {caption}")
        finally:
            await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the PNG to write")
    parser.add_argument("--persona", default="elizabeth")
    parser.add_argument("--explanation", default="Source", help="Time, Source or Time + Source")
    args = parser.parse_args()
    settings = get_settings()
    with (
        tempfile.TemporaryDirectory() as workdir,
        served_page(settings.catalogue_dir, settings.models_dir, settings.cache_dir, Path(workdir)) as url,
    ):
        asyncio.run(take(url, args.out, args.persona, args.explanation))


if __name__ == "__main__":
    main()
