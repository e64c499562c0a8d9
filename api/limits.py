"""Limits on what one request may ask of the service: body size and planning time.

The body limit is an ASGI middleware: a request whose ``Content-Length`` is too large is
answered 413 before a byte is read, and a body sent without one (chunked) is counted as
it streams and cut off at the limit, so no oversized upload reaches the disk. Uploads
(``multipart/form-data``) may be larger than other bodies (JSON, forms).

How long a shared-trench optimisation may run (``time_limit_s``) depends on the role:
the table is :data:`PLAN_SECONDS`, the settings may lower or raise a row.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import ASGIApp
from starlette.types import Message
from starlette.types import Receive
from starlette.types import Scope
from starlette.types import Send

from api.approvals.enums import Role
from api.approvals.errors import FormValidationError
from api.approvals.models import User
from api.catalogue import label
from api.problems import PROBLEM_JSON
from api.problems import problem_body
from api.settings import LimitSettings

__all__ = ["PLAN_SECONDS", "BodyLimit", "check_plan_seconds"]

R = Role
# the longest optimisation each role may ask for, in seconds; roles not listed get the
# settings' default. Planning holds a worker (one of two cores here): the city's own
# planners may wait longer than a company's designer trying alternatives.
PLAN_SECONDS: dict[Role, float] = {
    R.acceptor: 120.0,
    R.responsible_person: 120.0,
    R.data_admin: 60.0,
    R.designer: 60.0,
}


def check_plan_seconds(
    user: User, requested: float, settings: LimitSettings, *, loc: tuple[str, ...] = ("body",)
) -> None:
    """Refuse a ``time_limit_s`` beyond what the user's role may ask (422 naming the field)."""
    role = Role(user.role)
    allowed = settings.plan_seconds.get(role.value, PLAN_SECONDS.get(role))
    if allowed is None:
        allowed = settings.plan_seconds_default
    if requested <= allowed:
        return
    role_zh = label("role", role.value, lang="zh")
    raise FormValidationError(
        [
            {
                "loc": [*loc, "time_limit_s"],
                "type": "less_than_equal",
                "msg": (
                    f"{role_zh}最多可计算 {allowed:g} 秒 / "
                    f"a {role.value} may ask for at most {allowed:g} s (asked {requested:g} s)"
                ),
                "ctx": {"le": allowed, "role": role.value},
            }
        ]
    )


class BodyLimit:
    """Answer 413 to a request body larger than the limit of its content type."""

    def __init__(self, app: ASGIApp, *, upload_bytes: int, body_bytes: int) -> None:
        self.app = app
        self.upload_bytes = upload_bytes
        self.body_bytes = body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        upload = headers.get("content-type", "").lower().startswith("multipart/")
        limit = self.upload_bytes if upload else self.body_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit, upload, int(declared), scope.get("path", ""))
            return
        state = {"received": 0, "refused": False, "started": False}

        async def limited_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    if not state["started"] and not state["refused"]:
                        state["refused"] = True
                        await _too_large(send, limit, upload, None, scope.get("path", ""))
                    # the app stops reading: to it the client has gone
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if state["refused"]:
                return  # the 413 was sent; whatever the app answers after is dropped
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not state["refused"]:
                raise


async def _too_large(send: Send, limit: int, upload: bool, declared: int | None, path: str) -> None:
    what_zh, what_en = ("上传文件", "upload") if upload else ("请求体", "request body")
    size = f" ({declared:,} bytes)" if declared is not None else ""
    extra: dict[str, Any] = {"limit": "upload_bytes" if upload else "body_bytes", "allowed": limit}
    if declared is not None:
        extra["value"] = declared
    body = problem_body(
        413,
        "RequestTooLarge",
        f"{what_zh}超过上限 {limit:,} 字节 / the {what_en}{size} exceeds the limit of "
        f"{limit:,} bytes",
        instance=path,
        extra=extra,
    )
    payload = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
