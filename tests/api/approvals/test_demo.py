"""The demo applications of ``cotrench demo load``: made once, through the flow, with sheets."""

from __future__ import annotations

import math
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.approvals.demo import DemoResult
from api.approvals.demo import create_demo_applications
from api.approvals.demo import describe_demo
from api.approvals.errors import PreconditionError
from api.approvals.models import AuditLog
from api.approvals.models import RouteVersion
from api.approvals.seed import DEMO_PASSWORD
from api.approvals.seed import SeedResult
from api.routes.maps import TOKEN_COOKIE
from geodata.db import session_scope
from geodata.importer import load_city_package
from geodata.layers import save_layer
from geodata.plan_store import get_plan
from geodata.storage import create_city
from routing.results import TrenchPlan
from tests.conftest import SAMPLE_DATA
from tests.conftest import table_counts
from tests.helpers import assert_pdf_pages_drawn
from tests.helpers import pdf_text
from tests.helpers import printed_number

pytestmark = pytest.mark.db

MAP_PERMITS = ("road_occupation", "tree_felling", "pipeline_attachment", "road_excavation")


@pytest.fixture(scope="module")
def sample_city(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The sample city package ``data/harbin.gpkg`` loaded under a fresh name (then dropped)."""
    name = f"harbin_demo_{uuid.uuid4().hex[:8]}"
    package = tmp_path_factory.mktemp("demo") / f"{name}.gpkg"
    shutil.copy(SAMPLE_DATA / "harbin.gpkg", package)
    city = gpd.read_file(package, layer="city").assign(name=name)
    save_layer(city, package, layer="city")  # replaces that layer only
    with session_scope(engine) as session:
        load_city_package(session, package)
    yield name
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM cities WHERE name = :n"), {"n": name})


@pytest.fixture(scope="module")
def demo(engine: Engine, seeded: SeedResult, sample_city: str) -> DemoResult:
    with Session(engine) as session, session.begin():
        return create_demo_applications(session, city=sample_city)


def test_demo_goes_through_the_flow_by_the_right_users(
    engine: Engine, demo: DemoResult, sample_city: str
) -> None:
    assert demo.created and demo.city == sample_city
    main, waiting = demo.main, demo.waiting
    assert main.number.startswith("JL") and main.status == "permitting"
    statuses = {t: s for t, s, _ in main.permits}
    owners = {t: d for t, _, d in main.permits}
    assert len(statuses) == 7
    assert statuses.pop("traffic_opinion") == "approved_with_conditions"
    assert statuses.pop("road_excavation") == "in_review"
    assert set(statuses.values()) == {"submitted"}
    assert owners["road_occupation"] == "dist-nangang" and owners["road_excavation"] == "cgj"
    assert waiting.status == "submitted" and waiting.route_version is None
    assert "P06" in waiting.project_name and "P03" in main.project_name

    with Session(engine) as session:
        # the route is the optimiser's stored plan, linked to the application, fixed as v1
        route = session.scalars(
            select(RouteVersion).where(RouteVersion.application_id == main.id)
        ).one()
        assert main.route_version == route.version_no == 1
        stored = get_plan(session, str(main.plan_key), main.plan_version)
        assert route.plan_id == stored.id and main.id in stored.application_ids
        assert stored.status == "optimal"
        assert stored.inputs["city"] == sample_city
        assert {u for f in route.geojson["features"] for u in f["properties"]["utilities"]} == {
            "water",
            "power",
            "gas",
            "drainage",
        }
        # analysed once, in the plan's city (stored with the version, never guessed again)
        assert route.quantities["cross_sections"]["source"] == "routing.analysis"
        assert route.city == sample_city == route.quantities["cross_sections"]["city"]
        assert route.quantities["route"]["total_length_m"] == pytest.approx(
            TrenchPlan.from_dict(stored.result).trench_length_m, abs=0.01
        )
        # 宣信街 is closed to digging until 2027-07-26 in the sample: the route goes around it
        assert route.reason is not None and "宣信街禁挖" in route.reason
        # each step by the user whose role it is
        log = session.scalars(
            select(AuditLog).where(AuditLog.application_id == main.id).order_by(AuditLog.id)
        ).all()
        by = {(a.action, a.entity_kind): a.actor_role for a in log}
        assert by["submit", "application"] == "applicant"
        assert by["accept", "application"] == "acceptor"
        assert by["accept", "dispatch"] == "utility_staff"
        assert by["record_opinion", "opinion"] in {"dept_clerk", "utility_staff"}
        assert by["fix_route", "application"] == "responsible_person"
        assert by["review", "permit"] == "dept_clerk"
        assert by["approve_with_conditions", "permit"] == "dept_chief"
        opinions = [a for a in log if a.action == "record_opinion"]
        assert len(opinions) == 5 + 4  # four city departments, the district, four companies


def test_demo_groups_the_proposals_and_bundles_two_applications(
    client: TestClient, tokens: dict[str, str], demo: DemoResult, sample_city: str
) -> None:
    """Acceptance (issue 11, item 8): after ``demo load`` the groups endpoint returns groups,
    and the bundled demo route's cost shares sum to its total."""
    headers = {"Authorization": f"Bearer {tokens['coordinator']}"}
    groups = client.get(f"/proposals/{sample_city}/groups", headers=headers)
    assert groups.status_code == 200
    features = groups.json()["features"]
    assert len(features) == demo.groups > 0
    assert demo.bundle is not None and demo.partner is not None
    bundle = client.get(f"/approvals/bundles/{demo.bundle.id}", headers=headers)
    assert bundle.status_code == 200, bundle.text
    body = bundle.json()
    members = {m["application_id"]: m for m in body["members"]}
    assert set(members) == {demo.main.id, demo.partner.id}
    shares = [c for m in body["members"] for c in m["shares"].values()]
    assert math.fsum(shares) == pytest.approx(body["total_cost_cny"], abs=0.01)
    assert set(members[demo.partner.id]["shares"]) == {"gas", "drainage"}  # P05's utilities
    # both applications' permits refer to the joint route
    for app in (demo.main, demo.partner):
        assert app.plan_key == body["plan_key"] and app.status == "permitting"
        route_id = members[app.id]["route_version_id"]
        permits = client.get(f"/approvals/permits?application_id={app.id}", headers=headers)
        assert {p["route_version_id"] for p in permits.json()} == {route_id}
    # the opportunity the coordinator saw: the two applications along 宣信街
    found = client.get(f"/approvals/opportunities?city={sample_city}", headers=headers).json()
    pair = sorted((demo.main.id, demo.partner.id))
    (opportunity,) = [o for o in found if o["application_ids"] == pair]
    assert "宣信街" in opportunity["roads"] and opportunity["shared_length_m"] > 0


def test_demo_twice_adds_nothing(engine: Engine, demo: DemoResult, sample_city: str) -> None:
    with engine.connect() as conn:
        before = table_counts(conn)
    with Session(engine) as session, session.begin():
        again = create_demo_applications(session, city=sample_city)
    with engine.connect() as conn:
        assert table_counts(conn) == before
    assert not again.created
    assert again.main.id == demo.main.id and again.waiting.id == demo.waiting.id
    assert again.consultation_id == demo.consultation_id
    assert again.main.permits == demo.main.permits
    assert again.main.plan_key == demo.main.plan_key


def test_demo_permit_sheets_are_pdfs_naming_the_application(
    client: TestClient, tokens: dict[str, str], demo: DemoResult, tmp_path: Path
) -> None:
    headers = {"Authorization": f"Bearer {tokens['acceptor']}"}
    app_id, number = demo.main.id, demo.main.number
    for permit_type in MAP_PERMITS:
        r = client.get(f"/permits/applications/{app_id}/sheets/{permit_type}.pdf", headers=headers)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/pdf"
        assert r.content.startswith(b"%PDF")
        pdf = tmp_path / f"{permit_type}.pdf"
        pdf.write_bytes(r.content)
        out = subprocess.run(
            ["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True
        ).stdout
        assert number in out, permit_type
        assert_pdf_pages_drawn(pdf, tmp_path, pages=1)
    # the review page shows it to the logged-in acceptor (the workbench's cookie)
    client.cookies.set(TOKEN_COOKIE, tokens["acceptor"])
    try:
        page = client.get(f"/workbench/applications/{app_id}")
    finally:
        client.cookies.clear()
    assert page.status_code == 200 and number in page.text
    # the waiting application has no route yet, so no sheets
    r = client.get(f"/permits/applications/{demo.waiting.id}/packet.pdf", headers=headers)
    assert r.status_code == 409


def test_demo_quantities_are_the_same_on_the_version_the_plan_page_and_the_sheet(
    engine: Engine, client: TestClient, tokens: dict[str, str], demo: DemoResult, tmp_path: Path
) -> None:
    """Issue 11: one analysis. The demo route (Harbin, frost 2.0 m) fixed as v1 carries the
    quantities that the plan's review page shows and its excavation sheet prints."""
    with Session(engine) as session:
        route = session.scalars(
            select(RouteVersion).where(RouteVersion.application_id == demo.main.id)
        ).one()
    totals = route.quantities["cross_sections"]["totals"]
    assert route.quantities["cross_sections"]["frost_depth_m"] == 2.0
    client.cookies.set(TOKEN_COOKIE, tokens["acceptor"])
    try:
        plan_page = client.get(
            f"/workbench/plans/{demo.main.plan_key}", params={"version": demo.main.plan_version}
        )
        app_page = client.get(f"/workbench/applications/{demo.main.id}")
    finally:
        client.cookies.clear()
    sheet = client.get(
        f"/permits/applications/{demo.main.id}/sheets/road_excavation.pdf",
        headers={"Authorization": f"Bearer {tokens['acceptor']}"},
    )
    assert plan_page.status_code == app_page.status_code == sheet.status_code == 200
    printed = pdf_text(sheet.content, tmp_path)
    for label, key in (("开挖土方 Excavation", "excavation_m3"), ("回填 Backfill", "backfill_m3")):
        for where in (plan_page.text, app_page.text, printed):
            assert printed_number(where, label) == pytest.approx(totals[key], abs=0.01), label
    # the road widths come from the city's roads: no section is unknown for want of one
    assert not [
        w
        for w in route.quantities["warnings"]
        if w["kind"] == "manual_review" and "road width" in w["message"]
    ]


def test_describe_demo_names_the_links_and_users(demo: DemoResult) -> None:
    lines = describe_demo(demo, base_url="http://127.0.0.1:8000/", password=DEMO_PASSWORD)
    text_out = "\n".join(lines)
    main = demo.main
    assert f"http://127.0.0.1:8000/workbench/applications/{main.id}" in text_out
    assert f"http://127.0.0.1:8000/permits/applications/{main.id}/packet.pdf" in text_out
    assert main.number in text_out and demo.waiting.number in text_out
    assert "road_excavation: in_review (cgj-chief decides)" in text_out
    assert "road_occupation: submitted (dist-nangang-clerk reviews)" in text_out
    assert repr(DEMO_PASSWORD) in text_out


def test_demo_needs_the_project_lines(engine: Engine, seeded: SeedResult) -> None:
    name = f"empty_{uuid.uuid4().hex[:8]}"
    with session_scope(engine) as session:
        create_city(
            session, name=name, crs="EPSG:32652", extent=shapely.box(130.0, 45.0, 130.1, 45.1)
        )
    try:
        with engine.connect() as conn:
            before = table_counts(conn)
        with Session(engine) as session:
            with pytest.raises(PreconditionError, match=f"city '{name}' has no proposed lines"):
                create_demo_applications(session, city=name)
            session.rollback()
        with engine.connect() as conn:
            assert table_counts(conn) == before
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM cities WHERE name = :n"), {"n": name})
