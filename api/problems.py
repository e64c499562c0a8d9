"""Every error answer as RFC 9457 problem details (``application/problem+json``).

One shape for all of them, domain errors, request validation, the policy's refusals, the
body limit, outages and unknown routes:

``type``
    ``urn:cotrench:problem:<code>``, the kind of problem (``layer-validation``,
    ``permission-denied``, ``request-validation``, ...), stable for clients to branch on.
``title``
    The status's words from the catalogue, Chinese first (``输入有误 / unprocessable input``).
``status``, ``detail``, ``instance``
    The HTTP status, what went wrong and where (Chinese first, then English), the path.
``error``, ``message``
    The error's name (``LayerValidationError``) and the ``detail`` again: the members the
    answers had before they were problem details, kept so that clients written for them
    (the workbench's scripts, a city's integrations) keep working.
extension members
    What the error knows beyond words: a list (field errors) is ``errors``; a mapping's
    members (a validation report's ``problems``, a refusal's ``role``, ``action``, ``why``,
    a limit's ``limit``, ``allowed``, ``value``) are members of the problem itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from api.catalogue import CATALOGUE
from api.catalogue import label
from api.responses import OrjsonResponse

__all__ = ["PROBLEM_JSON", "ProblemResponse", "problem", "problem_body", "problem_type"]

PROBLEM_JSON = "application/problem+json"
# members RFC 9457 defines (and ours): an extension never overwrites them
_RESERVED = frozenset({"type", "title", "status", "detail", "instance", "error", "message"})


class ProblemResponse(OrjsonResponse):
    media_type = PROBLEM_JSON


def problem_type(code: str) -> str:
    """``urn:cotrench:problem:<kebab-case code, without a trailing Error>``.

    >>> problem_type("LayerValidationError")
    'urn:cotrench:problem:layer-validation'
    """
    words = re.sub(r"Error$", "", code) or code
    return "urn:cotrench:problem:" + re.sub(r"(?<!^)(?=[A-Z])", "-", words).lower()


def problem_body(
    status: int, code: str, detail: str, *, instance: str | None = None, extra: Any = None
) -> dict[str, Any]:
    """The problem's members (see the module's docstring)."""
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": label("problem", str(status)) if str(status) in CATALOGUE["problem"] else "",
        "status": status,
        "detail": detail,
        "error": code,
        "message": detail,
    }
    if instance:
        body["instance"] = instance
    if isinstance(extra, Mapping):
        for key, value in extra.items():
            body[key if key not in _RESERVED else f"{key}_"] = value
    elif isinstance(extra, list | tuple):
        body["errors"] = list(extra)
    elif extra is not None:
        body["errors"] = [extra]
    return body


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    instance: str | None = None,
    extra: Any = None,
    headers: Mapping[str, str] | None = None,
) -> ProblemResponse:
    """The problem+json response."""
    return ProblemResponse(
        problem_body(status, code, detail, instance=instance, extra=extra),
        status_code=status,
        headers=dict(headers or {}),
    )
