"""OGC API – Features: landing, conformance, collections, items, CRS; read by GDAL's client.

Reference values come from the files the test writes (counted and filtered with
geopandas here), not from the product's tables.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy import text

from api.main import create_app
from geodata.db import session_scope
from geodata.importer import import_layer
from geodata.storage import create_city
from tests.conftest import Users
from tests.helpers import read_sample
from tests.helpers import sample_path
from tests.helpers import serve

pytestmark = pytest.mark.db

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
N_TREES = 5_000


@pytest.fixture(scope="module")
def city(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """A city with the sample roads, proposed lines and 5,000 trees."""
    name = f"ogc_{uuid.uuid4().hex[:8]}"
    extent = read_sample("city").geometry.iloc[0]
    rng = np.random.default_rng(7)
    x0, y0, x1, y1 = read_sample("roads").total_bounds
    trees = gpd.GeoDataFrame(
        {"species": [f"杨树{i % 7}" for i in range(N_TREES)]},
        geometry=shapely.points(rng.uniform(x0, x1, N_TREES), rng.uniform(y0, y1, N_TREES)),
        crs="EPSG:4326",
    )
    tree_file = tmp_path_factory.mktemp("ogc") / "trees.gpkg"
    trees.to_file(tree_file, layer="trees", engine="pyogrio")
    with session_scope(engine) as session:
        create_city(session, name=name, crs="EPSG:32652", extent=extent)
        roads = import_layer(session, sample_path("roads"), kind="roads", city=name, layer="roads")
        tree_layer = import_layer(session, tree_file, kind="trees", city=name)
        lines = import_layer(
            session,
            sample_path("proposed_lines"),
            kind="proposed_lines",
            city=name,
            layer="proposed_lines",
        )
    yield {
        "name": name,
        "roads": roads.layer.id,
        "trees": tree_layer.layer.id,
        "lines": lines.layer.id,
        "tree_frame": trees,
    }
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM cities WHERE name = :name"), {"name": name})


@pytest.fixture(scope="module")
def client(engine: Engine, users: Users, city: dict[str, object]) -> Iterator[TestClient]:
    headers = users.headers("auditor", city=str(city["name"]))
    with TestClient(create_app(engine=engine), headers=headers) as test_client:
        yield test_client


def test_landing_conformance_and_collections(client: TestClient, city: dict[str, object]) -> None:
    landing = client.get("/ogc")
    assert landing.status_code == 200
    rels = {link["rel"] for link in landing.json()["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= rels
    classes = client.get("/ogc/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in classes
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in classes
    listed = client.get("/ogc/collections").json()["collections"]
    ids = {c["id"] for c in listed}
    name = city["name"]
    assert {f"layer-{city['roads']}", f"layer-{city['trees']}", f"groups-{name}"} <= ids
    assert f"plans-{name}" in ids
    # only this city's: the auditor is bound to it
    assert all(c["id"].endswith(str(name)) or c["id"].startswith("layer-") for c in listed)
    trees = client.get(f"/ogc/collections/layer-{city['trees']}").json()
    assert trees["storageCrs"] == f"{EPSG}32652"
    assert CRS84 in trees["crs"]
    frame = city["tree_frame"]
    assert isinstance(frame, gpd.GeoDataFrame)
    bx = trees["extent"]["spatial"]["bbox"][0]
    assert bx == pytest.approx(list(frame.total_bounds), abs=1e-6)


def test_items_page_through_next_links(client: TestClient, city: dict[str, object]) -> None:
    url: str | None = f"/ogc/collections/layer-{city['trees']}/items?limit=1500"
    seen: list[int] = []
    pages = 0
    while url:
        page = client.get(url)
        assert page.status_code == 200, page.text
        assert page.headers["content-type"].startswith("application/geo+json")
        assert page.headers["content-crs"] == f"<{CRS84}>"
        body = page.json()
        assert body["numberMatched"] == N_TREES
        assert body["numberReturned"] == len(body["features"])
        seen += [f["id"] for f in body["features"]]
        url = next((li["href"] for li in body["links"] if li["rel"] == "next"), None)
        pages += 1
    assert pages == 4
    assert len(seen) == len(set(seen)) == N_TREES


def test_bbox_and_crs(client: TestClient, city: dict[str, object]) -> None:
    frame = city["tree_frame"]
    assert isinstance(frame, gpd.GeoDataFrame)
    x0, y0, x1, y1 = frame.total_bounds
    box = (x0, y0, (x0 + x1) / 2, (y0 + y1) / 2)
    inside = frame.cx[box[0] : box[2], box[1] : box[3]]
    items = f"/ogc/collections/layer-{city['trees']}/items"
    got = client.get(items, params={"bbox": ",".join(map(str, box)), "limit": 10_000}).json()
    assert got["numberMatched"] == len(inside)
    # the same box in EPSG:4326 is written latitude first
    lat_first = f"{box[1]},{box[0]},{box[3]},{box[2]}"
    flipped = client.get(
        items, params={"bbox": lat_first, "bbox-crs": f"{EPSG}4326", "crs": f"{EPSG}4326"}
    )
    assert flipped.status_code == 200, flipped.text
    assert flipped.headers["content-crs"] == f"<{EPSG}4326>"
    assert flipped.json()["numberMatched"] == len(inside)
    lat, lon = flipped.json()["features"][0]["geometry"]["coordinates"]
    assert 45 < lat < 46 and 126 < lon < 127
    # the city's own projected CRS, in metres
    metres = client.get(items, params={"crs": f"{EPSG}32652", "limit": 1}).json()
    east, north = metres["features"][0]["geometry"]["coordinates"]
    assert 300_000 < east < 800_000 and 5_000_000 < north < 5_100_000
    one = metres["features"][0]["id"]
    single = client.get(f"{items}/{one}")
    assert single.status_code == 200
    assert single.json()["id"] == one
    assert client.get(f"{items}/999999999").status_code == 404


def test_datetime_filters_by_the_features_time(client: TestClient, city: dict[str, object]) -> None:
    lines = read_sample("proposed_lines")
    starts = lines["planned_start"].map(lambda v: dt.date.fromisoformat(str(v)[:10]))
    ends = lines["planned_end"].map(lambda v: dt.date.fromisoformat(str(v)[:10]))
    day = sorted(starts)[len(starts) // 2]
    expected = int(((starts <= day) & (ends >= day)).sum())
    items = f"/ogc/collections/layer-{city['lines']}/items"
    got = client.get(items, params={"datetime": day.isoformat()}).json()
    assert got["numberMatched"] == expected
    open_end = client.get(items, params={"datetime": f"{day.isoformat()}T00:00:00Z/.."}).json()
    assert open_end["numberMatched"] == int((ends >= day).sum())
    meta = client.get(f"/ogc/collections/layer-{city['lines']}").json()
    assert meta["extent"]["temporal"]["interval"][0][0] == f"{min(starts).isoformat()}T00:00:00Z"


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"colour": "red"}, "colour"),
        ({"crs": "EPSG:5773"}, "not a 2D horizontal CRS"),
        ({"crs": "http://example.com/crs"}, "must be a CRS URI"),
        ({"datetime": "yesterday"}, "not an RFC 3339"),
        ({"datetime": "2026-05-02/2026-05-01"}, "start after end"),
        ({"bbox": "45.7,126.6,45.8,126.7"}, "looks like lat,lon"),
        ({"bbox-crs": CRS84}, "bbox-crs needs a bbox"),
    ],
)
def test_bad_parameters_are_400_naming_them(
    client: TestClient, city: dict[str, object], params: dict[str, str], named: str
) -> None:
    response = client.get(f"/ogc/collections/layer-{city['roads']}/items", params=params)
    assert response.status_code == 400, response.text
    assert named in response.json()["message"]


def test_collections_are_per_city_and_authenticated(
    engine: Engine, users: Users, city: dict[str, object]
) -> None:
    with TestClient(create_app(engine=engine)) as anonymous:
        refused = anonymous.get(f"/ogc/collections/layer-{city['roads']}/items")
        assert refused.status_code == 401
        assert "请先登录" in refused.text
    other = users.headers("auditor", city=f"{city['name']}-other")
    with TestClient(create_app(engine=engine), headers=other) as stranger:
        items = stranger.get(f"/ogc/collections/layer-{city['roads']}/items")
        assert items.status_code == 403
        assert "not your city" in items.json()["why"]
        assert stranger.get(f"/ogc/collections/groups-{city['name']}").status_code == 403
        assert stranger.get("/ogc/collections").status_code == 404  # its city does not exist
    assert (
        TestClient(create_app(engine=engine), headers=other)
        .get("/ogc/collections/no-such-thing")
        .status_code
        == 404
    )


@pytest.fixture(scope="module")
def server(engine: Engine) -> Iterator[str]:
    with serve(create_app(engine=engine), "uvicorn-ogc-tests") as url:
        yield url


def test_gdal_reads_every_feature_through_the_next_links(
    server: str, users: Users, city: dict[str, object], tmp_path: Path
) -> None:
    token = users.headers("auditor", city=str(city["name"]))["Authorization"]
    env = {**os.environ, "GDAL_HTTP_HEADERS": f"Authorization: {token}"}
    source = f"OAPIF:{server}/ogc"
    listing = subprocess.run(
        ["ogrinfo", "-ro", "-q", source], capture_output=True, text=True, env=env, check=False
    )
    assert listing.returncode == 0, listing.stderr
    assert f"layer-{city['trees']}" in listing.stdout
    assert f"layer-{city['roads']}" in listing.stdout
    out = tmp_path / "trees.geojson"
    copied = subprocess.run(
        [
            "ogr2ogr",
            "-f",
            "GeoJSON",
            str(out),
            source,
            f"layer-{city['trees']}",
            "-oo",
            "PAGE_SIZE=1000",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert copied.returncode == 0, copied.stderr
    read = json.loads(out.read_text())
    assert len(read["features"]) == N_TREES
    species = {f["properties"]["species"] for f in read["features"]}
    assert species == {f"杨树{i}" for i in range(7)}
    # without the token GDAL is refused
    refused = subprocess.run(
        ["ogrinfo", "-ro", "-q", source], capture_output=True, text=True, check=False
    )
    assert refused.returncode != 0
