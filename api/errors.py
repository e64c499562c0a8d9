"""Translate domain errors into HTTP responses: one table, registered once."""

from __future__ import annotations

import logging
from http import HTTPStatus

import psycopg
from fastapi import FastAPI
from fastapi import Request
from fastapi import Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.approvals import errors as approval_errors
from api.catalogue import label
from api.problems import ProblemResponse
from api.problems import problem
from geodata import errors as geodata_errors
from geodata import plan_store
from routing import errors as routing_errors

__all__ = ["ERROR_STATUS", "OUTAGE_ERRORS", "outage_response", "register_error_handlers"]

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

# the database is down, restarting, frozen or too slow (issue 13): 503 with Retry-After and a
# fixed message (never its host, port or SQL; the real error goes to the server's log).
# SQLAlchemy's OperationalError wraps the driver's lost connections, refused connections,
# statement and lock timeouts (QueryCanceled, LockNotAvailable) and terminated backends;
# TimeoutError is a full pool; psycopg's own errors come from raw connections (COPY).
OUTAGE_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.TimeoutError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)
ERROR_STATUS.update(dict.fromkeys(OUTAGE_ERRORS, 503))
# the SQLSTATEs of a database that answers but is too busy: statement and lock timeouts,
# deadlocks and serialisation failures (retrying helps), too many connections
_BUSY = {"57014", "55P03", "40P01", "40001", "53300"}


def register(exc_type: type[Exception], status: int) -> None:
    """Add one row to the table (domain modules are imported lazily, so rows come late)."""
    ERROR_STATUS[exc_type] = status


def register_error_handlers(app: FastAPI) -> None:
    """Every error as RFC 9457 problem+json (:mod:`api.problems`): the table's domain
    errors, request validation, FastAPI's and Starlette's HTTP errors (404 of an unknown
    path, 405), and anything else as a 500 that names no internals."""
    for exc_type, status in ERROR_STATUS.items():
        app.add_exception_handler(exc_type, _handler(status))
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)


def outage_response(
    exc: Exception, retry_after_s: int, instance: str | None = None
) -> ProblemResponse:
    """The 503 of a database outage: what happened in words, when to retry, no internals."""
    cause = getattr(exc, "orig", exc)
    if getattr(cause, "sqlstate", None) in _BUSY or isinstance(exc, sa_exc.TimeoutError):
        error = "DatabaseTimeout"
        message = (
            "数据库繁忙，请求超时，请稍后重试 / the database is busy and did not answer in "
            "time; please try again later"
        )
    else:
        error = "DatabaseUnavailable"
        message = (
            "数据库暂时不可用，请稍后重试 / the database is unavailable; please try again later"
        )
    logger.warning("database outage (%s): %s", error, cause)
    return problem(
        503, error, message, instance=instance, headers={"Retry-After": str(retry_after_s)}
    )


def _handler(status: int):  # type: ignore[no-untyped-def]
    async def handle(request: Request, exc: Exception) -> Response:
        if isinstance(exc, OUTAGE_ERRORS):
            return outage_response(
                exc, request.app.state.settings.db.retry_after_s, request.url.path
            )
        # e.g. Retry-After of a lock-out
        headers = getattr(exc, "headers", None)
        return problem(
            status,
            type(exc).__name__,
            str(exc),
            instance=request.url.path,
            extra=getattr(exc, "detail", None),
            headers=headers,
        )

    return handle


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = jsonable_encoder(exc.errors(), custom_encoder={bytes: _text})
    fields = ", ".join(
        ".".join(str(p) for p in e.get("loc", ())) for e in errors if isinstance(e, dict)
    )
    detail = f"请求参数有误 / invalid request: {fields or 'the body'}"
    return problem(422, "RequestValidationError", detail, instance=request.url.path, extra=errors)


# FastAPI's own answer when it cannot parse a body (JSON that is not UTF-8, a broken
# multipart form): a 400 in English; answered as the 422 of any other malformed input
_FASTAPI_BODY_ERROR = "There was an error parsing the body"
_UNPARSABLE = {
    "type": "body_unparsable",
    "loc": ["body"],
    "msg": (
        "请求体无法解析 / the request body could not be parsed "
        "(JSON must be UTF-8; a form must be well-formed)"
    ),
}


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == _FASTAPI_BODY_ERROR:
        return problem(
            422,
            "RequestValidationError",
            "请求参数有误 / invalid request: body",
            instance=request.url.path,
            extra=[_UNPARSABLE],
        )
    detail = exc.detail
    extra = None
    if isinstance(detail, dict):
        extra = {k: v for k, v in detail.items() if k != "message"}
        detail = detail.get("message", "")
    if not isinstance(detail, str) or not detail:
        detail = label("problem", str(exc.status_code)) or HTTPStatus(exc.status_code).phrase
    code = HTTPStatus(exc.status_code).phrase.replace(" ", "").replace("-", "")
    return problem(
        exc.status_code,
        code,
        detail,
        instance=request.url.path,
        extra=extra,
        headers=getattr(exc, "headers", None),
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    # the traceback goes to the server's log; the answer names no internals
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem(
        500,
        "InternalServerError",
        "服务器内部错误，已记录 / an internal error occurred and was logged",
        instance=request.url.path,
    )


def _text(value: bytes) -> str:
    return value.decode("utf-8", errors="replace")
