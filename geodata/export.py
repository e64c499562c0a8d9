"""Write layers for the tools a city's people use: QGIS, ArcGIS, Google Earth, Excel, CAD.

GeoPackage, Shapefile (UTF-8 or GBK, with a ``.cpg``), KML, GeoJSON and CSV with WKT go
through pyogrio (GDAL). DXF is written with ezdxf because GDAL's DXF writer puts every
feature on one layer in colour 7, leaves ``$MEASUREMENT`` imperial, writes UTF-8 names
under an ANSI_1252 header and has no text styles; a CAD user gets here one layer per
utility in the colours surveyors use, metric units, ``$DWGCODEPAGE`` ANSI_936 with an
R2000 file in GBK (read right by every AutoCAD and by GDAL), a Chinese text style and a
label on each line.

Proposals, co-location groups, trench plans and fixed routes are GeoJSON FeatureCollections
in the product; :func:`collection_frame` turns one into a frame for :func:`export_frame`
(its CRS from the caller, the collection's ``crs`` member, or WGS 84 as RFC 7946 says). A
trench several utilities share (``utilities`` of a plan edge, a group or a route) goes on
the DXF layer :data:`SHARED_LAYER`, labelled with the utilities it carries.
"""

from __future__ import annotations

import json
import logging
import math
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from ezdxf import filemanagement

from geodata.crs import crs_label
from geodata.crs import parse_crs
from geodata.errors import CRSError
from geodata.errors import LayerReadError
from geodata.utilities import default_vocabulary

__all__ = [
    "EXPORT_FORMATS",
    "SHARED_LAYER",
    "UTILITY_COLOURS",
    "collection_frame",
    "export_collection",
    "export_frame",
    "write_dxf",
]

logger = logging.getLogger(__name__)

# format name -> (file suffix, GDAL driver or None for ezdxf)
EXPORT_FORMATS: dict[str, tuple[str, str | None]] = {
    "gpkg": (".gpkg", "GPKG"),
    "shp": (".zip", "ESRI Shapefile"),
    "kml": (".kml", "KML"),
    "geojson": (".geojson", "GeoJSON"),
    "csv": (".csv", "CSV"),
    "dxf": (".dxf", None),
}
# AutoCAD colour index per utility, as Chinese pipeline surveys draw them (CJJ 61 colours:
# 给水 blue, 排水 brown, 燃气 magenta/pink, 热力 orange, 电力 red, 电信 green, other grey)
UTILITY_COLOURS: dict[str, int] = {
    "water": 5,
    "drainage": 34,
    "gas": 6,
    "heat": 30,
    "power": 1,
    "telecom": 3,
    "other": 8,
}
# CAD layer names per utility: survey code and Chinese name
UTILITY_LAYERS: dict[str, str] = {
    "water": "JS_给水",
    "drainage": "PS_排水",
    "gas": "RQ_燃气",
    "heat": "RL_热力",
    "power": "DL_电力",
    "telecom": "DX_电信",
    "other": "QT_其他",
}
# a trench several utilities share (同沟敷设): its own layer, labelled with the utilities
SHARED_LAYER = "TG_同沟"
SHARED_COLOUR = 7
# Chinese names for labels
UTILITY_NAMES_ZH: dict[str, str] = {
    "water": "给水",
    "drainage": "排水",
    "gas": "燃气",
    "heat": "热力",
    "power": "电力",
    "telecom": "电信",
    "other": "其他",
}
TEXT_STYLE = "中文"
TEXT_FONT = "simsun.ttc"
LABEL_HEIGHT_M = 1.5
DBF_NAME_BYTES = 10
# $INSUNITS 6 = metres; $MEASUREMENT 1 = metric
INSUNITS_METRES = 6


