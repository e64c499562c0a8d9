"""Read what a city holds around a route: roads, trees, poles, lines, protected areas, groups.

:func:`read_city_context` is the one place the rows a route analysis needs become shapely
objects. It returns plain frames in a :class:`CityLayers` (geodata imports nothing from
``routing``); ``api.services.analysis`` wraps them into ``routing.analysis.CityContext``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
from sqlalchemy import text
from sqlalchemy.orm import Session

from geodata.storage import CityInfo
from geodata.storage import get_city
from geodata.storage import read_features

__all__ = ["CONTEXT_MARGIN_M", "CityLayers", "context_bbox", "read_city_context"]

logger = logging.getLogger(__name__)

# context read around a route: this far beyond its extent (m); wider than any clearance in
# the standards tables, so nothing that can matter is left out, and enough for the maps
CONTEXT_MARGIN_M = 150.0


@dataclass(frozen=True)
class CityLayers:
    """A city's stored layers within ``bbox`` (the city's CRS), every frame in ``city.srid``.

    ``roads`` carry ``segment_id`` (the row id, as trench plans name road segments);
    ``groups`` and ``warnings`` are the co-location groups and located warnings there.
    """

    city: CityInfo
    bbox: tuple[float, float, float, float]
    roads: gpd.GeoDataFrame
    trees: gpd.GeoDataFrame
    poles: gpd.GeoDataFrame
    existing_lines: gpd.GeoDataFrame
    protected_areas: gpd.GeoDataFrame
    groups: gpd.GeoDataFrame
    warnings: gpd.GeoDataFrame


def context_bbox(
    bounds: Sequence[float], *, margin_m: float = CONTEXT_MARGIN_M
) -> tuple[float, float, float, float]:
    """``bounds`` (minx, miny, maxx, maxy in a metric CRS) grown by ``margin_m``.

    Examples
    --------
    >>> context_bbox((0, 0, 10, 10), margin_m=5)
    (-5.0, -5.0, 15.0, 15.0)
    """
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    return (minx - margin_m, miny - margin_m, maxx + margin_m, maxy + margin_m)


def read_city_context(session: Session, city: str | CityInfo, bbox: Sequence[float]) -> CityLayers:
    """Return the city's roads, trees, poles, underground lines, protected areas and
    co-location groups and warnings that intersect ``bbox`` (in the city's CRS).

    Raises
    ------
    CityNotFoundError
        If there is no such city.
    """
    info = city if isinstance(city, CityInfo) else get_city(session, city)
    box = tuple(float(v) for v in bbox)
    if len(box) != 4:
        msg = f"a bbox is (minx, miny, maxx, maxy), got {len(box)} numbers"
        raise ValueError(msg)

    def layer(kind: str) -> gpd.GeoDataFrame:
        gdf = read_features(session, city=info.name, kind=kind, bbox=box)
        # the importer keeps extra source fields in ``attrs``; the analysis needs columns
        return gdf.drop(columns=[c for c in ("attrs",) if c in gdf.columns])

    roads = layer("roads").rename(columns={"id": "segment_id"})
    groups, warnings = _colocation(session, info, box)
    layers = CityLayers(
        city=info,
        bbox=box,
        roads=roads,
        trees=layer("trees"),
        poles=layer("poles"),
        existing_lines=layer("underground_lines"),
        protected_areas=layer("protected_areas"),
        groups=groups,
        warnings=warnings,
    )
    logger.info(
        "context of %s: %d roads, %d trees, %d poles, %d lines, %d areas, %d groups",
        info.name,
        len(layers.roads),
        len(layers.trees),
        len(layers.poles),
        len(layers.existing_lines),
        len(layers.protected_areas),
        len(layers.groups),
    )
    return layers


def _colocation(
    session: Session, city: CityInfo, bbox: tuple[float, float, float, float]
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Co-location groups and located warnings of issue 4's tables within ``bbox``."""
    params = {"c": city.id, "x0": bbox[0], "y0": bbox[1], "x1": bbox[2], "y1": bbox[3]}
    box = "ST_MakeEnvelope(:x0, :y0, :x1, :y1, srid)"
    connection = session.connection()
    groups = gpd.read_postgis(
        text(
            "SELECT 'G' || id AS group, key, utilities, array_to_string(projects, ', ') AS "
            "projects, shared_length_m AS length_m, window_start || ' – ' || window_end AS "
            f"window, geom FROM colocation_groups WHERE city_id = :c AND geom && {box} "
            "ORDER BY id"
        ),
        connection,
        params=params,
        geom_col="geom",
        crs=city.srid,
    )
    warnings = gpd.read_postgis(
        text(
            "SELECT id, kind, rule || ' (' || verification || ')' AS rule, message, geom "
            f"FROM colocation_warnings WHERE city_id = :c AND geom IS NOT NULL AND geom && {box} "
            "ORDER BY id"
        ),
        connection,
        params=params,
        geom_col="geom",
        crs=city.srid,
    )
    return groups, warnings
