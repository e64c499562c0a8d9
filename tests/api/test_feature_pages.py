"""Feature pages as the web expects them: RFC 7946, next links, ETags, gzip."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy import text

from api.main import create_app
from geodata.db import session_scope
from geodata.storage import create_city
from tests.conftest import Users
from tests.helpers import read_sample
from tests.helpers import sample_path

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def city(engine: Engine) -> Iterator[str]:
    name = f"harbin_pages_{uuid.uuid4().hex[:8]}"
    with session_scope(engine) as session:
        create_city(
            session, name=name, crs="EPSG:4551", extent=read_sample("city").geometry.iloc[0]
        )
    yield name
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM cities WHERE name = :name"), {"name": name})


@pytest.fixture(scope="module")
def client(engine: Engine, users: Users, city: str) -> Iterator[TestClient]:
    """The city's data administrator."""
    headers = users.headers("data_admin", city=city)
    with TestClient(create_app(engine=engine), headers=headers) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def roads_layer(client: TestClient, city: str) -> int:
    path = sample_path("roads")
    response = client.post(
        "/layers",
        files=[("file", (path.name, path.read_bytes()))],
        data={"kind": "roads", "city": city, "layer": "roads"},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["layer"]["id"])


def test_pages_follow_next_links_to_every_feature(client: TestClient, roads_layer: int) -> None:
    url: str | None = f"/layers/{roads_layer}/features?limit=50"
    ids: list[int] = []
    matched = None
    while url:
        page = client.get(url).json()
        matched = page["numberMatched"]
        ids += [f["id"] for f in page["features"]]
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
    assert matched == len(read_sample("roads"))
    assert len(ids) == len(set(ids)) == matched


def test_lonlat_has_seven_decimals_and_no_crs_member(client: TestClient, roads_layer: int) -> None:
    page = client.get(f"/layers/{roads_layer}/features", params={"limit": 20}).json()
    assert "crs" not in page
    decimals = {
        len(repr(value).split(".")[1])
        for f in page["features"]
        for xy in f["geometry"]["coordinates"]
        for value in xy
        if "." in repr(value)
    }
    assert max(decimals) <= 7
    asked = client.get(
        f"/layers/{roads_layer}/features", params={"limit": 1, "crs": "EPSG:4551"}
    ).json()
    assert asked["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::4551"


def test_exterior_rings_are_counter_clockwise(
    client: TestClient, city: str, tmp_path: Path
) -> None:
    clockwise = shapely.Polygon(
        [(126.6400, 45.7500), (126.6400, 45.7510), (126.6415, 45.7510), (126.6415, 45.7500)],
        holes=[
            [(126.6405, 45.7503), (126.6410, 45.7503), (126.6410, 45.7507), (126.6405, 45.7507)]
        ],
    )
    assert not clockwise.exterior.is_ccw
    body = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"area_kind": "protected", "name": "古树保护区"},
                "geometry": shapely.geometry.mapping(clockwise),
            }
        ],
    }
    path = tmp_path / "area.geojson"
    path.write_text(json.dumps(body), encoding="utf-8")
    response = client.post(
        "/layers",
        files=[("file", (path.name, path.read_bytes()))],
        data={"kind": "protected_areas", "city": city},
    )
    assert response.status_code == 201, response.text
    page = client.get(f"/layers/{response.json()['layer']['id']}/features").json()
    polygon = shapely.geometry.shape(page["features"][0]["geometry"]).geoms[0]
    assert polygon.exterior.is_ccw
    assert not polygon.interiors[0].is_ccw


def test_etag_gives_304_and_changes_with_the_page(client: TestClient, roads_layer: int) -> None:
    url = f"/layers/{roads_layer}/features?limit=10"
    first = client.get(url)
    tag = first.headers["etag"]
    again = client.get(url, headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert again.content == b""
    other = client.get(f"/layers/{roads_layer}/features?limit=10&offset=10")
    assert other.headers["etag"] != tag


def test_pages_are_gzipped(client: TestClient, roads_layer: int) -> None:
    url = f"/layers/{roads_layer}/features?limit=200"
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    zipped = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    assert zipped.headers["content-encoding"] == "gzip"
    # httpx decodes the body; num_bytes_downloaded is what came over the wire
    assert zipped.num_bytes_downloaded < len(plain.content) / 3
    assert zipped.json() == plain.json()