def export_frame(
    frame: gpd.GeoDataFrame,
    path: str | Path,
    *,
    fmt: str,
    layer: str = "layer",
    crs: Any = None,
    encoding: str = "utf-8",
) -> Path:
    """Write a frame in ``fmt`` (one of :data:`EXPORT_FORMATS`) and return the file.

    ``crs`` reprojects first (KML and GeoJSON are always WGS 84); a Shapefile is a zip of
    its parts with a ``.cpg`` naming ``encoding`` (``utf-8`` or ``gbk``).

    Raises
    ------
    LayerReadError
        If the format is unknown or the frame has no CRS.
    """
    if fmt not in EXPORT_FORMATS:
        msg = f"unknown export format {fmt!r}; expected one of {', '.join(EXPORT_FORMATS)}"
        raise LayerReadError(msg)
    if frame.crs is None:
        msg = "the frame has no CRS; cannot export it"
        raise LayerReadError(msg)
    path = Path(path)
    if fmt in ("kml", "geojson"):
        frame = frame.to_crs(4326)
    elif crs is not None:
        frame = frame.to_crs(parse_crs(crs))
    if fmt == "dxf":
        if not parse_crs(frame.crs).is_projected:
            msg = (
                f"a DXF is drawn in metres, but the data are in {crs_label(frame.crs)} "
                "(degrees); give crs= the city's CGCS2000 zone, e.g. EPSG:4551"
            )
            raise CRSError(msg)
        return write_dxf(frame, path)
    frame = _flat(frame)
    _, driver = EXPORT_FORMATS[fmt]
    if fmt == "shp":
        folder = path.with_suffix("")
        folder.mkdir(parents=True, exist_ok=True)
        shp = folder / f"{layer}.shp"
        frame = frame.rename(columns=_dbf_names(frame, encoding))
        pyogrio.write_dataframe(frame, shp, driver=driver, encoding=encoding.upper())
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for part in sorted(folder.glob(f"{layer}.*")):
                archive.write(part, part.name)
        return path
    options: dict[str, Any] = {}
    if fmt == "csv":
        options["layer_options"] = {"GEOMETRY": "AS_WKT"}
    if fmt == "geojson":
        # RFC 7946: lon/lat without a crs member, counter-clockwise rings, 7 decimals
        options["layer_options"] = {"RFC7946": "YES"}
    if fmt == "gpkg":
        options["layer"] = layer
    pyogrio.write_dataframe(frame, path, driver=driver, **options)
    return path


def write_dxf(frame: gpd.GeoDataFrame, path: str | Path, *, label: str | None = None) -> Path:
    """Write lines as a DXF a CAD user can work with (see the module docstring).

    Each utility goes on its own layer (``JS_给水``...; a survey code kept in ``attrs`` gives
    its own: ``YS_雨水`` and ``WS_污水`` apart) in its colour, a trench several utilities
    share (``utilities`` with more than one) on :data:`SHARED_LAYER`; each line
    gets a text label (``label`` column, else the utilities and size) in the Chinese text
    style. Features without geometry are left out.
    """
    path = Path(path)
    doc = filemanagement.new("R2000", units=INSUNITS_METRES)
    doc.encoding = "gbk"
    doc.header["$MEASUREMENT"] = 1
    doc.header["$INSUNITS"] = INSUNITS_METRES
    doc.styles.add(TEXT_STYLE, font=TEXT_FONT)
    msp = doc.modelspace()
    for geom, (_, row) in zip(frame.geometry, frame.iterrows(), strict=True):
        if geom is None or geom.is_empty:
            continue
        utilities = _utilities(row)
        name, colour = _dxf_layer(utilities, row)
        if name not in doc.layers:
            doc.layers.add(name, color=colour)
        for part in getattr(geom, "geoms", [geom]):
            if part.geom_type == "LineString":
                msp.add_lwpolyline(list(part.coords), dxfattribs={"layer": name})
            elif part.geom_type == "Point":
                msp.add_point((part.x, part.y), dxfattribs={"layer": name})
            elif part.geom_type == "Polygon":
                msp.add_lwpolyline(
                    list(part.exterior.coords), close=True, dxfattribs={"layer": name}
                )
        text = _label(row, utilities, label)
        if text:
            (x, y), angle = _label_place(geom)
            msp.add_text(
                text,
                height=LABEL_HEIGHT_M,
                rotation=angle,
                dxfattribs={"layer": name, "style": TEXT_STYLE},
            ).set_placement((x, y))
    doc.saveas(path)
    return path


def _label_place(geom: Any) -> tuple[tuple[float, float], float]:
    """Where a label goes and its angle (degrees): mid-line along it, kept upright."""
    if geom.geom_type not in ("LineString", "MultiLineString") or not geom.length:
        point = geom.representative_point()
        return (point.x, point.y), 0.0
    middle = geom.length / 2
    step = min(LABEL_HEIGHT_M, middle)
    before, at, after = (
        shapely.line_interpolate_point(geom, d) for d in (middle - step, middle, middle + step)
    )
    angle = math.degrees(math.atan2(after.y - before.y, after.x - before.x))
    # a text reads left to right: one pointing backwards is turned by half a turn
    if angle > 90:
        angle -= 180
    elif angle <= -90:
        angle += 180
    return (at.x, at.y), angle


