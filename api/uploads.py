"""Parse the query and upload parts that several routers share."""

from __future__ import annotations

import shutil
from pathlib import Path

from fastapi import UploadFile

from geodata.errors import InvalidBBoxError
from geodata.errors import LayerReadError
from geodata.layers import READ_FORMATS

__all__ = ["parse_bbox", "save_uploads"]

_SHAPEFILE_PARTS = {".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".qmd"}


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """Parse ``minx,miny,maxx,maxy``; raise :class:`InvalidBBoxError` naming the text."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or values[0] > values[2] or values[1] > values[3]:
        msg = f"bbox {text!r} must be minx,miny,maxx,maxy with min <= max"
        raise InvalidBBoxError(msg)
    return values


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
