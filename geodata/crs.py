"""Pick a metric CRS, reproject into it, and refuse degrees where metres are meant."""

from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd
import numpy as np
from pyproj import CRS
from pyproj import Proj
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info
from pyproj.exceptions import CRSError as PyprojCRSError
from shapely.geometry.base import BaseGeometry

from geodata.errors import CRSError
from geodata.errors import MissingCRSError

__all__ = [
    "MAX_SCALE_ERROR",
    "check_city_crs",
    "crs_label",
    "parse_crs",
    "pick_metric_crs",
    "require_metric",
    "scale_error",
    "suggest_city_crs",
    "to_crs",
]

logger = logging.getLogger(__name__)

WGS84 = CRS.from_epsg(4326)
# a city's CRS may stretch or shrink lengths by at most this over the city (0.1 %)
MAX_SCALE_ERROR = 0.001
# an area of use is taken as covering an extent up to this far outside it (degrees): a
# city straddling a zone edge (Hegang, 129.9-130.6E, zone 127.5-130.5E) keeps its zone, and
# the scale check below still bounds the distortion
AREA_SLACK_DEG = 0.5
# CGCS2000 3-degree Gauss-Kruger zones: EPSG:4534 is central meridian 75E (no zone prefix),
# EPSG:4513 zone 25 (75E, with the prefix); both run in steps of 3 degrees to 135E
GK3_FIRST_EPSG = 4534
GK3_FIRST_MERIDIAN = 75
GK3_PREFIX_FIRST_EPSG = 4513
GK3_PREFIX_FIRST_ZONE = 25
# where the CGCS2000 zones are the CRS to suggest (China's lon/lat range, roughly)
CHINA_LON = (73.5, 135.1)
CHINA_LAT = (3.8, 53.6)


def parse_crs(value: Any) -> CRS:
    """Return a pyproj CRS for ``"EPSG:32652"``, ``32652``, WKT or a CRS.

    Raises
    ------
    CRSError
        If the value names no CRS, or one that is not horizontal (a vertical CRS such as
        EPSG:5773 gives heights, a geocentric one x, y, z); the message repeats the value.

    Examples
    --------
    >>> parse_crs("epsg:32652").to_epsg()
    32652
    >>> parse_crs("EPSG:5773")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geodata.errors.CRSError: 不是平面坐标系 / not a horizontal CRS: 'EPSG:5773' is a Vertical CRS...
    """
    if isinstance(value, CRS):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    try:
        crs = CRS.from_user_input(value)
    except (PyprojCRSError, TypeError, ValueError, OverflowError) as exc:
        msg = (
            f"未知的坐标系 / unknown CRS {str(value)[:100]!r}: "
            "give an EPSG code such as 'EPSG:32652'"
        )
        raise CRSError(msg) from exc
    if not (crs.is_projected or crs.is_geographic):
        # a vertical (heights) or geocentric (x, y, z) CRS cannot place a map's x and y
        msg = (
            f"不是平面坐标系 / not a horizontal CRS: {str(value)[:100]!r} is a "
            f"{crs.type_name}; give a projected or geographic one such as 'EPSG:32652'"
        )
        raise CRSError(msg)
    return crs


def crs_label(crs: Any) -> str:
    """Return ``"EPSG:n"`` when the CRS has an EPSG code, else its name.

    Examples
    --------
    >>> crs_label(CRS.from_epsg(6676))
    'EPSG:6676'
    """
    crs = parse_crs(crs)
    authority = crs.to_authority(min_confidence=90)
    if authority is not None:
        return f"{authority[0]}:{authority[1]}"
    return str(crs.name)


