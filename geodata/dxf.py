"""Read the lines of a CAD drawing (DXF) as surveyors deliver them, through ezdxf.

GDAL's DXF driver falls short on the drawings Chinese survey institutes deliver: it decodes
an AutoCAD 2007+ file by its ``$DWGCODEPAGE`` although such files are UTF-8 by definition
(``JS_给水`` came back as ``JS_缁欐按`` under ``ANSI_936``), it explodes blocks into loose
geometry and turns text into points, and it says nothing about what it left out. ezdxf
reads the header's version and code page as AutoCAD does (R2000-R2004 files in their
``$DWGCODEPAGE``, e.g. ANSI_936 as GBK; R2007+ as UTF-8) and gives each entity as it is.
One exception: an R2000-R2004 file that says ANSI_1252 but whose text is UTF-8 (GDAL writes
such files: ``JS_给水`` read as ``JS_ç»™æ°´``) is read as UTF-8, with a note.

Lines (LINE, LWPOLYLINE, POLYLINE, ARC, SPLINE, ELLIPSE) become LineStrings with their CAD
layer in ``cad_layer``; POINTs become Points. A text (TEXT, MTEXT) within
:data:`LABEL_DISTANCE` of a line labels it (``cad_label``: the surveyor's ``DN300 球墨铸铁``),
the nearest line of its own layer first; dimensions, blocks, hatches, texts far from any
line and the rest are counted and left out, and the count is returned as a note.
"""

from __future__ import annotations

import codecs
import logging
from collections import Counter
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from ezdxf import filemanagement
from ezdxf import path as dxf_path
from ezdxf.document import Drawing
from ezdxf.entities.dxfgfx import DXFGraphic
from ezdxf.entities.mtext import MText
from ezdxf.entities.polyline import Polyline
from ezdxf.entities.text import Text
from ezdxf.lldxf.const import DXF2007
from ezdxf.lldxf.const import DXFStructureError
from shapely.geometry.base import BaseGeometry

from geodata.errors import LayerReadError

__all__ = ["CAD_LINE_TYPES", "DXFDrawing", "read_dxf"]

logger = logging.getLogger(__name__)

CAD_LINE_TYPES = ("LINE", "LWPOLYLINE", "POLYLINE", "ARC", "SPLINE", "ELLIPSE")
# curves are cut into chords no further than this from the arc (drawing units, metres)
FLATTEN_DISTANCE = 0.01
# a text this close to a line (drawing units, metres) labels it
LABEL_DISTANCE = 10.0
# several labels of one line are joined with this
LABEL_SEPARATOR = " / "
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
        self,
        frame: gpd.GeoDataFrame,
        ignored: Counter[str],
        *,
        encoding: str,
        version: str,
        labelled: int = 0,
        recoded: bool = False,
    ) -> None:
        self.frame = frame
        self.ignored = ignored
        self.encoding = encoding
        self.version = version
        self.labelled = labelled
        # read as UTF-8 although the header says ANSI_1252 (see the module docstring)
        self.recoded = recoded

    def note(self) -> str | None:
        """One sentence on the texts taken as labels and the entities left out, or None."""
        parts = []
        if self.recoded:
            parts.append("编码 the header says ANSI_1252 but the text is UTF-8: read as UTF-8")
        if self.labelled:
            parts.append(
                f"{self.labelled} 文字 text taken as labels of the nearest line (cad_label)"
            )
        if self.ignored:
            listed = ", ".join(f"{count} {kind}" for kind, count in sorted(self.ignored.items()))
            parts.append(f"CAD entities left out (not network lines): {listed}")
        return "; ".join(parts) or None


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
        recoded = encoding is None and _utf8_under_ansi_1252(path, doc)
        if recoded:
            doc = filemanagement.readfile(path, encoding="utf-8")
    except (OSError, DXFStructureError, UnicodeDecodeError) as exc:
        msg = f"{shown}: cannot read as DXF ({exc})"
        raise LayerReadError(msg) from exc
    layers: list[str] = []
    kinds: list[str] = []
    handles: list[str] = []
    geoms: list[BaseGeometry] = []
    ignored: Counter[str] = Counter()
    texts: list[tuple[str, str, shapely.Point]] = []
    for entity in doc.modelspace():
        kind = entity.dxftype()
        text = _text(entity)
        if text is not None:
            texts.append(text)
            continue
        geom = _geometry(entity, kind)
        if geom is None:
            ignored[_ANNOTATION.get(kind, kind)] += 1
            continue
        layers.append(str(entity.dxf.layer))
        kinds.append(kind)
        handles.append(str(entity.dxf.handle))
        geoms.append(geom)
    labels, unplaced = _labels(texts, layers, geoms)
    ignored.update({_ANNOTATION["TEXT"]: unplaced} if unplaced else {})
    columns: dict[str, list[str | None]] = {
        "cad_layer": list(layers),
        "entity_type": list(kinds),
        "entityhandle": list(handles),
    }
    if any(label is not None for label in labels):
        columns["cad_label"] = labels
    frame = gpd.GeoDataFrame(columns, geometry=geoms)
    logger.info(
        "%s: %s (%s), %d entities read, %d texts as labels, %d left out",
        shown,
        doc.dxfversion,
        doc.encoding,
        len(frame),
        len(texts) - unplaced,
        sum(ignored.values()),
    )
    return DXFDrawing(
        frame,
        ignored,
        encoding="utf-8" if recoded else str(doc.encoding),
        version=str(doc.dxfversion),
        labelled=len(texts) - unplaced,
        recoded=recoded,
    )


