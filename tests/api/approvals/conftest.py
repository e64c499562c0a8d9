"""Fixtures for the approval-flow tests: the seeded sample city, a client, tokens per user.

These tests commit (the flow runs over HTTP, one transaction per request, and the audit log
cannot be rolled back by design), so every test makes its own applications and never
relies on counts left by another.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import geopandas as gpd
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import LineString
from shapely.geometry import box
from sqlalchemy import Engine
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.approvals.auth import issue_token
from api.approvals.models import User
from api.approvals.seed import SeedResult
from api.main import create_app
from geodata.db import session_scope
from geodata.importer import import_layer
from geodata.plan_store import create_plan
from geodata.storage import create_city
from routing.graph import build_road_graph
from routing.trench import plan_shared_trench
from tests.api.approvals.flow import CITY
from tests.api.approvals.flow import Flow
from tests.helpers import sample_path


@pytest.fixture(scope="session")
def tokens(engine: Engine, seeded: SeedResult) -> dict[str, str]:
    """A bearer token per demo user (issued directly: argon2 logins are tested once)."""
    now = dt.datetime.now(dt.UTC)
    out = {}
    with Session(engine) as session, session.begin():
        for user in session.scalars(select(User).where(User.username.in_(list(seeded.users)))):
            out[user.username], _ = issue_token(
                session=session, user=user, now=now, ttl_minutes=60 * 24 * 30
            )
    return out


@pytest.fixture(scope="session")
def stored_plan(engine: Engine) -> Iterator[tuple[int, int]]:
    """A shared-trench plan from the optimiser, stored as version 1 (its row id, version).

    Two roads in EPSG:32652 along the route the flow helper fixes: water and gas from the
    west end to the site at the north end.
    """
    roads = gpd.GeoDataFrame(
        {
            "segment_id": ["a", "b"],
            "road_class": ["primary", "residential"],
            "width_m": [14.0, 8.0],
            "pavement": ["asphalt", "asphalt"],
        },
        geometry=[
            LineString([(687000, 5070000), (687120, 5070000)]),
            LineString([(687120, 5070000), (687120, 5070080)]),
        ],
        crs=32652,
    )
    G = build_road_graph(roads)  # noqa: N806 - networkx's name
    nodes = {(round(d["x"]), round(d["y"])): n for n, d in G.nodes(data=True)}
    source = nodes[(687000, 5070000)]
    plan = plan_shared_trench(
        G, {nodes[(687120, 5070080)]: {"water", "gas"}}, {"water": source, "gas": source}
    )
    name = f"approvals_{uuid.uuid4().hex[:8]}"
    with session_scope(engine) as session:
        city = create_city(
            session, name=name, crs="EPSG:32652", extent=box(126.5, 45.6, 126.8, 45.9)
        )
        stored = create_plan(session, city_id=city.id, srid=32652, plan=plan, inputs={})
    yield stored.id, stored.version
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM cities WHERE name = :name"), {"name": name})


@pytest.fixture(scope="session")
def flow_city(engine: Engine) -> Iterator[str]:
    """The city the tests file their applications in (its extent covers the form's site),
    with the sample block's roads."""
    with session_scope(engine) as session:
        create_city(
            session,
            name=CITY,
            crs="EPSG:32652",
            extent=box(126.5, 45.6, 126.8, 45.9),
            title="哈尔滨 (审批测试)",
            frost_depth_m=2.0,
        )
        # the sample block's roads and bridges, for planning from proposals
        for kind in ("roads", "protected_areas"):
            import_layer(session, sample_path(kind), kind=kind, city=CITY, layer=kind)
    yield CITY
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM cities WHERE name = :name"), {"name": CITY})


@pytest.fixture(scope="session")
def client(engine: Engine, seeded: SeedResult, flow_city: str) -> Iterator[TestClient]:
    with TestClient(create_app(engine=engine)) as c:
        yield c


@pytest.fixture
def flow(client: TestClient, tokens: dict[str, str]) -> Flow:
    return Flow(client, tokens)
