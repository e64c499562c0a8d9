"""The proposals API: submit lines, get matching, groups and warnings; refusals store nothing."""

from __future__ import annotations

import json
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

from api.main import create_app
from api.routes.proposals import ProposalSubmissionPublic
from geodata.db import session_scope
from geodata.importer import import_layer
from geodata.storage import create_city
from tests.conftest import Users
from tests.conftest import table_counts
from tests.helpers import read_sample
from tests.helpers import sample_path

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def city(engine: Engine) -> Iterator[str]:
    """A committed city with the sample roads and bridge areas; dropped afterwards."""
    name = f"harbin_prop_{uuid.uuid4().hex[:8]}"
    with session_scope(engine) as session:
        create_city(
            session, name=name, crs="EPSG:32652", extent=read_sample("city").geometry.iloc[0]
        )
        for kind in ("roads", "protected_areas"):
            import_layer(session, sample_path(kind), kind=kind, city=name, layer=kind)
    yield name
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM cities WHERE name = :name"), {"name": name})


@pytest.fixture(scope="module")
def client(engine: Engine, users: Users, city: str) -> Iterator[TestClient]:
    """A utility company's designer working on the city."""
    headers = users.headers("designer", city=city)
    with TestClient(create_app(engine=engine), headers=headers) as test_client:
        yield test_client


def _collection(frame: gpd.GeoDataFrame) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(frame.to_crs(4326).to_json(drop_id=True))
    return out


def test_submit_geojson_then_file_then_list_groups(
    client: TestClient, city: str, tmp_path: Path
) -> None:
    sample = read_sample("proposed_lines")
    p03_p05 = sample[sample["id"].str.startswith(("P03", "P05"))]
    response = client.post(f"/proposals/{city}", json=_collection(p03_p05))
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    body = ProposalSubmissionPublic.model_validate(response.json())
    assert {line.source_id for line in body.lines} == set(p03_p05["id"])
    assert body.along and body.crossings
    (group,) = body.groups
    assert group["properties"]["utilities"] == ["drainage", "gas", "power", "water"]
    assert len(group["properties"]["projects"]) == 2
    assert all(w.rule for w in body.warnings)

    p04 = sample[sample["id"].str.startswith("P04")]
    path = tmp_path / "p04.gpkg"
    p04.to_file(path, layer="proposed_lines")
    uploaded = client.post(
        f"/proposals/{city}/upload", files=[("file", (path.name, path.read_bytes()))]
    )
    assert uploaded.status_code == 201, uploaded.text
    body4 = ProposalSubmissionPublic.model_validate(uploaded.json())
    (group4,) = body4.groups
    assert group4["properties"]["utilities"] == ["gas", "water"]

    listed = client.get(f"/proposals/{city}/groups")
    assert listed.status_code == 200
    assert listed.headers["content-type"] == "application/geo+json"
    features = listed.json()["features"]
    assert len(features) == 2
    assert all(f["geometry"]["type"] == "MultiLineString" for f in features)
    lon, lat = features[0]["geometry"]["coordinates"][0][0]
    near = client.get(
        f"/proposals/{city}/groups",
        params={"bbox": f"{lon - 0.0005},{lat - 0.0005},{lon + 0.0005},{lat + 0.0005}"},
    ).json()["features"]
    assert [f["id"] for f in near] == [features[0]["id"]]
    start = features[1]["properties"]["window_start"]
    later = client.get(f"/proposals/{city}/groups", params={"start": start}).json()["features"]
    assert features[1]["id"] in [f["id"] for f in later]
    assert (
        client.get(f"/proposals/{city}/groups", params={"end": "2020-01-01"}).json()["features"]
        == []
    )
    bad_bbox = client.get(f"/proposals/{city}/groups", params={"bbox": "1,2,3"})
    assert bad_bbox.status_code == 422


