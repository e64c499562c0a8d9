"""/docs and /redoc are served with their assets from the app, and pass its CSP."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.main import create_app

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def client(engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine=engine)) as c:
        yield c


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_load_nothing_from_outside(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources, page.text
    assert all(s.startswith("/docs-static/") for s in sources), sources
    assert "cdn" not in page.text.lower()
    for source in sources:
        asset = client.get(source)
        assert asset.status_code == 200, source
        assert len(asset.content) > 1000
    # an inline start-up script (Swagger UI's) is allowed by its hash, nothing else inline
    csp = page.headers["content-security-policy"]
    inline = re.findall(r"<script>", page.text)
    assert ("'sha256-" in csp) == bool(inline)
    assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]
