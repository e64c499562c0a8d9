"""What a permit carries is frozen with the route version: one analysis, stored documents.

A route fixed in a city with frost: the quantities stored with the version equal those on the
review page and those printed on the excavation sheet; after another city with an
overlapping extent is added and a new layer imported, the version's documents are the same
bytes (while a fresh analysis of the same route would now differ).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import orjson
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.approvals.models import Application
from api.approvals.models import RouteVersion
from api.main import create_app
from api.routes.maps import TOKEN_COOKIE
from api.services.analysis import version_analysis
from api.services.documents import documents_of
from geodata.db import session_scope
from geodata.layers import save_layer
from geodata.storage import create_city
from maps.style import PERMIT_TYPES
from tests.conftest import Users
from tests.helpers import pdf_text
from tests.helpers import printed_number
from tests.maps.sample import CRS
from tests.maps.sample import StoredCity
from tests.maps.sample import trench_edges
from tests.maps.workbench import committed_city
from tests.maps.workbench import permitting_application
from tests.maps.workbench import seeded_tokens

pytestmark = pytest.mark.db

FROST_DEPTH_M = 1.8
M3 = 0.01  # the acceptance tolerance (m³)


@pytest.fixture(scope="module")
def city(engine: Engine) -> Iterator[StoredCity]:
    """The sample city with a frost depth (a cold-region city, as Harbin)."""
    with committed_city(engine) as c:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE cities SET frost_depth_m = :f WHERE id = :c"),
                {"f": FROST_DEPTH_M, "c": c.city_id},
            )
        yield c


@pytest.fixture(scope="module")
def tokens(engine: Engine) -> dict[str, str]:
    return seeded_tokens(engine)


@pytest.fixture(scope="module")
def client(engine: Engine, city: StoredCity) -> Iterator[TestClient]:
    with TestClient(create_app(engine=engine)) as c:
        yield c


@pytest.fixture(scope="module")
def application(client: TestClient, tokens: dict[str, str], city: StoredCity) -> dict[str, Any]:
    return permitting_application(client, tokens, city)


def bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['acceptor']}"}


def _route(engine: Engine, application: dict[str, Any]) -> RouteVersion:
    with Session(engine) as session:
        return session.scalars(
            select(RouteVersion).where(RouteVersion.application_id == application["id"])
        ).one()


def _hashes(engine: Engine, route_id: int) -> dict[str, str]:
    with Session(engine) as session:
        return {
            d.name: hashlib.sha256(d.data).hexdigest() == d.sha256 and d.sha256
            for d in documents_of(session, route_id)
        }


def test_stored_quantities_equal_the_review_page_and_the_excavation_sheet(
    engine: Engine,
    client: TestClient,
    *,
    tokens: dict[str, str],
    application: dict[str, Any],
    city: StoredCity,
    tmp_path: Path,
) -> None:
    route = _route(engine, application)
    assert route.city == city.name  # stored with the version
    stored = route.quantities["cross_sections"]
    assert stored["frost_depth_m"] == FROST_DEPTH_M
    excavation = stored["totals"]["excavation_m3"]
    backfill = stored["totals"]["backfill_m3"]
    assert excavation > 0
    # the frost line governs: every water main's top lies below it (GB 50013 §7.3.5)
    frozen = orjson.loads(
        client.get(
            f"/permits/applications/{application['id']}/quantities.json", headers=bearer(tokens)
        ).content
    )
    covers = [
        line["cover_m"]
        for s in frozen["sections"]
        for line in s["lines"]
        if line["utility"] == "water"
    ]
    assert covers and min(covers) >= FROST_DEPTH_M

    client.cookies.set(TOKEN_COOKIE, tokens["acceptor"])
    try:
        page = client.get(f"/workbench/applications/{application['id']}")
    finally:
        client.cookies.clear()
    assert page.status_code == 200
    assert printed_number(page.text, "开挖土方 Excavation") == pytest.approx(excavation, abs=M3)
    assert printed_number(page.text, "回填 Backfill") == pytest.approx(backfill, abs=M3)

    sheet = client.get(
        f"/permits/applications/{application['id']}/sheets/road_excavation.pdf",
        headers=bearer(tokens),
    )
    assert sheet.status_code == 200
    printed = pdf_text(sheet.content, tmp_path)
    assert printed_number(printed, "开挖土方 Excavation") == pytest.approx(excavation, abs=M3)
    assert printed_number(printed, "回填 Backfill") == pytest.approx(backfill, abs=M3)

    # and a fresh analysis of the version in its city says the same (one analysis)
    with Session(engine) as session:
        app = session.get(Application, application["id"])
        assert app is not None
        again = version_analysis(session, app, route)
    assert again.quantities.excavation_m3 == pytest.approx(excavation, abs=M3)


def test_a_new_city_and_a_new_layer_leave_the_frozen_documents_byte_identical(
    engine: Engine,
    client: TestClient,
    *,
    users: Users,
    tokens: dict[str, str],
    application: dict[str, Any],
    city: StoredCity,
    tmp_path: Path,
) -> None:
    route = _route(engine, application)
    before = _hashes(engine, route.id)
    names = {f"sheet-{t}.pdf" for t in PERMIT_TYPES} | {"packet.pdf"}
    names |= {f"section-{e}.svg" for e in trench_edges()["edge"]}
    names |= {"quantities.json", "quantities.csv"}
    assert names <= before.keys()
    assert all(before.values())  # each stored hash is the hash of its stored bytes
    base = f"/permits/applications/{application['id']}"
    urls = {
        **{f"sheet-{t}.pdf": f"{base}/sheets/{t}.pdf" for t in PERMIT_TYPES},
        "packet.pdf": f"{base}/packet.pdf",
        "quantities.json": f"{base}/quantities.json",
        "quantities.csv": f"{base}/quantities.csv",
        **{
            f"section-{e}.svg": f"/maps/applications/{application['id']}/sections/{e}.svg"
            for e in trench_edges()["edge"]
        },
    }

    def downloaded() -> dict[str, str]:
        out = {}
        for name, url in urls.items():
            r = client.get(url, headers=bearer(tokens))
            assert r.status_code == 200, (url, r.text[:200])
            out[name] = hashlib.sha256(r.content).hexdigest()
        return out

    assert downloaded() == {n: before[n] for n in urls}

    # another city whose extent overlaps (in another CRS, CGCS2000 3-degree GK), and a
    # new trees layer right on the route in the route's own city
    other = f"overlap_{uuid.uuid4().hex[:8]}"
    with session_scope(engine) as session:
        create_city(
            session, name=other, crs="EPSG:4551", extent=shapely.box(124.6, 44.0, 127.4, 47.0)
        )
    try:
        edge = trench_edges().geometry.iloc[0]
        points = [edge.interpolate(f, normalized=True) for f in (0.2, 0.4, 0.6, 0.8)]
        trees = gpd.GeoDataFrame(
            {"source_id": [f"new-{i}" for i in range(4)], "species": ["elm"] * 4},
            geometry=points,
            crs=CRS,
        )
        path = save_layer(trees, tmp_path / "new_trees.gpkg", layer="trees")
        upload = client.post(
            "/layers",
            files=[("file", (path.name, path.read_bytes()))],
            data={"kind": "trees", "city": city.name, "name": "new street trees"},
            headers=users.headers("data_admin", city=city.name),
        )
        assert upload.status_code in (200, 201), upload.text

        assert _hashes(engine, route.id) == before
        assert downloaded() == {n: before[n] for n in urls}
        with Session(engine) as session:
            assert session.get(RouteVersion, route.id).sha256 == route.sha256  # type: ignore[union-attr]
            app = session.get(Application, application["id"])
            assert app is not None
            # the same route analysed today would count the new trees: only the frozen
            # documents keep the permits' content as fixed
            fresh = version_analysis(session, app, route)
        frozen = route.quantities["cross_sections"]["totals"]["trees_to_fell"]
        assert fresh.quantities.trees_to_fell > frozen
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM cities WHERE name = :n"), {"n": other})
