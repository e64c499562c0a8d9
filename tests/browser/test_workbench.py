from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page
from playwright.sync_api import expect
from sqlalchemy import Engine
from sqlalchemy import text

from api.approvals.seed import DEMO_PASSWORD
from api.main import create_app
from tests.api.approvals.flow import DISTRICT_CODE
from tests.browser.conftest import Console
from tests.browser.conftest import login_as
from tests.browser.conftest import screenshot
from tests.conftest import Users
from tests.maps.sample import StoredCity
from tests.maps.sample import sample_proposals
from tests.maps.sample import trench_edges
from tests.maps.workbench import permitting_application
from tests.maps.workbench import stored_plan

pytestmark = [pytest.mark.browser, pytest.mark.db]

# features drawn by the folium map, by the ``kind`` each carries, read from Leaflet itself
COUNT_DRAWN = """() => {
  const map = Object.values(window).find(v => v instanceof L.Map);
  const counts = {};
  map.eachLayer(l => {
    const kind = l.feature && l.feature.properties && l.feature.properties.kind;
    if (kind) { counts[kind] = (counts[kind] || 0) + 1; }
  });
  return counts;
}"""


@pytest.fixture(scope="module")
def application(
    engine: Engine, live_server: str, browser_tokens: dict[str, str], browser_city: StoredCity
) -> dict[str, Any]:
    del live_server  # started first, so the city exists before the route is fixed
    with TestClient(create_app(engine=engine)) as client:
        return permitting_application(client, browser_tokens, browser_city)


@pytest.fixture(scope="module")
def plan(
    engine: Engine,
    browser_city: StoredCity,
    browser_tokens: dict[str, str],
    application: dict[str, Any],
) -> dict[str, Any]:
    with TestClient(create_app(engine=engine)) as client:
        return stored_plan(
            client,
            browser_city,
            application_ids=[application["id"]],
            token=browser_tokens["acceptor"],  # 综合受理 plans the shared trench
        )


