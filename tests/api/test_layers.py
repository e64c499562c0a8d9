"""The layers API: upload, list, features as GeoJSON, and refusals with the report."""

from __future__ import annotations

import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy import text

from api.main import create_app
from api.routes.layers import LayerImportPublic
from api.routes.layers import LayerPublic
from geodata.db import session_scope
from geodata.layers import save_layer
from geodata.storage import create_city
from tests.conftest import Users
from tests.conftest import table_counts
from tests.geodata.bad_inputs import BAD_CASES
from tests.helpers import read_sample
from tests.helpers import sample_path

pytestmark = pytest.mark.db

SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


@pytest.fixture(scope="module")
def city(engine: Engine) -> Iterator[str]:
    """A committed city with a unique name; dropped with its layers afterwards."""
    name = f"harbin_api_{uuid.uuid4().hex[:8]}"
    with session_scope(engine) as session:
        create_city(
            session, name=name, crs="EPSG:32652", extent=read_sample("city").geometry.iloc[0]
        )
    yield name
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM cities WHERE name = :name"), {"name": name})


@pytest.fixture(scope="module")
def client(engine: Engine, users: Users, city: str) -> Iterator[TestClient]:
    """The city's data administrator (imports and reads its layers)."""
    headers = users.headers("data_admin", city=city)
    with TestClient(create_app(engine=engine), headers=headers) as test_client:
        yield test_client


def _post(client: TestClient, paths: list[Path], **form: str):  # type: ignore[no-untyped-def]
    files = [("file", (p.name, p.read_bytes())) for p in paths]
    return client.post("/layers", files=files, data=form)


