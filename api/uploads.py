"""Parse the query and upload parts that several routers share."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

from fastapi import UploadFile

from geodata.crs import parse_crs
from geodata.errors import CRSError
from geodata.errors import InvalidBBoxError
from geodata.errors import LayerReadError
from geodata.layers import READ_FORMATS

__all__ = ["parse_bbox", "save_uploads"]

_SHAPEFILE_PARTS = {".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".qmd"}


def parse_bbox(
    text: str, *, crs: str = "EPSG:4326", name: str = "bbox"
) -> tuple[float, float, float, float]:
    """Parse ``minx,miny,maxx,maxy``; raise :class:`InvalidBBoxError` naming the parameter.

    In a geographic ``crs`` (lon/lat, the default) a latitude beyond ±90 is refused with a
    hint when the box reads as lat,lon (the order of many Chinese web maps' APIs).

    >>> parse_bbox("126.6,45.7,126.7,45.8")
    (126.6, 45.7, 126.7, 45.8)
    >>> parse_bbox("45.7,126.6,45.8,126.7")
    Traceback (most recent call last):
    ...
    geodata.errors.InvalidBBoxError: bbox '45.7,126.6,45.8,126.7': 纬度超出 ±90 ...
    """
    parts = text.split(",")
    try:
        values = tuple(float(v) for v in parts)
    except ValueError:
        values = ()
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        msg = (
            f"{name} {text!r}: 应为四个数 minx,miny,maxx,maxy / must be four numbers "
            "minx,miny,maxx,maxy"
        )
        raise InvalidBBoxError(msg)
    x0, y0, x1, y1 = values
    if x0 > x1 or y0 > y1:
        msg = f"{name} {text!r}: 最小值应不大于最大值 / must have min <= max (minx,miny,maxx,maxy)"
        raise InvalidBBoxError(msg)
    if _geographic(crs):
        if max(abs(y0), abs(y1)) > 90:
            hint = ""
            if max(abs(x0), abs(x1)) <= 90 and max(abs(y0), abs(y1)) <= 180:
                hint = (
                    f"; 看起来是 纬度,经度 顺序，请写 经度,纬度：{y0},{x0},{y1},{x1} / "
                    f"it looks like lat,lon: write lon,lat, i.e. {y0},{x0},{y1},{x1}"
                )
            msg = f"{name} {text!r}: 纬度超出 ±90 / latitude (miny, maxy) beyond ±90 in {crs}{hint}"
            raise InvalidBBoxError(msg)
        if max(abs(x0), abs(x1)) > 180:
            msg = f"{name} {text!r}: 经度超出 ±180 / longitude (minx, maxx) beyond ±180 in {crs}"
            raise InvalidBBoxError(msg)
    return values


def _geographic(crs: str) -> bool:
    try:
        return bool(parse_crs(crs).is_geographic)
    except CRSError:
        return False  # the query that uses the CRS names the problem


def save_uploads(files: list[UploadFile], into: Path) -> Path:
    """Save uploaded parts into ``into``; return the one data file (or .zip) to read."""
    saved: list[Path] = []
    for upload in files:
        name = Path(upload.filename or "").name
        if not name or name in {".", ".."}:
            msg = "an uploaded file has no name"
            raise LayerReadError(msg)
        target = into / name
        with target.open("wb") as out:
            shutil.copyfileobj(upload.file, out)
        saved.append(target)
    if len(saved) == 1:
        return saved[0]
    data = [p for p in saved if p.suffix.lower() in {*READ_FORMATS, ".zip"}]
    parts = {p.suffix.lower() for p in saved}
    if len(data) == 1 and (data[0].suffix.lower() != ".shp" or parts <= _SHAPEFILE_PARTS):
        return data[0]
    names = ", ".join(p.name for p in saved)
    msg = (
        f"uploaded {names}: send one data file, a .zip, or one shapefile set "
        "(.shp with .shx, .dbf, .prj, .cpg)"
    )
    raise LayerReadError(msg)
