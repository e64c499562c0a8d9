"""Write layers for the tools a city's people use: QGIS, ArcGIS, Google Earth, Excel, CAD.

GeoPackage, Shapefile (UTF-8 or GBK, with a ``.cpg``), KML, GeoJSON and CSV with WKT go
through pyogrio (GDAL). DXF is written with ezdxf because GDAL's DXF writer puts every
feature on one layer in colour 7, leaves ``$MEASUREMENT`` imperial, writes UTF-8 names
under an ANSI_1252 header and has no text styles; a CAD user gets here one layer per
utility in the colours surveyors use, metric units, ``$DWGCODEPAGE`` ANSI_936 with an
R2000 file in GBK (read right by every AutoCAD and by GDAL), a Chinese text style and a
label on each line.
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely
from ezdxf import filemanagement

from geodata.crs import parse_crs
from geodata.errors import LayerReadError

__all__ = ["EXPORT_FORMATS", "UTILITY_COLOURS", "export_frame", "write_dxf"]

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
    frame = _flat(frame)
    if fmt == "dxf":
        return write_dxf(frame, path)
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
    if fmt == "gpkg":
        options["layer"] = layer
    pyogrio.write_dataframe(frame, path, driver=driver, **options)
    return path


def write_dxf(frame: gpd.GeoDataFrame, path: str | Path, *, label: str | None = None) -> Path:
    """Write lines as a DXF a CAD user can work with (see the module docstring).

    Each utility goes on its own layer (``JS_给水``...) in its colour; each line gets a
    text label (``label`` column, else utility and size) in the Chinese text style.
    """
    path = Path(path)
    doc = filemanagement.new("R2000", units=INSUNITS_METRES)
    doc.encoding = "gbk"
    doc.header["$MEASUREMENT"] = 1
    doc.header["$INSUNITS"] = INSUNITS_METRES
    doc.styles.add(TEXT_STYLE, font=TEXT_FONT)
    msp = doc.modelspace()
    utilities = frame["utility"] if "utility" in frame else pd.Series(["other"] * len(frame))
    for utility, geom, (_, row) in zip(utilities, frame.geometry, frame.iterrows(), strict=True):
        name = UTILITY_LAYERS.get(str(utility), str(utility) or "0")
        if name not in doc.layers:
            doc.layers.add(name, color=UTILITY_COLOURS.get(str(utility), 7))
        for part in getattr(geom, "geoms", [geom]):
            if part.geom_type == "LineString":
                msp.add_lwpolyline(list(part.coords), dxfattribs={"layer": name})
            elif part.geom_type == "Point":
                msp.add_point((part.x, part.y), dxfattribs={"layer": name})
            elif part.geom_type == "Polygon":
                msp.add_lwpolyline(
                    list(part.exterior.coords), close=True, dxfattribs={"layer": name}
                )
        text = _label(row, utility, label)
        where = shapely.line_interpolate_point(geom, 0.5, normalized=True) if geom.length else geom
        if text and where is not None and not where.is_empty:
            msp.add_text(
                text, height=LABEL_HEIGHT_M, dxfattribs={"layer": name, "style": TEXT_STYLE}
            ).set_placement((where.x, where.y))
    doc.saveas(path)
    return path


def _label(row: pd.Series, utility: Any, column: str | None) -> str:
    if column and column in row and pd.notna(row[column]):
        return str(row[column])
    size = row.get("diameter_mm")
    names = {"water": "给水", "drainage": "排水", "gas": "燃气", "heat": "热力", "power": "电力"}
    names |= {"telecom": "电信", "other": "其他"}
    text = names.get(str(utility), str(utility))
    return f"{text} DN{size:.0f}" if isinstance(size, float) and pd.notna(size) else text


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
    """Nested attributes (dicts) become JSON text: flat formats hold no objects."""
    import json  # noqa: PLC0415

    out = frame.copy()
    for name in out.columns:
        if name != out.geometry.name and out[name].map(lambda v: isinstance(v, dict | list)).any():
            out[name] = out[name].map(
                lambda v: json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v
            )
    return out