def _bad(frame: gpd.GeoDataFrame, source_id: str, **changes: object) -> gpd.GeoDataFrame:
    row = frame.iloc[[0]].copy()
    row["id"] = source_id
    for column, value in changes.items():
        if column == "geometry":
            row = row.set_geometry([value], crs=frame.crs)
        else:
            row[column] = value
    return row


@pytest.mark.parametrize(
    ("name", "changes", "words"),
    [
        (
            "far",
            {"geometry": LineString([(330000, 5080000), (330100, 5080000)])},
            "far from any road",
        ),
        (
            "loop",
            {
                "geometry": LineString(
                    [(318130, 5068826), (318160, 5068826), (318145, 5068800), (318145, 5068840)]
                )
            },
            "crosses itself",
        ),
        ("undated", {"planned_start": None}, "planned_start"),
        ("backwards", {"planned_end": "2020-01-01"}, "before"),
    ],
)
def test_bad_input_names_the_feature_and_stores_nothing(
    *,
    client: TestClient,
    city: str,
    engine: Engine,
    name: str,
    changes: dict[str, object],
    words: str,
) -> None:
    sample = read_sample("proposed_lines")
    good = sample.iloc[[0]].assign(id="fine-line")
    frame = gpd.GeoDataFrame(
        gpd.pd.concat([good, _bad(sample, f"bad-{name}", **changes)], ignore_index=True),
        crs=sample.crs,
    )
    with engine.connect() as conn:
        before = table_counts(conn)
    response = client.post(f"/proposals/{city}", json=_collection(frame))
    assert response.status_code == 422, response.text
    assert f"bad-{name}" in response.text
    assert words in response.text
    with engine.connect() as conn:
        assert table_counts(conn) == before


def test_refuses_a_body_that_is_not_a_feature_collection(
    client: TestClient, city: str, users: Users
) -> None:
    response = client.post(f"/proposals/{city}", json={"type": "Feature"})
    assert response.status_code == 422
    assert response.json()["error"] == "ProposalError"
    missing = client.post(
        "/proposals/no-such-city",
        json=_collection(read_sample("proposed_lines")),
        headers=users.headers("designer", city="no-such-city"),
    )
    assert missing.status_code == 404
    # a designer of another city is refused before the city is even looked up
    other = client.post("/proposals/no-such-city", json=_collection(read_sample("proposed_lines")))
    assert other.status_code == 403
    assert "not your city" in other.json()["message"]


# -- the same lines in one request or several --------------------------------------------------

X0, Y0 = 317_000.0, 5_067_000.0  # central Harbin, EPSG:32652 (inside the sample city)


def _street_city(engine: Engine, tmp_path: Path) -> str:
    """A committed city with one unnamed street of three segments (so warnings cite ids)."""
    name = f"street_{uuid.uuid4().hex[:8]}"
    roads = gpd.GeoDataFrame(
        {"id": ["s1", "s2", "s3"], "width": [10.0, 10.0, 10.0]},
        geometry=[LineString([(X0 + 100 * k, Y0), (X0 + 100 * (k + 1), Y0)]) for k in range(3)],
        crs=32652,
    )
    path = tmp_path / f"{name}.gpkg"
    roads.to_file(path, layer="roads")
    with session_scope(engine) as session:
        create_city(
            session, name=name, crs="EPSG:32652", extent=read_sample("city").geometry.iloc[0]
        )
        import_layer(session, path, kind="roads", city=name)
    return name


