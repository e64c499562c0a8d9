"""Serve the workbench pages: applications, plan review, layer upload, city tiles (Jinja2)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Annotated
from typing import Any
from urllib.parse import quote
from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi import Depends
from fastapi import Form
from fastapi import HTTPException
from fastapi import Query
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.responses import RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.orm import Session

import maps
from api.approvals import auth
from api.approvals import queries
from api.approvals.auth import revoke_token
from api.approvals.enums import Action
from api.approvals.enums import Role
from api.approvals.errors import AuthenticationError
from api.approvals.errors import LoginThrottledError
from api.approvals.errors import PermissionDeniedError
from api.approvals.models import Application
from api.approvals.models import RouteVersion
from api.approvals.models import User
from api.approvals.views import login_service
from api.catalogue import deadline
from api.catalogue import labels
from api.deps import RoadGraphsDep
from api.deps import SessionDep
from api.deps import SettingsDep
from api.policy import CSRF_FORM_FIELD
from api.policy import TOKEN_COOKIE
from api.policy import csrf_token_for
from api.policy import request_token
from api.policy import request_user
from api.responses import OrjsonResponse
from api.routes.maps import quantity_rows
from api.routes.tiles import TILE_COLUMNS
from api.services.analysis import analyse_frames
from api.services.analysis import city_by_id
from api.services.analysis import data_attribution
from api.services.analysis import quantity_table
from api.services.analysis import version_analysis
from api.services.colocation import add_proposals
from geodata.plan_store import get_plan
from geodata.plan_store import list_plan_versions
from geodata.plan_tables import TrenchPlanRow
from geodata.storage import get_city
from geodata.storage import get_layer
from geodata.storage import list_cities
from geodata.tables import ProposedLineRow
from maps import style
from maps.frames import TrenchFrames
from maps.frames import route_frames
from maps.frames import trench_frames
from routing.errors import ProposalError
from routing.results import TrenchPlan

__all__ = ["plan_savings", "redirect_to_login", "router", "safe_next"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/workbench", tags=["pages"], include_in_schema=False)
templates = Jinja2Templates(directory=maps.__path__[0] + "/templates")
# times on the pages: Beijing time with the zone named; a working-day deadline as 24:00 of
# its day (api/catalogue.py), marked when the calendar does not know its year yet
templates.env.filters["deadline"] = lambda value: deadline(value) or "—"
templates.env.globals["PROVISIONAL"] = "（暂定，节假日未公布 / provisional: holidays unknown）"

STATIC = "/static"
STATUS_LABELS = labels("status")
PERMIT_STATUS_LABELS = labels("permit_status")
STAGE_LABELS = labels("stage")
KIND_LABELS = labels("layer_kind")
COLOCATION_URL = "/workbench/layers/{layer_id}/colocation"


def page_user(request: Request, session: SessionDep) -> User | None:
    """The logged-in user, or None: an expired or unknown cookie means "log in again"."""
    try:
        return request_user(request, session)
    except AuthenticationError:
        return None


UserOrNone = Annotated[User | None, Depends(page_user)]


@router.get("", include_in_schema=False)
def index() -> RedirectResponse:
    return RedirectResponse("/workbench/applications", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request, session: SessionDep, next: str = "/workbench/applications"
) -> HTMLResponse:
    """Log in (the server sets an HttpOnly, SameSite cookie the pages and maps read)."""
    return _render(request, session, "login.html", None, next=safe_next(next))


@router.post("/login", response_class=HTMLResponse, response_model=None)
def login_form(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=2000)] = "/workbench/applications",
) -> HTMLResponse | RedirectResponse:
    """Check the password (throttled like the API's login) and set the session cookie."""
    try:
        token, expires = login_service(
            request, session, username, password, dt.datetime.now(dt.UTC)
        )
    except AuthenticationError as exc:
        status = 429 if isinstance(exc, LoginThrottledError) else 401
        page = _render(request, session, "login.html", None, next=safe_next(next), error=str(exc))
        page.status_code = status
        return page
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        TOKEN_COOKIE,
        token,
        max_age=int((expires - dt.datetime.now(dt.UTC)).total_seconds()),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout", response_model=None)
def logout_form(
    request: Request,
    session: SessionDep,
    csrf_token: Annotated[str, Form(alias=CSRF_FORM_FIELD, max_length=200)] = "",
) -> RedirectResponse:
    """Revoke the session's token and clear the cookie (the CSRF check ran in the policy)."""
    token, _ = request_token(request)
    if token:
        revoke_token(session=session, token=token)
    response = RedirectResponse("/workbench/login", status_code=303)
    response.delete_cookie(TOKEN_COOKIE, path="/", httponly=True, samesite="strict")
    return response


def safe_next(target: str) -> str:
    """Only a path of this site: ``/x`` but not ``//evil``, ``/\\evil`` or ``http://...``."""
    parts = urlsplit(target)
    if (
        not target.startswith("/")
        or target.startswith(("//", "/\\"))
        or "\\" in target
        or parts.scheme
        or parts.netloc
        or any(ord(c) < 0x20 for c in target)
    ):
        return "/workbench/applications"
    return target


@router.get("/applications", response_class=HTMLResponse, response_model=None)
def applications_page(
    request: Request, session: SessionDep, user: UserOrNone
) -> HTMLResponse | RedirectResponse:
    """Applications the user may see, with status and deadline."""
    if user is None:
        return _to_login(request)
    now = dt.datetime.now(dt.UTC)
    rows = []
    for app in queries.list_applications(session=session, user=user):
        public = queries.application_public(session, app, now)
        rows.append(
            {
                "id": app.id,
                "number": app.number,
                "project_name": app.project_name,
                "district": app.district,
                "utilities": [
                    u for u in style.UTILITIES if u in {d.utility for d in public.demands}
                ],
                "status": app.status,
                "stage": app.stage,
                "due": deadline(app.stage_due_at) or None,
                "provisional": app.deadline_provisional,
                "overdue": public.overdue,
            }
        )
    return _render(request, session, "applications.html", user, rows=rows)


@router.get("/applications/{application_id}", response_class=HTMLResponse, response_model=None)
def application_page(
    application_id: int, request: Request, session: SessionDep, user: UserOrNone
) -> HTMLResponse | RedirectResponse:
    """Review one application: map, shared segments, quantities, savings, permit actions."""
    if user is None:
        return _to_login(request)
    auth.authorize(user, Action.read_application)
    app = session.get(Application, application_id)
    if app is None:
        raise HTTPException(404, f"申请不存在 / no application {application_id}")
    auth.authorize(user, Action.read_application, app, session=session)
    now = dt.datetime.now(dt.UTC)
    route = _latest_route(session, user, app)
    context: dict[str, Any] = {"app": app, "route": route}
    if route is not None:
        context.update(_route_context(session, route, app))
    permits = []
    for p in queries.list_permits(session=session, user=user, application_id=application_id):
        public = queries.permit_public(session, p, now)
        permits.append({**public.model_dump(), "action": _action_for(user, public)})
    context["permits"] = permits
    context["sheet_types"] = list(style.PERMIT_TYPES)
    context["plans"] = _plans_of(session, app.id)
    return _render(request, session, "application.html", user, **context)


@router.get("/plans/{plan_key}", response_class=HTMLResponse)
def plan_page(
    plan_key: str,
    request: Request,
    session: SessionDep,
    user: UserOrNone,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:
    """Review a stored trench plan: map, shared segments, sections, quantities, savings."""
    stored = get_plan(session, plan_key, version)
    analysed = analyse_frames(
        session,
        trench_frames(TrenchPlan.from_dict(stored.result)),
        city=city_by_id(session, stored.city_id),
    )
    section_url = f"/maps/plans/{plan_key}/sections/{{edge}}.svg?version={stored.version}"
    context = _tables(
        analysed.frames,
        section_url,
        analysis_rows=quantity_table(analysed.quantities),
        route_quantities={},
    )
    applications = session.scalars(
        select(Application)
        .where(Application.id.in_(stored.application_ids))
        .order_by(Application.id)
    ).all()
    city = session.execute(
        text("SELECT name FROM cities WHERE id = :c"), {"c": stored.city_id}
    ).scalar()
    return _render(
        request,
        session,
        "plan.html",
        user,
        plan=stored,
        versions=list_plan_versions(session, plan_key),
        applications=applications,
        city=city,
        **context,
    )


@router.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request, session: SessionDep, user: UserOrNone) -> HTMLResponse:
    """A designer uploads a layer and sees its validation report and co-location."""
    kinds = list(KIND_LABELS.items())
    return _render(
        request, session, "upload.html", user, kinds=kinds, colocation_url=COLOCATION_URL
    )


@router.post("/layers/{layer_id}/colocation", response_model=None)
def layer_colocation(layer_id: int, session: SessionDep, graphs: RoadGraphsDep) -> OrjsonResponse:
    """Match an uploaded proposed-lines layer and return the co-location it triggers.

    Runs issue 4's incremental ``add_proposals`` on the layer's lines (stored once: a second
    call is refused by it) and returns its groups, warnings and per-line summary.
    """
    info = get_layer(session, layer_id)
    if info.kind != "proposed_lines":
        raise HTTPException(
            422, f"不是拟建管线图层 / layer {layer_id} holds {info.kind}, not proposed lines"
        )
    ids = session.scalars(
        select(ProposedLineRow.id).where(ProposedLineRow.layer_id == layer_id)
    ).all()
    try:
        outcome = add_proposals(session, graphs, city=info.city, line_ids=list(ids))
    except ProposalError as exc:
        detail = getattr(exc, "detail", None)
        raise HTTPException(422, {"message": str(exc), "problems": detail}) from exc
    data = outcome.as_dict()
    groups = [g.get("properties", g) for g in data["groups"]]  # GeoJSON features
    # orjson, not FastAPI's encoder: the counts and lengths are numpy numbers
    return OrjsonResponse({"lines": data["lines"], "groups": groups, "warnings": data["warnings"]})


@router.get("/cities/{city}/tiles", response_class=HTMLResponse)
def tiles_page(
    city: str, request: Request, session: SessionDep, settings: SettingsDep, user: UserOrNone
) -> HTMLResponse:
    """Every layer of a city as vector tiles (for layers too large for one folium page)."""
    info = get_city(session, city)
    bounds = _data_bounds(session, info.id) or list(info.extent.bounds)
    styles = _tile_styles()
    kinds = [(k, KIND_LABELS[k]) for k in TILE_COLUMNS]
    return _render(
        request,
        session,
        "tiles.html",
        user,
        city=info.name,
        bounds=bounds,
        kinds=kinds,
        styles=styles,
        tile_url=settings.maps.tile_url,
        tile_attribution=settings.maps.tile_attribution,
        attribution=data_attribution(info),
    )


# --- helpers -------------------------------------------------------------------------


def _render(
    request: Request, session: Session, name: str, user: User | None, **context: Any
) -> HTMLResponse:
    token, _ = request_token(request)
    secret = request.app.state.settings.auth.secret_key
    base = {
        "static": STATIC,
        "user": user,
        "csrf": csrf_token_for(token, secret) if token and user is not None else "",
        "csrf_field": CSRF_FORM_FIELD,
        "cities": [c.name for c in list_cities(session)],
        "colours": style.UTILITY_COLOURS,
        "labels": {u: style.label(u) for u in style.UTILITIES},
        "permit_labels": style.PERMIT_LABELS,
        "status_labels": STATUS_LABELS,
        "permit_status_labels": PERMIT_STATUS_LABELS,
        "stage_labels": STAGE_LABELS,
    }
    return templates.TemplateResponse(request, name, {**base, **context})


def redirect_to_login(request: Request) -> RedirectResponse | None:
    """The login redirect for an anonymous page view (``None``: not a page view)."""
    if request.method == "GET" and request.url.path.startswith(router.prefix):
        return _to_login(request)
    return None


def _to_login(request: Request) -> RedirectResponse:
    """Send an anonymous visitor to the login page, coming back here afterwards."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/workbench/login?next={quote(here, safe='')}", status_code=303)


def _latest_route(session: Session, user: User, app: Application) -> RouteVersion | None:
    try:
        auth.authorize(user, Action.read_routes, app, session=session)
    except PermissionDeniedError:
        return None
    return queries.latest_route(session, app.id)


def _route_context(session: Session, route: RouteVersion, app: Application) -> dict[str, Any]:
    frames = route_frames(
        route.geojson, route.crs, default_utilities=[d.utility for d in app.demands]
    )
    section_url = f"/maps/applications/{app.id}/sections/{{edge}}.svg"
    stored = (route.quantities or {}).get("table")
    if stored is not None:
        # the quantities frozen with the version, as its excavation sheet prints them
        rows = [(str(k), str(v), str(u)) for k, v, u in stored]
    else:  # a version fixed before quantities were frozen with it
        rows = quantity_table(version_analysis(session, app, route).quantities)
    return _tables(frames, section_url, analysis_rows=rows, route_quantities=route.quantities or {})


def _tables(
    frames: TrenchFrames,
    section_url: str,
    *,
    analysis_rows: list[tuple[str, str, str]],
    route_quantities: Mapping[str, Any],
) -> dict[str, Any]:
    """Shared segments, quantities and savings of a route or a plan (``_route_tables.html``)."""
    edges = frames.edges
    segments = [
        {
            "edge": e.edge,
            "utilities": [u for u in style.UTILITIES if u in e.utilities.split(", ")],
            "n": int(e.n_utilities),
            "colour": style.trench_colour(int(e.n_utilities)),
            "length_m": float(e.length_m),
            "section_url": section_url.replace("{edge}", quote(str(e.edge), safe="")),
        }
        for e in edges.sort_values(["n_utilities", "length_m"], ascending=False).itertuples()
    ]
    shared = edges[edges["n_utilities"] >= 2]
    rows = quantity_rows(dict(route_quantities))
    # the route analysis' quantities (the excavation sheet shows the same)
    quantities = [(k, f"{v} {u}") for k, v, u in analysis_rows]
    savings = plan_savings(frames.summary) or [
        (k, f"{v} {u}" if u != "-" else v) for k, v, u in rows if "savings" in k
    ]
    return {
        "segments": segments,
        "total_m": float(edges["length_m"].sum()),
        "shared_m": float(shared["length_m"].sum()),
        "dig_count": int(shared["n_utilities"].max()) if len(shared) else 1,
        "quantities": quantities,
        "savings": savings,
    }


def plan_savings(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Rows of a TrenchPlan summary: cost, savings against separate and overlaid trenches."""
    if not summary or "total_cost_cny" not in summary:
        return []
    rows = [
        ("方法 Method", f"{summary.get('method')} ({summary.get('status')})"),
        ("总费用 Total cost", f"{summary['total_cost_cny']:,.0f} CNY"),
    ]
    if summary.get("gap") is not None:
        rows.append(("已证间隙 Proven gap", f"{100 * summary['gap']:.2f} %"))
    for key, label in (
        ("separate", "比各自开挖 vs separate trenches"),
        ("overlay", "比简单叠加 vs overlaid routes"),
    ):
        cny = summary.get(f"savings_vs_{key}_cny")
        share = summary.get(f"savings_vs_{key}")
        if cny is not None and share is not None:
            value = f"{cny:,.0f} CNY ({100 * share:.1f} %)"
            broken = summary.get("overlay_violations") if key == "overlay" else None
            if broken:  # why an overlay that looks cheaper cannot be dug
                value += " — 叠加方案不可行 overlay infeasible: " + "; ".join(
                    f"{v.get('label', v.get('constraint'))}: {v.get('detail', '')}"
                    for v in broken[:3]
                )
            rows.append((f"节省 Saved {label}", value))
    rows.extend(
        (
            f"分摊 Share: {style.label(s['utility'])} ({summary.get('sharing_rule')})",
            f"{s['cost_cny']:,.0f} CNY ({100 * s['fraction']:.1f} %)",
        )
        for s in summary.get("shares", [])
        if s.get("utility") in style.UTILITIES
    )
    return rows


def _plans_of(session: Session, application_id: int) -> list[TrenchPlanRow]:
    # geodata.plan_store.plans_for_application uses ARRAY.any(), deprecated in SQLAlchemy
    # 2.1 (a warning, so an error here); ``@>`` asks the same
    return list(
        session.scalars(
            select(TrenchPlanRow)
            .where(TrenchPlanRow.application_ids.contains([application_id]))
            .order_by(TrenchPlanRow.created_at.desc(), TrenchPlanRow.id.desc())
        )
    )


def _action_for(user: User, permit: Any) -> str | None:
    if user.organisation_id != permit.department_id:
        return None
    if user.role == Role.dept_clerk and permit.status in ("submitted", "deadline_passed"):
        return "review"
    if user.role == Role.dept_chief and permit.status == "in_review":
        return "decide"
    return None


def _data_bounds(session: Session, city_id: int) -> list[float] | None:
    row = session.execute(
        text(
            "SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM ("
            "SELECT ST_Transform(ST_SetSRID(ST_Extent(geom), min(srid)), 4326) AS b "
            "FROM road_segments WHERE city_id = :c) AS t WHERE b IS NOT NULL"
        ),
        {"c": city_id},
    ).first()
    return None if row is None else [float(v) for v in row]


def _tile_styles() -> dict[str, dict[str, Any]]:
    ctx = style.CONTEXT_STYLES
    w = style.LINE_WIDTHS_PX
    return {
        "roads": {"color": ctx["road"]["color"], "weight": w["road"]},
        "underground_lines": {
            "color": "#555555",
            "weight": w["existing"],
            "by_utility": style.UTILITY_COLOURS,
        },
        "proposed_lines": {
            "color": "#555555",
            "weight": w["proposed"],
            "by_utility": style.UTILITY_COLOURS,
        },
        "trees": {"color": ctx["tree"]["color"], "weight": 1, "fill": ctx["tree"]["fill"]},
        "poles": {"color": ctx["pole"]["color"], "weight": 1, "fill": ctx["pole"]["fill"]},
        "protected_areas": {
            "color": ctx["protected"]["color"],
            "weight": w["protected"],
            "fill": ctx["protected"]["fill"],
        },
    }
