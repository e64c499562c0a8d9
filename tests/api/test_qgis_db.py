"""The database as QGIS, GDAL and pgRouting read it: geometry_columns, per-city views, topology.

Reference paths come from networkx on the product's graph; pgRouting computes its own.
"""

from __future__ import annotations

import random
import subprocess
import uuid
from collections.abc import Iterator

import networkx as nx
import pytest
from sqlalchemy import Engine
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from api.services.graphs import build_city_graph
from api.services.topology import store_topology
from geodata.city_views import city_view_names
from geodata.city_views import refresh_city_views
from geodata.db import libpq_uri
from geodata.db import session_scope
from geodata.importer import import_layer
from geodata.migrate import grant_app_role
from geodata.storage import create_city
from tests.helpers import read_sample
from tests.helpers import sample_path

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def city(engine: Engine, owner_engine: Engine, owner_database_url: str) -> Iterator[str]:
    name = f"qgis_{uuid.uuid4().hex[:8]}"
    with session_scope(engine) as session:
        create_city(
            session, name=name, crs="EPSG:32652", extent=read_sample("city").geometry.iloc[0]
        )
        import_layer(session, sample_path("roads"), kind="roads", city=name, layer="roads")
        import_layer(session, sample_path("trees"), kind="trees", city=name, layer="trees")
        assert store_topology(session, name) > 0
    # views are the owner's to make (the app role only reads them)
    with owner_engine.begin() as conn:
        refresh_city_views(conn)
    grant_app_role(owner_database_url)
    yield name
    with owner_engine.begin() as conn:
        for view in city_view_names(name).values():
            conn.execute(text(f'DROP VIEW IF EXISTS "{view}"'))
        conn.execute(text("DELETE FROM cities WHERE name = :name"), {"name": name})


def test_geometry_columns_lists_each_city_view_with_its_srid(engine: Engine, city: str) -> None:
    views = city_view_names(city)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT f_table_name, srid, type FROM geometry_columns")
        ).all()  # this query failed on every call before the checks were rewritten
    found = {name: (srid, kind) for name, srid, kind in rows}
    assert found[views["roads"]] == (32652, "LINESTRING")
    assert found[views["trees"]] == (32652, "POINT")
    assert found[views["topology"]] == (32652, "LINESTRING")
    assert found["road_segments"][0] == 0  # the shared table: mixed SRIDs, said as such


def _pg(database_url: str) -> str:
    return "PG:" + libpq_uri(database_url)


def test_gdal_reads_a_view_in_the_citys_crs(engine: Engine, database_url: str, city: str) -> None:
    view = city_view_names(city)["roads"]
    info = subprocess.run(
        ["ogrinfo", "-ro", "-so", _pg(database_url), view],
        capture_output=True,
        text=True,
        check=False,
    )
    assert info.returncode == 0, info.stderr
    assert 'ID["EPSG",32652]' in info.stdout
    assert f"Feature Count: {len(read_sample('roads'))}" in info.stdout


def test_pgrouting_finds_the_planners_shortest_paths(engine: Engine, city: str) -> None:
    with Session(engine) as session:
        G = build_city_graph(session, city).G  # noqa: N806
    view = city_view_names(city)["topology"]
    biggest = max(nx.connected_components(G), key=len)
    pairs = random.Random(3).sample(sorted(biggest), 12)
    edges_sql = f"SELECT id, source, target, cost, reverse_cost FROM {view}"
    with engine.connect() as conn:
        for a, b in zip(pairs[::2], pairs[1::2], strict=True):
            theirs = conn.execute(
                text("SELECT max(agg_cost) FROM pgr_dijkstra(:edges, :a, :b, directed => false)"),
                {"edges": edges_sql, "a": a, "b": b},
            ).scalar()
            ours = nx.shortest_path_length(G, a, b, weight="length_m")
            assert theirs == pytest.approx(ours, abs=1e-6), (a, b)


def test_the_app_only_reads_the_views(engine: Engine, city: str) -> None:
    view = city_view_names(city)["trees"]
    with engine.connect() as conn:
        assert conn.execute(text(f'SELECT count(*) FROM "{view}"')).scalar_one() > 0
    with engine.connect() as conn, pytest.raises(DBAPIError, match="permission denied"):
        conn.execute(text(f'DELETE FROM "{view}"'))