def _street_lines() -> gpd.GeoDataFrame:
    """Three projects along the street: telecom, then water 12 days later, then gas 200 days
    after the water (each a 'dug recently' of the one before), and power alongside the gas."""
    rows = [
        ("telecom-C", "telecom", "C", "2026-06-01", "2026-12-20", 6.0),
        ("water-A", "water", "A", "2027-01-01", "2027-03-01", 3.0),
        ("gas-B", "gas", "B", "2027-09-17", "2027-10-30", -3.0),
        ("power-B", "power", "B", "2027-09-20", "2027-10-15", -6.0),
    ]
    return gpd.GeoDataFrame(
        {
            "id": [r[0] for r in rows],
            "utility": [r[1] for r in rows],
            "project": [r[2] for r in rows],
            "applicant": [f"公司{r[2]}" for r in rows],
            "planned_start": [r[3] for r in rows],
            "planned_end": [r[4] for r in rows],
        },
        geometry=[LineString([(X0 + 20, Y0 + r[5]), (X0 + 280, Y0 + r[5])]) for r in rows],
        crs=32652,
    )


def _stored_outcome(engine: Engine, city: str) -> tuple[set[Any], set[Any]]:
    """The city's warnings and groups, named by source ids (stored ids differ per city)."""
    with engine.connect() as conn:
        warnings = conn.execute(
            text(
                """SELECT p.source_id, w.kind, w.detail -> 'values', r.source_id, w.message
                     FROM colocation_warnings w
                     JOIN proposed_lines p ON p.id = w.proposed_line_id
                     LEFT JOIN road_segments r
                       ON r.id = (w.detail -> 'where' ->> 'segment_id')::int
                     JOIN cities c ON c.id = w.city_id
                    WHERE c.name = :c"""
            ),
            {"c": city},
        ).all()
        groups = conn.execute(
            text(
                """SELECT array_agg(p.source_id ORDER BY p.source_id), g.utilities,
                          round(g.shared_length_m::numeric, 3), g.window_start, g.window_end
                     FROM colocation_groups g
                     JOIN colocation_group_members m ON m.group_id = g.id
                     JOIN proposed_lines p ON p.id = m.proposed_line_id
                     JOIN cities c ON c.id = g.city_id
                    WHERE c.name = :c
                    GROUP BY g.id"""
            ),
            {"c": city},
        ).all()
    for row in warnings:
        # the road is cited by its stored id, as an integer ("road 9821", never "9821.0")
        assert ".0 was dug" not in row[4], row[4]
    named = {
        (line, kind, json.dumps(values, sort_keys=True), road)
        for line, kind, values, road, _ in warnings
    }
    return named, {(tuple(a), tuple(u), float(s), w0, w1) for a, u, s, w0, w1 in groups}


def test_warnings_and_groups_do_not_depend_on_how_lines_are_sent(
    client: TestClient, engine: Engine, users: Users, tmp_path: Path
) -> None:
    lines = _street_lines()
    batches = {
        "one request": [lines],
        "one by one": [lines.iloc[[i]] for i in range(len(lines))],
        "one by one, last first": [lines.iloc[[i]] for i in reversed(range(len(lines)))],
        "two requests": [lines.iloc[[1, 3]], lines.iloc[[0, 2]]],
    }
    cities = {key: _street_city(engine, tmp_path) for key in batches}
    try:
        outcomes = {}
        for key, parts in batches.items():
            for part in parts:
                response = client.post(
                    f"/proposals/{cities[key]}",
                    json=_collection(part),
                    headers=users.headers("designer", city=cities[key]),
                )
                assert response.status_code == 201, (key, response.text)
            outcomes[key] = _stored_outcome(engine, cities[key])
        warnings, groups = outcomes["one request"]
        recent = {(w[0], w[3]) for w in warnings if w[1] == "dug_recently"}
        # water after telecom and gas after water (power after water too), on each segment
        # both lines share: s1, s2 and s3
        assert recent == {
            (line, road) for line in ("water-A", "gas-B", "power-B") for road in ("s1", "s2", "s3")
        }
        assert groups, "gas and power of project B run together"
        for key, outcome in outcomes.items():
            assert outcome == (warnings, groups), key
    finally:
        with engine.begin() as conn:
            conn.execute(
                text("DELETE FROM cities WHERE name = ANY(:n)"), {"n": list(cities.values())}
            )
