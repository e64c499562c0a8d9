"""Detect and undo the offsets of Chinese web maps: GCJ-02 (国测局) and BD-09 (百度).

Lines traced on Gaode, Tencent or Baidu maps, or exported from their APIs, are in these
obfuscated coordinates, about 500 m (GCJ-02) or 1,300 m (BD-09) off WGS 84 in Harbin, yet
files label them WGS 84. No library on PyPI that does this is well kept (eviltransform,
coord-convert and prcoords had their last releases in 2018-2019), so the published
formulas are implemented here once, with doctests; GCJ-02 -> WGS 84 is inverted by fixed-point
iteration to below a millimetre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

__all__ = [
    "OFFSET_SYSTEMS",
    "OffsetEstimate",
    "bd09_to_gcj02",
    "estimate_offset",
    "from_offset_system",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "to_offset_system",
    "wgs84_to_gcj02",
]

OFFSET_SYSTEMS = ("gcj02", "bd09")
# Krasovsky 1940 ellipsoid, as the GCJ-02 formula uses it
_A = 6378245.0
_EE = 0.00669342162296594323
_BD_FACTOR = math.pi * 3000.0 / 180.0
# the inverse iteration stops below this change (degrees, ~1 mm)
_TOLERANCE_DEG = 1e-8
# a layer is "systematically off" when its median distance to the roads shrinks by this
# factor after undoing an offset, and the undone distance is small
IMPROVEMENT_FACTOR = 3.0
ON_ROAD_M = 30.0

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class OffsetEstimate:
    """How far a layer sits from the roads as given and with each offset undone."""

    system: str | None
    shift_east_m: float
    shift_north_m: float
    median_as_given_m: float
    median_undone_m: float

    @property
    def shift_m(self) -> float:
        """Length of the estimated shift."""
        return math.hypot(self.shift_east_m, self.shift_north_m)


def wgs84_to_gcj02(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return GCJ-02 coordinates for WGS 84 ones (outside China they are unchanged).

    Examples
    --------
    The test vectors are those of the gcoord project (hujiulong/gcoord), read backwards:

    >>> lon, lat = wgs84_to_gcj02(np.array([122.99395597]), np.array([44.99804071]))
    >>> round(float(lon[0]), 5), round(float(lat[0]), 5)
    (123.0, 45.0)
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    rad = lat / 180.0 * math.pi
    magic = 1 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad) * math.pi)
    inside = _in_china(lon, lat)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def gcj02_to_wgs84(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return WGS 84 coordinates for GCJ-02 ones (the forward formula inverted).

    Examples
    --------
    >>> lon, lat = gcj02_to_wgs84(np.array([123.0]), np.array([45.0]))
    >>> round(float(lon[0]), 5), round(float(lat[0]), 5)
    (122.99396, 44.99804)
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    wlon, wlat = lon.copy(), lat.copy()
    for _ in range(30):
        glon, glat = wgs84_to_gcj02(wlon, wlat)
        step_lon, step_lat = lon - glon, lat - glat
        wlon, wlat = wlon + step_lon, wlat + step_lat
        if max(np.abs(step_lon).max(initial=0), np.abs(step_lat).max(initial=0)) < _TOLERANCE_DEG:
            break
    return wlon, wlat


def gcj02_to_bd09(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return BD-09 coordinates for GCJ-02 ones.

    Examples
    --------
    >>> lon, lat = gcj02_to_bd09(np.array([123.0]), np.array([45.0]))
    >>> round(float(lon[0]), 6), round(float(lat[0]), 6)
    (123.006365, 45.006369)
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    z = np.sqrt(lon**2 + lat**2) + 0.00002 * np.sin(lat * _BD_FACTOR)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _BD_FACTOR)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return GCJ-02 coordinates for BD-09 ones.

    Examples
    --------
    >>> lon, lat = bd09_to_gcj02(np.array([123.00636499]), np.array([45.00636899]))
    >>> round(float(lon[0]), 5), round(float(lat[0]), 5)
    (123.0, 45.0)
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    # the published inverse is off by up to 0.2 m; refine it against the forward formula
    x, y = lon - 0.0065, lat - 0.006
    z = np.sqrt(x**2 + y**2) - 0.00002 * np.sin(y * _BD_FACTOR)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _BD_FACTOR)
    glon, glat = z * np.cos(theta), z * np.sin(theta)
    for _ in range(30):
        blon, blat = gcj02_to_bd09(glon, glat)
        step_lon, step_lat = lon - blon, lat - blat
        glon, glat = glon + step_lon, glat + step_lat
        if max(np.abs(step_lon).max(initial=0), np.abs(step_lat).max(initial=0)) < _TOLERANCE_DEG:
            break
    return glon, glat


def from_offset_system(geoms: NDArray[np.object_], system: str) -> NDArray[np.object_]:
    """Move lon/lat geometries from ``system`` (``gcj02`` or ``bd09``) to WGS 84.

    Raises
    ------
    ValueError
        If ``system`` is not one of :data:`OFFSET_SYSTEMS`.
    """
    return _apply(geoms, _undo(system))


def to_offset_system(geoms: NDArray[np.object_], system: str) -> NDArray[np.object_]:
    """Move WGS 84 lon/lat geometries into ``system`` (to make test data, or for web maps)."""
    forward = {
        "gcj02": wgs84_to_gcj02,
        "bd09": lambda x, y: gcj02_to_bd09(*wgs84_to_gcj02(x, y)),
    }
    _check_system(system)
    return _apply(geoms, forward[system])


def estimate_offset(
    lines_lonlat: NDArray[np.object_],
    roads_metric: NDArray[np.object_],
    *,
    to_metric: object,
    sample: int = 400,
) -> OffsetEstimate:
    """Compare a WGS 84 layer with the city's roads as given and with each offset undone.

    Parameters
    ----------
    lines_lonlat
        The layer's geometries in WGS 84 longitude/latitude.
    roads_metric
        The city's road geometries in its metric CRS.
    to_metric
        ``f(lon, lat) -> (x, y)`` into the city's CRS (a pyproj ``Transformer.transform``).
    sample
        Vertices to compare (evenly taken from the layer).

    Returns
    -------
    OffsetEstimate
        ``system`` is the offset whose undoing brings the layer onto the roads
        (median distance at most :data:`ON_ROAD_M` and :data:`IMPROVEMENT_FACTOR` times
        closer than as given), else None; the shift is the mean move it undoes.
    """
    coords = shapely.get_coordinates(lines_lonlat)
    if len(coords) > sample:
        coords = coords[np.linspace(0, len(coords) - 1, sample).astype(int)]
    tree = shapely.STRtree(roads_metric)
    transform = to_metric  # a callable; typed loosely to keep pyproj out of the signature

    def median_distance(lon: FloatArray, lat: FloatArray) -> tuple[float, FloatArray]:
        x, y = transform(lon, lat)  # type: ignore[operator]
        points = shapely.points(np.column_stack([x, y]))
        _, distances = tree.query_nearest(points, return_distance=True, all_matches=False)
        return float(np.median(distances)), np.column_stack([x, y])

    given, at_given = median_distance(coords[:, 0], coords[:, 1])
    best: OffsetEstimate = OffsetEstimate(None, 0.0, 0.0, given, given)
    for system in OFFSET_SYSTEMS:
        lon, lat = _undo(system)(coords[:, 0], coords[:, 1])
        undone, at_undone = median_distance(lon, lat)
        if undone <= ON_ROAD_M and undone * IMPROVEMENT_FACTOR < given:
            shift = (at_given - at_undone).mean(axis=0)
            if best.system is None or undone < best.median_undone_m:
                best = OffsetEstimate(system, float(shift[0]), float(shift[1]), given, undone)
    return best


def _undo(system: str):  # type: ignore[no-untyped-def]
    _check_system(system)
    if system == "gcj02":
        return gcj02_to_wgs84
    return lambda x, y: gcj02_to_wgs84(*bd09_to_gcj02(x, y))


def _check_system(system: str) -> None:
    if system not in OFFSET_SYSTEMS:
        msg = f"unknown offset system {system!r}; expected one of {', '.join(OFFSET_SYSTEMS)}"
        raise ValueError(msg)


def _apply(geoms: NDArray[np.object_], move) -> NDArray[np.object_]:  # type: ignore[no-untyped-def]
    def moved(xy: FloatArray) -> FloatArray:
        x, y = move(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    result: NDArray[np.object_] = shapely.transform(geoms, moved)
    return result


def _in_china(lon: FloatArray, lat: FloatArray) -> NDArray[np.bool_]:
    return (lon > 73.66) & (lon < 135.05) & (lat > 3.86) & (lat < 53.55)


def _transform_lat(x: FloatArray, y: FloatArray) -> FloatArray:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * math.pi) + 40.0 * np.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * math.pi) + 320 * np.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: FloatArray, y: FloatArray) -> FloatArray:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * math.pi) + 40.0 * np.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * math.pi) + 300.0 * np.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


_ = BaseGeometry  # geometries cross in numpy arrays of shapely objects
