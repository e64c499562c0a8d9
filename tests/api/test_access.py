"""Who may call what: every route has a rule, nobody anonymous gets in, the GIS roles.

The expected roles are this file's own table, written from issue 13's roles (a city's
data administrator imports, a company's designer submits lines, reviewers and the auditor
read), not read from ``api.approvals.auth.POLICY``. Every refusal is checked for its
reason, not only its status.
"""

from __future__ import annotations

import importlib
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy import text

from api.main import ROUTER_MODULES
from api.main import create_app
from api.policy import OPERATIONS
from api.policy import PUBLIC
from api.policy import operation_key
from geodata.db import session_scope
from geodata.importer import import_layer
from geodata.storage import create_city
from tests.conftest import Users
from tests.helpers import read_sample
from tests.helpers import sample_path

pytestmark = pytest.mark.db

GIS_READERS = {
    "data_admin",
    "designer",
    "auditor",
    "acceptor",
    "responsible_person",
    "dept_clerk",
    "dept_chief",
    "utility_staff",
}
# GIS action -> the roles that may do it (on their own city's data)
EXPECTED: dict[str, set[str]] = {
    "read_layers": GIS_READERS,
    "import_layer": {"data_admin"},
    "submit_proposals": {"designer", "utility_staff"},
    "read_proposals": GIS_READERS,
    "make_plan": {"designer", "acceptor", "responsible_person"},
    "read_plans": GIS_READERS,
    "compute_sections": GIS_READERS,
}
ROLES = (
    "applicant",
    "acceptor",
    "utility_staff",
    "dept_clerk",
    "dept_chief",
    "responsible_person",
    "admin",
    "data_admin",
    "designer",
    "auditor",
)
# the roles whose work is one city's GIS data get a city (the others serve every city)
CITY_ROLES = {"data_admin", "designer", "auditor"}
PUBLIC_KEYS = {
    "health-check",
    "health-ready",
    "approvals-login",
    "GET /workbench/login",
    "POST /workbench/login",
    "GET /workbench",
    "GET /favicon.ico",
}


def _routes() -> dict[str, tuple[str, str]]:
    """Every route: its policy key -> (method, full path). The API's from the OpenAPI (the
    approval routers are nested, so only the app knows their whole path), the rest (pages,
    HEAD of tiles, the favicon) from the routers."""
    found: dict[str, tuple[str, str]] = {}
    for path, item in create_app().openapi()["paths"].items():
        for method, operation in item.items():
            found[operation["operationId"]] = (method.upper(), path)
    for name in ROUTER_MODULES:
        for route in importlib.import_module(name).router.routes:
            if isinstance(route, APIRoute) and not route.include_in_schema:
                key = operation_key(route)
                method = key.split(" ", 1)[0] if " " in key else sorted(route.methods)[0]
                found[key] = (method, route.path)
    return found


ROUTES = _routes()


def test_every_route_has_exactly_one_access_rule() -> None:
    assert set(ROUTES) - set(OPERATIONS) == set(), "routes without a rule"
    assert set(OPERATIONS) - set(ROUTES) == set(), "rules without a route"
    public = {key for key, rule in OPERATIONS.items() if rule is PUBLIC or rule.action is None}
    assert public == PUBLIC_KEYS


@pytest.fixture(scope="module")
def city(engine: Engine) -> Iterator[tuple[str, int]]:
    """A city with the sample roads: its name and the roads layer's id."""
    name = f"access_{uuid.uuid4().hex[:8]}"
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


def _url(path: str, city: str, layer_id: int) -> str:
    values = {
        "city": city,
        "layer_id": str(layer_id),
        "kind": "roads",
        "z": "0",
        "x": "0",
        "y": "0",
        "document": "quantities.csv",
        "fmt": "csv",
        "permit_type": "road_excavation",
        "edge": "e1",
        "plan_key": "no-such-plan",
    }
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values.get(m.group(1), "999999"), path)