def test_upload_gpkg_list_and_features(client: TestClient, city: str, tmp_path: Path) -> None:
    roads = read_sample("roads")
    path = save_layer(roads, tmp_path / "roads_block.gpkg", layer="roads")
    response = _post(client, [path], kind="roads", city=city, name="central roads")
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    body = LayerImportPublic.model_validate(response.json())
    assert body.layer.feature_count == len(roads)
    assert body.layer.name == "central roads"
    assert body.layer.crs == "EPSG:32652"
    assert body.report["ok"] is True
    assert body.report["problems"] == []

    listed = client.get("/layers", params={"city": city})
    assert listed.status_code == 200
    layers = [LayerPublic.model_validate(x) for x in listed.json()]
    assert body.layer.id in {layer.id for layer in layers}
    assert client.get("/layers", params={"city": city, "kind": "trees"}).json() == []

    features = client.get(
        f"/layers/{body.layer.id}/features",
        params={"limit": 5, "bbox": "126.655,45.740,126.662,45.746"},
    )
    assert features.status_code == 200
    assert features.headers["content-type"] == "application/geo+json"
    collection = features.json()
    assert collection["type"] == "FeatureCollection"
    assert "crs" not in collection  # RFC 7946: WGS 84 lon/lat, no crs member
    assert collection["numberReturned"] == len(collection["features"]) <= 5
    assert collection["numberMatched"] >= collection["numberReturned"] > 0
    feature = collection["features"][0]
    assert feature["geometry"]["type"] == "LineString"
    assert "road_class" in feature["properties"]

    native = client.get(
        f"/layers/{body.layer.id}/features", params={"limit": 1, "crs": "EPSG:32652"}
    ).json()
    assert native["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::32652"


def test_upload_gbk_shapefile_set(client: TestClient, city: str, tmp_path: Path) -> None:
    roads = read_sample("roads").head(30)[["osm_id", "name", "highway", "lanes", "geometry"]]
    path = save_layer(roads, tmp_path / "道路.shp", encoding="GBK")
    response = _post(
        client, [path.with_suffix(s) for s in SHAPEFILE_PARTS], kind="roads", city=city
    )
    assert response.status_code == 201, response.text
    layer = response.json()["layer"]
    assert layer["source_encoding"] == "gbk"
    assert layer["source_file"] == "道路.shp"
    names = {
        f["properties"]["name"]
        for f in client.get(f"/layers/{layer['id']}/features").json()["features"]
    }
    assert names - {None} == set(roads["name"].dropna())


def test_upload_zipped_proposals_in_utm(client: TestClient, city: str, tmp_path: Path) -> None:
    # DBF names stop at 10 characters: planned_start arrives as planned_st
    with pytest.warns(RuntimeWarning, match="laundered"):
        path = save_layer(read_sample("proposed_lines"), tmp_path / "proposals.shp")
    archive = tmp_path / "proposals.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for suffix in SHAPEFILE_PARTS:
            zf.write(path.with_suffix(suffix), f"proposals{suffix}")
    response = _post(client, [archive], kind="proposed_lines", city=city)
    assert response.status_code == 201, response.text
    assert response.json()["layer"]["source_crs"] == "EPSG:32652"
    assert response.json()["layer"]["feature_count"] == len(read_sample("proposed_lines"))


def test_upload_dxf_with_crs(client: TestClient, city: str, tmp_path: Path) -> None:
    path = save_layer(read_sample("roads").head(10).to_crs(32652), tmp_path / "cad.dxf")
    refused = _post(client, [path], kind="roads", city=city)
    assert refused.status_code == 422
    assert refused.json()["error"] == "MissingCRSError"
    response = _post(client, [path], kind="roads", city=city, crs="EPSG:32652")
    assert response.status_code == 201, response.text
    assert response.json()["report"]["warnings"][0]["code"] == "crs_from_caller"


@pytest.mark.parametrize(
    "case_id",
    [
        "unparsable_date",
        "duplicate_ids",
        "gbk_without_cpg",
        "wrong_crs_outside_city",
        "dxf_without_crs",
        "geopackage_layer_not_chosen",
    ],
)
def test_refused_upload_is_422_with_the_report_and_stores_nothing(
    client: TestClient, engine: Engine, city: str, tmp_path: Path, case_id: str
) -> None:
    case = next(c for c in BAD_CASES if c.id == case_id)
    path, options = case.build(tmp_path)
    paths = [path]
    if path.suffix == ".shp":
        paths = [p for p in (path.with_suffix(s) for s in SHAPEFILE_PARTS) if p.exists()]
    with engine.connect() as conn:
        before = table_counts(conn)
    response = _post(client, paths, kind=case.kind, city=city, **options)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["error"] == case.error.__name__
    assert path.name in body["message"]
    if case.code is not None:
        report = body  # the problem carries the validation report's members
        assert report["ok"] is False
        assert report["file"] == path.name
        problem = next(p for p in report["problems"] if p["code"] == case.code)
        if case.index is not None:
            assert problem["index"] == case.index
        if case.field is not None:
            assert problem["field"] == case.field
    with engine.connect() as conn:
        assert table_counts(conn) == before


def test_unknown_city_is_404(client: TestClient, users: Users) -> None:
    path = sample_path("trees")
    response = client.post(
        "/layers",
        headers=users.headers("data_admin", city="atlantis"),
        files=[("file", ("s.gpkg", path.read_bytes()))],
        data={"kind": "trees", "city": "atlantis", "layer": "trees"},
    )
    assert response.status_code == 404
    assert "no city 'atlantis'" in response.json()["message"]


def test_unknown_kind_is_422(client: TestClient, city: str) -> None:
    path = sample_path("trees")
    response = client.post(
        "/layers",
        files=[("file", ("s.gpkg", path.read_bytes()))],
        data={"kind": "pipes", "city": city},
    )
    assert response.status_code == 422


def test_two_data_files_are_refused(client: TestClient, city: str, tmp_path: Path) -> None:
    a = save_layer(read_sample("trees"), tmp_path / "a.geojson")
    b = save_layer(read_sample("trees"), tmp_path / "b.geojson")
    response = _post(client, [a, b], kind="trees", city=city)
    assert response.status_code == 422
    assert "send one data file" in response.json()["message"]


def test_features_errors(client: TestClient) -> None:
    assert client.get("/layers/999999/features").status_code == 404
    layers = client.get("/layers").json()
    if layers:
        bad = client.get(f"/layers/{layers[0]['id']}/features", params={"bbox": "1,2,3"})
        assert bad.status_code == 422
        assert "minx,miny,maxx,maxy" in bad.json()["message"]
        assert (
            client.get(f"/layers/{layers[0]['id']}/features", params={"limit": 0}).status_code
            == 422
        )


def test_openapi_lists_the_layer_operations(client: TestClient) -> None:
    ops = {
        op["operationId"]
        for path in client.get("/openapi.json").json()["paths"].values()
        for op in path.values()
    }
    assert {"layers-create", "layers-list", "layers-features"} <= ops


def test_bad_bboxes_are_named_and_a_swapped_one_gets_a_hint(
    client: TestClient, city: str, tmp_path: Path
) -> None:
    path = save_layer(read_sample("roads").head(3), tmp_path / "three.gpkg", layer="roads")
    made = _post(client, [path], kind="roads", city=city)
    assert made.status_code == 201, made.text
    url = f"/layers/{made.json()['layer']['id']}/features"

    def message(**params: str) -> str:
        response = client.get(url, params=params)
        assert response.status_code == 422, (params, response.text)
        return str(response.json()["message"])

    swapped = message(bbox="45.74,126.65,45.75,126.66")
    assert "looks like lat,lon" in swapped
    assert "126.65,45.74,126.66,45.75" in swapped  # the box as it should be written
    assert "looks like" not in message(bbox="100,95,120,100")  # x is no latitude: not swapped
    assert "±180" in message(bbox="-200,40,-190,41")
    assert "four numbers" in message(bbox="nan,1,2,3")
    assert "four numbers" in message(bbox="inf,1,2,3")
    assert "min <= max" in message(bbox="126.7,45.7,126.6,45.8")
    # in a projected bbox-crs large numbers are metres, not a mistake
    metres = client.get(url, params={"bbox": "0,0,900000,6000000", "bbox-crs": "EPSG:32652"})
    assert metres.status_code == 200, metres.text
