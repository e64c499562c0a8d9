from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.main import create_app


def test_health_reports_postgis(engine: Engine) -> None:
    with TestClient(create_app(engine=engine)) as client:
        response = client.get("/health")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["status"] == "ok"
    assert body["postgis"].startswith("3.")


def test_root_leads_to_the_workbench(engine: Engine) -> None:
    with TestClient(create_app(engine=engine)) as client:
        response = client.get("/", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/workbench"
