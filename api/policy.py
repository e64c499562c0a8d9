"""Who may call which endpoint: every operation of the app, in one table.

``OPERATIONS`` maps each route (its OpenAPI ``operation_id``, or ``METHOD path`` for the
workbench pages, which are not in the OpenAPI) to the :class:`~api.approvals.enums.Action`
it performs; ``api.approvals.auth.POLICY`` says which roles may perform each action. The
app adds :func:`enforce` to every router, so no route answers before it has

1. found its row here (a route without one is refused: a new endpoint is closed until
   someone writes down who may use it),
2. authenticated the caller (bearer token or the workbench's HttpOnly cookie; a cookie
   write also needs the CSRF token, and a cross-site ``Origin`` is refused),
3. checked the caller's role for the action, and
4. checked that the city the request is about (a ``city``, ``layer_id`` or ``plan_key``
   in the path) is the caller's city.

Ownership of single items (your application, your company's dispatch, your department's
permit) is checked by the views with :func:`api.approvals.auth.authorize` on the item, from
the same policy table. Body fields that name a city go through :func:`check_city`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from typing import Any

from fastapi import Depends
from fastapi import Request
from fastapi.routing import APIRoute
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.approvals import auth
from api.approvals.enums import Action
from api.approvals.enums import Role
from api.approvals.errors import AuthenticationError
from api.approvals.errors import PermissionDeniedError
from api.approvals.models import User
from api.deps import SessionDep
from api.middleware import refuse_bad_parameters
from api.responses import ERROR_BODY
from api.responses import ERROR_REF
from api.responses import HTTP_ERROR_BODY
from api.responses import PROBLEM_MEDIA
from api.responses import error_response
from geodata.plan_tables import TrenchPlanRow
from geodata.tables import City as CityRow
from geodata.tables import Layer as LayerRow

__all__ = [
    "CSRF_FORM_FIELD",
    "CSRF_HEADER",
    "OPERATIONS",
    "PUBLIC",
    "TOKEN_COOKIE",
    "Access",
    "AccessDep",
    "check_city",
    "csrf_token_for",
    "document_responses",
    "enforce",
    "operation_key",
    "read_csrf_form",
    "request_token",
    "request_user",
]

TOKEN_COOKIE = "cotrench_token"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FORM_FIELD = "csrf_token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Rule:
    """What one operation needs: an action (``None``: anyone, signed in or not)."""

    action: Action | None


PUBLIC = Rule(None)
A = Action


def _r(action: Action) -> Rule:
    return Rule(action)


# operation -> the action it performs. Roles per action: api/approvals/auth.py POLICY.
OPERATIONS: dict[str, Rule] = {
    # --- public: the liveness check, logging in, the login page and the static files
    "health-check": PUBLIC,
    "health-ready": PUBLIC,
    "approvals-login": PUBLIC,
    "GET /workbench/login": PUBLIC,
    "POST /workbench/login": PUBLIC,
    "GET /workbench": PUBLIC,
    "GET /favicon.ico": PUBLIC,
    # --- GIS: base layers (per city)
    "layers-create": _r(A.import_layer),
    "layers-replace": _r(A.import_layer),
    "layers-delete": _r(A.import_layer),
    "layers-history": _r(A.read_layers),
    # --- OGC API - Features over layers, groups and plans (per city, in the routes)
    "ogc-landing": _r(A.read_layers),
    "ogc-conformance": _r(A.read_layers),
    "ogc-collections": _r(A.read_layers),
    "ogc-collection": _r(A.read_layers),
    "ogc-items": _r(A.read_layers),
    "ogc-item": _r(A.read_layers),
    "layers-list": _r(A.read_layers),
    "layers-features": _r(A.read_layers),
    "layers-export": _r(A.read_layers),
    "tiles-tilejson": _r(A.read_layers),
    "tiles-get": _r(A.read_layers),
    "HEAD /tiles/{city}/{kind}/{z}/{x}/{y}.pbf": _r(A.read_layers),
    "maps-layer-map": _r(A.read_layers),
    "maps-city-map": _r(A.read_layers),
    # --- GIS: proposed lines and co-location groups
    "proposals-create": _r(A.submit_proposals),
    "proposals-upload": _r(A.submit_proposals),
    "proposals-groups": _r(A.read_proposals),
    "proposals-groups-export": _r(A.read_proposals),
    "approvals-submit-proposals": _r(A.submit_proposals),
    "approvals-upload-proposals": _r(A.submit_proposals),
    "approvals-list-proposals": _r(A.read_application),  # its own lines, to each party
    # --- GIS: shared-trench plans and their sections
    "plans-create": _r(A.make_plan),
    "plans-replan": _r(A.make_plan),
    "plans-get": _r(A.read_plans),
    "plans-geojson": _r(A.read_plans),
    "plans-export": _r(A.read_plans),
    "plans-versions": _r(A.read_plans),
    "maps-plan-map": _r(A.read_plans),
    "maps-plan-section": _r(A.read_plans),
    "sections-compute": _r(A.compute_sections),
    "sections-plan": _r(A.compute_sections),
    "sections-document": _r(A.compute_sections),
    "sections-plan-document": _r(A.compute_sections),
    "sections-stored-plan": _r(A.read_plans),
    "sections-stored-plan-document": _r(A.read_plans),
    # --- the approval flow (ownership of the item is checked in the view)
    "approvals-me": _r(A.read_me),
    "approvals-logout": _r(A.logout),
    "approvals-create-user": _r(A.manage_users),
    "approvals-list-users": _r(A.manage_users),
    "approvals-list-organisations": _r(A.list_organisations),
    "approvals-ask-consultation": _r(A.ask_consultation),
    "approvals-list-consultations": _r(A.list_consultations),
    "approvals-answer-consultation": _r(A.answer_consultation),
    "approvals-submit-application": _r(A.submit_application),
    "approvals-list-applications": _r(A.list_applications),
    "approvals-read-application": _r(A.read_application),
    "approvals-resubmit-application": _r(A.resubmit_application),
    "approvals-accept-application": _r(A.accept_application),
    "approvals-return-application": _r(A.return_application),
    "approvals-reject-application": _r(A.reject_application),
    "approvals-not-competent-application": _r(A.reject_application),
    "approvals-accept-dispatch": _r(A.accept_dispatch),
    "approvals-record-opinion": _r(A.record_opinion),
    "approvals-list-opinions": _r(A.read_application),
    "approvals-fix-route": _r(A.fix_route),
    "approvals-list-routes": _r(A.read_routes),
    "approvals-plan-route": _r(A.fix_route),
    "approvals-read-planning": _r(A.read_routes),
    "approvals-fix-planned-route": _r(A.fix_route),
    "approvals-list-permits": _r(A.list_permits),
    "approvals-read-permit": _r(A.read_permit),
    "approvals-review-permit": _r(A.review_permit),
    "approvals-decide-permit": _r(A.decide_permit),
    "approvals-resubmit-permit": _r(A.resubmit_permit),
    "approvals-read-attachment": _r(A.read_attachment),
    "approvals-list-feedback": _r(A.list_feedback),
    "approvals-start-construction": _r(A.start_construction),
    "approvals-finish-construction": _r(A.finish_construction),
    "approvals-record-acceptance": _r(A.record_acceptance),
    "approvals-read-record-sheet": _r(A.read_record_sheet),
    "approvals-read-record-sheet-pdf": _r(A.read_record_sheet),
    "approvals-list-audit": _r(A.read_audit),
    "approvals-list-due": _r(A.list_due),
    "approvals-sweep-deadlines": _r(A.sweep_deadlines),
    "approvals-list-opportunities": _r(A.fix_route),
    "approvals-create-bundle": _r(A.fix_route),
    "approvals-read-bundle": _r(A.read_routes),
    "approvals-fix-bundle-route": _r(A.fix_route),
    # --- an application's route: maps, sheets and files (ownership checked in the view)
    "maps-application-map": _r(A.read_routes),
    "maps-route-section": _r(A.read_routes),
    "maps-permit-sheet": _r(A.read_routes),
    "maps-permit-packet-pdf": _r(A.read_routes),
    "maps-route-quantities": _r(A.read_routes),
    "maps-route-geojson": _r(A.read_routes),
    "maps-route-dxf": _r(A.read_routes),
    "maps-route-export": _r(A.read_routes),
    "maps-permit-packet-zip": _r(A.read_routes),
    # --- the workbench pages (any signed-in user; each page narrows what it shows)
    "POST /workbench/logout": _r(A.logout),
    "GET /workbench/applications": _r(A.list_applications),
    "GET /workbench/applications/{application_id}": _r(A.read_application),
    "GET /workbench/plans/{plan_key}": _r(A.read_plans),
    "GET /workbench/upload": _r(A.import_layer),
    "POST /workbench/layers/{layer_id}/colocation": _r(A.read_proposals),
    "GET /workbench/cities/{city}/tiles": _r(A.read_layers),
}


def operation_key(route: APIRoute) -> str:
    """The row of ``route`` in :data:`OPERATIONS`: its operation id, else ``METHOD path``."""
    if route.operation_id:
        return route.operation_id
    all_methods = route.methods or {"GET"}
    methods = sorted(all_methods - {"HEAD"}) or sorted(all_methods)
    method = methods[0]
    return f"{method} {route.path}"


# --------------------------------------------------------------------- who is asking
def request_token(request: Request) -> tuple[str | None, bool]:
    """The caller's token and whether it came from the cookie (not the header)."""
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer " and header[7:].strip():
        return header[7:].strip(), False
    cookie = request.cookies.get(TOKEN_COOKIE)
    return (cookie or None), bool(cookie)