def pick_metric_crs(frame: gpd.GeoDataFrame) -> CRS:
    """Return a metric CRS for the frame: its own if projected in metres, else its UTM zone.

    Raises
    ------
    MissingCRSError
        If the frame has no CRS.
    """
    if frame.crs is None:
        msg = "the layer has no CRS; name one (e.g. crs='EPSG:4326')"
        raise MissingCRSError(msg)
    if _is_metric(frame.crs):
        return CRS(frame.crs)
    west, south, east, north = frame.to_crs(WGS84).total_bounds
    infos = query_utm_crs_info(
        datum_name="WGS 84",
        area_of_interest=AreaOfInterest(west, south, east, north),
    )
    if not infos:
        msg = f"no UTM zone covers the layer's extent {west, south, east, north}"
        raise CRSError(msg)
    # the zone whose central meridian is nearest the layer's middle
    middle = (west + east) / 2
    best = min(infos, key=lambda info: abs(_utm_central_meridian(info.code) - middle))
    crs = CRS.from_epsg(int(best.code))
    logger.info("picked metric CRS %s for a layer in %s", crs_label(crs), crs_label(frame.crs))
    return crs


def to_crs(frame: gpd.GeoDataFrame, crs: Any) -> gpd.GeoDataFrame:
    """Reproject the frame with pyproj; a frame without CRS is refused, never guessed.

    Raises
    ------
    MissingCRSError
        If the frame has no CRS.
    """
    if frame.crs is None:
        msg = "the layer has no CRS; cannot reproject it"
        raise MissingCRSError(msg)
    target = parse_crs(crs)
    if CRS(frame.crs) == target:
        return frame
    return frame.to_crs(target)


def require_metric(crs: Any, *, what: str = "lengths") -> CRS:
    """Return the CRS if its axes are in metres; raise otherwise.

    GeoPandas only warns when lengths are taken in degrees; we refuse.

    Raises
    ------
    CRSError
        If the CRS is missing, geographic, or projected in another unit.

    Examples
    --------
    >>> require_metric("EPSG:32652").to_epsg()
    32652
    """
    if crs is None:
        msg = f"{what} need a CRS, and the data has none"
        raise CRSError(msg)
    parsed = parse_crs(crs)
    if not _is_metric(parsed):
        msg = (
            f"{what} must be computed in metres, but {crs_label(parsed)} is in "
            f"{_unit_name(parsed)}; reproject first (geodata.crs.pick_metric_crs)"
        )
        raise CRSError(msg)
    return parsed


def _is_metric(crs: Any) -> bool:
    parsed = CRS(crs)
    if not parsed.is_projected:
        return False
    return all(axis.unit_name in ("metre", "meter") for axis in parsed.axis_info[:2])


def _unit_name(crs: CRS) -> str:
    units = {axis.unit_name for axis in crs.axis_info[:2]}
    return ", ".join(sorted(units)) or "unknown units"


def _utm_central_meridian(code: str) -> float:
    zone = int(code[-2:])
    return -183.0 + 6.0 * zone


def check_city_crs(crs: Any, extent: BaseGeometry) -> CRS:
    """Return the CRS if it suits a city with this lon/lat extent; refuse it otherwise.

    A city's CRS measures every length: its area of use must cover the extent and its
    scale error there must stay within :data:`MAX_SCALE_ERROR` (EPSG:3857 stores a street
    network at 50° N 56 % too long; a UTM zone far from the city inflates it too).

    Raises
    ------
    CRSError
        If the CRS is not metric, the extent looks like lat,lon, the CRS's area of use
        does not cover the extent, or its scale error there is too large; the message
        names a CRS that fits (the CGCS2000 3-degree Gauss-Kruger zone in China).

    Examples
    --------
    >>> import shapely
    >>> check_city_crs("EPSG:4552", shapely.box(130.2, 47.2, 130.4, 47.4)).to_epsg()
    4552
    """
    metric = require_metric(crs, what="a city's geometries")
    west, south, east, north = extent.bounds
    fits = suggest_city_crs(extent) if _plausible_lonlat(west, south, east, north) else None
    hint = f"; use {fits}" if fits else ""
    if _looks_swapped(west, south, east, north):
        msg = (
            f"the extent {west:g},{south:g},{east:g},{north:g} looks like lat,lon; give "
            f"minlon,minlat,maxlon,maxlat (i.e. {south:g},{west:g},{north:g},{east:g})"
        )
        raise CRSError(msg)
    area = metric.area_of_use
    if area is not None and not (
        area.west - AREA_SLACK_DEG <= west
        and east <= area.east + AREA_SLACK_DEG
        and area.south - AREA_SLACK_DEG <= south
        and north <= area.north + AREA_SLACK_DEG
    ):
        msg = (
            f"{crs_label(metric)} ({metric.name}) is meant for {area.name} "
            f"({area.west:g}..{area.east:g}°E, {area.south:g}..{area.north:g}°N), which does "
            f"not cover the city's extent {west:g},{south:g},{east:g},{north:g}{hint}"
        )
        raise CRSError(msg)
    error = scale_error(metric, extent)
    if error > MAX_SCALE_ERROR:
        msg = (
            f"{crs_label(metric)} ({metric.name}) distorts lengths by up to {error:.2%} over "
            f"the city's extent (at most {MAX_SCALE_ERROR:.1%} is allowed: every trench "
            f"length and cost would inherit it){hint}"
        )
        raise CRSError(msg)
    return metric


