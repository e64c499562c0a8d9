"""Bad input gets a 4xx naming the parameter, never a 500 (issue 13, item 6).

Each test here is one fix: a NUL byte anywhere a string goes (PostgreSQL refuses it), an
integer past PostgreSQL's ``integer`` in a path or query, a CRS that is not horizontal, a
body FastAPI cannot parse, the workbench's co-location answer with numpy numbers in it, and
the OpenAPI listing the answers the policy layer gives.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy import text

from api.main import create_app
from api.policy import OPERATIONS
from geodata.db import session_scope
from geodata.importer import import_layer
from geodata.storage import create_city
from tests.conftest import Users
from tests.helpers import read_sample
from tests.helpers import sample_path
from tests.maps.sample import sample_proposals

pytestmark = pytest.mark.db

BIG = str(2**31)  # one past PostgreSQL's integer
HUGE = str(2**63)  # past bigint too


@pytest.fixture(scope="module")
def city(engine: Engine) -> Iterator[tuple[str, int]]:
    """A city with the sample roads: its name and the roads layer's id."""
    name = f"bad_{uuid.uuid4().hex[:8]}"
    with session_scope(engine) as session:
        create_city(
            session, name=name, crs="EPSG:32652", extent=read_sample("city").geometry.iloc[0]
        )
        layer = import_layer(session, sample_path("roads"), kind="roads", city=name, layer="roads")
        layer_id = layer.layer.id
    yield name, layer_id
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM cities WHERE name = :name"), {"name": name})


@pytest.fixture(scope="module")
def client(engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine=engine), follow_redirects=False) as c:
        yield c


def _refused(response: Any, loc: list[str | int], words: str) -> None:
    """A 422 whose detail names ``loc`` with a message containing ``words``."""
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert any(e["loc"] == loc and words in e["msg"] for e in errors), errors


# ------------------------------------------------------------------------- NUL bytes
def test_nul_in_a_query_parameter(client: TestClient, users: Users, city: tuple[str, int]) -> None:
    _, layer_id = city
    headers = users.headers("acceptor")
    response = client.get("/layers?city=a%00b", headers=headers)
    _refused(response, ["query", "city"], "NUL")
    assert "不能有 NUL" in response.text
    response = client.get(f"/layers/{layer_id}/features?bbox-crs=EPSG%004326", headers=headers)
    _refused(response, ["query", "bbox-crs"], "NUL")


def test_nul_in_a_path_parameter(client: TestClient, users: Users) -> None:
    headers = users.headers("acceptor")
    _refused(client.get("/maps/cities/x%00y", headers=headers), ["path", "city"], "NUL")
    _refused(client.get("/plans/p%00q", headers=headers), ["path", "plan_key"], "NUL")
    _refused(client.get("/proposals/x%00/groups", headers=headers), ["path", "city"], "NUL")


def test_nul_in_a_form_field(client: TestClient, users: Users, city: tuple[str, int]) -> None:
    name, _ = city
    headers = users.headers("data_admin", city=name)
    data = sample_path("trees").read_bytes()
    response = client.post(
        "/layers",
        data={"kind": "trees", "city": name, "layer": "tr\x00ees"},
        files={"file": ("t.gpkg", data)},
        headers=headers,
    )
    _refused(response, ["body", "layer"], "NUL")
    # the login form too (the user name is looked up in PostgreSQL)
    login = client.post("/approvals/auth/token", data={"username": "a\x00", "password": "x"})
    _refused(login, ["body", "username"], "NUL")


def test_nul_in_a_json_string(client: TestClient, users: Users) -> None:
    headers = users.headers("utility_staff")
    response = client.post(
        "/approvals/applications/1/opinions", json={"opinion": "ok\x00"}, headers=headers
    )
    _refused(response, ["body", "opinion"], "NUL")


# ------------------------------------------------------------------------- big integers
@pytest.mark.parametrize(
    "case",
    [
        ("acceptor", "GET", "/layers/{n}/features", ["path", "layer_id"]),
        ("acceptor", "GET", "/layers/{n}/export?format=geojson", ["path", "layer_id"]),
        ("acceptor", "GET", "/maps/layers/{n}", ["path", "layer_id"]),
        ("acceptor", "GET", "/approvals/applications/{n}", ["path", "application_id"]),
        ("acceptor", "GET", "/approvals/applications/{n}/proposals", ["path", "application_id"]),
        ("acceptor", "GET", "/approvals/permits/{n}", ["path", "permit_id"]),
        ("acceptor", "GET", "/approvals/attachments/{n}", ["path", "attachment_id"]),
        ("acceptor", "GET", "/maps/applications/{n}", ["path", "application_id"]),
        ("utility_staff", "POST", "/approvals/dispatches/{n}/accept", ["path", "dispatch_id"]),
        ("dept_clerk", "POST", "/approvals/permits/{n}/review", ["path", "permit_id"]),
    ],
)
def test_integer_past_postgresql_in_the_path(
    client: TestClient, users: Users, case: tuple[str, str, str, list[str]]
) -> None:
    role, method, path, loc = case
    headers = users.headers(role)
    for number in (BIG, HUGE, "-" + BIG + "1"):
        response = client.request(method, path.format(n=number), headers=headers, json={})
        _refused(response, loc, "integer out of range")
        assert "整数超出范围" in response.text


