"""A city's data administrator replaces and deletes base layers; the history keeps it all."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy import text

from api.main import create_app
from geodata.db import session_scope
from geodata.layers import save_layer
from geodata.storage import create_city
from tests.conftest import Users
from tests.helpers import read_sample

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def city(engine: Engine) -> Iterator[str]:
    name = f"harbin_admin_{uuid.uuid4().hex[:8]}"
    with session_scope(engine) as session:
        create_city(
            session, name=name, crs="EPSG:32652", extent=read_sample("city").geometry.iloc[0]
        )
    yield name
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM cities WHERE name = :name"), {"name": name})


@pytest.fixture(scope="module")
def app(engine: Engine):  # type: ignore[no-untyped-def]
    return create_app(engine=engine)


@pytest.fixture(scope="module")
def admin(app, users: Users, city: str) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, headers=users.headers("data_admin", city=city)) as client:
        yield client


def _upload(client: TestClient, url: str, path: Path, **form: str):  # type: ignore[no-untyped-def]
    return client.post(url, files=[("file", (path.name, path.read_bytes()))], data=form)


def _roads(tmp_path: Path, n: int, name: str) -> Path:
    return save_layer(read_sample("roads").head(n), tmp_path / name, layer="roads")


def test_replace_then_delete_with_history(
    admin: TestClient, app, users: Users, city: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    first = _upload(admin, "/layers", _roads(tmp_path, 20, "2025.gpkg"), kind="roads", city=city)
    assert first.status_code == 201, first.text
    old_id = first.json()["layer"]["id"]

    # a refused replacement leaves the old layer in place and writes no history
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [')
    refused = _upload(admin, f"/layers/{old_id}/replace", bad)
    assert refused.status_code == 422, refused.text
    assert admin.get(f"/layers/{old_id}/features").status_code == 200

    new_file = _roads(tmp_path, 30, "2026.gpkg")
    replaced = _upload(admin, f"/layers/{old_id}/replace", new_file, reason="2026 年复测")
    assert replaced.status_code == 201, replaced.text
    new = replaced.json()["layer"]
    assert (new["kind"], new["city"], new["feature_count"]) == ("roads", city, 30)
    assert new["name"] == "roads"  # the old layer's name is kept
    assert admin.get(f"/layers/{old_id}/features").status_code == 404
    assert [la["id"] for la in admin.get("/layers", params={"city": city}).json()] == [new["id"]]

    no_reason = admin.delete(f"/layers/{new['id']}")
    assert no_reason.status_code == 422
    assert "reason" in no_reason.text
    deleted = admin.delete(f"/layers/{new['id']}", params={"reason": "道路改线 / realigned"})
    assert deleted.status_code == 200, deleted.text
    assert admin.get("/layers", params={"city": city}).json() == []

    # the auditor reads the history: newest first, who, what, which file
    with TestClient(app, headers=users.headers("auditor", city=city)) as auditor:
        events = auditor.get("/layers/history", params={"city": city})
        assert events.status_code == 200, events.text
        rows = [(e["action"], e["layer_id"]) for e in events.json()]
        assert rows == [
            ("layer_deleted", new["id"]),
            ("layer_deleted", old_id),
            ("layer_replaced", new["id"]),
            ("layer_imported", old_id),
        ]
        by_action = {(e["action"], e["layer_id"]): e for e in events.json()}
        gone = by_action["layer_deleted", new["id"]]
        assert gone["reason"] == "道路改线 / realigned"
        assert gone["actor_role"] == "data_admin"
        assert gone["data"]["feature_count"] == 30
        assert len(gone["data"]["sha256"]) == 64
        swap = by_action["layer_replaced", new["id"]]
        assert swap["data"]["replaces"] == old_id
        assert swap["data"]["replaced_feature_count"] == 20
        assert swap["reason"] == "2026 年复测"
        assert by_action["layer_deleted", old_id]["data"]["replaced_by"] == new["id"]
        # the auditor changes nothing
        refused_role = auditor.delete(f"/layers/{old_id}", params={"reason": "x" * 5})
        assert refused_role.status_code == 403
        assert refused_role.json()["action"] == "import_layer"
    # the deleted file can be imported again
    again = _upload(admin, "/layers", new_file, kind="roads", city=city)
    assert again.status_code == 201, again.text


def test_another_citys_admin_cannot_delete(
    admin: TestClient, app, users: Users, city: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    made = _upload(admin, "/layers", _roads(tmp_path, 7, "x.gpkg"), kind="roads", city=city)
    assert made.status_code == 201, made.text
    layer_id = made.json()["layer"]["id"]
    with TestClient(app, headers=users.headers("data_admin", city=f"{city}-x")) as other:
        refused = other.delete(f"/layers/{layer_id}", params={"reason": "mistake"})
        assert refused.status_code == 403
        assert "not your city" in refused.json()["why"]
        history = other.get("/layers/history", params={"city": city})
        assert history.status_code == 403
    assert admin.get(f"/layers/{layer_id}/features").status_code == 200


def test_proposed_lines_are_not_the_data_administrators(
    admin: TestClient, engine: Engine, city: str, tmp_path: Path
) -> None:
    from geodata.importer import import_layer  # noqa: PLC0415
    from tests.helpers import sample_path  # noqa: PLC0415

    with session_scope(engine) as session:
        stored = import_layer(
            session,
            sample_path("proposed_lines"),
            kind="proposed_lines",
            city=city,
            layer="proposed_lines",
        )
    refused = admin.delete(f"/layers/{stored.layer.id}", params={"reason": "clean up"})
    assert refused.status_code == 409, refused.text
    assert "设计管线" in refused.json()["message"]
