"""Read stored features page by page, in any CRS: one query for layers, groups and plans.

Every feature table keeps its geometry in its city's metric CRS (``srid`` per row, several
cities per table). :func:`query_features` filters by a box in any CRS and by a time
interval, counts what matches, returns one page in the id order, and writes the geometry
as GeoJSON in the CRS asked for: in lon/lat (CRS84) RFC 7946's way (7 decimals,
counter-clockwise exterior rings); in a projected CRS to the millimetre; with the axes of
EPSG:4326 (latitude first) when ``lat_lon`` is asked (OGC API – Features Part 2).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from pyproj import CRS
from sqlalchemy import ColumnElement
from sqlalchemy import Table
from sqlalchemy import and_
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.orm import Session

__all__ = ["FeaturePage", "FeatureSource", "query_features"]


@dataclass(frozen=True)
class FeatureSource:
    """Where a collection's features are: a table, fixed filters, the stored SRID.

    Attributes
    ----------
    table
        A table with ``id`` and ``geom`` columns.
    where
        Filters that make the collection (e.g. ``layer_id = 5``).
    srid
        The SRID of the collection's geometries (one city: one SRID).
    hidden
        Columns not shown as properties.
    time
        The columns of the features' time interval (start, end), if they have one.
    """

    table: Table
    where: tuple[ColumnElement[bool], ...]
    srid: int
    hidden: frozenset[str] = frozenset({"geom", "layer_id", "city_id", "srid"})
    time: tuple[str, str] | None = None
    props: tuple[str, ...] = ()

    def columns(self) -> list[Any]:
        if self.props:
            return [self.table.c[name] for name in self.props]
        return [c for c in self.table.c if c.name not in self.hidden]


@dataclass(frozen=True)
class FeaturePage:
    """One page: how many match in all, and the features of the page."""

    matched: int
    features: list[dict[str, Any]]


# the margin of the index's first cut around a box from another CRS (the stored CRS is metric)
_BOX_MARGIN_M = 50.0


def _in_box(
    geom: Any, bbox: Sequence[float], bbox_srid: int, srid: int
) -> list[ColumnElement[bool]]:
    """Features meeting the box, exactly in the box's own CRS.

    A lon/lat box is no rectangle in the city's projection: its edges curve. The index
    cuts first with the box densified and projected (plus a margin); the exact test then
    runs in the box's CRS, so a point just inside a lon/lat edge is in and one outside out.
    """
    envelope = func.ST_MakeEnvelope(*bbox, bbox_srid)
    if bbox_srid == srid:
        return [func.ST_Intersects(geom, envelope)]
    step = max(bbox[2] - bbox[0], bbox[3] - bbox[1]) / 64 or 1.0
    coarse = func.ST_Expand(
        func.ST_Envelope(func.ST_Transform(func.ST_Segmentize(envelope, step), srid)),
        _BOX_MARGIN_M,
    )
    return [geom.op("&&")(coarse), func.ST_Intersects(func.ST_Transform(geom, bbox_srid), envelope)]


def query_features(
    session: Session,
    source: FeatureSource,
    *,
    bbox: Sequence[float] | None = None,
    bbox_srid: int = 4326,
    out_srid: int = 4326,
    interval: tuple[dt.date | None, dt.date | None] | None = None,
    ids: Sequence[int] | None = None,
    limit: int = 1000,
    offset: int = 0,
    lat_lon: bool = False,
) -> FeaturePage:
    """Count the matching features and return one page of them as GeoJSON features.

    Parameters
    ----------
    bbox
        ``(minx, miny, maxx, maxy)`` in ``bbox_srid``, axes x then y (lon then lat).
    interval
        ``(start, end)``, either open: features whose time interval meets it. Ignored
        for a source without time (it has no temporal extent to filter).
    ids
        Only these feature ids.
    lat_lon
        Write latitude first (EPSG:4326's own axis order) instead of RFC 7946's lon, lat.
    """
    table = source.table
    geom = table.c.geom
    where: list[ColumnElement[bool]] = list(source.where)
    if bbox is not None:
        where += _in_box(geom, bbox, bbox_srid, source.srid)
    if ids is not None:
        where.append(table.c.id.in_(list(ids)))
    if interval is not None and source.time is not None:
        start, end = interval
        first, last = (table.c[name] for name in source.time)
        if end is not None:
            where.append(first <= end)
        if start is not None:
            where.append(or_(last >= start, and_(last.is_(None), first >= start)))
    matched = int(session.scalar(select(func.count()).select_from(table).where(*where)) or 0)
    projected = CRS.from_epsg(out_srid).is_projected
    digits = 3 if projected else 7
    # RFC 7946 section 3.1.6: exterior rings counter-clockwise, holes clockwise
    shown = func.ST_ForcePolygonCCW(
        geom if out_srid == source.srid else func.ST_Transform(geom, out_srid)
    )
    if lat_lon:
        shown = func.ST_FlipCoordinates(shown)
    props = source.columns()
    query = (
        select(table.c.id, *props, func.ST_AsGeoJSON(shown, digits).label("geometry"))
        .where(*where)
        .order_by(table.c.id)
        .limit(limit)
        .offset(offset)
    )
    features = [
        {
            "type": "Feature",
            "id": row["id"],
            "geometry": orjson.loads(row["geometry"]) if row["geometry"] else None,
            "properties": {c.name: row[c.name] for c in props if c.name != "id"},
        }
        for row in session.execute(query).mappings()
    ]
    return FeaturePage(matched=matched, features=features)