def test_integer_past_postgresql_in_the_query(
    client: TestClient, users: Users, city: tuple[str, int]
) -> None:
    _, layer_id = city
    headers = users.headers("acceptor")
    response = client.get(f"/layers/{layer_id}/features?offset={HUGE}", headers=headers)
    _refused(response, ["query", "offset"], "integer out of range")
    # the largest integer is still a plain "not found"
    assert client.get(f"/layers/{2**31 - 1}/features", headers=headers).status_code == 404


# ------------------------------------------------------------------------- CRSs
@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("EPSG:5773", "not a horizontal CRS"),  # EGM96 heights
        ("EPSG:4978", "not a horizontal CRS"),  # geocentric x, y, z
        ("EPSG:999999", "unknown CRS"),
        ("no-such-crs", "unknown CRS"),
    ],
)
def test_crs_that_places_no_map(
    client: TestClient, users: Users, city: tuple[str, int], value: str, words: str
) -> None:
    _, layer_id = city
    headers = users.headers("acceptor")
    for name in ("crs", "bbox-crs"):
        response = client.get(f"/layers/{layer_id}/features", params={name: value}, headers=headers)
        _refused(response, ["query", name], words)


def test_crs_in_a_sections_body(client: TestClient, users: Users) -> None:
    headers = users.headers("acceptor")
    segment = {
        "segment_id": "s1",
        "coordinates": [[0, 0], [100, 0]],
        "road_width_m": 14,
        "pavement": "asphalt",
        "lines": [{"utility": "water", "outside_diameter_mm": 320}],
    }
    body = {"crs": "EPSG:5773", "segments": [segment]}
    response = client.post("/sections", json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert "not a horizontal CRS" in response.text


# ------------------------------------------------------------------------- bodies
def test_a_body_fastapi_cannot_parse_is_a_422_naming_the_body(client: TestClient) -> None:
    response = client.post(
        "/approvals/auth/token",
        content=b"\xff\xfe",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code in {401, 422}  # login takes a form: no body parse error
    response = client.post(
        "/plans", content=b"E+e\xff", headers={"Content-Type": "application/json"}
    )
    _refused(response, ["body"], "could not be parsed")
    assert "请求体无法解析" in response.text


# ------------------------------------------------------------------------- co-location page
def test_colocation_with_existing_lines_crossed_is_json(
    client: TestClient, users: Users, city: tuple[str, int], tmp_path: Path
) -> None:
    """The answer counts the existing lines each proposal crosses (numpy integers): it used
    to be a 500, as FastAPI's encoder does not know numpy."""
    name, _ = city
    admin = users.headers("data_admin", city=name)
    proposals = sample_proposals()
    # existing water mains across every proposed line (turned a quarter round its middle)
    existing = proposals[["geometry"]].copy()
    existing["geometry"] = [
        shapely.affinity.rotate(line, 90, origin=line.interpolate(0.5, normalized=True))
        for line in proposals.geometry
    ]
    existing["utility"] = "water"
    for kind, frame in (("underground_lines", existing), ("proposed_lines", proposals)):
        path = tmp_path / f"{kind}.geojson"
        frame.to_crs(4326).to_file(path, driver="GeoJSON")
        with path.open("rb") as f:
            upload = client.post(
                "/layers",
                data={"kind": kind, "city": name},
                files={"file": (path.name, f, "application/geo+json")},
                headers=admin,
            )
        assert upload.status_code == 201, upload.text
    layer_id = upload.json()["layer"]["id"]
    found = client.post(f"/workbench/layers/{layer_id}/colocation", headers=admin)
    assert found.status_code == 200, found.text
    crossed = [line["existing_lines_crossed"] for line in found.json()["lines"]]
    assert sum(crossed) > 0, crossed


# ------------------------------------------------------------------------- the OpenAPI
def test_openapi_lists_the_policy_answers(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path, item in paths.items():
        for method, operation in item.items():
            answers = operation["responses"]
            rule = OPERATIONS[operation["operationId"]]
            if rule.action is not None:
                assert {"401", "403"} <= set(answers), (method, path)
            if method != "get":
                assert "403" in answers, (method, path)  # a cross-site Origin
            if "{" in path:
                assert "404" in answers, (method, path)
    me = paths["/approvals/me"]["get"]["responses"]
    assert me["401"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    login = paths["/approvals/auth/token"]["post"]["responses"]
    assert {"401", "429"} <= set(login)
    assert "401" not in paths["/health"]["get"]["responses"]


def test_integer_past_postgresql_in_an_approvals_body(client: TestClient, users: Users) -> None:
    headers = users.headers("acceptor")
    response = client.post(
        "/approvals/bundles", json={"application_ids": [2**40, 1]}, headers=headers
    )
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert any(e["loc"] == ["body", "application_ids", 0] for e in errors), errors
    response = client.post(
        "/approvals/applications/1/accept", json={"version": 2**40}, headers=headers
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["body", "version"]
