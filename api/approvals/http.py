"""Share the approval views' plumbing: the clock, the current user, idempotent writes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from typing import Any

from fastapi import Depends
from fastapi import Header
from fastapi import Request
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel
from sqlalchemy.orm import Session

from api.approvals import auth
from api.approvals import idempotency
from api.approvals import queries
from api.approvals import service
from api.approvals.enums import Action
from api.approvals.errors import AuthenticationError
from api.approvals.models import Application
from api.approvals.models import Permit
from api.approvals.models import User
from api.approvals.schemas import ApplicationPublic
from api.approvals.schemas import PermitPublic
from api.deps import SessionDep
from api.policy import request_user
from api.responses import error_response

__all__ = [
    "TAG",
    "KeyDep",
    "NowDep",
    "UserDep",
    "Write",
    "WriteDep",
    "bearer",
    "current_user",
    "get_now",
    "load",
    "op",
    "write",
]

TAG = "approvals"
bearer = OAuth2PasswordBearer(tokenUrl="/approvals/auth/token", auto_error=False)


def get_now() -> dt.datetime:
    """The current instant (a dependency, so tests can move the clock)."""
    return dt.datetime.now(dt.UTC)


NowDep = Annotated[dt.datetime, Depends(get_now)]
KeyDep = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


def current_user(
    request: Request, session: SessionDep, _token: Annotated[str | None, Depends(bearer)]
) -> User:
    """The signed-in user (bearer token or workbench cookie, see ``api.policy``)."""
    user = request_user(request, session)
    if user is None:
        msg = "请先登录 / log in first: a bearer token or the workbench login"
        raise AuthenticationError(msg)
    return user


UserDep = Annotated[User, Depends(current_user)]


# what a step of the flow answers when the item is not in a state that allows it, the
# version sent is stale, or something it needs is missing (api/approvals/errors.py)
_CONFLICT = error_response(
    "当前状态不允许此操作 / not allowed now: the status does not allow it (`detail.allowed`), "
    "the version is stale, or a precondition is missing (`detail.missing`)"
)


def op(name: str, *, transition: bool = False, not_found: str | None = None) -> dict[str, Any]:
    """The stable operation id ``approvals-<name>``; a ``transition`` (a step of the flow,
    with a version and an ``Idempotency-Key``) also documents its 409, and ``not_found``
    the 404 of an item named in the query or body (a path's 404 is documented for all)."""
    answers: dict[int | str, dict[str, Any]] = {}
    if transition:
        answers[409] = _CONFLICT
    if not_found is not None:
        answers[404] = error_response(not_found)
    extra = {"responses": answers} if answers else {}
    return {"operation_id": f"{TAG}-{name}", **extra}


@dataclass(frozen=True)
class Write:
    """What every write endpoint needs, in one dependency: the request, the session, the
    user, the clock and the ``Idempotency-Key``.

    A view body reads ``w.load(...)`` (authorise and fetch) and ``w.once(body, lambda: ...)``
    (run the step once per key); ``w.ctx`` holds the keyword arguments every service step
    takes (``session``, ``actor``, ``now``), and the version the caller read travels in the
    body (``Versioned``) to the step, which refuses a stale one with 409.
    """

    request: Request
    session: Session
    user: User
    now: dt.datetime
    key: str | None

    @property
    def ctx(self) -> dict[str, Any]:
        """``session``, ``actor`` and ``now``, as the service steps take them."""
        return {"session": self.session, "actor": self.user, "now": self.now}

    def load(self, action: Action, model: type[Any], key: int) -> Any:
        """Authorise the role, fetch the row (404), then authorise on the row."""
        return load(self.session, self.user, action, model, key)

    def once(self, body: BaseModel | None, call: Callable[[], BaseModel]) -> Any:
        """Run the write once per Idempotency-Key; return its JSON-able response.

        The stored status is the route's own (``status_code=`` in its decorator), so a
        retry answers as the first call did.
        """
        raw = body.model_dump_json().encode() if body is not None else b""
        route = self.request.scope.get("route")
        return idempotency.run_once(
            lambda: call().model_dump(mode="json"),
            session=self.session,
            user=self.user,
            key=self.key,
            status_code=getattr(route, "status_code", None) or 200,
            request_fingerprint=idempotency.fingerprint(
                self.request.method, self.request.url.path, raw
            ),
        )

    def application(self, app: Application) -> ApplicationPublic:
        """The application as the API shows it now."""
        return queries.application_public(self.session, app, self.now)

    def permit(self, permit: Permit) -> PermitPublic:
        """The permit as the API shows it now."""
        return queries.permit_public(self.session, permit, self.now)


def write(
    request: Request, session: SessionDep, user: UserDep, now: NowDep, key: KeyDep = None
) -> Write:
    return Write(request, session, user, now, key)


WriteDep = Annotated[Write, Depends(write)]


def load(session: SessionDep, user: User, action: Action, model: type[Any], key: int) -> Any:
    """Authorise the role, fetch the row (404), then authorise on the row (ownership)."""
    auth.authorize(user, action)
    row = service.get_or_404(session, model, key)
    auth.authorize(user, action, row, session=session)
    return row
