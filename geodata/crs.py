"""Pick a metric CRS, reproject into it, and refuse degrees where metres are meant."""

from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd
from pyproj import CRS
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info
from pyproj.exceptions import CRSError as PyprojCRSError

from geodata.errors import CRSError
from geodata.errors import MissingCRSError

__all__ = [
    "crs_label",
    "parse_crs",
    "pick_metric_crs",
    "require_metric",
    "to_crs",
]

logger = logging.getLogger(__name__)

WGS84 = CRS.from_epsg(4326)


def parse_crs(value: Any) -> CRS:
    """Return a pyproj CRS for ``"EPSG:32652"``, ``32652``, WKT or a CRS.

    Raises
    ------
    CRSError
        If the value names no CRS; the message repeats the value.

    Examples
    --------
    >>> parse_crs("epsg:32652").to_epsg()
    32652
    """
    if isinstance(value, CRS):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    try:
        return CRS.from_user_input(value)
    except PyprojCRSError as exc:
        msg = f"unknown CRS {value!r}: give an EPSG code such as 'EPSG:32652' ({exc})"
        raise CRSError(msg) from exc


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
