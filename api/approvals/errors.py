"""Errors of the approval flow; ``api.errors.ERROR_STATUS`` maps each to an HTTP status."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "ApprovalError",
    "AuthenticationError",
    "CalendarRangeError",
    "FormValidationError",
    "IdempotencyKeyReusedError",
    "LoginThrottledError",
    "NotFoundError",
    "PermissionDeniedError",
    "PreconditionError",
    "StaleVersionError",
    "TransitionNotAllowedError",
]


class ApprovalError(Exception):
    """Base class; ``detail`` (if set) is sent as-is in the error body."""

    detail: Any = None


class NotFoundError(ApprovalError, LookupError):
    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"{kind} {key!r} not found")
        self.detail = {"kind": kind, "id": key}


class AuthenticationError(ApprovalError):
    """No token, an unknown or expired token, or a wrong password."""


class LoginThrottledError(AuthenticationError):
    """Too many failed logins for the name or from the address: wait ``retry_after`` s."""

    def __init__(self, retry_after: int) -> None:
        minutes = max(1, round(retry_after / 60))
        super().__init__(
            f"登录失败次数过多，请 {minutes} 分钟后再试 / "
            f"too many failed logins, try again in {minutes} min"
        )
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}
        self.detail = {"retry_after_s": retry_after}


class PermissionDeniedError(ApprovalError):
    def __init__(self, role: str, action: str, why: str = "") -> None:
        msg = f"role '{role}' may not {action}" + (f": {why}" if why else "")
        super().__init__(msg)
        self.detail = {"role": str(role), "action": str(action), "why": why}


class TransitionNotAllowedError(ApprovalError):
    """The entity is not in a state that allows this action; the allowed actions are named."""

    def __init__(self, kind: str, status: str, action: str, allowed: Iterable[str]) -> None:
        allowed = sorted(allowed)
        msg = f"{kind} in status {status!r} cannot {action!r}; allowed: " + (
            ", ".join(allowed) if allowed else "none (final status)"
        )
        super().__init__(msg)
        self.detail = {"kind": kind, "current_status": status, "action": action, "allowed": allowed}


class PreconditionError(ApprovalError):
    """The transition is allowed from this status but something it needs is missing."""

    def __init__(self, msg: str, missing: Iterable[str] = ()) -> None:
        super().__init__(msg)
        self.detail = {"missing": sorted(missing)}


class StaleVersionError(ApprovalError):
    def __init__(self, kind: str, key: object, expected: int | None, actual: int | None) -> None:
        msg = f"{kind} {key} was changed by someone else (you had version {expected}"
        msg += f", it is now {actual})" if actual is not None else ")"
        super().__init__(msg)
        self.detail = {"kind": kind, "id": key, "expected": expected, "actual": actual}


class FormValidationError(ApprovalError, ValueError):
    """Bad input caught by the service (beyond what the schemas check); names the fields."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in errors)
        super().__init__(f"invalid fields: {fields}")
        self.detail = errors


class IdempotencyKeyReusedError(ApprovalError, ValueError):
    """The same Idempotency-Key was sent with a different request."""


class CalendarRangeError(ApprovalError, ValueError):
    """A date outside the years the working-day calendar knows."""
