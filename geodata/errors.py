"""Errors raised by the geodata package: one base class, specific errors below it."""

from __future__ import annotations

from typing import Any

__all__ = [
    "CRSError",
    "CityNotFoundError",
    "DuplicateLayerError",
    "FieldMapError",
    "GeodataError",
    "InvalidBBoxError",
    "LayerNotFoundError",
    "LayerReadError",
    "LayerValidationError",
    "LimitExceededError",
    "MissingCRSError",
    "UnknownKindError",
    "UnknownUtilityError",
]


class GeodataError(Exception):
    """Base class of every geodata error."""


class LayerReadError(GeodataError, ValueError):
    """A file cannot be read as a layer: unknown format, missing layer, corrupt data."""


class MissingCRSError(LayerReadError):
    """A layer has no CRS and the caller named none (DXF never has one)."""


class LimitExceededError(LayerReadError):
    """A file is larger than a limit allows: unpacked size, members, features or vertices.

    ``detail`` names the limit, its value and what exceeded it (the feature, when one did).
    """

    def __init__(self, message: str, detail: dict[str, Any]) -> None:
        super().__init__(message)
        self.detail = detail


class FieldMapError(LayerReadError):
    """A field mapping (``SOURCE=column``) is malformed."""


class CRSError(GeodataError, ValueError):
    """A CRS is unknown, or a metric operation was asked of a geographic CRS."""


class UnknownKindError(GeodataError, ValueError):
    """A layer kind is none of roads, underground_lines, trees, poles, protected_areas,
    proposed_lines."""


class UnknownUtilityError(GeodataError, ValueError):
    """A utility name is none of water, power, heat, gas, drainage, telecom."""


class LayerValidationError(GeodataError, ValueError):
    """A layer was refused; ``detail`` holds the whole validation report as a dict."""

    def __init__(self, message: str, detail: dict[str, Any]) -> None:
        super().__init__(message)
        self.detail = detail


class InvalidBBoxError(GeodataError, ValueError):
    """A bounding box is not four numbers minx, miny, maxx, maxy with min <= max."""


class LayerNotFoundError(GeodataError, LookupError):
    """No stored layer has the requested id."""


class CityNotFoundError(GeodataError, LookupError):
    """No city has the requested name."""


class DuplicateLayerError(GeodataError, ValueError):
    """The same file was already imported into the city as the same kind of layer.

    ``detail`` names the stored layer (``layer_id``, ``name``, ``imported_at``).
    """

    def __init__(self, message: str, detail: dict[str, Any]) -> None:
        super().__init__(message)
        self.detail = detail
