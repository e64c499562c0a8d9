"""Security headers on every response; CORS only when configured.

Every response gets ``X-Content-Type-Options: nosniff``, a ``Referrer-Policy``, a
``Content-Security-Policy`` (scripts and styles from this site only; frames only from this
site) and, when the request carried credentials, ``Cache-Control: no-store`` unless the
route chose its own private caching. A route whose HTML has inline scripts (the folium maps)
sets its own CSP listing those scripts' hashes (:func:`csp_for_inline_scripts`).

Input PostgreSQL cannot take (a NUL character, an integer past its ``integer``) is refused
with 422 naming the parameter before any route runs (:func:`refuse_bad_parameters`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any
from typing import get_args
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi import Request
from fastapi import Response
from fastapi._compat import ModelField
from fastapi.dependencies.utils import get_flat_params
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute

from api.settings import Settings
from geodata.crs import parse_crs
from geodata.errors import CRSError

__all__ = [
    "PG_INT_MAX",
    "PG_INT_MIN",
    "base_csp",
    "csp_for_inline_scripts",
    "install_middleware",
    "refuse_bad_parameters",
]

_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)


def base_csp(tile_url: str | None = None) -> dict[str, list[str]]:
    """The policy's directives; images may also come from the city's own tile server."""
    images = ["'self'", "data:", "blob:"]
    if tile_url:
        parts = urlsplit(tile_url.replace("{s}", "a"))
        if parts.scheme and parts.netloc:
            images.append(f"{parts.scheme}://{parts.netloc.split('{')[0] or parts.netloc}")
    return {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # the pages colour their chips with style attributes
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": images,
        "connect-src": ["'self'"],
        "font-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'self'"],
    }


def _render(directives: dict[str, list[str]]) -> str:
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def csp_for_inline_scripts(html: str, tile_url: str | None = None) -> str:
    """The CSP for ``html``: the base policy plus the SHA-256 of each of its inline scripts."""
    directives = base_csp(tile_url)
    for body in _INLINE_SCRIPT.findall(html):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        directives["script-src"].append(f"'sha256-{digest}'")
    return _render(directives)


def _document_policy(app: FastAPI) -> None:
    from api.policy import document_responses  # noqa: PLC0415 - the policy imports this module

    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_responses(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_middleware(app: FastAPI, settings: Settings) -> None:
    """Add the security headers (and CORS, if ``COTRENCH_CORS_ORIGINS`` names origins);
    the OpenAPI lists the policy layer's answers (401, 403, 404) on every operation."""
    _document_policy(app)
    default_csp = _render(base_csp(settings.maps.tile_url))

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        headers.setdefault("Content-Security-Policy", default_csp)
        if request.url.scheme == "https":
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        credentials = "authorization" in request.headers or "cotrench_token" in request.cookies
        cache = headers.get("Cache-Control", "")
        if credentials and "private" not in cache:
            headers["Cache-Control"] = "no-store"
        return response

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-CSRF-Token"],
        )


# ------------------------------------------------------- parameters a route would fail on
# PostgreSQL's ``integer``: every id column and every count the routes pass on
PG_INT_MIN = -(2**31)
PG_INT_MAX = 2**31 - 1
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
# routers that check their CRS parameters themselves: OGC API - Features takes CRS URIs
# and answers a bad one with 400, as the standard says (api/routes/ogc.py)
_OWN_CRS_RULES = frozenset({"ogc-api-features"})


def _where(field: ModelField) -> str:
    location = getattr(field.field_info, "in_", None)
    return str(getattr(location, "value", "query"))


def _is_int(annotation: Any) -> bool:
    if annotation is int:
        return True
    return any(arg is int for arg in get_args(annotation))


def _nul(loc: tuple[str | int, ...]) -> dict[str, Any]:
    return {
        "type": "string_nul",
        "loc": loc,
        "msg": "文本中不能有 NUL 字符 (\\x00) / text may not contain a NUL character (\\x00)",
    }


