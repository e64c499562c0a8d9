"""Answer a retried request (same ``Idempotency-Key``) from its stored response, never twice.

The key row is inserted in the request's own transaction before the work runs, so the work
and the key commit together or not at all. A concurrent retry blocks on the unique index
until the first commits, then reads the stored response.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.approvals.errors import IdempotencyKeyReusedError
from api.approvals.models import IdempotencyKey
from api.approvals.models import User

__all__ = ["fingerprint", "run_once"]


def fingerprint(method: str, path: str, body: bytes) -> str:
    """Return the SHA-256 of what identifies a request."""
    return hashlib.sha256(b"\n".join((method.encode(), path.encode(), body))).hexdigest()


def run_once(
    call: Callable[[], Any],
    *,
    session: Session,
    user: User,
    key: str | None,
    request_fingerprint: str,
    status_code: int = 200,
) -> Any:
    """Run ``call`` once per ``(user, key)`` and return its JSON-able result.

    Without a key the call simply runs.

    Raises
    ------
    IdempotencyKeyReusedError
        If the key was used before for a different request.
    """
    if not key:
        return call()
    row = IdempotencyKey(user_id=user.id, key=key, fingerprint=request_fingerprint)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        stored = session.scalars(
            select(IdempotencyKey).where(
                IdempotencyKey.user_id == user.id, IdempotencyKey.key == key
            )
        ).one()
        if stored.fingerprint != request_fingerprint:
            msg = f"Idempotency-Key {key!r} was already used for a different request"
            raise IdempotencyKeyReusedError(msg) from None
        return stored.response
    result = call()
    row.status_code, row.response = status_code, result
    session.flush()
    return result
