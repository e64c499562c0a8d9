"""Share the approval views' plumbing: the clock, the current user, idempotent writes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated
from typing import Any

from fastapi import Depends
from fastapi import Header
from fastapi import Request
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel

from api.approvals import auth
from api.approvals import idempotency
from api.approvals import service
from api.approvals.enums import Action
from api.approvals.errors import AuthenticationError
from api.approvals.models import User
from api.deps import SessionDep

__all__ = [
    "TAG",
    "KeyDep",
    "NowDep",
    "UserDep",
    "bearer",
    "current_user",
    "get_now",
    "load",
    "once",
    "op",
]

TAG = "approvals"
bearer = OAuth2PasswordBearer(tokenUrl="/approvals/auth/token", auto_error=False)


def get_now() -> dt.datetime:
    """The current instant (a dependency, so tests can move the clock)."""
    return dt.datetime.now(dt.UTC)


NowDep = Annotated[dt.datetime, Depends(get_now)]
KeyDep = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


def current_user(
    session: SessionDep, now: NowDep, token: Annotated[str | None, Depends(bearer)]
) -> User:
    if not token:
        msg = "missing bearer token"
        raise AuthenticationError(msg)
    return auth.authenticate(session=session, token=token, now=now)


UserDep = Annotated[User, Depends(current_user)]


def op(name: str) -> dict[str, Any]:
    """The stable operation id ``approvals-<name>``."""
    return {"operation_id": f"{TAG}-{name}"}


def once(  # noqa: PLR0917 - the one wrapper every write endpoint calls the same way
    request: Request,
    session: SessionDep,
    user: User,
    key: str | None,
    body: BaseModel | None,
    call: Callable[[], BaseModel],
    status_code: int = 200,
) -> Any:
    """Run a write once per Idempotency-Key; return its JSON-able response."""
    raw = body.model_dump_json().encode() if body is not None else b""
    return idempotency.run_once(
        lambda: call().model_dump(mode="json"),
        session=session,
        user=user,
        key=key,
        status_code=status_code,
        request_fingerprint=idempotency.fingerprint(request.method, request.url.path, raw),
    )


def load(session: SessionDep, user: User, action: Action, model: type[Any], key: int) -> Any:
    """Authorise the role, fetch the row (404), then authorise on the row (ownership)."""
    auth.authorize(user, action)
    row = service.get_or_404(session, model, key)
    auth.authorize(user, action, row, session=session)
    return row
