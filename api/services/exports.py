"""Export what cotrench stores as GIS files: one function per thing, one writer for all.

Layers (base data and proposed lines), a city's co-location groups, a plan's trench and an
application's fixed route are each written by :func:`geodata.export.export_frame` in any of
its formats: GeoPackage, Shapefile (zip; UTF-8 or GBK with ``.cpg``), KML, GeoJSON, CSV with
WKT, and a DXF a CAD user can work with. The API's download endpoints and ``cotrench
export`` call these functions, so both write the same file.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import geopandas as gpd
from sqlalchemy.orm import Session

from geodata import storage
from geodata.colocation_store import groups_geojson
from geodata.export import EXPORT_FORMATS
from geodata.export import collection_frame
from geodata.export import export_frame
from geodata.plan_store import get_plan
from geodata.storage import CityInfo
from routing.results import TrenchPlan

# a file's suffix -> the format it is written in (a .zip is a zipped Shapefile)
_SUFFIX_FORMAT = {
    ".gpkg": "gpkg",
    ".zip": "shp",
    ".kml": "kml",
    ".geojson": "geojson",
    ".json": "geojson",
    ".csv": "csv",
    ".dxf": "dxf",
}

__all__ = [
    "EXPORT_MEDIA",
    "Encoding",
    "Export",
    "ExportFormat",
    "export_groups",
    "export_layer",
    "export_plan",
    "export_route",
    "export_route_version",
    "format_of",
    "write_export",
]


class ExportFormat(StrEnum):
    """The formats a download may ask for (``format=``)."""

    gpkg = "gpkg"
    shp = "shp"
    kml = "kml"
    geojson = "geojson"
    csv = "csv"
    dxf = "dxf"


class Encoding(StrEnum):
    """A Shapefile's text encoding (``.cpg``)."""

    utf8 = "utf-8"
    gbk = "gbk"


# media type per export format
EXPORT_MEDIA = {
    "gpkg": "application/geopackage+sqlite3",
    "shp": "application/zip",
    "kml": "application/vnd.google-earth.kml+xml",
    "geojson": "application/geo+json",
    "csv": "text/csv; charset=utf-8",
    "dxf": "image/vnd.dxf",
}


@dataclass(frozen=True)
class Export:
    """A written file: its bytes, a file name to offer and its media type."""

    data: bytes
    filename: str
    media_type: str


def write_export(
    frame: gpd.GeoDataFrame,
    name: str,
    *,
    fmt: str,
    layer: str,
    crs: Any = None,
    encoding: str = "utf-8",
) -> Export:
    """Write ``frame`` as ``fmt`` (in ``crs``, else the frame's) into a file called ``name``."""
    suffix = EXPORT_FORMATS[fmt][0]
    with tempfile.TemporaryDirectory(prefix="cotrench-export-") as tmp:
        path = export_frame(
            frame, Path(tmp) / f"export{suffix}", fmt=fmt, layer=layer, crs=crs, encoding=encoding
        )
        data = path.read_bytes()
    return Export(data, f"{name}{suffix}", EXPORT_MEDIA[fmt])


def export_layer(
    session: Session, layer_id: int, *, fmt: str, crs: Any = None, encoding: str = "utf-8"
) -> Export:
    """A stored layer, in the city's CRS unless ``crs`` says otherwise."""
    info = storage.get_layer(session, layer_id)
    frame = storage.read_features(session, city=info.city, kind=info.kind, layer_id=layer_id)
    frame = frame.drop(columns=["layer_id", "city_id", "srid"], errors="ignore")
    return write_export(
        frame, f"{info.kind}-{layer_id}", fmt=fmt, layer=info.kind, crs=crs, encoding=encoding
    )


def export_groups(
    session: Session, city: CityInfo, *, fmt: str, crs: Any = None, encoding: str = "utf-8"
) -> Export:
    """A city's co-location groups (in the city's CRS unless ``crs`` says otherwise)."""
    frame = collection_frame(groups_geojson(session, city=city.name), crs="EPSG:4326")
    frame = frame.to_crs(city.crs)
    return write_export(
        frame,
        f"{city.name}-colocation-groups",
        fmt=fmt,
        layer="colocation_groups",
        crs=crs,
        encoding=encoding,
    )


def export_plan(
    session: Session,
    plan_key: str,
    *,
    version: int | None = None,
    fmt: str,
    crs: Any = None,
    encoding: str = "utf-8",
) -> Export:
    """A plan's trench edges, one feature per edge with its utilities (the city's CRS)."""
    stored = get_plan(session, plan_key, version)
    plan = TrenchPlan.from_dict(stored.result)
    if plan.crs is None:
        frame = collection_frame(plan.to_geojson(to_crs="EPSG:4326"), crs="EPSG:4326")
    else:
        frame = collection_frame(plan.to_geojson(), crs=plan.crs)
    return write_export(
        frame,
        f"plan-{plan_key}-v{stored.version}",
        fmt=fmt,
        layer="trench",
        crs=crs,
        encoding=encoding,
    )


def export_route(
    session: Session,
    application_id: int,
    *,
    fmt: str,
    crs: Any = None,
    encoding: str = "utf-8",
) -> Export:
    """An application's fixed route (its latest version): one feature per trench segment.

    Raises
    ------
    NotFoundError
        No such application.
    PreconditionError
        It has no fixed route yet.
    """
    from api.approvals.errors import PreconditionError  # noqa: PLC0415 - api.services is late
    from api.approvals.models import Application  # noqa: PLC0415
    from api.approvals.queries import latest_route  # noqa: PLC0415
    from api.approvals.service import get_or_404  # noqa: PLC0415

    app = get_or_404(session, Application, application_id)
    route = latest_route(session, app.id)
    if route is None:
        msg = f"申请 {app.number} 尚无确定的路由 / application {app.number} has no fixed route yet"
        raise PreconditionError(msg, ["route"])
    return export_route_version(app, route, fmt=fmt, crs=crs, encoding=encoding)


def export_route_version(
    app: Any, route: Any, *, fmt: str, crs: Any = None, encoding: str = "utf-8"
) -> Export:
    """One version of an application's route (the caller has authorised reading it)."""
    from api.services.analysis import version_frames  # noqa: PLC0415 - api.services is late

    frames = version_frames(app, route)
    return write_export(
        frames.edges,
        f"{app.number}-route-v{route.version_no}",
        fmt=fmt,
        layer="trench",
        crs=crs,
        encoding=encoding,
    )


def format_of(path: Path, fmt: str | None = None) -> str:
    """The export format named, else the one a file's suffix stands for.

    >>> format_of(Path("roads.zip")), format_of(Path("x.dat"), "csv")
    ('shp', 'csv')
    """
    if fmt:
        return ExportFormat(fmt).value
    try:
        return _SUFFIX_FORMAT[path.suffix.lower()]
    except KeyError:
        known = ", ".join(sorted(_SUFFIX_FORMAT))
        msg = f"{path.name}: 无法由扩展名判断格式 / no format for this suffix (give one of {known})"
        raise ValueError(msg) from None