def collection_frame(collection: Mapping[str, Any], *, crs: Any = None) -> gpd.GeoDataFrame:
    """A GeoJSON FeatureCollection (proposals, groups, a plan's edges, a route) as a frame.

    The CRS is ``crs``, else the collection's ``crs`` member (a name such as
    ``"EPSG:4551"``, or the legacy ``{"type": "name", ...}``), else WGS 84. A feature's
    ``id`` becomes ``feature_id`` unless its properties have one.

    Raises
    ------
    LayerReadError
        If it is not a FeatureCollection.
    """
    if collection.get("type") != "FeatureCollection":
        msg = f"not a GeoJSON FeatureCollection (type {collection.get('type')!r})"
        raise LayerReadError(msg)
    features = list(collection.get("features") or [])
    declared = collection.get("crs")
    if isinstance(declared, Mapping):
        declared = (declared.get("properties") or {}).get("name")
    target = parse_crs(crs if crs is not None else declared or "EPSG:4326")
    frame = gpd.GeoDataFrame.from_features(features, crs=target)
    if "id" not in frame.columns and any("id" in f for f in features):
        frame.insert(0, "feature_id", [f.get("id") for f in features])
    return frame


def export_collection(
    collection: Mapping[str, Any],
    path: str | Path,
    *,
    fmt: str,
    layer: str = "layer",
    source_crs: Any = None,
    crs: Any = None,
    encoding: str = "utf-8",
) -> Path:
    """Write a FeatureCollection in ``fmt``: :func:`collection_frame`, then :func:`export_frame`.

    ``source_crs`` is the collection's CRS when it does not say (a fixed route is stored
    with its CRS beside it); ``crs`` the CRS to write in (a DXF needs a metric one).
    """
    frame = collection_frame(collection, crs=source_crs)
    return export_frame(frame, path, fmt=fmt, layer=layer, crs=crs, encoding=encoding)


def _utilities(row: pd.Series) -> tuple[str, ...]:
    """A feature's utilities: ``utilities`` (list, JSON or comma text), else ``utility``."""
    value = row.get("utilities")
    if isinstance(value, str):
        text = value.strip()
        try:
            value = json.loads(text) if text.startswith("[") else text.split(",")
        except json.JSONDecodeError:
            value = text.strip("[]").split(",")
    if isinstance(value, list | tuple | np.ndarray):
        found = tuple(dict.fromkeys(str(v).strip() for v in value if str(v).strip()))
        if found:
            return found
    single = row.get("utility")
    return (str(single),) if isinstance(single, str) and single else ("other",)


def _dxf_layer(utilities: tuple[str, ...], row: pd.Series) -> tuple[str, int]:
    """The CAD layer and colour of a line: its survey code's layer (``YS_雨水``, ``LD_路灯``)
    when the line has one, else its utility's, or :data:`SHARED_LAYER` for several."""
    if len(utilities) > 1:
        return SHARED_LAYER, SHARED_COLOUR
    (utility,) = utilities
    colour = UTILITY_COLOURS.get(utility, 7)
    attrs = row.get("attrs")
    code = attrs.get("survey_code") if isinstance(attrs, Mapping) else None
    term = default_vocabulary().codes.get(str(code).lower()) if code else None
    if term is not None and term.utility == utility:
        return f"{term.code}_{term.name_zh}", colour
    return UTILITY_LAYERS.get(utility, utility or "0"), colour


def _label(row: pd.Series, utilities: tuple[str, ...], column: str | None) -> str:
    if column and column in row and pd.notna(row[column]):
        return str(row[column])
    text = "+".join(UTILITY_NAMES_ZH.get(u, u) for u in utilities)
    if len(utilities) > 1:
        return f"同沟 {text}"
    size = _size_text(row)
    return f"{text} {size}" if size else text


def _size_text(row: pd.Series) -> str | None:
    """A line's size for its label: as the survey wrote it (De110, 600×400, 12孔), else DN."""
    attrs = row.get("attrs")
    attrs = attrs if isinstance(attrs, Mapping) else {}
    size = row.get("diameter_mm")
    has_size = isinstance(size, float | int) and pd.notna(size)
    written = attrs.get("source_size")
    if isinstance(written, str) and (has_size or "duct_holes" in attrs):
        return written.strip()
    return f"DN{size:.0f}" if has_size else None


def _dbf_names(frame: gpd.GeoDataFrame, encoding: str) -> dict[str, str]:
    """Field names cut to the DBF's 10 bytes here, not by GDAL (which warns), kept unique."""
    renames: dict[str, str] = {}
    taken: set[str] = set()
    for name in frame.columns:
        if name == frame.geometry.name:
            continue
        cut = str(name)
        while len(cut.encode(encoding, errors="replace")) > DBF_NAME_BYTES:
            cut = cut[:-1]
        base, n = cut, 1
        while cut in taken:
            suffix = str(n)
            cut = base[: len(base) - len(suffix)] + suffix
            n += 1
        taken.add(cut)
        if cut != name:
            renames[str(name)] = cut
    return renames


def _flat(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Nested attributes (dicts, lists) become JSON text: flat formats hold no objects."""
    out = frame.copy()
    for name in out.columns:
        if name != out.geometry.name and out[name].map(lambda v: isinstance(v, dict | list)).any():
            out[name] = out[name].map(
                lambda v: json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v
            )
    return out
