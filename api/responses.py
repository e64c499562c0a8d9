"""Serialise responses with orjson, straight to bytes."""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import quote

import orjson
from fastapi import Request
from fastapi import Response
from fastapi.responses import JSONResponse

__all__ = [
    "ERROR_BODY",
    "HTTP_ERROR_BODY",
    "GeoJSONResponse",
    "OrjsonResponse",
    "content_disposition",
    "error_response",
    "etagged",
    "page_links",
]

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


# the body of every error answer: RFC 9457 problem details (api/problems.py)
ERROR_BODY: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "required": ["type", "title", "status", "detail", "error", "message"],
    "properties": {
        "type": {"type": "string", "description": "urn:cotrench:problem:<kind>"},
        "title": {"type": "string", "description": "the status in words, 中文 / English"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "what went wrong, 中文 / English"},
        "instance": {"type": "string", "description": "the path asked for"},
        "error": {"type": "string", "description": "the error's kind, e.g. NotFoundError"},
        "message": {"type": "string", "description": "the same words as detail"},
        "errors": {"type": "array", "description": "field errors: loc, msg, type"},
    },
    "additionalProperties": True,
}
ERROR_REF = "#/components/schemas/Error"
# kept as a name for the policy's OpenAPI hook: every error has the one shape now
HTTP_ERROR_BODY: dict[str, Any] = ERROR_BODY
HTTP_ERROR_REF = ERROR_REF
PROBLEM_MEDIA = "application/problem+json"


def error_response(description: str, *, http_error: bool = False) -> dict[str, Any]:
    """An OpenAPI response whose body is a problem (:data:`ERROR_BODY`), for ``responses=``.

    ``http_error`` is accepted for the callers written when FastAPI's own errors had
    another shape; every error is a problem now.
    """
    del http_error
    return {"description": description, "content": {PROBLEM_MEDIA: {"schema": {"$ref": ERROR_REF}}}}


class OrjsonResponse(JSONResponse):
    """JSON via orjson: numpy values and dates serialise without conversion."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=_OPTIONS)


class GeoJSONResponse(OrjsonResponse):
    media_type = "application/geo+json"


def page_links(
    request: Request, *, offset: int, returned: int, matched: int
) -> list[dict[str, str]]:
    """``self`` and, while features remain, ``next`` links (OGC API - Features style)."""
    links = [{"rel": "self", "type": "application/geo+json", "href": str(request.url)}]
    if offset + returned < matched and returned > 0:
        after = request.url.include_query_params(offset=offset + returned)
        links.append({"rel": "next", "type": "application/geo+json", "href": str(after)})
    if offset > 0:
        limit = int(request.query_params.get("limit", returned or 1))
        before = request.url.include_query_params(offset=max(0, offset - limit))
        links.append({"rel": "prev", "type": "application/geo+json", "href": str(before)})
    return links


def etagged(request: Request, response: Response) -> Response:
    """Add a strong ETag (SHA-256 of the body); answer 304 when the client has it."""
    tag = '"' + hashlib.sha256(bytes(response.body)).hexdigest()[:32] + '"'
    if tag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers={"ETag": tag})
    response.headers["ETag"] = tag
    return response


def content_disposition(filename: str, *, inline: bool = False) -> dict[str, str]:
    """The ``Content-Disposition`` header for ``filename``, Chinese names included.

    HTTP headers are Latin-1: the name goes as RFC 6266 / RFC 5987 ``filename*`` (UTF-8,
    percent-encoded) with an ASCII ``filename`` for old clients.
    """
    fallback = re.sub(r"[^A-Za-z0-9._-]+", "_", filename).strip("_") or "download"
    kind = "inline" if inline else "attachment"
    return {
        "Content-Disposition": (
            f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
        )
    }
