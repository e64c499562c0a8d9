"""Security headers on every response; CORS only when configured.

Every response gets ``X-Content-Type-Options: nosniff``, a ``Referrer-Policy``, a
``Content-Security-Policy`` (scripts and styles from this site only; frames only from this
site) and, when the request carried credentials, ``Cache-Control: no-store`` unless the
route chose its own private caching. A route whose HTML has inline scripts (the folium maps)
sets its own CSP listing those scripts' hashes (:func:`csp_for_inline_scripts`).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable
from collections.abc import Callable
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi import Request
from fastapi import Response
from fastapi.middleware.cors import CORSMiddleware

from api.settings import Settings

__all__ = ["base_csp", "csp_for_inline_scripts", "install_middleware"]

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


def install_middleware(app: FastAPI, settings: Settings) -> None:
    """Add the security headers (and CORS, if ``COTRENCH_CORS_ORIGINS`` names origins)."""
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