def scale_error(crs: Any, extent: BaseGeometry, *, steps: int = 5) -> float:
    """Largest ``|k - 1|`` of the CRS's meridian and parallel scales over the extent.

    Examples
    --------
    >>> import shapely
    >>> round(scale_error("EPSG:3857", shapely.box(126.5, 49.9, 126.6, 50.1)), 2)
    0.56
    """
    west, south, east, north = extent.bounds
    lon, lat = np.meshgrid(np.linspace(west, east, steps), np.linspace(south, north, steps))
    factors = Proj(parse_crs(crs)).get_factors(lon.ravel(), lat.ravel())
    scales = np.concatenate([factors.meridional_scale, factors.parallel_scale])
    return float(np.nanmax(np.abs(scales - 1.0)))


def suggest_city_crs(extent: BaseGeometry) -> str:
    """Name the CRS a city should use: in China the CGCS2000 3-degree GK zone, else UTM.

    Examples
    --------
    >>> import shapely
    >>> suggest_city_crs(shapely.box(130.2, 47.2, 130.4, 47.4))  # Hegang
    'EPSG:4552 (CGCS2000 / 3-degree Gauss-Kruger CM 129E; EPSG:4531 with the zone prefix)'
    >>> suggest_city_crs(shapely.box(126.4, 45.55, 126.88, 45.94))  # Harbin
    'EPSG:4551 (CGCS2000 / 3-degree Gauss-Kruger CM 126E; EPSG:4530 with the zone prefix)'
    """
    west, south, east, north = extent.bounds
    middle = (west + east) / 2
    if CHINA_LON[0] <= middle <= CHINA_LON[1] and CHINA_LAT[0] <= (south + north) / 2:
        meridian = 3 * round(middle / 3)
        plain = GK3_FIRST_EPSG + (meridian - GK3_FIRST_MERIDIAN) // 3
        prefixed = GK3_PREFIX_FIRST_EPSG + (meridian // 3 - GK3_PREFIX_FIRST_ZONE)
        name = CRS.from_epsg(plain).name
        return f"EPSG:{plain} ({name}; EPSG:{prefixed} with the zone prefix)"
    zone = int((middle + 180) // 6) + 1
    code = (32600 if (south + north) / 2 >= 0 else 32700) + zone
    return f"EPSG:{code} ({CRS.from_epsg(code).name})"


def _plausible_lonlat(west: float, south: float, east: float, north: float) -> bool:
    return -180 <= west <= east <= 180 and -90 <= south <= north <= 90


def _looks_swapped(west: float, south: float, east: float, north: float) -> bool:
    """True when the box is only a lon/lat box read the other way round."""
    if not _plausible_lonlat(south, west, north, east):
        return False
    if not _plausible_lonlat(west, south, east, north):
        return True
    # both readings are boxes: a China-sized test (the product's cities)
    inside = CHINA_LON[0] <= west and east <= CHINA_LON[1] and CHINA_LAT[0] <= south
    inside_swapped = CHINA_LON[0] <= south and north <= CHINA_LON[1] and CHINA_LAT[0] <= west
    return inside_swapped and not inside
