"""Headless Chromium (Debian's, at /usr/bin/chromium) driven by Playwright.

Used to check the report the way a person sees it (what is rendered, which images
loaded) and to take the docs' screenshot. Playwright is launched with
`executable_path`, so it downloads no browser of its own.
"""
from __future__ import annotations

import os
import tempfile

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialling out on a closed network.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--mute-audio"]


class BrowserError(RuntimeError):
    pass


class Chromium:
    """`with Chromium() as browser: browser.open(path); browser.evaluate(js); browser.screenshot(png)`."""

    def __init__(self, binary: str = CHROMIUM, width: int = 1280, height: int = 900, timeout: float = 60.0):
        if not os.path.exists(binary):
            raise BrowserError(f"{binary} not found: install Debian's chromium (`make browser`)")
        self.binary, self.width, self.height, self.timeout = binary, width, height, timeout

    def __enter__(self) -> "Chromium":
        self._profile = tempfile.TemporaryDirectory(prefix="chromium-profile-")
        self._playwright = sync_playwright().start()
        try:
            self._context = self._playwright.chromium.launch_persistent_context(
                self._profile.name, executable_path=self.binary, headless=True, args=FLAGS,
                viewport={"width": self.width, "height": self.height}, device_scale_factor=1,
                timeout=self.timeout * 1000)
        except PlaywrightError as e:
            self._playwright.stop()
            raise BrowserError(f"cannot start {self.binary}: {e}") from e
        self.page = self._context.pages[0] if self._context.pages else self._context.new_page()
        self.page.set_default_timeout(self.timeout * 1000)
        return self

    def __exit__(self, *exc) -> None:
        self._context.close()
        self._playwright.stop()
        self._profile.cleanup()

    def open(self, path_or_url: str) -> None:
        """Load a page and wait for its load event (every image loaded or failed)."""
        url = path_or_url if "://" in path_or_url else "file://" + os.path.abspath(path_or_url)
        try:
            self.page.goto(url, wait_until="load")
        except PlaywrightError as e:
            raise BrowserError(f"cannot open {url}: {e}") from e

    def evaluate(self, expression: str):
        """The JSON value of a JavaScript expression in the page."""
        try:
            return self.page.evaluate(expression)
        except PlaywrightError as e:
            raise BrowserError(f"script failed: {e}") from e

    def screenshot(self, path: str, full_page: bool = False, max_height: int = 4000) -> str:
        if full_page:
            height = min(int(self.evaluate("document.documentElement.scrollHeight")), max_height)
            self.page.screenshot(path=path, clip={"x": 0, "y": 0, "width": self.width, "height": height},
                                 full_page=True)
        else:
            self.page.screenshot(path=path)
        return path
