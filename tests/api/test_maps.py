from __future__ import annotations

import io
import re
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ezdxf
import ezdxf.bbox
import pyogrio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.approvals.models import Application
from api.approvals.models import Attachment
from api.approvals.models import Permit
from api.approvals.models import RouteVersion
from api.main import create_app
from api.services.analysis import AnalysedRoute
from api.services.analysis import version_analysis
from api.services.documents import documents_of
from api.settings import MapSettings
from api.settings import Settings
from maps.style import PERMIT_TYPES
from maps.style import permit_label
from maps.web import MapTooLargeError
from maps.web import build_layer_map
from tests.conftest import Users
from tests.maps.sample import StoredCity
from tests.maps.sample import trench_edges
from tests.maps.workbench import committed_city
from tests.maps.workbench import permitting_application
from tests.maps.workbench import sample_flow
from tests.maps.workbench import seeded_tokens
from tests.maps.workbench import stored_plan

pytestmark = pytest.mark.db

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "permit"


@pytest.fixture(scope="module")
def city(engine: Engine) -> Iterator[StoredCity]:
    with committed_city(engine) as c:
        yield c


@pytest.fixture(scope="module")
def tokens(engine: Engine) -> dict[str, str]:
    return seeded_tokens(engine)


@pytest.fixture(scope="module")
def client(engine: Engine, city: StoredCity, users: Users) -> Iterator[TestClient]:
    """A reviewer of the city management bureau; tests that need nobody send no token."""
    with TestClient(create_app(engine=engine), headers=users.headers("acceptor")) as c:
        yield c


@pytest.fixture(scope="module")
def application(client: TestClient, tokens: dict[str, str], city: StoredCity) -> dict[str, Any]:
    return permitting_application(client, tokens, city)


@pytest.fixture(scope="module")
def analysis(engine: Engine, application: dict[str, Any]) -> AnalysedRoute:
    """What the maps of the application show, read back through the same function."""
    with Session(engine) as session:
        route = session.scalars(
            select(RouteVersion).where(RouteVersion.application_id == application["id"])
        ).one()
        app = session.get(Application, application["id"])
        assert app is not None
        return version_analysis(session, app, route)


def test_tree_findings_are_issue_6s_and_known_ones_hold(analysis: AnalysedRoute) -> None:
    trees = analysis.context.trees
    quantities = analysis.quantities
    assert trees is not None and quantities is not None
    assert (trees["action"] == "fell").sum() == quantities.trees_to_fell
    assert (trees["action"] == "protect").sum() == quantities.trees_to_protect
    assert trees["affected"].sum() == quantities.trees_to_fell + quantities.trees_to_protect
    # the synthetic street trees 0.8 m off the centre of the first three trench edges: inside
    # the dig where the section is wider than 1.6 m at the surface (to fell), else within
    # the clearance of a line (to protect); either way affected
    first = trench_edges()["edge"].head(3)
    widths = {s.segment_id: s.surface_width_m for s in analysis.analysis.sections}
    action = dict(zip(trees["source_id"], trees["action"], strict=True))
    wide = [e for e in first if widths[e] > 1.6]
    assert len(wide) >= 2
    assert all(action[f"S{e}-0"] == "fell" for e in wide)
    assert all(action[f"S{e}-0"] in ("fell", "protect") for e in first)
    # the sample's OSM trees are kilometres away: untouched
    osm = trees[trees["source_id"].str.startswith("T")]
    assert not osm["affected"].any()


def bearer(tokens: dict[str, str], user: str = "acceptor") -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[user]}"}


