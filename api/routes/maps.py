"""Serve review maps (HTML), permit sheets (PDF) and the route (GeoJSON, DXF) of an application."""

from __future__ import annotations

import io
import logging
import zipfile
from pathlib import Path
from typing import Annotated
from typing import Any
from typing import Literal
from urllib.parse import quote

import geopandas as gpd
from fastapi import APIRouter
from fastapi import Depends
from fastapi import FastAPI
from fastapi import HTTPException
from fastapi import Query
from fastapi import Request
from fastapi.responses import FileResponse
from fastapi.responses import HTMLResponse
from fastapi.responses import RedirectResponse
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.orm import Session

import maps
from api.approvals import auth
from api.approvals.calendar import local_date
from api.approvals.enums import Action
from api.approvals.errors import NotFoundError
from api.approvals.models import Application
from api.approvals.models import Permit
from api.approvals.models import RouteVersion
from api.approvals.models import User
from api.approvals.queries import latest_route
from api.deps import SessionDep
from api.deps import SettingsDep
from api.errors import register
from api.middleware import csp_for_inline_scripts
from api.policy import TOKEN_COOKIE
from api.policy import AccessDep
from api.policy import request_user
from api.responses import content_disposition
from api.responses import error_response
from api.services import exports
from api.services.analysis import KIND_KEYS
from api.services.analysis import AnalysedRoute
from api.services.analysis import analyse_frames
from api.services.analysis import city_by_id
from api.services.analysis import data_attribution
from api.services.analysis import version_analysis
from api.services.documents import PDF
from api.services.documents import SheetTitle
from api.services.documents import packet_name
from api.services.documents import render_sheets_pdf
from api.services.documents import section_name
from api.services.documents import sheet_name
from api.services.documents import stored_document
from api.settings import get_settings
from geodata.plan_store import get_plan
from geodata.storage import get_city
from geodata.storage import get_layer
from geodata.storage import read_features
from geodata.tables import FEATURE_TABLES
from maps import permit
from maps import style
from maps import web
from maps.frames import trench_frames
from maps.section_drawing import section_svg
from routing.results import TrenchPlan

__all__ = [
    "STATIC_DIR",
    "TOKEN_COOKIE",
    "mount",
    "optional_user",
    "quantity_rows",
    "router",
]

logger = logging.getLogger(__name__)

router = APIRouter(tags=["maps"])

STATIC_DIR = Path(maps.__file__).resolve().parent / "static"
DXF = "image/vnd.dxf"

register(web.MapTooLargeError, 413)
register(permit.SheetScaleError, 422)


def mount(app: FastAPI) -> None:
    """Serve ``maps/static`` (vendored Leaflet and plugins, the pages' CSS/JS) at ``/static``."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


def optional_user(request: Request, session: SessionDep) -> User | None:
    """The user of a bearer token or of the workbench's login cookie; none if neither."""
    return request_user(request, session)


def required_user(access: AccessDep) -> User:
    """The signed-in user the policy admitted (api/policy.py)."""
    return access.signed_in


UserDep = Annotated[User, Depends(required_user)]


# what every route of an application's fixed route may answer besides the policy's
_ROUTE_ANSWERS: dict[int | str, dict[str, Any]] = {
    409: error_response("尚无确定的路由 / the application has no fixed route yet", http_error=True),
}


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> FileResponse:
    # browsers ask for it on every page; without it each page logs a 404 in the console
    return FileResponse(STATIC_DIR / "favicon.png", media_type="image/png")


# --- review maps ---------------------------------------------------------------------


