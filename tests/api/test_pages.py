from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.main import create_app
from api.routes.pages import plan_savings
from tests.api.approvals.flow import DISTRICT_CODE
from tests.conftest import Users
from tests.maps.sample import StoredCity
from tests.maps.sample import sample_proposals
from tests.maps.sample import trench_edges
from tests.maps.workbench import committed_city
from tests.maps.workbench import permitting_application
from tests.maps.workbench import seeded_tokens
from tests.maps.workbench import stored_plan

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def city(engine: Engine) -> Iterator[StoredCity]:
    with committed_city(engine) as c:
        yield c


@pytest.fixture(scope="module")
def tokens(engine: Engine) -> dict[str, str]:
    return seeded_tokens(engine)


@pytest.fixture(scope="module")
def client(engine: Engine, city: StoredCity) -> Iterator[TestClient]:
    with TestClient(create_app(engine=engine), follow_redirects=False) as c:
        yield c


@pytest.fixture(scope="module")
def application(client: TestClient, tokens: dict[str, str], city: StoredCity) -> dict[str, Any]:
    return permitting_application(client, tokens, city)


def as_user(client: TestClient, tokens: dict[str, str], user: str) -> TestClient:
    client.cookies.clear()
    client.cookies.set("cotrench_token", tokens[user])
    return client


def test_pages_need_a_login(client: TestClient) -> None:
    client.cookies.clear()
    response = client.get("/workbench/applications")
    assert response.status_code == 303
    assert response.headers["location"] == "/workbench/login?next=%2Fworkbench%2Fapplications"
    login = client.get("/workbench/login?next=//evil.example/x")
    assert login.status_code == 200
    # only local redirects
    assert '<input type="hidden" name="next" value="/workbench/applications">' in login.text
    assert "登录 Log in" in login.text
    assert client.get("/workbench").headers["location"] == "/workbench/applications"
    # a stale or forged cookie also sends the user to the login page
    client.cookies.set("cotrench_token", "not-a-token")
    assert client.get("/workbench/applications").status_code == 303
    client.cookies.clear()


def test_applications_list_shows_status_and_deadline(
    client: TestClient, tokens: dict[str, str], application: dict[str, Any]
) -> None:
    html = as_user(client, tokens, "acceptor").get("/workbench/applications").text
    row = re.search(rf"<tr[^>]*>\s*<td>{application['number']}</td>.*?</tr>", html, re.S)
    assert row, "the application is not listed"
    assert "并联审批 permits" in row.group(0)
    assert application["stage_due_at"][:10] in row.group(0)
    assert f"/workbench/applications/{application['id']}" in row.group(0)
    assert "申请列表 Applications" in html


def test_review_page_shows_segments_quantities_and_downloads(
    client: TestClient, tokens: dict[str, str], application: dict[str, Any]
) -> None:
    page = as_user(client, tokens, "acceptor").get(f"/workbench/applications/{application['id']}")
    assert page.status_code == 200
    html = page.text
    segments = re.search(r'<table class="grid" id="segments">.*?</table>', html, re.S)
    assert segments
    assert segments.group(0).count("<tr><td>") == len(trench_edges())
    assert f'src="/maps/applications/{application["id"]}"' in html
    quantities = re.search(r'<table class="grid" id="quantities">.*?</table>', html, re.S)
    assert quantities and "开挖土方 Excavation" in quantities.group(0)
    for suffix in ("packet.zip", "packet.pdf", "route.geojson", "route.dxf"):
        assert f"/permits/applications/{application['id']}/{suffix}" in html
    assert "permit-action" not in html  # the acceptor decides no permit
    # deadlines in Beijing time with the zone named, never the stored UTC
    assert "北京时间" in html
    assert not re.search(r"截止 Deadline \d{4}-\d\d-\d\d \d\d:\d\d<", html)
    savings = re.search(r'<table class="grid" id="savings">.*?</table>', html, re.S)
    assert savings, "the plan's savings are not shown"
    assert "1,500,000 CNY (60.0 %)" in savings.group(0)
    assert "600,000 CNY (37.5 %)" in savings.group(0)
    assert "milp (optimal)" in savings.group(0)


def test_a_clerk_sees_actions_on_the_permits_of_the_department(
    client: TestClient, tokens: dict[str, str], application: dict[str, Any]
) -> None:
    page = as_user(client, tokens, f"{DISTRICT_CODE}-clerk")
    html = page.get(f"/workbench/applications/{application['id']}").text
    forms = re.findall(r'data-url="/approvals/permits/(\d+)/review"', html)
    assert len(forms) == 2  # the district decides road occupation and tree felling
    chief = as_user(client, tokens, f"{DISTRICT_CODE}-chief")
    html = chief.get(f"/workbench/applications/{application['id']}").text
    assert "/decide" not in html  # nothing reviewed yet: nothing for the chief


