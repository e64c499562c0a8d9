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
def client(engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine=engine)) as test_client:
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


def test_refuses_a_body_that_is_not_a_feature_collection(client: TestClient, city: str) -> None:
    response = client.post(f"/proposals/{city}", json={"type": "Feature"})
    assert response.status_code == 422
    assert response.json()["error"] == "ProposalError"
    missing = client.post(
        "/proposals/no-such-city", json=_collection(read_sample("proposed_lines"))
    )
    assert missing.status_code == 404