def csrf_token_for(token: str, secret: str) -> str:
    """The CSRF token of a session: an HMAC of its token, so it needs no storage."""
    return hmac.new(secret.encode(), f"csrf:{token}".encode(), hashlib.sha256).hexdigest()


def request_user(request: Request, session: Session) -> User | None:
    """The signed-in user of the request (cached on it), or ``None`` when anonymous.

    Raises
    ------
    AuthenticationError
        If a token is sent but is unknown, revoked or expired.
    PermissionDeniedError
        If a cookie-authenticated write lacks its CSRF token or comes from another site.
    """
    if hasattr(request.state, "user"):
        cached: User | None = request.state.user
        return cached
    token, from_cookie = request_token(request)
    user = None
    if token:
        user = auth.authenticate(session=session, token=token, now=dt.datetime.now(dt.UTC))
        if from_cookie and request.method not in _SAFE_METHODS:
            _check_csrf(request, token)
    request.state.user = user
    return user


async def read_csrf_form(request: Request) -> None:
    """Refuse bad parameters; keep the CSRF token of a cookie-authenticated HTML form.

    Runs before :func:`enforce` (which is synchronous, like the database session), so a
    NUL byte, an integer past PostgreSQL's or a vertical CRS is a 422 naming its parameter
    before any query (:func:`api.middleware.refuse_bad_parameters`). The form is parsed once and
    cached by Starlette, so the route reads the same form; the CSRF token is kept for
    :func:`_check_csrf`.
    """
    await refuse_bad_parameters(request)
    kind = request.headers.get("content-type", "")
    if (
        request.method not in _SAFE_METHODS
        and TOKEN_COOKIE in request.cookies
        and CSRF_HEADER.lower() not in request.headers
        and kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))
    ):
        form = await request.form()
        value = form.get(CSRF_FORM_FIELD)
        request.state.csrf_form = value if isinstance(value, str) else None


