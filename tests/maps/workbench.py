"""A committed sample city and an application with a fixed route, for the page and map tests.

The approval flow commits (one transaction per request, an append-only audit log), so
these fixtures commit too: the city gets a unique name and is deleted afterwards; the
application stays, like the approval tests' own, and no test counts applications.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import geopandas as gpd
import shapely
import shapely.geometry
from fastapi.testclient import TestClient
from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.approvals.auth import issue_token
from api.approvals.models import User
from api.approvals.seed import DEMO_PASSWORD
from api.approvals.seed import seed_sample_city
from maps.frames import normalise_utilities
from tests.api.approvals.flow import Flow
from tests.maps.sample import CRS
from tests.maps.sample import StoredCity
from tests.maps.sample import store_city
from tests.maps.sample import trench_edges

# the osm id of the sample road (first trench edge) that the fixture puts under protection
PROTECTED_ROAD = str(trench_edges()["edge"].iloc[0])


@contextmanager
def committed_city(engine: Engine) -> Iterator[StoredCity]:
    with engine.begin() as conn:
        city = store_city(conn)
        # a tight extent, so a route in the sample area finds this city first
        conn.execute(
            text(
                "UPDATE cities SET extent = ST_Envelope(ST_Transform(ST_SetSRID(ST_Buffer(("
                "SELECT ST_Extent(geom)::geometry FROM road_segments WHERE city_id = :c), 1), "
                "32652), 4326)) WHERE id = :c"
            ),
            {"c": city.city_id},
        )
        store_colocation(conn, city.city_id)
        # one road of the route was rebuilt last year: inside its 5-year protection period
        conn.execute(
            text(
                "UPDATE road_segments SET built_on = CURRENT_DATE - 365 "
                "WHERE city_id = :c AND source_id = :s"
            ),
            {"c": city.city_id, "s": PROTECTED_ROAD},
        )
    try:
        yield city
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM cities WHERE id = :c"), {"c": city.city_id})


def store_colocation(conn: Connection, city_id: int) -> None:
    """One co-location group along the first trench edge and one warning at its middle."""
    edge = trench_edges().iloc[0].geometry
    line_id = conn.execute(
        text("SELECT min(id) FROM proposed_lines WHERE city_id = :c"), {"c": city_id}
    ).scalar_one()
    conn.execute(
        text(
            "INSERT INTO colocation_groups (city_id, key, horizon_days, utilities, projects, "
            "applicants, shared_length_m, window_start, window_end, srid, geom) VALUES (:c, "
            "'k1', 90, ARRAY['water', 'gas'], ARRAY['P1', 'P2'], ARRAY['A1', 'A2'], :len, "
            "'2026-05-01', '2026-09-30', 32652, ST_Multi(ST_GeomFromText(:wkt, 32652)))"
        ),
        {"c": city_id, "len": edge.length, "wkt": edge.wkt},
    )
    conn.execute(
        text(
            "INSERT INTO colocation_warnings (city_id, proposed_line_id, kind, rule, "
            "verification, message, detail, srid, geom) VALUES (:c, :p, 'protection_period', "
            "'road_excavation.protection_period', 'verified', '道路保护期内 inside the "
            "protection period', '{}', 32652, ST_GeomFromText(:wkt, 32652))"
        ),
        {"c": city_id, "p": line_id, "wkt": edge.interpolate(0.5, normalized=True).wkt},
    )


def seeded_tokens(engine: Engine) -> dict[str, str]:
    now = dt.datetime.now(dt.UTC)
    out = {}
    with Session(engine) as session, session.begin():
        users = seed_sample_city(session, password=DEMO_PASSWORD).users
        for user in session.scalars(select(User).where(User.username.in_(list(users)))):
            out[user.username], _ = issue_token(
                session=session, user=user, now=now, ttl_minutes=600
            )
    return out


def route_body(edges: gpd.GeoDataFrame | None = None) -> dict[str, Any]:
    """The fixed route of the demo application: the hand-made trench plan as GeoJSON."""
    edges = trench_edges() if edges is None else edges
    features = [
        {
            "type": "Feature",
            "properties": {"edge": e.edge, "utilities": list(normalise_utilities(e.utilities))},
            "geometry": e.geometry.__geo_interface__,
        }
        for e in edges.itertuples()
    ]
    # a TrenchPlan summary as routing.results.plan_to_geojson puts it (made-up costs)
    plan = {
        "method": "milp",
        "status": "optimal",
        "gap": 0.0,
        "total_cost_cny": 1_000_000.0,
        "savings_vs_separate_cny": 1_500_000.0,
        "savings_vs_separate": 0.6,
        "savings_vs_overlay_cny": 600_000.0,
        "savings_vs_overlay": 0.375,
        "sharing_rule": "proportional",
        "shares": [{"utility": "water", "cost_cny": 400_000.0, "fraction": 0.4}],
    }
    return {
        "geojson": {"type": "FeatureCollection", "features": features, "plan": plan},
        "crs": CRS,
        "quantities": {"trench_length_m": round(float(edges.geometry.length.sum()), 1)},
        "plan_id": None,
        "plan_version": None,
    }


def sample_site() -> dict[str, Any]:
    """A plot at the start of the first trench edge, in lon/lat (inside the sample city)."""
    start = shapely.Point(trench_edges().geometry.iloc[0].coords[0])
    plot = gpd.GeoSeries([start.buffer(15.0).envelope], crs=CRS).to_crs(4326).iloc[0]
    return dict(shapely.geometry.mapping(shapely.set_precision(plot, 1e-6)))


def sample_flow(client: TestClient, tokens: dict[str, str], city: StoredCity) -> Flow:
    """The approval flow with its applications in the committed sample city."""
    return Flow(client, tokens, city=city.name, site=sample_site())


def permitting_application(
    client: TestClient, tokens: dict[str, str], city: StoredCity
) -> dict[str, Any]:
    """Drive a new application in ``city`` through the flow to the parallel permits."""
    flow = sample_flow(client, tokens, city)
    app = flow.submit(utilities=("water", "power", "heat", "gas", "drainage", "telecom"))
    app = flow.accept(app)
    app = flow.accept_dispatches(app)
    flow.opinions(app)
    flow.fix_route(app, **route_body())
    app = flow.read(app["id"])
    assert app["status"] == "permitting", app
    return app


def stored_plan(
    client: TestClient,
    city: StoredCity,
    *,
    application_ids: list[int] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    """Plan a shared trench (issue 5's API) from one sample road end to supplies on others."""
    edges = trench_edges()
    site = edges.geometry.iloc[0].coords[0]
    supplies = {
        "water": edges.geometry.iloc[1].coords[-1],
        "gas": edges.geometry.iloc[1].coords[-1],
        "power": edges.geometry.iloc[4].coords[-1],
    }
    body = {
        "city": city.name,
        "sites": [{"x": site[0], "y": site[1], "utilities": sorted(supplies), "name": "S1"}],
        "supplies": {u: [{"x": x, "y": y}] for u, (x, y) in supplies.items()},
        "method": "milp",
        "time_limit_s": 10,
        "application_ids": application_ids,
    }
    headers = {"Authorization": f"Bearer {token}"} if token else {}  # else the client's own
    response = client.post("/plans", json=body, headers=headers)
    assert response.status_code == 201, response.text
    plan: dict[str, Any] = response.json()
    return plan
