"""Read the lines of a CAD drawing (DXF) as surveyors deliver them, through ezdxf.

GDAL's DXF driver falls short on the drawings Chinese survey institutes deliver: it decodes
an AutoCAD 2007+ file by its ``$DWGCODEPAGE`` although such files are UTF-8 by definition
(``JS_给水`` came back as ``JS_缁欐按`` under ``ANSI_936``), it explodes blocks into loose
geometry and turns text into points, and it says nothing about what it left out. ezdxf
reads the header's version and code page as AutoCAD does (R2000-R2004 files in their
``$DWGCODEPAGE``, e.g. ANSI_936 as GBK; R2007+ as UTF-8) and gives each entity as it is.

Lines (LINE, LWPOLYLINE, POLYLINE, ARC, SPLINE, ELLIPSE) become LineStrings with their CAD
layer in ``cad_layer``; POINTs become Points; text, dimensions, blocks, hatches and the
rest are counted and left out, and the count is returned as a note.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import geopandas as gpd
import shapely
from ezdxf import filemanagement
from ezdxf import path as dxf_path
from ezdxf.entities.dxfgfx import DXFGraphic
from ezdxf.entities.polyline import Polyline
from ezdxf.lldxf.const import DXFStructureError
from shapely.geometry.base import BaseGeometry

from geodata.errors import LayerReadError

__all__ = ["CAD_LINE_TYPES", "DXFDrawing", "read_dxf"]

logger = logging.getLogger(__name__)

CAD_LINE_TYPES = ("LINE", "LWPOLYLINE", "POLYLINE", "ARC", "SPLINE", "ELLIPSE")
# curves are cut into chords no further than this from the arc (drawing units, metres)
FLATTEN_DISTANCE = 0.01
# entities that carry annotation, not network geometry: left out with a note
_ANNOTATION = {
    "TEXT": "文字 text",
    "MTEXT": "多行文字 text",
    "DIMENSION": "标注 dimension",
    "ARC_DIMENSION": "标注 dimension",
    "INSERT": "图块 block",
    "HATCH": "填充 hatch",
    "LEADER": "引线 leader",
    "MLEADER": "引线 leader",
    "MULTILEADER": "引线 leader",
    "ATTDEF": "属性 attribute",
    "CIRCLE": "圆 circle",
    "SOLID": "实体 solid",
}


class DXFDrawing:
    """The usable entities of a drawing: ``frame`` (no CRS) and what was left out."""

    def __init__(
        self, frame: gpd.GeoDataFrame, ignored: Counter[str], encoding: str, version: str
    ) -> None:
        self.frame = frame
        self.ignored = ignored
        self.encoding = encoding
        self.version = version

    def note(self) -> str | None:
        """One sentence on the entities left out, or None when none were."""
        if not self.ignored:
            return None
        listed = ", ".join(f"{count} {kind}" for kind, count in sorted(self.ignored.items()))
        return f"CAD entities left out (not network lines): {listed}"


def read_dxf(
    path: str | Path, *, shown: str | None = None, encoding: str | None = None
) -> DXFDrawing:
    """Read a DXF's model space: lines (and points) with their layer names.

    Parameters
    ----------
    path
        The ``.dxf`` file (ASCII or binary DXF, any version ezdxf reads).
    shown
        The file name for messages.
    encoding
        The text encoding of an R2000-R2004 drawing whose ``$DWGCODEPAGE`` is wrong
        (``"gbk"``); R2007+ drawings are UTF-8 whatever is given.

    Returns
    -------
    DXFDrawing
        ``frame`` has ``cad_layer``, ``entity_type``, ``entityhandle`` and the geometry (no
        CRS: DXF has none); ``ignored`` counts the entities left out by kind.

    Raises
    ------
    LayerReadError
        If the file is not a DXF ezdxf can read.
    """
    path = Path(path)
    shown = shown or path.name
    try:
        doc = filemanagement.readfile(path, encoding=encoding)
    except (OSError, DXFStructureError, UnicodeDecodeError) as exc:
        msg = f"{shown}: cannot read as DXF ({exc})"
        raise LayerReadError(msg) from exc
    layers: list[str] = []
    kinds: list[str] = []
    handles: list[str] = []
    geoms: list[BaseGeometry] = []
    ignored: Counter[str] = Counter()
    for entity in doc.modelspace():
        kind = entity.dxftype()
        geom = _geometry(entity, kind)
        if geom is None:
            ignored[_ANNOTATION.get(kind, kind)] += 1
            continue
        layers.append(str(entity.dxf.layer))
        kinds.append(kind)
        handles.append(str(entity.dxf.handle))
        geoms.append(geom)
    frame = gpd.GeoDataFrame(
        {"cad_layer": layers, "entity_type": kinds, "entityhandle": handles}, geometry=geoms
    )
    logger.info(
        "%s: %s (%s), %d entities read, %d left out",
        shown,
        doc.dxfversion,
        doc.encoding,
        len(frame),
        sum(ignored.values()),
    )
    return DXFDrawing(frame, ignored, encoding=str(doc.encoding), version=str(doc.dxfversion))


def _geometry(entity: DXFGraphic, kind: str) -> BaseGeometry | None:
    if kind == "POINT":
        x, y, *_ = entity.dxf.location
        return shapely.Point(x, y)
    if kind == "LINE":
        start, end = entity.dxf.start, entity.dxf.end
        return shapely.LineString([(start.x, start.y), (end.x, end.y)])
    if kind not in CAD_LINE_TYPES:
        return None
    if isinstance(entity, Polyline) and (entity.is_poly_face_mesh or entity.is_polygon_mesh):
        return None
    drawn = dxf_path.make_path(entity)
    points = [(v.x, v.y) for v in drawn.flattening(FLATTEN_DISTANCE)]
    if len(points) < 2:
        return None
    return shapely.LineString(points)