def _check_csrf(request: Request, token: str) -> None:
    secret = request.app.state.settings.auth.secret_key
    sent = request.headers.get(CSRF_HEADER) or getattr(request.state, "csrf_form", None) or ""
    if not hmac.compare_digest(sent, csrf_token_for(token, secret)):
        raise PermissionDeniedError(
            "cookie",
            request.method,
            "缺少或错误的 CSRF 令牌 / missing or wrong CSRF token",
        )


def _check_origin(request: Request) -> None:
    """Refuse a write sent by a page of another site (``Origin`` not this host)."""
    if request.method in _SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if origin is None or (origin == "null" and request.headers.get("authorization")):
        return
    host = request.headers.get("host", "")
    if origin.split("://", 1)[-1] != host:
        raise PermissionDeniedError(
            "anonymous",
            request.method,
            f"跨站请求被拒绝 / cross-site request refused (Origin {origin[:100]!r})",
        )


# --------------------------------------------------------------------- the city asked about
_MAX_ID = 2**31 - 1  # PostgreSQL integer ids; a larger one names nothing


def _id(value: str) -> int | None:
    number = int(value)
    return number if 0 < number <= _MAX_ID else None


def _layer_city(session: Session, value: str) -> str | None:
    layer_id = _id(value)
    if layer_id is None:
        return None
    return session.scalar(
        select(CityRow.name)
        .join(LayerRow, LayerRow.city_id == CityRow.id)
        .where(LayerRow.id == int(value))
    )


def _plan_city(session: Session, value: str) -> str | None:
    return session.scalar(
        select(CityRow.name)
        .join(TrenchPlanRow, TrenchPlanRow.city_id == CityRow.id)
        .where(TrenchPlanRow.plan_key == value)
        .limit(1)
    )


