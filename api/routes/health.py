"""Report whether the service and its database answer."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from api.deps import SessionDep
from api.responses import OrjsonResponse

router = APIRouter(tags=["health"])


@router.get("/health", operation_id="health-check")
def check_health(session: SessionDep) -> OrjsonResponse:
    """Check the service and its PostGIS database."""
    try:
        version = session.execute(text("SELECT postgis_lib_version()")).scalar_one()
    except Exception as exc:
        return OrjsonResponse({"status": "error", "database": str(exc)}, status_code=503)
    return OrjsonResponse({"status": "ok", "database": "ok", "postgis": version})