def kinds(html: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for k in re.findall(r'"kind": "(\w+)"', html):
        out[k] = out.get(k, 0) + 1
    return out


def test_static_assets_are_served_by_the_app(client: TestClient) -> None:
    js = client.get("/static/vendor/leaflet/1.9.4/leaflet.js")
    assert js.status_code == 200
    assert "javascript" in js.headers["content-type"]
    assert "Leaflet" in js.text[:400]
    for path in (
        "/static/vendor/leaflet/1.9.4/leaflet.css",
        "/static/vendor/leaflet/1.9.4/images/layers.png",
        "/static/vendor/jquery/3.7.1/jquery.min.js",
        "/static/vendor/leaflet.vectorgrid/1.3.0/Leaflet.VectorGrid.bundled.min.js",
        "/static/maps.css",
        "/static/workbench.js",
    ):
        assert client.get(path).status_code == 200, path
    assert client.get("/static/../api/main.py").status_code == 404


def test_application_map_needs_a_login(client: TestClient, application: dict[str, Any]) -> None:
    response = client.get(f"/maps/applications/{application['id']}", headers={"Authorization": ""})
    assert response.status_code == 401
    assert "请先登录" in response.json()["message"]


def test_application_map_draws_route_and_context(
    client: TestClient,
    tokens: dict[str, str],
    application: dict[str, Any],
    analysis: AnalysedRoute,
) -> None:
    response = client.get(f"/maps/applications/{application['id']}", headers=bearer(tokens))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    counts = kinds(html)
    assert counts["trench"] == len(trench_edges())
    assert counts["route"] == 6
    assert counts["road"] > 0 and counts["tree"] > 0
    assert counts["group"] == 1 and counts["warning"] == 1  # issue 4's tables
    assert counts["protected"] == 1  # the road rebuilt last year (article 33, five years)
    # each segment's popup links to its cross-section, which is served
    edge = trench_edges()["edge"].iloc[0]
    link = f"/maps/applications/{application['id']}/sections/{edge}.svg"
    assert link in html
    svg = client.get(link, headers=bearer(tokens))
    assert svg.status_code == 200
    assert svg.headers["content-type"] == "image/svg+xml"
    assert b"GB 50289" in svg.content
    missing = client.get(link.replace(edge, "nope"), headers=bearer(tokens))
    assert missing.status_code == 404
    affected = html.count('"affected": true')  # only trees carry it
    assert affected == analysis.quantities.trees_to_fell + analysis.quantities.trees_to_protect
    links = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert links and all(link.startswith("/static/") for link in links)
    # the login cookie of the workbench works as well as the bearer header
    client.cookies.set("cotrench_token", tokens["acceptor"])
    try:
        url = f"/maps/applications/{application['id']}"
        assert client.get(url, headers={"Authorization": ""}).status_code == 200
    finally:
        client.cookies.clear()


def test_layer_and_city_maps(client: TestClient, city: StoredCity) -> None:
    layers = client.get("/layers").json()
    roads = next(
        layer
        for layer in (layers if isinstance(layers, list) else layers["layers"])
        if layer["city"] == city.name and layer["kind"] == "roads"
    )
    html = client.get(f"/maps/layers/{roads['id']}").text
    assert kinds(html)["road"] == city.counts["roads"]
    html = client.get(f"/maps/cities/{city.name}").text
    counts = kinds(html)
    assert counts["road"] == city.counts["roads"]
    assert counts["tree"] == city.counts["trees"]
    assert counts["proposed"] == city.counts["proposed_lines"]


def test_city_and_layer_maps_over_the_limit_open_the_tiles(
    engine: Engine, city: StoredCity, users: Users
) -> None:
    app = create_app(Settings(maps=MapSettings(max_folium_features=100)), engine=engine)
    with TestClient(app, follow_redirects=False, headers=users.headers("acceptor")) as c:
        response = c.get(f"/maps/cities/{city.name}")
        roads = next(
            layer["id"]
            for layer in c.get("/layers").json()
            if layer["city"] == city.name and layer["kind"] == "roads"
        )
        layer = c.get(f"/maps/layers/{roads}")  # 144 roads > 100
    assert response.status_code == 303
    assert response.headers["location"] == f"/workbench/cities/{city.name}/tiles"
    assert layer.status_code == 303
    # what a builder refuses becomes 413 (an application's map past the limit)
    with pytest.raises(MapTooLargeError):
        build_layer_map({"roads": trench_edges()}, max_features=1)


def pdf_text(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "x.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True)
    return out.stdout


@pytest.mark.parametrize("permit_type", PERMIT_TYPES)
def test_permit_sheet_per_type(
    client: TestClient,
    *,
    tokens: dict[str, str],
    application: dict[str, Any],
    analysis: AnalysedRoute,
    permit_type: str,
    tmp_path: Path,
) -> None:
    url = f"/permits/applications/{application['id']}/sheets/{permit_type}.pdf"
    response = client.get(url, headers=bearer(tokens))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    text = pdf_text(response.content, tmp_path)
    assert application["number"] in text
    assert permit_label(permit_type)[0] in text.replace("\n", "")
    if permit_type == "tree_felling":
        flat = text.replace("\n", " ")
        assert "trees to fell:" in flat and "to protect:" in flat
    if permit_type == "road_excavation":
        # the cross-section of issue 6's placer and the route's quantities are on the sheet
        assert "典型横断面" in text and "GB 50289" in text
        excavation = f"{analysis.quantities.excavation_m3:.2f}"  # issue 6's quantities
        assert "开挖土方 Excavation" in text and excavation in text


def test_packet_pdf_geojson_dxf_and_zip(
    client: TestClient, tokens: dict[str, str], application: dict[str, Any], tmp_path: Path
) -> None:
    base = f"/permits/applications/{application['id']}"
    packet = client.get(f"{base}/packet.zip", headers=bearer(tokens))
    assert packet.status_code == 200
    assert packet.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(packet.content))
    number = application["number"]
    assert sorted(archive.namelist()) == sorted(
        [f"{number}-permits.pdf", f"{number}-route.geojson", f"{number}-route.dxf"]
    )
    pdf = archive.read(f"{number}-permits.pdf")
    pages = pdf_text(pdf, tmp_path).split("\f")[:-1]
    assert len(pages) == 4 and all(number in p for p in pages)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "application_packet.pdf").write_bytes(pdf)

    gj = client.get(f"{base}/route.geojson", headers=bearer(tokens))
    assert gj.headers["content-type"] == "application/geo+json"
    features = gj.json()["features"]
    assert len(features) == len(trench_edges())
    lon, lat = features[0]["geometry"]["coordinates"][0]
    assert 126 < lon < 127 and 45 < lat < 46  # RFC 7946: WGS 84 lon/lat

    # the DXF a CAD user works with: metres, a layer per utility and one for the shared
    # trench, labels, in the zone asked for (CGCS2000 / 3-degree GK CM 126E for Harbin)
    dxf = client.get(f"{base}/route.dxf", params={"crs": "EPSG:4551"}, headers=bearer(tokens))
    assert dxf.status_code == 200, dxf.text
    path = tmp_path / "route.dxf"
    path.write_bytes(dxf.content)
    doc = ezdxf.readfile(path)
    assert doc.header["$INSUNITS"] == 6 and doc.header["$MEASUREMENT"] == 1
    lines = doc.modelspace().query("LWPOLYLINE POLYLINE LINE")
    assert len(lines) == len(trench_edges())
    layers = {e.dxf.layer for e in lines}
    assert "TG_同沟" in layers, layers  # the sample plan has edges of 2 to 4 sharers
    assert doc.modelspace().query("TEXT MTEXT"), "no labels"
    box = ezdxf.bbox.extents(lines)
    assert 400_000 < box.extmin.x < 700_000 and 5_000_000 < box.extmin.y < 5_100_000, box
    # every export format of the same route
    gpkg = client.get(f"{base}/route/export", params={"format": "gpkg"}, headers=bearer(tokens))
    assert gpkg.status_code == 200, gpkg.text
    (tmp_path / "route.gpkg").write_bytes(gpkg.content)
    assert len(pyogrio.read_dataframe(tmp_path / "route.gpkg")) == len(trench_edges())


