"""Serialise responses with orjson, straight to bytes."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse

__all__ = ["GeoJSONResponse", "OrjsonResponse"]

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


class OrjsonResponse(JSONResponse):
    """JSON via orjson: numpy values and dates serialise without conversion."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=_OPTIONS)


class GeoJSONResponse(OrjsonResponse):
    media_type = "application/geo+json"
