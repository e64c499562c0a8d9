"""Create the cotrench FastAPI application."""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends
from fastapi import FastAPI
from fastapi import Request
from fastapi import Response
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import RedirectResponse
from sqlalchemy import Engine

from api.approvals.errors import AuthenticationError
from api.approvals.errors import LoginThrottledError
from api.errors import register_error_handlers
from api.limits import BodyLimit
from api.middleware import install_middleware
from api.policy import enforce
from api.policy import read_csrf_form
from api.responses import OrjsonResponse
from api.services.graphs import RoadGraphs
from api.settings import Settings
from api.settings import get_settings
from geodata.db import database_url
from geodata.db import make_engine

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

# one router module per resource; each exposes ``router``. Listed here so the app's
# surface is visible in one place.
ROUTER_MODULES = (
    "api.routes.health",
    "api.routes.layers",
    "api.routes.proposals",
    "api.routes.plans",
    "api.routes.sections",
    "api.approvals.views",
    "api.routes.maps",
    "api.routes.tiles",
    "api.routes.ogc",
    "api.routes.pages",
)


# responses smaller than this are not worth compressing
GZIP_MIN_BYTES = 1000


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """Build the app. Pass ``engine`` to share one (tests); otherwise one is made at start."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = app.state.engine is None
        if own:
            app.state.engine = make_engine(settings.db.url or database_url())
        # the one owner of the city road graphs (api/services/graphs.py)
        app.state.graphs = RoadGraphs()
        yield
        app.state.graphs = None
        if own:
            app.state.engine.dispose()
            app.state.engine = None

    app = FastAPI(
        title="cotrench",
        summary="Shared utility trenches (dig once) and the joint connection-approval flow",
        version="0.1.0",
        default_response_class=OrjsonResponse,
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.settings = settings
    # innermost: an oversized body is refused before a route reads it (api/limits.py)
    app.add_middleware(
        BodyLimit,
        upload_bytes=settings.limits.upload_bytes,
        body_bytes=settings.limits.body_bytes,
    )
    # feature pages are large and repetitive: gzip them (a 50k-feature page was 14.8 MB)
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MIN_BYTES)
    install_middleware(app, settings)
    included: list[str] = []
    for name in ROUTER_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        # every route answers only after api/policy.py has authorised it
        app.include_router(module.router, dependencies=[Depends(read_csrf_form), Depends(enforce)])
        included.append(name)
        if hasattr(module, "mount"):
            module.mount(app)
    register_error_handlers(app)
    _send_pages_to_login(app)

    @app.get("/", include_in_schema=False)
    def _root() -> RedirectResponse:
        # the workbench is the front door; the API docs when the pages are not installed
        target = "/workbench" if "api.routes.pages" in included else "/docs"
        return RedirectResponse(target, status_code=307)

    return app


def _send_pages_to_login(app: FastAPI) -> None:
    """An anonymous (or expired) visitor of a workbench page goes to the login page."""
    as_json = app.exception_handlers[AuthenticationError]

    async def handle(request: Request, exc: Exception) -> Response:
        from api.routes.pages import redirect_to_login  # noqa: PLC0415 - pages are optional

        redirect = None if isinstance(exc, LoginThrottledError) else redirect_to_login(request)
        if redirect is not None:
            return redirect
        result = as_json(request, exc)
        return await result if inspect.isawaitable(result) else result

    app.add_exception_handler(AuthenticationError, handle)
