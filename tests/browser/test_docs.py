"""The API documentation renders in a browser with the network closed (no CDN)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import Console
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.db, pytest.mark.browser]


@pytest.mark.parametrize(
    ("path", "ready"), [("/docs", ".swagger-ui .info .title"), ("/redoc", "h1")]
)
def test_api_docs_render_offline(
    page: Page, live_server: str, console: Console, path: str, ready: str
) -> None:
    page.goto(f"{live_server}{path}")
    title = page.wait_for_selector(ready, timeout=20_000)
    assert title is not None and "cotrench" in title.inner_text()
    # an operation of the app is listed (the OpenAPI was loaded and drawn)
    page.wait_for_selector("text=Create Layer", state="attached", timeout=20_000)
    screenshot(page, f"docs{path.replace('/', '-')}")
    assert console.errors == []
