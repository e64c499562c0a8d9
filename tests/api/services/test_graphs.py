"""The one owner of a city's road graph: built once, shared, rebuilt when the roads change."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from fastapi.testclient import TestClient
from shapely import LineString
from sqlalchemy import Engine
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.main import create_app
from api.services import graphs as graphs_module
from api.services.graphs import RoadGraphs
from api.services.graphs import build_city_graph
from geodata.db import session_scope
from geodata.importer import import_layer
from geodata.storage import create_city
from geodata.storage import delete_layer
from routing.errors import RoadLayerError
from routing.graph import build_road_graph
from routing.graph import nearest_nodes
from tests.conftest import Users
from tests.helpers import read_sample
from tests.helpers import sample_path

pytestmark = pytest.mark.db

X0, Y0 = 317_000.0, 5_067_000.0  # central Harbin, EPSG:32652


def _city(session: Session) -> str:
    name = f"graphs_{uuid.uuid4().hex[:8]}"
    create_city(session, name=name, crs="EPSG:32652", extent=read_sample("city").geometry.iloc[0])
    return name


def _street(session: Session, city: str, tmp: Path, y: float) -> int:
    path = tmp / f"street_{uuid.uuid4().hex[:6]}.gpkg"
    gpd.GeoDataFrame(
        {"id": [f"s{y:.0f}"]}, geometry=[LineString([(X0, Y0 + y), (X0 + 100, Y0 + y)])], crs=32652
    ).to_file(path, layer="roads")
    return import_layer(session, path, kind="roads", city=city).layer.id


def test_cached_until_the_roads_change(db_session: Session, tmp_path: Path) -> None:
    city = _city(db_session)
    cache = RoadGraphs()
    with pytest.raises(RoadLayerError, match="no road segments"):
        cache.get(db_session, city)
    first_layer = _street(db_session, city, tmp_path, 0)
    one = cache.get(db_session, city)
    assert cache.get(db_session, city) is one  # built once
    assert one.G.number_of_edges() == 1
    second_layer = _street(db_session, city, tmp_path, 50)  # an import
    two = cache.get(db_session, city)
    assert two is not one and two.G.number_of_edges() == 2
    delete_layer(db_session, first_layer)  # a deletion
    three = cache.get(db_session, city)
    assert three is not two and three.G.number_of_edges() == 1
    # a replacement: delete and import again in one transaction (new layer id)
    delete_layer(db_session, second_layer)
    _street(db_session, city, tmp_path, 50)
    four = cache.get(db_session, city)
    assert four is not three and four.G.number_of_edges() == 1
    assert {d["segment_id"] for *_, d in four.G.edges(data=True)} != {
        d["segment_id"] for *_, d in three.G.edges(data=True)
    }
    cache.invalidate(four.city.id)
    assert cache.get(db_session, city) is not four


def test_bridge_decks_keep_overpasses_apart(db_session: Session) -> None:
    """The city graph marks bridges from the city's bridge areas (one way, for everyone)."""
    city = _city(db_session)
    import_layer(db_session, sample_path("roads"), kind="roads", city=city, layer="roads")
    without = build_city_graph(db_session, city)
    import_layer(
        db_session,
        sample_path("protected_areas"),
        kind="protected_areas",
        city=city,
        layer="protected_areas",
    )
    cache = RoadGraphs()
    with_decks = cache.get(db_session, city)
    bridges = read_sample("protected_areas").to_crs(32652)
    roads = read_sample("roads").to_crs(32652).rename(columns={"id": "source_id"})
    reference = build_road_graph(roads, bridges=bridges[bridges["area_kind"] == "bridge"])
    n_bridge = sum(bool(d["bridge"]) for *_, d in with_decks.G.edges(data=True))
    assert n_bridge == sum(bool(d["bridge"]) for *_, d in reference.edges(data=True))
    assert n_bridge > sum(bool(d["bridge"]) for *_, d in without.G.edges(data=True))
    assert with_decks.G.number_of_nodes() == reference.number_of_nodes()


@pytest.fixture(scope="module")
def sample_city(engine: Engine) -> Iterator[str]:
    with session_scope(engine) as session:
        name = _city(session)
        for kind in ("roads", "protected_areas"):
            import_layer(session, sample_path(kind), kind=kind, city=name, layer=kind)
    yield name
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM cities WHERE name = :n"), {"n": name})


def test_proposals_and_plans_share_one_graph(
    engine: Engine, sample_city: str, users: Users, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One build serves co-location and planning; the plan snaps with nearest_nodes."""
    builds: list[Any] = []
    real = graphs_module.build_city_graph

    def counting(session: Session, city: Any) -> Any:
        out = real(session, city)
        builds.append(out)
        return out

    monkeypatch.setattr(graphs_module, "build_city_graph", counting)
    sample = read_sample("proposed_lines")
    lines = sample[sample["id"].str.startswith("P03")].to_crs(4326)
    # a designer submits the lines; the city management bureau plans
    designer = users.headers("designer", city=sample_city)
    with TestClient(create_app(engine=engine), headers=users.headers("acceptor")) as client:
        added = client.post(
            f"/proposals/{sample_city}", json=lines.__geo_interface__, headers=designer
        )
        assert added.status_code == 201, added.text
        (graph,) = builds
        G = graph.G  # noqa: N806 - networkx's name
        line = lines.to_crs(32652).geometry.iloc[0]
        (x0, y0), (x1, y1) = line.coords[0], line.coords[-1]
        plan = client.post(
            "/plans",
            json={
                "city": sample_city,
                "sites": [{"x": x1, "y": y1, "utilities": ["water"]}],
                "supplies": {"water": [{"x": x0, "y": y0}]},
                "method": "heuristic",
                "on_date": "2040-01-01",  # past every protection period
                "emergency_repair": True,
            },
        )
        assert plan.status_code == 201, plan.text
        assert len(builds) == 1, "planning reused the graph co-location built"
        snapped = client.get(f"/plans/{plan.json()['plan_key']}").json()
        assert snapped["city"] == sample_city
    # the plan's site node is the one nearest_nodes gives on that same graph
    node, dist = nearest_nodes(G, x1, y1, return_dist=True)
    assert plan.json()["summary"] is not None
    assert dist < 200.0
    assert node in G
