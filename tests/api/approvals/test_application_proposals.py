"""Each company's designer submits its proposed lines for an application; co-location spans
every application and the city-wide proposals of the city."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy import text

from api.routes.proposals import ProposalSubmissionPublic
from geodata.db import session_scope
from geodata.importer import import_layer
from geodata.storage import create_city
from tests.api.approvals.flow import PREFIX
from tests.api.approvals.flow import Flow
from tests.conftest import table_counts
from tests.helpers import read_sample
from tests.helpers import sample_path

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def roads_city(engine: Engine) -> Iterator[str]:
    """A committed city with the sample roads (its extent covers the flow's site)."""
    name = f"appr_roads_{uuid.uuid4().hex[:8]}"
    with session_scope(engine) as session:
        create_city(
            session, name=name, crs="EPSG:32652", extent=read_sample("city").geometry.iloc[0]
        )
        for kind in ("roads", "protected_areas"):
            import_layer(session, sample_path(kind), kind=kind, city=name, layer=kind)
    yield name
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE proposed_lines SET application_id = NULL WHERE city_id ="
                " (SELECT id FROM cities WHERE name = :n)"
            ),
            {"n": name},
        )
        conn.execute(text("DELETE FROM cities WHERE name = :n"), {"n": name})


@pytest.fixture
def app(client: TestClient, tokens: dict[str, str], roads_city: str) -> dict[str, Any]:
    """An accepted application in the city: dispatched to water-1 and gas-1."""
    flow = Flow(client, tokens, city=roads_city)
    return flow.accept(flow.submit(utilities=("water", "gas")))


def _lines(*ids: str) -> dict[str, Any]:
    sample = read_sample("proposed_lines")
    out: dict[str, Any] = json.loads(sample[sample["id"].isin(ids)].to_crs(4326).to_json())
    return out


def _post(client: TestClient, tokens: dict[str, str], user: str, app_id: int, body: Any) -> Any:
    return client.post(
        f"{PREFIX}/applications/{app_id}/proposals",
        json=body,
        headers={"Authorization": f"Bearer {tokens[user]}"},
    )


def test_companies_submit_their_lines_and_they_group_across_applications(
    *,
    client: TestClient,
    tokens: dict[str, str],
    engine: Engine,
    roads_city: str,
    app: dict[str, Any],
    tmp_path: Path,
) -> None:
    water = _post(client, tokens, "water-1-staff", app["id"], _lines("P03-water"))
    assert water.status_code == 201, water.text
    gas = _post(client, tokens, "gas-1-staff", app["id"], _lines("P03-gas"))
    assert gas.status_code == 201, gas.text
    body = ProposalSubmissionPublic.model_validate(gas.json())
    (group,) = body.groups
    assert group["properties"]["utilities"] == ["gas", "water"]

    # a file upload works the same way
    sample = read_sample("proposed_lines")
    path = tmp_path / "p04_water.gpkg"
    sample[sample["id"] == "P04-water"].to_file(path, layer="proposed_lines")
    uploaded = client.post(
        f"{PREFIX}/applications/{app['id']}/proposals/upload",
        files=[("file", (path.name, path.read_bytes()))],
        headers={"Authorization": f"Bearer {tokens['water-1-staff']}"},
    )
    assert uploaded.status_code == 201, uploaded.text

    listed = client.get(
        f"{PREFIX}/applications/{app['id']}/proposals",
        headers={"Authorization": f"Bearer {tokens['acceptor']}"},
    )
    assert listed.status_code == 200
    assert listed.headers["content-type"] == "application/geo+json"
    features = listed.json()["features"]
    assert sorted(f["properties"]["source_id"] for f in features) == [
        "P03-gas",
        "P03-water",
        "P04-water",
    ]
    assert {f["properties"]["application_id"] for f in features} == {app["id"]}
    lon, lat = features[0]["geometry"]["coordinates"][0]
    assert 126 < lon < 127 and 45 < lat < 46  # lon/lat, not the city's metres

    # a city-wide proposal on the same road and dates joins the application's group
    city_wide = client.post(
        f"/proposals/{roads_city}",
        json=_lines("P05-drainage"),
        headers={"Authorization": f"Bearer {tokens['drainage-1-staff']}"},
    )
    assert city_wide.status_code == 201, city_wide.text
    (joined,) = city_wide.json()["groups"]
    ids = set(joined["properties"]["proposed_line_ids"])
    assert {f["properties"]["proposed_line_id"] for f in features[:2]} <= ids | {
        f["properties"]["proposed_line_id"] for f in features
    }
    assert "drainage" in joined["properties"]["utilities"]
    assert {"gas", "water"} <= set(joined["properties"]["utilities"])
    with engine.connect() as conn:
        linked = conn.execute(
            text(
                "SELECT count(*) FROM proposed_lines p JOIN cities c ON c.id = p.city_id"
                " WHERE c.name = :n AND p.application_id IS NULL"
            ),
            {"n": roads_city},
        ).scalar_one()
    assert linked == 1  # the city-wide line keeps no application


@pytest.mark.parametrize(
    ("user", "lines", "status", "why"),
    [
        ("power-1-staff", ("P03-power",), 403, "was not dispatched to power-1"),
        ("water-1-staff", ("P03-gas",), 403, "water-1 submits water lines only"),
        ("water-1-staff", ("P03-water", "P03-gas"), 403, "the file has gas lines"),
        ("applicant", ("P03-water",), 403, "may not submit_proposals"),
        ("acceptor", ("P03-water",), 403, "may not submit_proposals"),
    ],
)
def test_refused_submissions_say_why_and_store_nothing(
    *,
    client: TestClient,
    tokens: dict[str, str],
    engine: Engine,
    app: dict[str, Any],
    user: str,
    lines: tuple[str, ...],
    status: int,
    why: str,
) -> None:
    with engine.connect() as conn:
        before = table_counts(conn)
    refused = _post(client, tokens, user, app["id"], _lines(*lines))
    assert refused.status_code == status, refused.text
    assert why in refused.text
    with engine.connect() as conn:
        after = table_counts(conn)
    # other tests may write audit or token rows meanwhile; no geodata table may change
    changed = {t for t in after if after[t] != before.get(t) and not t.startswith("appr_")}
    assert not changed


def test_needs_a_token_and_an_existing_application(
    client: TestClient, tokens: dict[str, str], app: dict[str, Any]
) -> None:
    anonymous = client.post(
        f"{PREFIX}/applications/{app['id']}/proposals", json=_lines("P03-water")
    )
    assert anonymous.status_code == 401
    missing = _post(client, tokens, "water-1-staff", 999_999_999, _lines("P03-water"))
    assert missing.status_code == 404
    assert "999999999" in missing.text
    nobody = client.get(f"{PREFIX}/applications/{app['id']}/proposals")
    assert nobody.status_code == 401


def test_a_designer_of_the_company_submits_and_one_of_another_company_may_not(
    client: TestClient, users: Any, roads_city: str, app: dict[str, Any]
) -> None:
    def post(organisation: str, line: str) -> Any:
        headers = users.headers("designer", city=roads_city, organisation=organisation)
        return client.post(
            f"{PREFIX}/applications/{app['id']}/proposals", json=_lines(line), headers=headers
        )

    ok = post("gas-1", "P03-gas")
    assert ok.status_code == 201, ok.text
    refused = post("power-1", "P03-power")
    assert refused.status_code == 403
    assert "was not dispatched to power-1" in refused.text
