"""Limits over HTTP: body size (declared and streamed), layer limits as 413, one import per file.

Every refusal is checked for its reason (the limit it names), and for leaving nothing
stored and no temporary files behind.
"""

from __future__ import annotations

import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.main import create_app
from api.settings import LimitSettings
from api.settings import Settings
from geodata.db import session_scope
from geodata.errors import DuplicateLayerError
from geodata.layers import file_digest
from geodata.layers import load_layer
from geodata.layers import save_layer
from geodata.storage import create_city
from geodata.storage import get_city
from geodata.storage import store_layer
from geodata.tables import Layer
from geodata.validate import validate_layer
from tests.conftest import Users
from tests.helpers import read_sample

pytestmark = pytest.mark.db

# this test's own limits, small enough to pass with sample files
UPLOAD_BYTES = 200_000
BODY_BYTES = 20_000


@pytest.fixture(scope="module")
def city(engine: Engine) -> Iterator[str]:
    name = f"harbin_limits_{uuid.uuid4().hex[:8]}"
    with session_scope(engine) as session:
        create_city(
            session, name=name, crs="EPSG:32652", extent=read_sample("city").geometry.iloc[0]
        )
    yield name
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM cities WHERE name = :name"), {"name": name})


@pytest.fixture(scope="module")
def client(engine: Engine, users: Users, city: str) -> Iterator[TestClient]:
    limits = LimitSettings(upload_bytes=UPLOAD_BYTES, body_bytes=BODY_BYTES, features=40)
    app = create_app(Settings(limits=limits), engine=engine)
    with TestClient(app, headers=users.headers("data_admin", city=city)) as test_client:
        yield test_client


def _layer_count(engine: Engine, city: str) -> int:
    with Session(engine) as session:
        city_id = get_city(session, city).id
        return int(
            session.scalar(select(func.count()).select_from(Layer).where(Layer.city_id == city_id))
            or 0
        )


def _uploads_left() -> list[str]:
    return [str(p) for p in Path(tempfile.gettempdir()).glob("cotrench-upload-*")]


def test_an_upload_declared_too_large_is_refused_unread(
    client: TestClient, engine: Engine, city: str
) -> None:
    before = _layer_count(engine, city)
    payload = b"x" * (UPLOAD_BYTES + 1)
    response = client.post(
        "/layers",
        files=[("file", ("big.geojson", payload))],
        data={"kind": "roads", "city": city},
    )
    assert response.status_code == 413, response.text
    body = response.json()
    assert body["limit"] == "upload_bytes"
    assert body["allowed"] == UPLOAD_BYTES
    assert body["message"].startswith("上传文件超过上限")
    # refused by its declared size, before a byte was read
    assert body["value"] == int(response.request.headers["content-length"])
    assert response.headers["x-content-type-options"] == "nosniff"
    assert _layer_count(engine, city) == before


def test_a_streamed_upload_is_cut_off_at_the_limit(
    client: TestClient, engine: Engine, city: str
) -> None:
    before = _layer_count(engine, city)
    sent = {"bytes": 0}
    boundary = "cotrenchboundary"

    def chunks() -> Iterator[bytes]:
        # no Content-Length: the body is counted as it arrives
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\nroads\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            'filename="big.geojson"\r\nContent-Type: application/geo+json\r\n\r\n'
        ).encode()
        for _ in range(50):
            sent["bytes"] += 10_000
            yield b"x" * 10_000

    response = client.post(
        "/layers",
        content=chunks(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413, response.text
    body = response.json()
    assert (body["limit"], body["allowed"]) == ("upload_bytes", UPLOAD_BYTES)
    assert "value" not in body  # no Content-Length: counted, not declared
    assert _layer_count(engine, city) == before
    assert _uploads_left() == []


def test_a_json_body_has_its_own_smaller_limit(client: TestClient, city: str) -> None:
    features = [{"type": "Feature", "properties": {"n": "x" * 100}, "geometry": None}] * 300
    response = client.post(
        f"/proposals/{city}", json={"type": "FeatureCollection", "features": features}
    )
    assert response.status_code == 413, response.text
    assert response.json()["limit"] == "body_bytes"
    assert response.json()["message"].startswith("请求体超过上限")


def test_a_layer_past_the_feature_limit_is_413_naming_it(
    client: TestClient, engine: Engine, city: str, tmp_path: Path
) -> None:
    roads = read_sample("roads")
    assert len(roads) > 40
    path = save_layer(roads, tmp_path / "roads.gpkg", layer="roads")
    before = _layer_count(engine, city)
    response = client.post(
        "/layers",
        files=[("file", (path.name, path.read_bytes()))],
        data={"kind": "roads", "city": city},
    )
    assert response.status_code == 413, response.text
    detail = response.json()
    assert detail["limit"] == "features"
    assert detail["allowed"] == 40
    assert detail["value"] == len(roads)
    assert _layer_count(engine, city) == before
    assert _uploads_left() == []


def test_the_same_file_is_imported_once(
    client: TestClient, engine: Engine, city: str, tmp_path: Path
) -> None:
    path = save_layer(read_sample("roads").head(30), tmp_path / "roads.gpkg", layer="roads")
    form = {"kind": "roads", "city": city}
    first = client.post("/layers", files=[("file", ("a.gpkg", path.read_bytes()))], data=form)
    assert first.status_code == 201, first.text
    layer_id = first.json()["layer"]["id"]
    before = _layer_count(engine, city)
    # the same bytes under another name are recognised
    again = client.post("/layers", files=[("file", ("b.gpkg", path.read_bytes()))], data=form)
    assert again.status_code == 409, again.text
    assert again.json()["layer_id"] == layer_id
    assert f"图层 {layer_id}" in again.json()["message"]
    assert _layer_count(engine, city) == before
    # the same file as another kind is another layer
    other = client.post(
        "/layers",
        files=[("file", ("a.gpkg", path.read_bytes()))],
        data={"kind": "underground_lines", "city": city},
    )
    assert other.status_code != 409, other.text


def test_two_imports_of_one_file_at_once_store_it_once(
    engine: Engine, city: str, tmp_path: Path
) -> None:
    """The second insert waits on the unique index for the first, then is refused."""
    path = save_layer(read_sample("roads").head(12), tmp_path / "twin.gpkg", layer="roads")
    sha = file_digest(path)
    before = _layer_count(engine, city)
    outcome: dict[str, object] = {}

    def store(session: Session) -> None:
        target = get_city(session, city)
        source = load_layer(path)
        validated = validate_layer(source, kind="roads", crs=target.crs, extent=target.extent)
        store_layer(session, validated, city=target, source=source, sha256=sha)

    first = Session(engine)
    first.begin()
    store(first)  # stored, not committed: the twin cannot see it yet

    def second() -> None:
        with Session(engine) as session, session.begin():
            try:
                store(session)
                outcome["second"] = "stored"
            except DuplicateLayerError as exc:
                outcome["second"] = exc

    thread = threading.Thread(target=second)
    thread.start()
    time.sleep(1.0)
    assert thread.is_alive()  # waiting on the index
    first.commit()
    first.close()
    thread.join(timeout=30)
    assert isinstance(outcome["second"], DuplicateLayerError), outcome
    assert _layer_count(engine, city) == before + 1