@router.get(
    "/maps/layers/{layer_id}",
    response_class=HTMLResponse,
    response_model=None,
    operation_id="maps-layer-map",
)
def layer_map(
    layer_id: int, session: SessionDep, settings: SettingsDep
) -> HTMLResponse | RedirectResponse:
    """Review map of one stored layer (HTML, no CDN); too large a layer opens as tiles."""
    info = get_layer(session, layer_id)
    if info.feature_count > settings.maps.max_folium_features:
        return _to_tiles(info.city)
    gdf = read_features(session, city=info.city, kind=info.kind, layer_id=layer_id)
    m = web.build_layer_map(
        {KIND_KEYS[info.kind]: _with_attrs(gdf)},
        attribution=data_attribution(get_city(session, info.city)),
        tile_url=settings.maps.tile_url,
        tile_attribution=settings.maps.tile_attribution,
        max_features=settings.maps.max_folium_features,
    )
    return _html(m)


@router.get(
    "/maps/cities/{city}",
    response_class=HTMLResponse,
    response_model=None,
    operation_id="maps-city-map",
)
def city_map(
    city: str, session: SessionDep, settings: SettingsDep
) -> HTMLResponse | RedirectResponse:
    """Review map of every layer of a city; above the feature limit, the vector-tile page."""
    info = get_city(session, city)
    if _feature_count(session, info.id) > settings.maps.max_folium_features:
        return _to_tiles(info.name)
    layers = {
        KIND_KEYS[k]: _with_attrs(read_features(session, city=city, kind=k)) for k in KIND_KEYS
    }
    m = web.build_layer_map(
        {k: v for k, v in layers.items() if len(v)},
        attribution=data_attribution(info),
        tile_url=settings.maps.tile_url,
        tile_attribution=settings.maps.tile_attribution,
        max_features=settings.maps.max_folium_features,
    )
    return _html(m)


def _feature_count(session: Session, city_id: int) -> int:
    tables = [FEATURE_TABLES[k].__tablename__ for k in KIND_KEYS]  # type: ignore[attr-defined]
    union = " UNION ALL ".join(f"SELECT count(*) AS n FROM {t} WHERE city_id = :c" for t in tables)
    return int(
        session.execute(
            text(f"SELECT sum(n) FROM ({union}) AS counts"), {"c": city_id}
        ).scalar_one()
    )


def _to_tiles(city: str) -> RedirectResponse:
    # one folium page would carry too much: the browser gets the vector-tile page instead
    return RedirectResponse(f"/workbench/cities/{quote(city)}/tiles", status_code=303)


@router.get(
    "/maps/applications/{application_id}",
    response_class=HTMLResponse,
    responses=_ROUTE_ANSWERS,
    operation_id="maps-application-map",
)
def application_map(
    application_id: int, session: SessionDep, settings: SettingsDep, user: UserDep
) -> HTMLResponse:
    """Review map of an application's fixed route with its context (log-in needed)."""
    app, route = _application_route(session, user, application_id)
    analysed = version_analysis(session, app, route)
    m = web.build_trench_map(
        analysed.frames,
        context=analysed.context,
        attribution=data_attribution(analysed.city),
        section_url=f"/maps/applications/{application_id}/sections/{{edge}}.svg",
        tile_url=settings.maps.tile_url,
        tile_attribution=settings.maps.tile_attribution,
        max_features=settings.maps.max_folium_features,
    )
    return _html(m)


@router.get(
    "/maps/applications/{application_id}/sections/{edge}.svg",
    response_class=Response,
    responses={**_ROUTE_ANSWERS, 200: {"content": {"image/svg+xml": {}}}},
    operation_id="maps-route-section",
)
def route_section_svg(
    application_id: int, edge: str, session: SessionDep, user: UserDep
) -> Response:
    """Cross-section of one segment of an application's fixed route (SVG, as frozen)."""
    app, route = _application_route(session, user, application_id)
    stored = stored_document(session, route.id, section_name(edge))
    if stored is not None:
        return Response(stored.data, media_type=stored.content_type)
    return _section_svg(version_analysis(session, app, route), edge)


