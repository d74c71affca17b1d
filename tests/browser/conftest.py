"""Browser tests: the whole gateway on a real 127.0.0.1 socket, driven by headless Chromium.

Playwright drives Debian's `chromium` (/usr/bin/chromium; `.ci/run` installs it when missing)
rather than a browser Playwright downloads: no download at test time, one browser the system
keeps patched. Without Chromium or Playwright every browser test is skipped and says why.
Screenshots (1280x800) go to $SWITCHBOARD_SCREENSHOTS, by default tests/browser/artifacts/
(ignored by git): test artifacts, never committed.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web

from api.app import build_app
from api.state import GATEWAY
from storage.db import Database
from tests.conftest import make_settings

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page

CHROMIUM = Path("/usr/bin/chromium")
HAVE_CHROMIUM = CHROMIUM.exists()
VIEWPORT = {"width": 1280, "height": 800}
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@dataclass(frozen=True)
class LiveGateway:
    """A started gateway: its URL (also its PUBLIC_BASE_URL, so emailed links land here)."""

    url: str
    app: web.Application

    @property
    def db(self) -> Database:
        return self.app[GATEWAY].db

    def at(self, path: str) -> str:
        return self.url + path


StartGateway = Callable[..., Awaitable[LiveGateway]]


@pytest.fixture
async def live_gateway(sqlite_url: str) -> AsyncIterator[StartGateway]:
    """`gw = await live_gateway(**settings)`: the whole gateway (workers, outbox, console) on an
    ephemeral 127.0.0.1 port a browser can reach. The socket is bound before the settings are
    made, so PUBLIC_BASE_URL names the real port; an aiohttp SockSite then serves on it."""
    runners: list[web.AppRunner] = []

    async def start(**overrides: Any) -> LiveGateway:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        settings = make_settings(
            sqlite_url,
            PUBLIC_BASE_URL=url,
            SWITCHBOARD_HOST="127.0.0.1",
            SWITCHBOARD_PORT=port,
            **overrides,
        )
        runner = web.AppRunner(build_app(settings), handler_cancellation=True)
        try:
            await runner.setup()
            runners.append(runner)
            await web.SockSite(runner, sock).start()
        except BaseException:
            sock.close()
            raise
        return LiveGateway(url, runner.app)

    yield start
    for runner in reversed(runners):
        await runner.cleanup()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium, or a skip that says what to install."""
    if not HAVE_CHROMIUM:
        pytest.skip("Chromium is not installed: apt-get install -y chromium")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("Playwright is not installed: pip install -e '.[dev]'")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()


NewPage = Callable[[], Awaitable["Page"]]


@pytest.fixture
async def new_page(browser: Browser) -> AsyncIterator[NewPage]:
    """`page = await new_page()`: a page in a fresh browser context (its own cookies: another
    person's browser), 1280x800."""
    contexts: list[BrowserContext] = []

    async def make() -> Page:
        context = await browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
        context.set_default_timeout(10_000)
        contexts.append(context)
        return await context.new_page()

    yield make
    for context in contexts:
        await context.close()


Screenshot = Callable[..., Awaitable[Path]]


@pytest.fixture
def screenshot() -> Screenshot:
    """`await screenshot(page, "team")` saves NAME.png as the 1280x800 window shows it
    (`full_page=True`: the whole page) for people to look at."""
    folder = Path(os.environ.get("SWITCHBOARD_SCREENSHOTS") or ARTIFACTS)
    folder.mkdir(parents=True, exist_ok=True)

    async def take(page: Page, name: str, *, full_page: bool = False) -> Path:
        path = folder / f"{name}.png"
        await page.screenshot(path=str(path), full_page=full_page)
        return path

    return take
