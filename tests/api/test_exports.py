"""Downloads of co-location groups and plans in every format, read back with pyogrio and ezdxf.

The expected counts and utilities come from what the test submitted, not from the product.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ezdxf
import geopandas as gpd
import pyogrio
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy import text

from api.main import create_app
from geodata.db import session_scope
from geodata.importer import import_layer
from geodata.storage import create_city
from tests.api.test_plans import body as plan_body
from tests.conftest import Users
from tests.helpers import read_sample
from tests.helpers import sample_path

pytestmark = pytest.mark.db

FORMATS = ("gpkg", "shp", "kml", "geojson", "csv", "dxf")
SUFFIX = {"gpkg": ".gpkg", "shp": ".zip", "kml": ".kml", "geojson": ".geojson", "csv": ".csv"}


@pytest.fixture(scope="module")
def city(engine: Engine) -> Iterator[str]:
    name = f"harbin_exp_{uuid.uuid4().hex[:8]}"
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
    with TestClient(create_app(engine=engine), headers=users.headers("designer", city=city)) as c:
        yield c


@pytest.fixture(scope="module")
def groups(client: TestClient, city: str) -> list[dict[str, Any]]:
    sample = read_sample("proposed_lines")
    p03_p05 = sample[sample["id"].str.startswith(("P03", "P05"))]
    collection = json.loads(p03_p05.to_crs(4326).to_json(drop_id=True))
    made = client.post(f"/proposals/{city}", json=collection)
    assert made.status_code == 201, made.text
    listed = client.get(f"/proposals/{city}/groups").json()["features"]
    assert len(listed) == 1
    return listed


@pytest.fixture(scope="module")
def plan_key(client: TestClient, city: str) -> str:
    made = client.post("/plans", json=plan_body(city))
    assert made.status_code == 201, made.text
    return str(made.json()["plan_key"])


def _read(fmt: str, data: bytes, tmp_path: Path) -> gpd.GeoDataFrame:
    path = tmp_path / f"out{SUFFIX[fmt]}"
    path.write_bytes(data)
    if fmt == "shp":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            assert {Path(n).suffix for n in archive.namelist()} >= {".shp", ".dbf", ".prj", ".cpg"}
        return pyogrio.read_dataframe(f"/vsizip/{path}")
    if fmt == "csv":
        return pyogrio.read_dataframe(path, GEOM_POSSIBLE_NAMES="WKT", KEEP_GEOM_COLUMNS="NO")
    return pyogrio.read_dataframe(path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_groups_download_in_every_format(
    client: TestClient, city: str, groups: list[dict[str, Any]], fmt: str, tmp_path: Path
) -> None:
    response = client.get(f"/proposals/{city}/groups/export", params={"format": fmt})
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["content-disposition"]
    if fmt == "dxf":
        doc = ezdxf.read(io.StringIO(response.content.decode("utf-8", errors="replace")))
        assert doc.header["$MEASUREMENT"] == 1  # metric
        assert len(doc.modelspace().query("LWPOLYLINE LINE POLYLINE")) > 0
        return
    frame = _read(fmt, response.content, tmp_path)
    assert len(frame) == len(groups)
    if fmt in {"gpkg", "shp", "csv"}:
        x, y = shapely.get_coordinates(frame.geometry.to_numpy())[0]
        assert 300_000 < x < 800_000 and 5_000_000 < y < 5_100_000  # the city's UTM zone


@pytest.mark.parametrize("fmt", FORMATS)
def test_plan_download_in_every_format(
    client: TestClient, plan_key: str, fmt: str, tmp_path: Path
) -> None:
    geojson = client.get(f"/plans/{plan_key}/geojson").json()
    utilities = {tuple(sorted(f["properties"]["utilities"])) for f in geojson["features"]}
    response = client.get(f"/plans/{plan_key}/export", params={"format": fmt})
    assert response.status_code == 200, response.text
    assert f"plan-{plan_key}-v1" in response.headers["content-disposition"]
    if fmt == "dxf":
        doc = ezdxf.read(io.StringIO(response.content.decode("utf-8", errors="replace")))
        assert doc.header["$INSUNITS"] == 6  # metres
        layers = {e.dxf.layer for e in doc.modelspace()}
        assert len(layers) >= 1
        return
    frame = _read(fmt, response.content, tmp_path)
    assert len(frame) == len(geojson["features"])
    assert utilities  # the plan serves water and power


def test_unknown_format_and_plan_are_refused(client: TestClient, plan_key: str) -> None:
    bad = client.get(f"/plans/{plan_key}/export", params={"format": "xls"})
    assert bad.status_code == 422
    assert "format" in bad.text
    assert client.get("/plans/no-such/export", params={"format": "gpkg"}).status_code == 404