def _city(session: Session, value: str) -> str | None:
    """A city named by name or by id (the tile URLs take either)."""
    if value.isdigit():
        city_id = _id(value)
        if city_id is None:
            return None
        return session.scalar(select(CityRow.name).where(CityRow.id == city_id))
    return value


# path parameter -> the city it belongs to (None: not found; the view then answers 404)
_CITY_OF: dict[str, Callable[[Session, str], str | None]] = {
    "city": _city,
    "layer_id": _layer_city,
    "plan_key": _plan_city,
}


def check_city(user: User, action: Action, city: str | None) -> None:
    """Refuse ``user`` data of ``city`` unless it is their city (see ``auth.may_use_city``)."""
    if city is not None and not auth.may_use_city(user, city):
        raise PermissionDeniedError(
            Role(user.role),
            action,
            f"不是您所在城市的数据 / not your city's data (city {city!r})",
        )


@dataclass(frozen=True)
class Access:
    """What :func:`enforce` found: the operation's rule and the user (``None``: public)."""

    rule: Rule
    user: User | None

    @property
    def signed_in(self) -> User:
        if self.user is None:
            msg = "请先登录 / log in first"
            raise AuthenticationError(msg)
        return self.user

    def city(self, city: str | None) -> None:
        """Check a city named in the body or form (path cities are checked already)."""
        if self.rule.action is not None:
            check_city(self.signed_in, self.rule.action, city)

    def cities(self) -> str | None:
        """The one city a city-bound user may list, or ``None`` for all of them."""
        return None if self.user is None else auth.city_of(self.user)


def enforce(request: Request, session: SessionDep) -> Access:
    """Authenticate and authorise the request by its row in :data:`OPERATIONS`."""
    route = request.scope.get("route")
    key = operation_key(route) if isinstance(route, APIRoute) else None
    rule = OPERATIONS.get(key or "")
    _check_origin(request)
    if rule is None:
        raise PermissionDeniedError(
            "any", key or request.url.path, "没有访问规则的接口 / no access rule for this endpoint"
        )
    if rule.action is None:
        access = Access(rule, None)
        request.state.access = access
        return access
    user = request_user(request, session)
    if user is None:
        msg = "请先登录 / log in first: a bearer token or the workbench login"
        raise AuthenticationError(msg)
    auth.authorize(user, rule.action)
    for name, city_of in _CITY_OF.items():
        value = request.path_params.get(name)
        if value is not None:
            try:
                city = city_of(session, str(value))
            except ValueError:
                continue  # not a number: the route's own validation answers 422
            check_city(user, rule.action, city)
    access = Access(rule, user)
    request.state.access = access
    return access


AccessDep = Annotated[Access, Depends(enforce)]


# ------------------------------------------------------------------ what the OpenAPI says
_UNAUTHENTICATED = error_response(
    "未登录或令牌无效 / not signed in, or the token is unknown or expired"
)
_FORBIDDEN = error_response(
    "无权访问 / refused: the role may not do this, not your city's data, or a cross-site write"
)
_NOT_FOUND = error_response("不存在 / the item the path names does not exist", http_error=True)


def document_responses(openapi: dict[str, Any]) -> dict[str, Any]:
    """Add the answers every operation can get from this layer to ``openapi`` (in place).

    401 and 403 on every operation that needs a user, 403 on every write (a cross-site
    ``Origin``), 404 on every path that names an item. A route documents its own answers
    (409, 413, a 404 for a city in the body) with ``responses=``.
    """
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(Error=ERROR_BODY, HTTPError=HTTP_ERROR_BODY)
    for item in openapi.get("paths", {}).values():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            rule = OPERATIONS.get(operation.get("operationId", ""))
            answers = operation["responses"]
            if rule is None or rule.action is not None:
                answers.setdefault("401", _UNAUTHENTICATED)
                answers.setdefault("403", _FORBIDDEN)
            if method.upper() not in _SAFE_METHODS:
                answers.setdefault("403", _FORBIDDEN)
            if any(p.get("in") == "path" for p in operation.get("parameters", [])):
                answers.setdefault("404", _NOT_FOUND)
            # every error answer is a problem (api/problems.py), FastAPI's 422 included
            for code, answer in answers.items():
                if str(code)[:1] in {"4", "5"} and isinstance(answer, dict):
                    answer["content"] = {PROBLEM_MEDIA: {"schema": {"$ref": ERROR_REF}}}
    return openapi
