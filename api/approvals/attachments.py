"""Store documents and derive the permits' attachments from a fixed route.

``permit_attachments(route_version)`` is the hook the permit sheets hang on: today it gives
the frozen route as GeoJSON and its quantities as JSON; the maps work adds PDF map sheets by
appending a function to ``PERMIT_ATTACHMENT_HOOKS``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import orjson
import pyproj
from sqlalchemy.orm import Session

from api.approvals.errors import FormValidationError
from api.approvals.models import Attachment
from api.approvals.models import RouteVersion

__all__ = [
    "PERMIT_ATTACHMENT_HOOKS",
    "QUANTITY_HOOKS",
    "AttachmentDraft",
    "canonical_json",
    "permit_attachments",
    "route_quantities",
    "store_attachment",
    "validate_route",
]

logger = logging.getLogger(__name__)

_LINE_TYPES = frozenset({"LineString", "MultiLineString"})
_ROAD_KEYS = ("road", "road_name", "name")


@dataclass(frozen=True)
class AttachmentDraft:
    filename: str
    content_type: str
    data: bytes


# (route_version, permit_type) -> more attachments, e.g. a PDF map sheet per permit
PERMIT_ATTACHMENT_HOOKS: list[Callable[[RouteVersion, str | None], list[AttachmentDraft]]] = []
# (route GeoJSON, crs) -> extra quantities (e.g. the cross-section work), or None
QUANTITY_HOOKS: list[Callable[[dict[str, Any], str], dict[str, Any] | None]] = []


def canonical_json(value: Any) -> bytes:
    """Serialise with sorted keys, so the same content always hashes the same."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def store_attachment(
    draft: AttachmentDraft,
    *,
    session: Session,
    owner_kind: str,
    owner_id: int | None,
    application_id: int | None,
    uploaded_by_id: int | None,
) -> Attachment:
    """Keep ``draft`` in the database with its size and SHA-256."""
    row = Attachment(
        application_id=application_id,
        owner_kind=owner_kind,
        owner_id=owner_id,
        filename=draft.filename,
        content_type=draft.content_type,
        size_bytes=len(draft.data),
        sha256=hashlib.sha256(draft.data).hexdigest(),
        data=draft.data,
        uploaded_by_id=uploaded_by_id,
    )
    session.add(row)
    session.flush()
    return row


def validate_route(geojson: dict[str, Any], crs: str) -> gpd.GeoDataFrame:
    """Return the route as a frame, or raise ``FormValidationError`` naming the bad field.

    The route is a GeoJSON FeatureCollection of (Multi)LineStrings in ``crs``.
    """
    errors: list[dict[str, Any]] = []
    try:
        pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError:
        errors.append(_err(("body", "crs"), f"unknown CRS {crs!r}"))
    if geojson.get("type") != "FeatureCollection" or not geojson.get("features"):
        errors.append(_err(("body", "geojson"), "a non-empty GeoJSON FeatureCollection"))
    if errors:
        raise FormValidationError(errors)
    try:
        gdf = gpd.GeoDataFrame.from_features(geojson["features"], crs=crs)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise FormValidationError([_err(("body", "geojson"), f"not GeoJSON: {exc}")]) from None
    for i, geom in enumerate(gdf.geometry):
        loc = ("body", "geojson", "features", i, "geometry")
        if geom is None or geom.geom_type not in _LINE_TYPES or geom.is_empty:
            errors.append(_err(loc, "a non-empty LineString or MultiLineString"))
        elif geom.length == 0:
            errors.append(_err(loc, "a zero-length line"))
    if errors:
        raise FormValidationError(errors)
    return gdf


def route_quantities(gdf: gpd.GeoDataFrame) -> dict[str, Any]:
    """Return the route's length in total and per road, in metres, in a metric CRS.

    A geographic CRS is projected to its UTM zone first.
    """
    metric = gdf if gdf.crs.is_projected else gdf.to_crs(gdf.estimate_utm_crs())
    lengths = metric.geometry.length
    road = _road_names(gdf)
    per_road: dict[str, float] = {}
    for name, length_m in zip(road, lengths, strict=True):
        per_road[name] = per_road.get(name, 0.0) + float(length_m)
    return {
        "source": "route_length",
        "crs": str(metric.crs),
        "feature_count": len(gdf),
        "total_length_m": round(float(lengths.sum()), 2),
        "per_road": [
            {"road": name, "length_m": round(v, 2)} for name, v in sorted(per_road.items())
        ],
    }


def permit_attachments(
    route_version: RouteVersion, permit_type: str | None = None
) -> list[AttachmentDraft]:
    """Return the documents a permit carries for ``route_version``.

    The frozen route (GeoJSON, with its CRS named) and its quantities (JSON), then whatever
    the ``PERMIT_ATTACHMENT_HOOKS`` add (map sheets).
    """
    v = route_version.version_no
    route = {**route_version.geojson, "crs_name": route_version.crs}
    drafts = [
        AttachmentDraft(f"route_v{v}.geojson", "application/geo+json", canonical_json(route)),
        AttachmentDraft(
            f"quantities_v{v}.json", "application/json", canonical_json(route_version.quantities)
        ),
    ]
    for hook in PERMIT_ATTACHMENT_HOOKS:
        drafts.extend(hook(route_version, permit_type))
    return drafts


def _road_names(gdf: gpd.GeoDataFrame) -> list[str]:
    names = []
    for _, row in gdf.iterrows():
        name = next(
            (row[k] for k in _ROAD_KEYS if k in gdf.columns and isinstance(row[k], str)), None
        )
        names.append(name or "(unnamed)")
    return names


def _err(loc: tuple[Any, ...], msg: str) -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": "value_error"}