def embedded_counts(html: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for kind in re.findall(r'"kind": "(\w+)"', html):
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def test_review_map_draws_every_feature_on_canvas(
    page: Page,
    live_server: str,
    console: Console,
    browser_tokens: dict[str, str],
    application: dict[str, Any],
) -> None:
    login_as(page, live_server, browser_tokens["acceptor"])
    response = page.goto(f"/maps/applications/{application['id']}")
    assert response is not None and response.ok
    page.wait_for_function("() => window.L && document.querySelector('.leaflet-pane canvas')")
    drawn = page.evaluate(COUNT_DRAWN)
    embedded = embedded_counts(page.content())
    assert drawn["trench"] == len(trench_edges())
    assert drawn["tree"] > 0 and drawn["road"] > 0
    # every embedded feature is drawn except the per-utility routes, hidden until chosen
    assert drawn == {k: v for k, v in embedded.items() if k != "route"}
    # canvas renderer: no SVG path per feature
    assert page.locator("svg path.leaflet-interactive").count() == 0
    # tick one utility's route in the layer control: its features appear
    page.get_by_text("路由 Route — 给水 Water").click()
    assert page.evaluate(COUNT_DRAWN)["route"] == 1
    expect(page.locator(".cotrench-legend")).to_contain_text("共同沟槽 Shared trench")
    screenshot(page, "review_map")
    assert console.errors == []


def test_workbench_pages_load_without_errors(
    page: Page,
    *,
    plan: dict[str, Any],
    live_server: str,
    console: Console,
    browser_tokens: dict[str, str],
    application: dict[str, Any],
    browser_city: StoredCity,
) -> None:
    login_as(page, live_server, browser_tokens["acceptor"])
    page.goto("/workbench/applications")
    expect(page.locator("#applications")).to_contain_text(application["number"])
    screenshot(page, "applications")
    page.goto(f"/workbench/applications/{application['id']}")
    expect(page.locator("#segments tbody tr")).to_have_count(len(trench_edges()))
    frame = page.frame_locator("#review-map")
    expect(frame.locator(".cotrench-legend")).to_be_visible()
    screenshot(page, "application_review")
    # the upload page is the data administrator's and designers' (tested below), not 综合受理's
    page.goto(f"/workbench/plans/{plan['plan_key']}")
    expect(page.locator("#segments tbody tr")).to_have_count(len(plan["geojson"]["features"]))
    expect(page.frame_locator("#review-map").locator(".cotrench-legend")).to_be_visible()
    screenshot(page, "plan_review")
    assert console.errors == []


def test_a_reviewers_click_changes_the_permit_state(
    page: Page,
    *,
    live_server: str,
    console: Console,
    browser_tokens: dict[str, str],
    application: dict[str, Any],
    engine: Engine,
) -> None:
    def status(permit_id: str) -> str:
        with engine.connect() as conn:
            return conn.execute(
                text("SELECT status FROM appr_permits WHERE id = :i"), {"i": int(permit_id)}
            ).scalar_one()

    login_as(page, live_server, browser_tokens[f"{DISTRICT_CODE}-clerk"])
    page.goto(f"/workbench/applications/{application['id']}")
    row = page.locator("tr[data-permit]:has(form.permit-action)").first
    permit_id = row.get_attribute("data-permit")
    assert permit_id and status(permit_id) == "submitted"
    row.locator("input[name=comment]").fill("材料齐全 complete")
    with page.expect_navigation():
        row.get_by_role("button", name="建议批准 Recommend approval").click()
    expect(page.locator(f'tr[data-permit="{permit_id}"]')).to_have_attribute(
        "data-status", "in_review"
    )
    assert status(permit_id) == "in_review"

    page.context.clear_cookies()
    login_as(page, live_server, browser_tokens[f"{DISTRICT_CODE}-chief"])
    page.goto(f"/workbench/applications/{application['id']}")
    row = page.locator(f'tr[data-permit="{permit_id}"]')
    with page.expect_navigation():
        row.get_by_role("button", name="批准 Approve").click()
    expect(row).to_have_attribute("data-status", "approved")
    assert status(permit_id) == "approved"
    screenshot(page, "permit_approved")
    assert console.errors == []


def test_login_form_sets_the_cookie_and_lists_applications(
    page: Page, console: Console, application: dict[str, Any]
) -> None:
    page.goto("/workbench/applications")
    assert "/workbench/login" in page.url
    page.fill("input[name=username]", "acceptor")
    page.fill("input[name=password]", DEMO_PASSWORD)
    with page.expect_navigation(url=re.compile(r"/workbench/applications$")):
        page.click("button[type=submit]")
    expect(page.locator("#applications")).to_contain_text(application["number"])
    # console.errors holds the 401s of nothing: the redirect to login is a 303
    assert console.errors == []


def test_city_tiles_page_draws_the_tiles_features(
    *,
    page: Page,
    console: Console,
    browser_city: StoredCity,
    engine: Engine,
    users: Users,
    live_server: str,
) -> None:
    login_as(page, live_server, users.login("auditor", city=browser_city.name)[1])
    page.goto(f"/workbench/cities/{browser_city.name}/tiles")
    page.wait_for_function(
        "() => window.cotrenchTiles && cotrenchTiles.loaded.roads && cotrenchTiles.loaded.trees",
        timeout=15000,
    )
    drawn = page.evaluate("() => cotrenchTiles.count('roads')")
    keys = page.evaluate("() => Object.keys(cotrenchTiles.layers.roads._vectorTiles)")
    tiles = [tuple(int(v) for v in k.split(":")) for k in keys]  # x:y:z
    with engine.connect() as conn:
        want = conn.execute(
            text(
                "SELECT count(*) FROM road_segments r WHERE r.city_id = :c AND EXISTS ("
                "SELECT 1 FROM jsonb_array_elements(CAST(:tiles AS jsonb)) t WHERE ST_Intersects("
                "ST_Transform(r.geom, 3857), ST_TileEnvelope((t->>2)::int, (t->>0)::int, "
                "(t->>1)::int, margin => 64.0 / 4096)))"
            ),
            {"c": browser_city.city_id, "tiles": json.dumps(tiles)},
        ).scalar_one()
    assert drawn == want > 0
    screenshot(page, "city_tiles")
    assert console.errors == []


def test_upload_shows_the_validation_report(
    *,
    page: Page,
    console: Console,
    browser_city: StoredCity,
    users: Users,
    live_server: str,
    tmp_path: Any,
) -> None:
    # the city's data administrator, logged in by the HttpOnly cookie; the page's writes
    # carry the CSRF token the server put in the page
    login_as(page, live_server, users.login("data_admin", city=browser_city.name)[1])
    path = tmp_path / "proposals.geojson"
    sample_proposals().to_crs(4326).head(3).to_file(path, driver="GeoJSON")
    # the page then asks issue 4's co-location store what the new lines trigger
    page.goto("/workbench/upload")
    page.set_input_files("input[name=file]", str(path))
    page.select_option("select[name=kind]", "proposed_lines")
    page.select_option("select[name=city]", browser_city.name)
    page.click("#upload-form button[type=submit]")
    expect(page.locator("#report-summary")).to_contain_text("已导入 Imported 3")
    expect(page.locator("#colocation")).to_be_visible()
    expect(page.locator("#colocation-summary")).to_contain_text("3 条拟建管线已匹配 lines matched")
    screenshot(page, "upload_report")
    assert console.errors == []
