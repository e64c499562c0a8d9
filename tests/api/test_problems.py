"""Every error path answers RFC 9457 problem details (application/problem+json)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.main import create_app
from api.problems import problem_type
from api.settings import LimitSettings
from api.settings import Settings
from tests.conftest import Users

pytestmark = pytest.mark.db

_CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def app(engine: Engine):  # type: ignore[no-untyped-def]
    return create_app(Settings(limits=LimitSettings(body_bytes=10_000)), engine=engine)


@pytest.fixture(scope="module")
def anonymous(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _check(response, status: int, error: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json", response.headers
    body = response.json()
    assert body["status"] == status
    assert body["type"] == problem_type(error)
    assert body["error"] == error
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["message"] == body["detail"]
    assert _CJK.search(body["title"]), body["title"]  # Chinese first
    assert body["instance"].startswith("/")
    return body  # type: ignore[no-any-return]


def test_every_error_path_is_a_problem(anonymous: TestClient, users: Users, engine: Engine) -> None:
    # 401: no token
    _check(anonymous.get("/layers"), 401, "AuthenticationError")
    # 403: a role that may not (the refusal's members are the problem's own)
    applicant = users.headers("applicant")
    refused = _check(anonymous.get("/layers", headers=applicant), 403, "PermissionDeniedError")
    assert refused["role"] == "applicant" and refused["action"] == "read_layers"
    # 404: an unknown path and an unknown item
    _check(anonymous.get("/no/such/path"), 404, "NotFound")
    admin = users.headers("data_admin", city="nowhere")
    _check(anonymous.get("/layers/999999/features", headers=admin), 404, "LayerNotFoundError")
    # 405: a method the path does not take
    _check(anonymous.put("/health"), 405, "MethodNotAllowed")
    # 422: request validation (its field errors in `errors`) and a domain refusal
    acceptor = users.headers("acceptor")
    bad = _check(anonymous.post("/plans", json={}, headers=acceptor), 422, "RequestValidationError")
    assert {e["loc"][-1] for e in bad["errors"]} >= {"sites", "supplies", "city"}
    # 413: the body limit answers before any route
    big = anonymous.post(
        "/plans", content=b"x" * 20_000, headers={**acceptor, "content-type": "application/json"}
    )
    too_large = _check(big, 413, "RequestTooLarge")
    assert too_large["limit"] == "body_bytes"
    # 400: the OGC API's own parameter errors
    auditor = users.headers("auditor", city="nowhere")
    _check(
        anonymous.get("/ogc/collections/layer-1/items?colour=red", headers=auditor),
        400,
        "OgcParameterError",
    )
    # the OpenAPI says so for every documented error
    spec = anonymous.get("/openapi.json").json()
    for item in spec["paths"].values():
        for operation in item.values():
            for code, answer in operation["responses"].items():
                if code[0] in "45":
                    assert list(answer["content"]) == ["application/problem+json"], code


def test_an_unexpected_error_names_no_internals(app, users: Users) -> None:  # type: ignore[no-untyped-def]
    from fastapi import APIRouter  # noqa: PLC0415

    router = APIRouter()

    @router.get("/boom-for-the-test", include_in_schema=False)
    def boom() -> None:
        msg = "secret internal state /srv/cotrench/db.py line 12"
        raise RuntimeError(msg)

    app.include_router(router)
    with TestClient(app, raise_server_exceptions=False) as c:
        body = _check(c.get("/boom-for-the-test"), 500, "InternalServerError")
    assert "secret" not in body["detail"] and "/srv" not in str(body)
