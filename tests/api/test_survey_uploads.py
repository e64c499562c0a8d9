"""Survey deliveries uploaded through the API: stored with codes, sub-types and Chinese text."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import ezdxf
import pyogrio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy import text

from api.main import create_app
from geodata.db import session_scope
from geodata.layers import load_layer
from geodata.storage import create_city
from tests.conftest import Users
from tests.geodata.survey_corpus import gbk_shapefile
from tests.geodata.survey_corpus import gbk_zip
from tests.geodata.survey_corpus import survey_lines
from tests.helpers import read_sample

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def city(engine: Engine) -> Iterator[str]:
    name = f"harbin_survey_{uuid.uuid4().hex[:8]}"
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


def test_gbk_zip_upload_stores_codes_and_subtypes(
    client: TestClient, engine: Engine, city: str, tmp_path: Path
) -> None:
    (tmp_path / "set").mkdir()
    path = gbk_zip(tmp_path, gbk_shapefile(tmp_path / "set"))
    response = client.post(
        "/layers",
        files=[("file", (path.name, path.read_bytes()))],
        data={"kind": "underground_lines", "city": city, "unplanned": "skip"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["layer"]["name"] == "管线"
    assert [w["code"] for w in body["report"]["warnings"]] == ["unplanned_skipped"]
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT utility, subtype, diameter_mm, owner, attrs->>'source_type' "
                "FROM underground_lines WHERE layer_id = :id ORDER BY source_id"
            ),
            {"id": body["layer"]["id"]},
        ).all()
    assert ("drainage", "storm", 600.0, "哈尔滨供排水集团", "YS") in rows
    assert ("drainage", "sewer", 400.0, "哈尔滨供排水集团", "WS污水") in rows
    assert ("telecom", None, None, "哈尔滨供排水集团", "DX电信") in rows
    assert all(r[0] != "other" for r in rows)


def test_upload_with_field_map(client: TestClient, city: str, tmp_path: Path) -> None:
    frame = survey_lines(2)
    frame["类别名称"] = ["RQ燃气", "RL热力"]
    frame["口径"] = ["DN100", "DN500"]
    path = tmp_path / "mapped.geojson"
    frame.to_file(path, engine="pyogrio")
    files = [("file", (path.name, path.read_bytes()))]
    refused = client.post("/layers", files=files, data={"kind": "underground_lines", "city": city})
    assert refused.status_code == 422
    assert "map one with field_map" in refused.text
    mapped = client.post(
        "/layers",
        files=files,
        data={
            "kind": "underground_lines",
            "city": city,
            "map": "类别名称=utility, 口径=diameter_mm",
        },
    )
    assert mapped.status_code == 201, mapped.text
    bad = client.post(
        "/layers",
        files=files,
        data={"kind": "underground_lines", "city": city, "map": "类别名称"},
    )
    assert bad.status_code == 422
    assert "write SOURCE_FIELD=column" in bad.text


@pytest.fixture(scope="module")
def survey_layer(client: TestClient, city: str, tmp_path_factory: pytest.TempPathFactory) -> int:
    """One survey of three lines, imported once (the same file twice is refused)."""
    frame = survey_lines(3)
    frame["utility"] = ["JS给水", "DL", "RQ燃气"]
    path = tmp_path_factory.mktemp("survey") / "x.geojson"
    frame.to_file(path, engine="pyogrio")
    created = client.post(
        "/layers",
        files=[("file", (path.name, path.read_bytes()))],
        data={"kind": "underground_lines", "city": city},
    )
    assert created.status_code == 201, created.text
    return int(created.json()["layer"]["id"])


@pytest.mark.parametrize("fmt", ["gpkg", "shp", "kml", "geojson", "csv", "dxf"])
def test_layer_export_downloads_every_format(
    client: TestClient, survey_layer: int, tmp_path: Path, fmt: str
) -> None:
    layer_id = survey_layer
    response = client.get(f"/layers/{layer_id}/export", params={"format": fmt, "encoding": "gbk"})
    assert response.status_code == 200, response.text
    out = tmp_path / f"back.{'zip' if fmt == 'shp' else fmt}"
    out.write_bytes(response.content)
    if fmt == "dxf":
        assert not ezdxf.readfile(out).audit().has_errors
        return
    if fmt in ("kml", "csv"):  # formats the product writes but does not import
        assert len(pyogrio.read_dataframe(out)) == 3
        return
    back = load_layer(out)
    assert len(back.frame) == 3
    assert set(back.frame["utility"]) == {"water", "power", "gas"}
