"""Serve the app with uvicorn in a thread and drive Debian's chromium with playwright.

No browser is downloaded: playwright's Python package launches /usr/bin/chromium.
Screenshots go to ``artifacts/browser/`` (git-ignored) as test artefacts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser
from playwright.sync_api import ConsoleMessage
from playwright.sync_api import Page
from playwright.sync_api import sync_playwright
from sqlalchemy import Engine

from api.main import create_app
from tests.helpers import serve
from tests.maps.sample import StoredCity
from tests.maps.workbench import committed_city
from tests.maps.workbench import seeded_tokens

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"


@pytest.fixture(scope="session")
def browser_city(engine: Engine) -> Iterator[StoredCity]:
    with committed_city(engine) as city:
        yield city


@pytest.fixture(scope="session")
def browser_tokens(engine: Engine) -> dict[str, str]:
    return seeded_tokens(engine)


@pytest.fixture(scope="session")
def live_server(engine: Engine, browser_city: StoredCity) -> Iterator[str]:
    with serve(create_app(engine=engine), "uvicorn-browser-tests") as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make apt-all)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@dataclass
class Console:
    """Everything a page reported as an error: console errors, uncaught exceptions, 4xx/5xx."""

    errors: list[str] = field(default_factory=list)

    def on_console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error":
            self.errors.append(f"console: {msg.text} at {msg.location}")

    def on_page_error(self, exc: Any) -> None:
        self.errors.append(f"uncaught: {exc}")

    def on_response(self, response: Any) -> None:
        if response.status >= 400:
            self.errors.append(f"HTTP {response.status} {response.url}")


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def page(browser: Browser, live_server: str, console: Console) -> Iterator[Page]:
    context = browser.new_context(
        base_url=live_server, viewport={"width": 1400, "height": 900}, locale="zh-CN"
    )
    # nothing may leave the machine: any request to another host fails the test
    context.route(
        lambda url: not url.startswith(live_server),
        lambda route: (
            console.errors.append(f"external request {route.request.url}"),
            route.abort(),
        ),
    )
    pg = context.new_page()
    pg.on("console", console.on_console)
    pg.on("pageerror", console.on_page_error)
    pg.on("response", console.on_response)
    yield pg
    context.close()


def login_as(page: Page, live_server: str, token: str) -> None:
    page.context.add_cookies(
        [
            {
                "name": "cotrench_token",
                "value": token,
                "url": live_server,
                "sameSite": "Strict",
                "httpOnly": True,
            }
        ]
    )


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