def test_bad_permit_requests(
    client: TestClient, tokens: dict[str, str], application: dict[str, Any], city: StoredCity
) -> None:
    base = f"/permits/applications/{application['id']}"
    assert client.get(f"{base}/sheets/parking.pdf", headers=bearer(tokens)).status_code == 404
    assert (
        client.get("/permits/applications/999999/packet.pdf", headers=bearer(tokens)).status_code
        == 404
    )
    # an application still in the survey has no fixed route: nothing to draw yet
    flow = sample_flow(client, tokens, city)
    fresh = flow.accept_dispatches(flow.accept(flow.submit()))
    response = client.get(f"/permits/applications/{fresh['id']}/packet.pdf", headers=bearer(tokens))
    assert response.status_code == 409
    assert "no fixed route" in response.json()["detail"]
    # a utility company with no part in the application may not read its route
    outsider = client.get(f"{base}/route.geojson", headers=bearer(tokens, "telecom-1-staff"))
    assert outsider.status_code in (403, 404)


def test_each_map_permit_carries_its_frozen_sheet(
    engine: Engine, application: dict[str, Any]
) -> None:
    """Fixing the route froze every map permit's sheet; the permit's attachment is those bytes."""
    with Session(engine) as session:
        route = session.scalars(
            select(RouteVersion).where(RouteVersion.application_id == application["id"])
        ).one()
        stored = {d.name: d.sha256 for d in documents_of(session, route.id)}
        permits = session.scalars(
            select(Permit).where(Permit.application_id == application["id"])
        ).all()
        for p in permits:
            names = {
                a.filename: a.sha256
                for a in session.scalars(
                    select(Attachment).where(
                        Attachment.owner_kind == "permit", Attachment.owner_id == p.id
                    )
                )
            }
            sheet = f"sheet_{p.permit_type}_v1.pdf"
            if p.permit_type in PERMIT_TYPES:
                assert names[sheet] == stored[f"sheet-{p.permit_type}.pdf"], p.permit_type
            else:
                assert sheet not in names
    assert {f"sheet-{t}.pdf" for t in PERMIT_TYPES} | {"packet.pdf"} <= stored.keys()
    assert {f"section-{e}.svg" for e in trench_edges()["edge"]} <= stored.keys()


@pytest.fixture(scope="module")
def plan(client: TestClient, city: StoredCity) -> dict[str, Any]:
    return stored_plan(client, city)


def test_plan_map_draws_the_stored_plan(client: TestClient, plan: dict[str, Any]) -> None:
    key = plan["plan_key"]
    features = plan["geojson"]["features"]
    assert features
    html = client.get(f"/maps/plans/{key}").text
    counts = kinds(html)
    assert counts["trench"] == len(features)
    assert counts["route"] == len(plan["summary"]["routes"])
    edge = features[0]["properties"]["segment_id"]
    link = f"/maps/plans/{key}/sections/{edge}.svg?version=1"
    assert link in html
    svg = client.get(link)
    assert svg.status_code == 200 and b"GB 50289" in svg.content
    assert client.get(f"/maps/plans/{key}?version=9").status_code == 404
    assert client.get("/maps/plans/nope").status_code == 404