def _section_svg(analysed: AnalysedRoute, edge: str) -> Response:
    # the same analysis as the review page and the sheets, so the linked drawing shows the
    # section they list (road width, lane and frost depth of the road the edge runs along)
    try:
        section = analysed.section(edge)
    except KeyError:
        raise HTTPException(404, f"路由中没有此段 / the route has no segment {edge!r}") from None
    return Response(section_svg(section), media_type="image/svg+xml")


@router.get("/maps/plans/{plan_key}", response_class=HTMLResponse, operation_id="maps-plan-map")
def plan_map(
    plan_key: str,
    session: SessionDep,
    settings: SettingsDep,
    version: Annotated[int | None, Query(ge=1, description="default: the latest")] = None,
) -> HTMLResponse:
    """Review map of a stored trench plan (issue 5) with its context (HTML, no CDN)."""
    stored = get_plan(session, plan_key, version)
    analysed = analyse_frames(
        session,
        trench_frames(TrenchPlan.from_dict(stored.result)),
        city=city_by_id(session, stored.city_id),
    )
    m = web.build_trench_map(
        analysed.frames,
        context=analysed.context,
        attribution=data_attribution(analysed.city),
        section_url=f"/maps/plans/{plan_key}/sections/{{edge}}.svg?version={stored.version}",
        tile_url=settings.maps.tile_url,
        tile_attribution=settings.maps.tile_attribution,
        max_features=settings.maps.max_folium_features,
    )
    return _html(m)