def _utf8_under_ansi_1252(path: Path, doc: Drawing) -> bool:
    """Whether an R2000-R2004 text DXF declares ANSI_1252 but holds UTF-8 text.

    Text in the Western code page is almost never valid UTF-8 once it has a non-ASCII
    byte; text in UTF-8 always is.
    """
    if doc.dxfversion >= DXF2007 or codecs.lookup(doc.encoding).name != "cp1252":
        return False
    raw = path.read_bytes()
    if raw.startswith(b"AutoCAD Binary DXF") or raw.isascii():
        return False
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _text(entity: DXFGraphic) -> tuple[str, str, shapely.Point] | None:
    """A TEXT's or MTEXT's layer, plain text and insertion point; None for other entities."""
    if isinstance(entity, MText):
        content, at = entity.plain_text(split=False), entity.dxf.insert
    elif isinstance(entity, Text) and entity.dxftype() == "TEXT":  # not ATTDEF, a subclass
        content, at = entity.plain_text(), entity.get_placement()[1]
    else:
        return None
    return str(entity.dxf.layer), str(content).strip(), shapely.Point(at.x, at.y)


def _labels(
    texts: list[tuple[str, str, shapely.Point]], layers: list[str], geoms: list[BaseGeometry]
) -> tuple[list[str | None], int]:
    """Each line's labels (joined), and how many texts were near no line.

    A text labels the nearest line of its own layer within :data:`LABEL_DISTANCE`, else
    the nearest line of any layer within it.
    """
    found: list[list[str]] = [[] for _ in geoms]
    lines = np.array(
        [g if g.geom_type == "LineString" else shapely.LineString() for g in geoms], dtype=object
    )
    tree = shapely.STRtree(lines)
    unplaced = 0
    for layer, content, point in texts:
        near = tree.query(point, predicate="dwithin", distance=LABEL_DISTANCE)
        if not content or not len(near):
            unplaced += 1
            continue
        own = [k for k in near if layers[k] == layer]
        pool = np.asarray(own or near)
        nearest = int(pool[np.argmin(shapely.distance(lines[pool], point))])
        found[nearest].append(content)
    labels = [LABEL_SEPARATOR.join(f) if f else None for f in found]
    return labels, unplaced


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