def test_anonymous_callers_get_in_nowhere_but_the_public_routes(
    client: TestClient, city: tuple[str, int]
) -> None:
    failures = []
    for key, (method, path) in ROUTES.items():
        response = client.request(method, _url(path, *city))
        if key in PUBLIC_KEYS:
            if response.status_code in {401, 403}:
                failures.append((key, response.status_code, "public route refused"))
            continue
        if key.startswith("GET /workbench"):
            # a page sends the visitor to the login page, coming back afterwards
            ok = response.status_code == 303 and response.headers["location"].startswith(
                "/workbench/login?next="
            )
        elif method == "HEAD":
            ok = response.status_code == 401
        else:
            ok = response.status_code == 401 and "请先登录" in response.text
        if not ok:
            failures.append((key, response.status_code, response.text[:200]))
    assert not failures, "\n".join(map(str, failures))


def test_health_reveals_nothing(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert "postgresql" not in response.text.lower()
    assert "127.0.0.1" not in response.text


@pytest.mark.parametrize("role", ROLES)
def test_gis_endpoints_by_role(
    client: TestClient, users: Users, city: tuple[str, int], role: str
) -> None:
    """Each GIS operation: a role not in the table is refused for that reason; the others
    get past the policy (to the route's own answer: 200, 404, 422, ...)."""
    name, layer_id = city
    organisation = "water-1" if role in {"designer", "utility_staff"} else None
    headers = users.headers(
        role, city=name if role in CITY_ROLES else None, organisation=organisation
    )
    failures = []
    for key, (method, path) in ROUTES.items():
        rule = OPERATIONS[key]
        if rule.action is None or rule.action.value not in EXPECTED or method == "HEAD":
            continue
        action = rule.action.value
        kwargs: dict[str, Any] = {"json": {}} if method == "POST" else {}
        response = client.request(method, _url(path, name, layer_id), headers=headers, **kwargs)
        body = response.json() if response.status_code == 403 else {}
        refused_for_role = (body.get("role"), body.get("action"), body.get("why")) == (
            role,
            action,
            "",
        )
        if role in EXPECTED[action]:
            if refused_for_role or response.status_code in {401, 500}:
                failures.append((key, "should pass", response.status_code, response.text[:160]))
        elif not refused_for_role:
            failures.append((key, "should refuse", response.status_code, response.text[:160]))
    assert not failures, "\n".join(map(str, failures))


def test_gis_data_is_per_city(
    client: TestClient, users: Users, city: tuple[str, int], tmp_path: Any
) -> None:
    name, layer_id = city
    other = users.headers("data_admin", city=f"{name}-elsewhere")
    for url in (
        f"/layers/{layer_id}/features",
        f"/layers/{layer_id}/export?format=geojson",
        f"/maps/layers/{layer_id}",
        f"/maps/cities/{name}",
        f"/tiles/{name}/roads/14/0/0.pbf",
        f"/proposals/{name}/groups",
    ):
        response = client.get(url, headers=other)
        assert response.status_code == 403, (url, response.text)
        assert "not your city" in response.json()["why"], url
    # the list leaves other cities' layers out, and naming one is refused
    assert client.get("/layers", headers=other).json() == []
    named = client.get("/layers", params={"city": name}, headers=other)
    assert named.status_code == 403
    # a city named in the form is checked too (nothing stored)
    path = sample_path("trees")
    upload = client.post(
        "/layers",
        files=[("file", ("t.gpkg", path.read_bytes()))],
        data={"kind": "trees", "city": name, "layer": "trees"},
        headers=other,
    )
    assert upload.status_code == 403
    assert "not your city" in upload.json()["why"]
    mine = users.headers("data_admin", city=name)
    assert [la["id"] for la in client.get("/layers", headers=mine).json()] == [layer_id]
    # a GIS role given no city works on none
    nowhere = users.headers("auditor")
    refused = client.get(f"/layers/{layer_id}/features", headers=nowhere)
    assert refused.status_code == 403
    assert "not your city" in refused.json()["why"]
