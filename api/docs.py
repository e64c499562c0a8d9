"""The API's own documentation pages, /docs (Swagger UI) and /redoc, served offline.

FastAPI's pages load their scripts from a CDN, so on a city network without internet they
were blank. The assets come from the ``fastapi-offline`` wheel and are served by the app
under ``/docs-static``; each page's inline start-up script is allowed by its hash in the
page's Content-Security-Policy (no ``unsafe-inline``). The pages describe the API and hold
no data: they are public, like ``/openapi.json``; every operation they call is not.
"""

from __future__ import annotations

import functools
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi import Request
from fastapi import Response
from fastapi.openapi.docs import get_redoc_html
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api.middleware import csp_for_inline_scripts

__all__ = ["DOCS_STATIC", "install_docs"]

DOCS_STATIC = "/docs-static"
_ASSETS = Path(fastapi_offline.__file__).parent / "static"


# ReDoc's bundle draws a "by Redocly" logo from their CDN: on a closed network a broken
# image and a CSP report. The bundle is served with that one address replaced by a blank.
_REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
_BLANK_SVG = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"


@functools.cache
def _redoc_bundle() -> bytes:
    text = (_ASSETS / "redoc.standalone.js").read_text(encoding="utf-8")
    return text.replace(_REDOC_LOGO, _BLANK_SVG).encode()


def install_docs(app: FastAPI) -> None:
    """Mount the assets and add /docs and /redoc (the app is made with docs_url=None)."""

    @app.get(f"{DOCS_STATIC}/redoc.standalone.js", include_in_schema=False)
    def redoc_bundle() -> Response:
        return Response(
            _redoc_bundle(),
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    app.mount(DOCS_STATIC, StaticFiles(directory=_ASSETS), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def swagger(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} – 接口文档 / API",
            swagger_js_url=f"{root}{DOCS_STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_STATIC}/favicon.png",
        )
        return _with_csp(page)

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} – 接口文档 / API",
            redoc_js_url=f"{root}{DOCS_STATIC}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{DOCS_STATIC}/favicon.png",
            with_google_fonts=False,
        )
        return _with_csp(page)


def _with_csp(page: HTMLResponse) -> HTMLResponse:
    html = bytes(page.body).decode()
    # ReDoc parses the description in a web worker made from a blob
    csp = csp_for_inline_scripts(html) + "; worker-src 'self' blob:"
    return HTMLResponse(html, headers={"Content-Security-Policy": csp})