def test_upload_and_tiles_pages(client: TestClient, city: StoredCity, users: Users) -> None:
    client.cookies.clear()
    assert client.get("/workbench/upload").status_code == 303  # log in first
    admin = users.headers("data_admin", city=city.name)
    upload = client.get("/workbench/upload", headers=admin).text
    assert 'id="upload-form"' in upload and "拟建管线 Proposed lines" in upload
    assert f"<option>{city.name}</option>" in upload
    tiles = client.get(f"/workbench/cities/{city.name}/tiles", headers=admin)
    assert tiles.status_code == 200
    assert f'data-city="{city.name}"' in tiles.text
    assert "/static/vendor/leaflet.vectorgrid/1.3.0/Leaflet.VectorGrid.bundled.min.js" in tiles.text
    assert not re.search(r'(?:src|href)="https?://', tiles.text)
    # another city's layers are not the data administrator's
    other = client.get("/workbench/cities/no_such_city/tiles", headers=admin)
    assert other.status_code == 403
    assert "not your city" in other.text
    reviewer = users.headers("acceptor")
    assert client.get("/workbench/cities/no_such_city/tiles", headers=reviewer).status_code == 404


def test_upload_then_colocation_of_the_new_layer(
    client: TestClient, city: StoredCity, users: Users, tmp_path: Path
) -> None:
    client.cookies.clear()
    admin = users.headers("data_admin", city=city.name)
    path = tmp_path / "proposals.geojson"
    sample_proposals().to_crs(4326).to_file(path, driver="GeoJSON")
    with path.open("rb") as f:
        upload = client.post(
            "/layers",
            data={"kind": "proposed_lines", "city": city.name},
            files={"file": ("proposals.geojson", f, "application/geo+json")},
            headers=admin,
        )
    assert upload.status_code == 201, upload.text
    layer_id = upload.json()["layer"]["id"]
    found = client.post(f"/workbench/layers/{layer_id}/colocation", headers=admin)
    assert found.status_code == 200, found.text
    body = found.json()
    assert len(body["lines"]) == len(sample_proposals())
    assert {"groups", "warnings"} <= set(body)
    for group in body["groups"]:
        assert len(group["utilities"]) >= 2
    again = client.post(f"/workbench/layers/{layer_id}/colocation", headers=admin)
    assert again.status_code == 422
    roads = next(
        layer["id"]
        for layer in client.get("/layers", headers=admin).json()
        if layer["city"] == city.name and layer["kind"] == "roads"
    )
    refused = client.post(f"/workbench/layers/{roads}/colocation", headers=admin)
    assert refused.status_code == 422
    assert "not proposed lines" in refused.text


def test_plan_review_page(
    client: TestClient, tokens: dict[str, str], city: StoredCity, application: dict[str, Any]
) -> None:
    # the bureau plans through the API (bearer token), then reviews on the workbench (cookie)
    api = TestClient(client.app, headers={"Authorization": f"Bearer {tokens['acceptor']}"})
    plan = stored_plan(api, city, application_ids=[application["id"]])
    key = plan["plan_key"]
    page = as_user(client, tokens, "acceptor").get(f"/workbench/plans/{key}")
    assert page.status_code == 200
    html = page.text
    segments = re.search(r'<table class="grid" id="segments">.*?</table>', html, re.S)
    assert segments
    assert segments.group(0).count("<tr><td>") == len(plan["geojson"]["features"])
    assert f'src="/maps/plans/{key}?version=1"' in html
    savings = re.search(r'<table class="grid" id="savings">.*?</table>', html, re.S)
    assert savings and "vs separate trenches" in savings.group(0)
    assert f"{plan['summary']['savings_vs_separate_cny']:,.0f} CNY" in savings.group(0)
    assert "开挖土方 Excavation" in html
    assert client.get("/workbench/plans/nope").status_code == 404
    assert f'href="/workbench/applications/{application["id"]}"' in html
    # the application's page links back to the plan
    linked = as_user(client, tokens, "acceptor").get(f"/workbench/applications/{application['id']}")
    assert f'href="/workbench/plans/{key}?version=1"' in linked.text


def test_plan_savings_say_why_the_overlay_cannot_be_dug() -> None:
    """A plan dearer than the overlay of uncoordinated routes names the rule the overlay breaks."""
    summary = {
        "method": "milp",
        "status": "optimal",
        "total_cost_cny": 3_400_000.0,
        "savings_vs_overlay_cny": -217_676.0,
        "savings_vs_overlay": -0.069,
        "overlay_feasible": False,
        "overlay_violations": [
            {
                "constraint": "road_width",
                "label": "道路宽度不足 road too narrow",
                "detail": "segment 9821: 2.9 m needed, 2.4 m available",
            }
        ],
    }
    rows = dict(plan_savings(summary))
    overlay = rows["节省 Saved 比简单叠加 vs overlaid routes"]
    assert overlay.startswith("-217,676 CNY (-6.9 %)")
    assert (
        "叠加方案不可行 overlay infeasible: 道路宽度不足 road too narrow: segment 9821" in overlay
    )
    del summary["overlay_violations"]
    assert (
        "infeasible" not in dict(plan_savings(summary))["节省 Saved 比简单叠加 vs overlaid routes"]
    )
