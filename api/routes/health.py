"""Liveness and readiness: both public, neither reveals anything about the server."""

from __future__ import annotations

import anyio
from fastapi import APIRouter
from fastapi import Request
from sqlalchemy import Engine
from sqlalchemy import text

from api.errors import OUTAGE_ERRORS
from api.errors import outage_response
from api.responses import OrjsonResponse

router = APIRouter(tags=["health"])


@router.get("/health", operation_id="health-check")
def check_health() -> OrjsonResponse:
    """Liveness: the service answers (it does not ask the database)."""
    return OrjsonResponse({"status": "ok"})


@router.get(
    "/health/ready",
    operation_id="health-ready",
    responses={503: {"description": "数据库不可用 / the database is unavailable"}},
)
async def check_ready(request: Request) -> OrjsonResponse:
    """Readiness: 200 while the database answers, else 503 with Retry-After.

    The probe has its own deadline (the connect timeout), so a frozen database makes it
    answer 503 rather than hang.
    """
    settings = request.app.state.settings.db
    engine: Engine = request.app.state.engine
    try:
        with anyio.fail_after(settings.connect_timeout_s + 1):
            await anyio.to_thread.run_sync(_probe, engine, abandon_on_cancel=True)
    except TimeoutError as exc:
        return outage_response(exc, settings.retry_after_s)
    except OUTAGE_ERRORS as exc:
        return outage_response(exc, settings.retry_after_s)
    return OrjsonResponse({"status": "ready"})


def _probe(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1")).scalar_one()