@router.get(
    "/maps/plans/{plan_key}/sections/{edge}.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
    operation_id="maps-plan-section",
)
def plan_section_svg(
    plan_key: str,
    edge: str,
    session: SessionDep,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """Cross-section of one trench edge of a stored plan (SVG, to scale)."""
    stored = get_plan(session, plan_key, version)
    analysed = analyse_frames(
        session,
        trench_frames(TrenchPlan.from_dict(stored.result)),
        city=city_by_id(session, stored.city_id),
    )
    return _section_svg(analysed, edge)


# --- permit sheets and the packet ----------------------------------------------------


@router.get(
    "/permits/applications/{application_id}/sheets/{permit_type}.pdf",
    response_class=Response,
    responses={**_ROUTE_ANSWERS, 200: {"content": {PDF: {}}}},
    operation_id="maps-permit-sheet",
)
def permit_sheet(
    application_id: int, permit_type: str, session: SessionDep, user: UserDep
) -> Response:
    """The permit sheet(s) of one approval type for an application's fixed route (PDF)."""
    if permit_type not in style.PERMIT_TYPES:
        raise HTTPException(
            404, f"没有此图纸 / no sheet for {permit_type!r}; one of {list(style.PERMIT_TYPES)}"
        )
    app, route = _application_route(session, user, application_id)
    name = f"{app.number}-{permit_type}.pdf"
    return _frozen_pdf(
        session, app, route, sheet_name(permit_type), permit_types=[permit_type], filename=name
    )


@router.get(
    "/permits/applications/{application_id}/packet.pdf",
    response_class=Response,
    responses={**_ROUTE_ANSWERS, 200: {"content": {PDF: {}}}},
    operation_id="maps-permit-packet-pdf",
)
def permit_packet_pdf(application_id: int, session: SessionDep, user: UserDep) -> Response:
    """Every permit sheet of an application in one PDF."""
    app, route = _application_route(session, user, application_id)
    name = f"{app.number}-permits.pdf"
    types = _permit_types(session, app)
    return _frozen_pdf(session, app, route, packet_name(), permit_types=types, filename=name)


@router.get(
    "/permits/applications/{application_id}/quantities.{fmt}",
    response_class=Response,
    responses={**_ROUTE_ANSWERS, 200: {"content": {"application/json": {}, "text/csv": {}}}},
    operation_id="maps-route-quantities",
)
def route_quantities_document(
    application_id: int,
    fmt: Literal["json", "csv"],
    session: SessionDep,
    user: UserDep,
) -> Response:
    """The quantities frozen with the fixed route (JSON: sections, warnings, crossings; CSV)."""
    app, route = _application_route(session, user, application_id)
    document = f"quantities.{fmt}"
    stored = stored_document(session, route.id, document)
    if stored is None:
        msg = (
            f"没有存档的文件 / route v{route.version_no} of {app.number} was fixed before "
            "documents were frozen"
        )
        raise HTTPException(404, msg)
    name = f"{app.number}-v{route.version_no}-{document}"
    return Response(stored.data, media_type=stored.content_type, headers=_attachment(name))


@router.get(
    "/permits/applications/{application_id}/route.geojson",
    responses=_ROUTE_ANSWERS,
    operation_id="maps-route-geojson",
)
def route_geojson(application_id: int, session: SessionDep, user: UserDep) -> Response:
    """The fixed route as RFC 7946 GeoJSON (WGS 84), one feature per trench segment."""
    app, route = _application_route(session, user, application_id)
    out = exports.export_route_version(app, route, fmt="geojson")
    return Response(out.data, media_type=out.media_type, headers=_attachment(out.filename))


@router.get(
    "/permits/applications/{application_id}/route.dxf",
    response_class=Response,
    responses={**_ROUTE_ANSWERS, 200: {"content": {DXF: {}}}},
    operation_id="maps-route-dxf",
)
def route_dxf(
    application_id: int,
    session: SessionDep,
    user: UserDep,
    crs: Annotated[
        str | None, Query(max_length=100, description="default: the city's CRS, e.g. EPSG:4552")
    ] = None,
) -> Response:
    """The fixed route as a DXF a CAD user works with: a layer per utility in the surveyors'
    colours, the shared trench on its own layer, labels, metres, the city's zone (or ``crs``)."""
    app, route = _application_route(session, user, application_id)
    out = exports.export_route_version(app, route, fmt="dxf", crs=crs or None)
    return Response(out.data, media_type=DXF, headers=_attachment(out.filename))


@router.get(
    "/permits/applications/{application_id}/route/export",
    response_class=Response,
    responses={
        **_ROUTE_ANSWERS,
        200: {"content": {m: {} for m in exports.EXPORT_MEDIA.values()}},
    },
    operation_id="maps-route-export",
)
def route_export(
    *,
    application_id: int,
    session: SessionDep,
    user: UserDep,
    format: Annotated[
        exports.ExportFormat, Query(description="gpkg, shp, kml, geojson, csv or dxf")
    ],
    crs: Annotated[str | None, Query(max_length=100, description="default: the city's CRS")] = None,
    encoding: Annotated[exports.Encoding, Query(description="Shapefile text encoding")] = "utf-8",  # type: ignore[assignment]
) -> Response:
    """The fixed route in any export format (the same file as ``cotrench export route``)."""
    app, route = _application_route(session, user, application_id)
    out = exports.export_route_version(
        app, route, fmt=str(format), crs=crs or None, encoding=str(encoding)
    )
    return Response(out.data, media_type=out.media_type, headers=_attachment(out.filename))


@router.get(
    "/permits/applications/{application_id}/packet.zip",
    response_class=Response,
    responses={**_ROUTE_ANSWERS, 200: {"content": {"application/zip": {}}}},
    operation_id="maps-permit-packet-zip",
)
def permit_packet_zip(application_id: int, session: SessionDep, user: UserDep) -> Response:
    """The permit packet: all sheets as PDF (as frozen), the route as GeoJSON and DXF, a zip."""
    app, route = _application_route(session, user, application_id)
    stored = stored_document(session, route.id, packet_name())
    if stored is not None:
        sheets = stored.data
    else:
        types = _permit_types(session, app)
        sheets = render_sheets_pdf(version_analysis(session, app, route), _title(app, route), types)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{app.number}-permits.pdf", sheets)
        for fmt in ("geojson", "dxf"):
            out = exports.export_route_version(app, route, fmt=fmt)
            zf.writestr(f"{app.number}-route.{fmt}", out.data)
    name = f"{app.number}-packet.zip"
    return Response(buffer.getvalue(), media_type="application/zip", headers=_attachment(name))


# --- helpers shared with the workbench pages -----------------------------------------


def _application_route(
    session: Session, user: User, application_id: int
) -> tuple[Application, RouteVersion]:
    auth.authorize(user, Action.read_routes)
    app = session.get(Application, application_id)
    if app is None:
        raise NotFoundError("application", application_id)
    auth.authorize(user, Action.read_routes, app, session=session)
    route = latest_route(session, application_id)
    if route is None:
        msg = (
            f"尚无确定的路由 / application {app.number} has no fixed route yet "
            "(the joint survey fixes it)"
        )
        raise HTTPException(409, msg)
    return app, route


def _permit_types(session: Session, app: Application) -> list[str]:
    ordered = list(style.PERMIT_TYPES)
    have = set(
        session.scalars(select(Permit.permit_type).where(Permit.application_id == app.id)).all()
    )
    chosen = [p for p in ordered if p in have]
    return chosen or ordered


def _title(app: Application, route: RouteVersion) -> SheetTitle:
    applicant = app.applicant.get("name", "") if isinstance(app.applicant, dict) else ""
    return SheetTitle(
        project=app.project_name,
        application_no=app.number,
        applicant=applicant,
        issued_on=local_date(route.fixed_at),
        route_version=route.version_no,
    )


def _frozen_pdf(
    session: Session,
    app: Application,
    route: RouteVersion,
    document: str,
    *,
    permit_types: list[str],
    filename: str,
) -> Response:
    """A version's frozen PDF; drawn now only for a version with no frozen documents."""
    stored = stored_document(session, route.id, document)
    if stored is not None:
        data = stored.data
    elif stored_document(session, route.id, "quantities.json") is not None:
        # documents were frozen, but not this one: the application has no such permit
        msg = (
            f"没有此图纸 / application {app.number} has no {' / '.join(permit_types)} permit sheet"
        )
        raise HTTPException(404, msg)
    else:
        analysed = version_analysis(session, app, route)
        data = render_sheets_pdf(analysed, _title(app, route), permit_types)
    return Response(data, media_type=PDF, headers=_attachment(filename))


def quantity_rows(quantities: Any) -> list[tuple[str, str, str]]:
    """Flatten a fixed route's quantities into ``(item, value, unit)`` rows.

    Nested keys are joined with dots; lists of records are numbered; the unit is the
    suffix of the key (``total_length_m`` -> ``m``), else ``-``.
    """
    rows: list[tuple[str, str, str]] = []
    _flatten(quantities, "", rows)
    return rows


def _flatten(value: Any, key: str, rows: list[tuple[str, str, str]]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(v, f"{key}.{k}" if key else str(k), rows)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _flatten(v, f"{key}[{i}]", rows)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int | float):
        tail = key.rsplit(".", 1)[-1]
        unit = tail.rsplit("_", 1)[-1] if "_" in tail else "-"
        rows.append((key, f"{value:g}", unit if unit in _UNITS else "-"))


_UNITS = {"m", "m2", "m3", "km", "mm", "cm", "cny", "days", "count", "kw"}


def _with_attrs(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    # the importer keeps extra source fields in ``attrs``; maps only need the columns
    return gdf.drop(columns=[c for c in ("attrs",) if c in gdf.columns])


def _html(m: Any) -> HTMLResponse:
    html = m.get_root().render()
    # folium writes its map as inline scripts: allow exactly those (by hash), nothing else
    csp = csp_for_inline_scripts(html, get_settings().maps.tile_url)
    return HTMLResponse(html, headers={"Content-Security-Policy": csp})


def _attachment(name: str) -> dict[str, str]:
    return content_disposition(name)
