"""The plans API: request a plan, read it as GeoJSON, re-plan as a new version."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Iterator

import networkx as nx
import pytest
from fastapi.testclient import TestClient
from pyproj import Transformer
from sqlalchemy import Engine
from sqlalchemy import text

from api.main import create_app
from api.routes.plans import PlanPublic
from api.routes.plans import PlanVersionPublic
from geodata.db import session_scope
from geodata.importer import import_layer
from geodata.storage import create_city
from routing.graph import build_road_graph
from routing.trench import prepare_network
from tests.conftest import Users
from tests.conftest import table_counts
from tests.helpers import read_sample
from tests.helpers import sample_path

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def city(engine: Engine) -> Iterator[str]:
    """A committed city with the sample roads; dropped afterwards."""
    name = f"harbin_plans_{uuid.uuid4().hex[:8]}"
    with session_scope(engine) as session:
        create_city(
            session, name=name, crs="EPSG:32652", extent=read_sample("city").geometry.iloc[0]
        )
        import_layer(session, sample_path("roads"), kind="roads", city=name, layer="roads")
    yield name
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM cities WHERE name = :name"), {"name": name})


@pytest.fixture(scope="module")
def client(engine: Engine, users: Users) -> Iterator[TestClient]:
    """The city management bureau, which plans shared trenches in every city it serves."""
    with TestClient(create_app(engine=engine), headers=users.headers("acceptor")) as test_client:
        yield test_client


@functools.cache
def usable_points() -> list[dict[str, float]]:
    """x/y (EPSG:32652) of nodes in the largest part of the sample roads a trench may use."""
    G = build_road_graph(read_sample("roads").to_crs(32652))  # noqa: N806
    net = prepare_network(G, on_date=dt.date(2026, 11, 25))
    H = nx.Graph()  # noqa: N806
    H.add_edges_from(p[0][:2] for p in net.parts)
    comp = sorted(max(nx.connected_components(H), key=len))
    return [{"x": G.nodes[n]["x"], "y": G.nodes[n]["y"]} for n in comp]


def lonlat(i: int) -> dict[str, float]:
    return usable_points()[i]


def as_lonlat(point: dict[str, float]) -> dict[str, float]:
    lon, lat = Transformer.from_crs(32652, 4326, always_xy=True).transform(point["x"], point["y"])
    return {"lon": lon, "lat": lat}


def body(city: str | None = None, **extra: object) -> dict[str, object]:
    out: dict[str, object] = {
        "sites": [
            {"name": "house A", "utilities": ["water", "power"], **lonlat(10)},
            {"name": "house B", "utilities": ["water"], **as_lonlat(lonlat(30))},
        ],
        "supplies": {"water": [lonlat(50), lonlat(60)], "power": [lonlat(80)]},
        "application_ids": [11, 12],
        "on_date": "2026-11-25",
        **extra,
    }
    if city is not None:
        out["city"] = city
    return out


def test_create_read_replan_and_list_versions(client: TestClient, city: str) -> None:
    created = client.post("/plans", json=body(city))
    assert created.status_code == 201, created.text
    assert created.headers["content-type"] == "application/json"
    plan = PlanPublic.model_validate(created.json())
    assert plan.version == 1
    assert plan.city == city
    assert plan.application_ids == [11, 12]
    assert plan.status == "optimal"
    assert plan.summary["total_cost_cny"] == pytest.approx(plan.total_cost_cny)
    assert plan.summary["total_cost_cny"] <= plan.summary["overlay_cost_cny"] + 1e-6
    features = plan.geojson["features"]
    assert features and plan.geojson["crs"] == "EPSG:4326"
    lon, lat = features[0]["geometry"]["coordinates"][0]
    assert 126 < lon < 127 and 45 < lat < 46
    assert {"segment_id", "utilities", "length_m", "cost"} <= set(features[0]["properties"])
    assert {r["utility"] for r in plan.summary["routes"]} == {"power", "water"}

    geo = client.get(f"/plans/{plan.plan_key}/geojson")
    assert geo.status_code == 200
    assert geo.headers["content-type"] == "application/geo+json"
    assert len(geo.json()["features"]) == len(features)

    # an edit: house B now needs power too -> version 2, version 1 unchanged
    edited = body()
    edited["sites"][1]["utilities"] = ["water", "power"]  # type: ignore[index]
    edited["method"] = "heuristic"
    second = client.post(f"/plans/{plan.plan_key}/versions", json=edited)
    assert second.status_code == 201, second.text
    v2 = PlanPublic.model_validate(second.json())
    assert (v2.plan_key, v2.version, v2.method) == (plan.plan_key, 2, "heuristic")
    assert v2.application_ids == [11, 12]  # kept from version 1
    listed = client.get(f"/plans/{plan.plan_key}/versions")
    assert listed.status_code == 200
    rows = [PlanVersionPublic.model_validate(r) for r in listed.json()]
    assert [r.version for r in rows] == [1, 2]
    old = PlanPublic.model_validate(client.get(f"/plans/{plan.plan_key}?version=1").json())
    assert old.total_cost_cny == plan.total_cost_cny
    assert old.summary == plan.summary
    latest = PlanPublic.model_validate(client.get(f"/plans/{plan.plan_key}").json())
    assert latest.version == 2


def test_refusals_name_the_problem_and_store_nothing(
    client: TestClient, city: str, engine: Engine
) -> None:
    with engine.connect() as conn:
        before = table_counts(conn)["trench_plans"]
    far = body(city)
    far["sites"][0] = {"name": "house A", "utilities": ["water"], "lon": 126.0, "lat": 45.0}  # type: ignore[index]
    r = client.post("/plans", json=far)
    assert r.status_code == 422
    assert "site 'house A'" in r.json()["message"] and "max_snap_m" in r.json()["message"]
    r = client.post("/plans", json=body(city, supplies={"water": [lonlat(50)]}))
    assert r.status_code == 422
    assert "utility 'power'" in r.json()["message"]
    r = client.post("/plans", json=body("atlantis"))
    assert r.status_code == 404
    both = body(city)
    both["sites"][0]["node"] = 3  # type: ignore[index]
    assert client.post("/plans", json=both).status_code == 422
    assert client.get("/plans/nope").status_code == 404
    assert client.get("/plans/nope/versions").status_code == 404
    assert client.post("/plans/nope/versions", json=body()).status_code == 404
    with engine.connect() as conn:
        assert table_counts(conn)["trench_plans"] == before


def _time_limit_refusal(response) -> str | None:  # type: ignore[no-untyped-def]
    """The message of a refusal naming ``time_limit_s``, or None if there is none."""
    if response.status_code != 422:
        return None
    for error in response.json().get("errors", []):
        if isinstance(error, dict) and error.get("loc", [])[-1:] == ["time_limit_s"]:
            return str(error["msg"])
    return None


def test_time_limit_is_bounded_per_role(
    client: TestClient, engine: Engine, users: Users, city: str
) -> None:
    # the city management bureau plans for the city: up to 120 s
    assert _time_limit_refusal(client.post("/plans", json=body(city, time_limit_s=120))) is None
    refused = client.post("/plans", json=body(city, time_limit_s=121))
    assert "最多可计算 120 秒" in (_time_limit_refusal(refused) or ""), refused.text
    # a company's designer tries alternatives: up to 60 s, also when re-planning
    headers = users.headers("designer", city=city)
    with TestClient(create_app(engine=engine), headers=headers) as designer:
        ok = designer.post("/plans", json=body(city, time_limit_s=60))
        assert ok.status_code == 201, ok.text
        too_long = designer.post("/plans", json=body(city, time_limit_s=61))
        message = _time_limit_refusal(too_long)
        assert message is not None and "设计人员最多可计算 60 秒" in message, too_long.text
        key = ok.json()["plan_key"]
        replan = designer.post(f"/plans/{key}/versions", json=body(time_limit_s=600))
        assert _time_limit_refusal(replan) is not None, replan.text


def test_time_limit_per_role_follows_the_settings(engine: Engine, users: Users, city: str) -> None:
    from api.settings import LimitSettings  # noqa: PLC0415
    from api.settings import Settings  # noqa: PLC0415

    app = create_app(Settings(limits=LimitSettings(plan_seconds={"designer": 5})), engine=engine)
    with TestClient(app, headers=users.headers("designer", city=city)) as designer:
        refused = designer.post("/plans", json=body(city, time_limit_s=6))
        assert "最多可计算 5 秒" in (_time_limit_refusal(refused) or ""), refused.text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"application_ids": [2**31]}, "application_ids"),
        ({"max_snap_m": 1e9}, "max_snap_m"),
        ({"sites": [{"utilities": ["water"], "lon": 126.6, "lat": 45.7}] * 301}, "sites"),
    ],
)
def test_plan_requests_are_bounded(
    client: TestClient, city: str, change: dict[str, object], field: str
) -> None:
    response = client.post("/plans", json={**body(city), **change})
    assert response.status_code == 422, response.text
    assert field in {str(part) for e in response.json()["errors"] for part in e["loc"]}
