"""Translate domain errors into HTTP responses: one table, registered once."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi import Request

from api.approvals import errors as approval_errors
from api.responses import OrjsonResponse
from geodata import errors as geodata_errors
from geodata import plan_store
from routing import errors as routing_errors

__all__ = ["ERROR_STATUS", "register_error_handlers"]

logger = logging.getLogger(__name__)

# domain error class -> HTTP status. Subclasses inherit their nearest listed base.
# errors may carry a ``detail`` attribute (a report, a list of problems) sent as-is.
ERROR_STATUS: dict[type[Exception], int] = {
    # geodata (issue 3): bad files and parameters are 422, missing things 404
    geodata_errors.LayerValidationError: 422,
    geodata_errors.LayerReadError: 422,
    geodata_errors.LimitExceededError: 413,
    geodata_errors.DuplicateLayerError: 409,
    geodata_errors.CRSError: 422,
    geodata_errors.InvalidBBoxError: 422,
    geodata_errors.UnknownKindError: 422,
    geodata_errors.UnknownUtilityError: 422,
    geodata_errors.LayerNotFoundError: 404,
    geodata_errors.CityNotFoundError: 404,
    # approvals (issue 7): 409s name the allowed transitions / the versions in ``detail``
    approval_errors.TransitionNotAllowedError: 409,
    approval_errors.PreconditionError: 409,
    approval_errors.StaleVersionError: 409,
    approval_errors.PermissionDeniedError: 403,
    approval_errors.AuthenticationError: 401,
    approval_errors.LoginThrottledError: 429,
    approval_errors.NotFoundError: 404,
    approval_errors.FormValidationError: 422,
    approval_errors.IdempotencyKeyReusedError: 422,
    approval_errors.CalendarRangeError: 422,
    # co-location (issue 4): unusable proposals and road layers; `detail` names the features
    routing_errors.ProposalError: 422,
    routing_errors.RoadLayerError: 422,
    # shared-trench plans (issue 5): bad requests and unreachable sites are 422
    routing_errors.NoRouteError: 422,
    routing_errors.TrenchRequestError: 422,
    routing_errors.CostModelError: 422,
    routing_errors.InvalidGraphError: 422,
    plan_store.PlanNotFoundError: 404,
}


def register(exc_type: type[Exception], status: int) -> None:
    """Add one row to the table (domain modules are imported lazily, so rows come late)."""
    ERROR_STATUS[exc_type] = status


def register_error_handlers(app: FastAPI) -> None:
    for exc_type, status in ERROR_STATUS.items():
        app.add_exception_handler(exc_type, _handler(status))


def _handler(status: int):  # type: ignore[no-untyped-def]
    async def handle(request: Request, exc: Exception) -> OrjsonResponse:
        detail = getattr(exc, "detail", None)
        body: dict[str, object] = {"error": type(exc).__name__, "message": str(exc)}
        if detail is not None:
            body["detail"] = detail
        # e.g. Retry-After of a lock-out or an outage
        headers = getattr(exc, "headers", None)
        return OrjsonResponse(body, status_code=status, headers=headers)

    return handle
