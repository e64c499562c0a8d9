"""The co-location service in the real PostGIS: incremental equals full, nothing half-stored."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from shapely import LineString
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.services.colocation import add_proposals
from api.services.colocation import rebuild_groups
from api.services.graphs import RoadGraphs
from geodata.colocation_store import groups_geojson
from geodata.importer import import_layer
from geodata.storage import create_city
from geodata.tables import ProposedLineRow
from routing.errors import ProposalError
from tests.conftest import table_counts
from tests.helpers import read_sample

pytestmark = pytest.mark.db

X0, Y0 = 317_000.0, 5_067_000.0  # inside the sample city (central Harbin), EPSG:32652
SPACING = 100.0
N = 5
CITY = "grid_city"
# one cache for the module, as the app holds one (each test's city is new: a new key)
GRAPHS = RoadGraphs()


def _grid_roads() -> gpd.GeoDataFrame:
    lines, names = [], []
    for i in range(N):
        for j in range(N - 1):
            lines.append(
                LineString(
                    [
                        (X0 + i * SPACING, Y0 + j * SPACING),
                        (X0 + i * SPACING, Y0 + (j + 1) * SPACING),
                    ]
                )
            )
            names.append(f"{i}路")
            lines.append(
                LineString(
                    [
                        (X0 + j * SPACING, Y0 + i * SPACING),
                        (X0 + (j + 1) * SPACING, Y0 + i * SPACING),
                    ]
                )
            )
            names.append(f"{i}街")
    frame = gpd.GeoDataFrame(
        {"id": [f"r{k}" for k in range(len(lines))], "name": names, "width": 8.0},
        geometry=lines,
        crs=32652,
    )
    # the street along y = Y0 from X0 to X0 + 100 opened in 2024: protected until 2029
    frame["built_on"] = [dt.date(2024, 1, 1) if k == 1 else None for k in range(len(frame))]
    return frame


def _random_proposals(seed: int, n: int) -> gpd.GeoDataFrame:
    rng = random.Random(seed)
    rows = []
    moves = [(1, 0), (-1, 0), (0, 1), (0, -1)]
    while len(rows) < n:
        path = [(rng.randrange(N), rng.randrange(N))]
        for _ in range(rng.randint(1, 4)):
            dx, dy = rng.choice(moves)
            nxt = (path[-1][0] + dx, path[-1][1] + dy)
            if 0 <= nxt[0] < N and 0 <= nxt[1] < N and nxt not in path:
                path.append(nxt)
        if len(path) < 2:
            continue
        centre = LineString([(X0 + x * SPACING, Y0 + y * SPACING) for x, y in path])
        start = dt.date(2026, 1, 1) + dt.timedelta(days=rng.randint(0, 300))
        k = len(rows)
        rows.append(
            {
                "id": f"L{seed}-{k}",
                "utility": rng.choice(["water", "power", "gas", "telecom"]),
                "project": f"项目{k % 4}",
                "applicant": f"申请人{k % 3}",
                "planned_start": start,
                "planned_end": start + dt.timedelta(days=rng.randint(0, 60)),
                "geometry": shapely.offset_curve(centre, rng.choice([-6.0, -3.0, 3.0, 6.0])),
            }
        )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=32652)


def _store(session: Session, frame: gpd.GeoDataFrame, kind: str, tmp: Path) -> list[int]:
    path = tmp / f"{kind}_{len(list(tmp.iterdir()))}.gpkg"
    frame.to_file(path, layer=kind)
    result = import_layer(session, path, kind=kind, city=CITY)
    return list(
        session.scalars(
            select(ProposedLineRow.id)
            .where(ProposedLineRow.layer_id == result.layer.id)
            .order_by(ProposedLineRow.id)
        )
    )


@pytest.fixture
def city(db_session: Session, tmp_path: Path) -> Session:
    create_city(
        db_session, name=CITY, crs="EPSG:32652", extent=read_sample("city").geometry.iloc[0]
    )
    _store(db_session, _grid_roads(), "roads", tmp_path)
    return db_session


def _group_sets(session: Session) -> set[tuple[tuple[int, ...], tuple[int, ...], float]]:
    features = groups_geojson(session, city=CITY)["features"]
    return {
        (
            tuple(f["properties"]["proposed_line_ids"]),
            tuple(f["properties"]["road_segment_ids"]),
            round(f["properties"]["shared_length_m"], 6),
        )
        for f in features
    }


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_one_by_one_equals_full_rebuild(city: Session, tmp_path: Path, seed: int) -> None:
    ids = _store(city, _random_proposals(seed, 24), "proposed_lines", tmp_path)
    order = list(ids)
    random.Random(seed).shuffle(order)
    for line_id in order:
        add_proposals(city, GRAPHS, city=CITY, line_ids=[line_id])
    incremental = _group_sets(city)
    assert incremental, "the layout should produce groups"
    rebuild_groups(city, GRAPHS, city=CITY)
    assert _group_sets(city) == incremental


def test_adding_a_far_proposal_leaves_other_groups_untouched(city: Session, tmp_path: Path) -> None:
    props = _random_proposals(7, 12)
    ids = _store(city, props, "proposed_lines", tmp_path)
    add_proposals(city, GRAPHS, city=CITY, line_ids=ids)
    before = {f["id"] for f in groups_geojson(city, city=CITY)["features"]}
    assert before
    far = _random_proposals(8, 1).assign(
        geometry=[LineString([(X0 - 6, Y0 + 400), (X0 - 6, Y0 + 310)])],
        planned_start=dt.date(2030, 1, 1),
        planned_end=dt.date(2030, 2, 1),
    )
    add_proposals(city, GRAPHS, city=CITY, line_ids=_store(city, far, "proposed_lines", tmp_path))
    assert {f["id"] for f in groups_geojson(city, city=CITY)["features"]} == before


def test_outcome_and_queries(city: Session, tmp_path: Path) -> None:
    both = gpd.GeoDataFrame(
        {
            "id": ["water-1", "power-1"],
            "utility": ["water", "power"],
            "project": ["A", "B"],
            "applicant": ["供水公司", "供电公司"],
            "planned_start": [dt.date(2026, 4, 1), dt.date(2026, 5, 1)],
            "planned_end": [dt.date(2026, 4, 30), dt.date(2026, 5, 30)],
        },
        geometry=[
            LineString([(X0 + 5, Y0 + 6), (X0 + 195, Y0 + 6)]),
            LineString([(X0 + 5, Y0 - 6), (X0 + 195, Y0 - 6)]),
        ],
        crs=32652,
    )
    ids = _store(city, both, "proposed_lines", tmp_path)
    outcome = add_proposals(city, GRAPHS, city=CITY, line_ids=ids)
    body = outcome.as_dict()
    (group,) = body["groups"]
    props = group["properties"]
    assert props["utilities"] == ["power", "water"]
    assert props["proposed_line_ids"] == ids
    assert (props["window_start"], props["window_end"]) == ("2026-04-01", "2026-05-30")
    assert props["shared_length_m"] == pytest.approx(190, abs=2.0)  # step_m / 2 at the node
    # the first road of the grid was built 2024-01-01: protected until 2029
    kinds = {(w["line"], w["kind"]) for w in body["warnings"]}
    assert (ids[0], "protected_road") in kinds
    # only this test's lines: other tests' committed cities share the database
    stored = city.execute(
        text("SELECT count(*) FROM colocation_warnings WHERE proposed_line_id = ANY(:ids)"),
        {"ids": ids},
    ).scalar_one()
    assert stored == len(body["warnings"])
    lon, lat = 126.66, 45.74  # somewhere else in Harbin
    assert (
        groups_geojson(city, city=CITY, bbox=(lon, lat, lon + 0.001, lat + 0.001))["features"] == []
    )
    assert len(groups_geojson(city, city=CITY, start=dt.date(2026, 5, 30))["features"]) == 1
    assert groups_geojson(city, city=CITY, start=dt.date(2026, 5, 31))["features"] == []
    assert groups_geojson(city, city=CITY, end=dt.date(2026, 3, 31))["features"] == []
    with pytest.raises(ProposalError, match="already added"):
        add_proposals(city, GRAPHS, city=CITY, line_ids=ids)


def test_bad_proposal_stores_nothing(city: Session, tmp_path: Path) -> None:
    bad = _random_proposals(5, 2)
    bad.loc[1, "geometry"] = LineString([(X0 + 5000, Y0), (X0 + 5100, Y0)])
    ids = _store(city, bad, "proposed_lines", tmp_path)
    before = table_counts(city.connection())
    with pytest.raises(ProposalError, match=r"L5-1: far from any road") as info:
        add_proposals(city, GRAPHS, city=CITY, line_ids=ids)
    assert [p["feature"] for p in info.value.detail] == ["L5-1"]
    assert table_counts(city.connection()) == before
