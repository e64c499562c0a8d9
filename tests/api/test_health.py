"""Liveness and readiness: public, and they reveal nothing about the server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.main import create_app
from geodata.db import make_engine
from geodata.pgcluster import _free_port

pytestmark = pytest.mark.db


@pytest.fixture
def dead_engine() -> Iterator[Engine]:
    """An engine whose server is not there (nothing listens on the port)."""
    port = _free_port()
    eng = make_engine(f"postgresql+psycopg://cotrench_app@127.0.0.1:{port}/cotrench")
    yield eng
    eng.dispose()


def test_health_says_only_ok(engine: Engine) -> None:
    with TestClient(create_app(engine=engine)) as client:
        response = client.get("/health")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"status": "ok"}


def test_ready_when_the_database_answers(engine: Engine) -> None:
    with TestClient(create_app(engine=engine)) as client:
        response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_not_ready_without_the_database_and_no_internals(dead_engine: Engine) -> None:
    with TestClient(create_app(engine=dead_engine)) as client:
        ready = client.get("/health/ready")
        live = client.get("/health")
    assert ready.status_code == 503
    assert int(ready.headers["retry-after"]) > 0
    body = ready.json()
    assert body["error"] == "DatabaseUnavailable"
    assert body["message"].startswith("数据库暂时不可用")
    port = str(dead_engine.url.port)
    for secret in ("127.0.0.1", port, "cotrench_app", "connection", "psycopg"):
        assert secret not in ready.text
    # the service itself is alive
    assert live.status_code == 200
    assert live.json() == {"status": "ok"}


def test_root_leads_to_the_workbench(engine: Engine) -> None:
    with TestClient(create_app(engine=engine)) as client:
        response = client.get("/", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/workbench"