def _out_of_range(loc: tuple[str | int, ...], value: str) -> dict[str, Any]:
    return {
        "type": "int_range",
        "loc": loc,
        "msg": (
            f"整数超出范围 / integer out of range: must be between {PG_INT_MIN} and "
            f"{PG_INT_MAX}, got {value[:40]}"
        ),
    }


def _integer_error(loc: tuple[str | int, ...], value: str) -> dict[str, Any] | None:
    try:
        number = int(value.strip())
    except ValueError:
        return None  # not a number: the route's own validation names it
    return None if PG_INT_MIN <= number <= PG_INT_MAX else _out_of_range(loc, value)


def _is_crs(name: str) -> bool:
    return name.lower() == "crs" or name.lower().endswith(("-crs", "_crs"))


def _crs_error(loc: tuple[str | int, ...], value: str) -> dict[str, Any] | None:
    if not value.strip():
        return None  # empty: the route's default
    try:
        parse_crs(value)
    except CRSError as exc:
        return {"type": "crs", "loc": loc, "msg": str(exc)}
    return None


def _text_error(
    loc: tuple[str | int, ...], value: str, *, integer: bool, crs: bool = True
) -> dict[str, Any] | None:
    """The problem of one path, query or form value, or ``None``."""
    if "\x00" in value or "\x00" in str(loc[-1]):
        return _nul((*loc[:-1], str(loc[-1]).replace("\x00", "\\x00")))
    if integer:
        return _integer_error(loc, value)
    if crs and _is_crs(str(loc[-1])):
        return _crs_error(loc, value)
    return None


def _json_nul(value: Any, loc: tuple[str | int, ...]) -> Iterator[dict[str, Any]]:
    if isinstance(value, str):
        if "\x00" in value:
            yield _nul(loc)
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in str(key):
                yield _nul((*loc, str(key).replace("\x00", "\\x00")))
            else:
                yield from _json_nul(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _json_nul(item, (*loc, index))


async def refuse_bad_parameters(request: Request) -> None:
    """Refuse, with 422 naming the parameter, input that would fail deep in the route:

    * a NUL character in any path, query or form value, form file name or JSON string
      (PostgreSQL's text types refuse it: a 500 otherwise),
    * an integer path or query parameter outside PostgreSQL's ``integer`` (ids are
      ``integer``; ``2147483648`` named no row but failed the query), and
    * a ``crs`` (``bbox-crs``, ...) query or form value that is no horizontal CRS
      (:func:`geodata.crs.parse_crs`: unknown, or a vertical one such as EPSG:5773),
      except on the OGC API, which takes CRS URIs and answers 400 itself.

    Runs before the route (as part of the policy's first dependency); the form and JSON
    body are the ones FastAPI has already parsed and cached on the request.
    """
    route = request.scope.get("route")
    fields = get_flat_params(route.dependant) if isinstance(route, APIRoute) else []
    integers = {(_where(f), f.alias) for f in fields if _is_int(f.field_info.annotation)}
    tags = set(route.tags) if isinstance(route, APIRoute) else set()
    crs = not (tags & _OWN_CRS_RULES)
    found = [
        _text_error((where, name), str(value), integer=(where, name) in integers, crs=crs)
        for where, items in (
            ("path", list(request.path_params.items())),
            ("query", request.query_params.multi_items()),
        )
        for name, value in items
    ]
    body_field = route.body_field if isinstance(route, APIRoute) else None
    kind = request.headers.get("content-type", "")
    if body_field is not None and kind.startswith(_FORMS):
        form = await request.form()
        for name, item in form.multi_items():
            text = item if isinstance(item, str) else (item.filename or "")
            found.append(_text_error(("body", name), text, integer=False, crs=crs))
    elif body_field is not None and "json" in kind:
        # not JSON: the route's own validation answers
        with contextlib.suppress(ValueError):
            found.extend(_json_nul(await request.json(), ("body",)))
    errors = [error for error in found if error is not None]
    if errors:
        raise RequestValidationError(errors)
