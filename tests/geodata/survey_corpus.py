"""Write the files a city's survey institute delivers, built from the sample area's roads.

Each builder returns the path it wrote. The lines run along real roads of the sample area
(Harbin), a few metres off the centre line, as surveyed pipes do.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import ezdxf
import geopandas as gpd
import numpy as np
import shapely

from tests.helpers import read_sample

# CGCS2000 3-degree Gauss-Kruger zone with central meridian 126E (Harbin), EPSG:4551, no zone prefix
HARBIN_GK = "EPSG:4551"
# (type value as surveyors write it, 管径, expected utility, expected subtype)
SURVEY_ROWS: tuple[tuple[str, object, str, str | None], ...] = (
    ("JS给水", "DN300", "water", None),
    ("YS", "Φ600", "drainage", "storm"),
    ("WS污水", "de400", "drainage", "sewer"),
    ("PS", "1000×800", "drainage", None),
    ("RQ燃气", "DN200", "gas", None),
    ("RL热力", "2×DN500", "heat", None),
    ("DL", "600×400", "power", None),
    ("DX电信", "0", "telecom", None),
    ("中水", "DN150", "water", "reclaimed"),
    ("LD路灯", "", "other", "street_lighting"),
)


def survey_lines(n: int | None = None, *, crs: str = "EPSG:4326") -> gpd.GeoDataFrame:
    """Lines along the first ``n`` long roads of the sample area, offset 3 m, in ``crs``."""
    roads = read_sample("roads").to_crs(HARBIN_GK)
    roads = roads[roads.length > 60].reset_index(drop=True)
    count = len(roads) if n is None else n
    lines = shapely.offset_curve(roads.geometry.to_numpy()[:count], 3.0)
    frame = gpd.GeoDataFrame(geometry=list(lines), crs=HARBIN_GK)
    return frame.to_crs(crs)


def gbk_shapefile(folder: Path, *, name: str = "管线") -> Path:
    """A GBK shapefile with survey codes, sizes as text and a name cut by the DBF limit.

    ``权属单位名称`` is 12 bytes in GBK; the DBF keeps ``权属单位名``.
    """
    rows = [r for r in SURVEY_ROWS if r[1] != "2×DN500"]
    frame = survey_lines(len(rows))
    frame["编号"] = [f"GX{k:03d}" for k in range(len(rows))]
    frame["管线类型"] = [r[0] for r in rows]
    frame["管径"] = [str(r[1]) for r in rows]
    frame["材质"] = ["球墨铸铁"] * len(rows)
    frame["埋深"] = ["1.8"] * len(rows)
    frame["权属单位名称"] = ["哈尔滨供排水集团"] * len(rows)
    return _write_shapefile(frame, folder / f"{name}.shp", "GBK")


def utf8_shapefile(folder: Path, *, name: str = "pipes_utf8") -> Path:
    """A UTF-8 shapefile whose ``管线类型`` the DBF cut to ``管线类`` plus a stray byte."""
    rows = [r for r in SURVEY_ROWS if r[1] != "2×DN500"]
    frame = survey_lines(len(rows))
    frame["管线类型"] = [r[0] for r in rows]
    frame["管径"] = [0.0 if r[1] in ("0", "") else 300.0 for r in rows]
    frame["权属单位"] = ["国网哈尔滨供电公司"] * len(rows)
    return _write_shapefile(frame, folder / f"{name}.shp", "UTF-8")


def gbk_zip(folder: Path, shapefile: Path, *, name: str = "测绘成果.zip") -> Path:
    """Zip a shapefile set with GBK member names and no UTF-8 flag, as Windows does."""
    path = folder / name
    with zipfile.ZipFile(path, "w") as archive:
        for part in sorted(shapefile.parent.glob(f"{shapefile.stem}.*")):
            info = _GBKZipInfo(f"成果/{part.name}")
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, part.read_bytes())
    return path


class _GBKZipInfo(zipfile.ZipInfo):
    """A member whose name is stored in GBK without the UTF-8 flag (Windows' zip)."""

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:  # noqa: N802 (zipfile's name)
        return self.filename.encode("gbk"), self.flag_bits & ~0x800


# CAD layer -> (utility, subtype) of the lines drawn on it
CAD_LAYERS: dict[str, tuple[str, str | None]] = {
    "JS_给水": ("water", None),
    "YS_雨水": ("drainage", "storm"),
    "WS_污水": ("drainage", "sewer"),
    "RQ": ("gas", None),
    "DL": ("power", None),
    "DX_电信": ("telecom", None),
}


def cad_drawing(folder: Path, *, version: str = "R2010", name: str = "管线图.dxf") -> Path:
    """A surveyor's drawing: one layer per utility, ANSI_936, labels, a dimension, blocks.

    Coordinates are CGCS2000 GK (EPSG:4550, metres); the lines have no attributes.
    """
    doc = ezdxf.new(version, setup=True)
    doc.encoding = "gbk"  # ezdxf writes $DWGCODEPAGE ANSI_936 for it
    msp = doc.modelspace()
    block = doc.blocks.new("阀门")
    block.add_circle((0, 0), 0.5)
    lines = survey_lines(len(CAD_LAYERS), crs=HARBIN_GK).geometry
    for (layer, _), line in zip(CAD_LAYERS.items(), lines, strict=True):
        doc.layers.add(layer)
        points = list(line.coords)
        msp.add_lwpolyline(points, dxfattribs={"layer": layer})
        middle = line.interpolate(0.5, normalized=True)
        msp.add_text(f"{layer} DN300 球墨铸铁", dxfattribs={"layer": layer}).set_placement(
            (middle.x, middle.y)
        )
        msp.add_blockref("阀门", points[0], dxfattribs={"layer": layer})
        msp.add_point(points[-1], dxfattribs={"layer": layer})
    first = list(lines.iloc[0].coords)
    msp.add_linear_dim(base=(first[0][0], first[0][1] + 5), p1=first[0], p2=first[1]).render()
    path = folder / name
    doc.saveas(path)
    return path


def shifted(frame: gpd.GeoDataFrame, offset_deg: tuple[float, float]) -> gpd.GeoDataFrame:
    """The frame moved by a constant lon/lat offset (helper for hand-made shifts)."""
    moved = shapely.transform(frame.geometry.to_numpy(), lambda xy: xy + np.asarray(offset_deg))
    return gpd.GeoDataFrame(frame.drop(columns="geometry"), geometry=list(moved), crs=frame.crs)


def _write_shapefile(frame: gpd.GeoDataFrame, path: Path, encoding: str) -> Path:
    with warnings.catch_warnings():
        # GDAL says it cut the long field names: that is the point of the file
        warnings.filterwarnings("ignore", message=".*(laundered|decode error message).*")
        frame.to_file(path, engine="pyogrio", encoding=encoding)
    return path


# a survey sheet's CAD layers -> (utility, subtype); the spellings vary as drawn
SHEET_LAYERS: dict[str, tuple[str, str | None]] = {
    "JS_给水": ("water", None),
    "YS-雨水": ("drainage", "storm"),
    "WS污水": ("drainage", "sewer"),
    "PS": ("drainage", None),
    "RQ": ("gas", None),
    "DL": ("power", None),
    "ＤＸ 通信": ("telecom", None),
    "LD路灯": ("other", "street_lighting"),
}
# the labels each line gets: a TEXT beside it (size and material, as surveyors write them,
# in the order of SHEET_LAYERS) and, on every other line, an MTEXT too
SHEET_TEXTS = (
    "DN300 球墨铸铁",
    "1000×800 砼",
    "De400 PVC",
    "Φ600 砼",
    "D219×6 钢",
    "D12 电缆",
    "12孔 PVC",
    "路灯 VV22",
)
# the sizes the labels give (diameter_mm); D12 (a point number), 路灯 VV22 give none
SHEET_SIZES = (300.0, 1000.0, 400.0, 600.0, 219.0, None, None, None)
SHEET_MTEXT = "埋深1.8m\\P权属 哈尔滨市政"


def cad_sheet(folder: Path, *, name: str = "管线带状图.dxf") -> Path:
    """A whole survey sheet: utility layers, labels (TEXT, MTEXT), frame, roads and title.

    R2010 under ``$DWGCODEPAGE`` ANSI_936, CGCS2000 GK 126E (EPSG:4551) metres. Beside the
    network it has what every sheet has: a frame (``图框``) around everything, road edges
    (``道路``), a title text far from any line and one dimension.
    """
    doc = ezdxf.new("R2010", setup=True)
    doc.encoding = "gbk"
    msp = doc.modelspace()
    lines = survey_lines(len(SHEET_LAYERS), crs=HARBIN_GK).geometry
    for k, (layer, line) in enumerate(zip(SHEET_LAYERS, lines, strict=True)):
        doc.layers.add(layer)
        msp.add_lwpolyline(list(line.coords), dxfattribs={"layer": layer})
        middle = line.interpolate(0.5, normalized=True)
        msp.add_text(SHEET_TEXTS[k], dxfattribs={"layer": layer}).set_placement(
            (middle.x + 1.0, middle.y + 1.0)
        )
        if k % 2 == 0:
            quarter = line.interpolate(0.25, normalized=True)
            msp.add_mtext(SHEET_MTEXT, dxfattribs={"layer": layer}).set_location(
                (quarter.x, quarter.y + 2.0)
            )
    west, south, east, north = shapely.MultiLineString(list(lines)).bounds
    doc.layers.add("图框")
    frame = [(west - 50, south - 50), (east + 50, south - 50), (east + 50, north + 50)]
    msp.add_lwpolyline([*frame, (west - 50, north + 50)], close=True, dxfattribs={"layer": "图框"})
    msp.add_text("哈尔滨市地下管线带状图", dxfattribs={"layer": "图框"}).set_placement(
        (west - 25, north + 25)
    )
    doc.layers.add("道路")
    for road in survey_lines(len(SHEET_LAYERS) + 2, crs=HARBIN_GK).geometry[-2:]:
        edge = shapely.offset_curve(road, 12.0)
        msp.add_lwpolyline(list(edge.coords), dxfattribs={"layer": "道路"})
    first = list(lines.iloc[0].coords)
    msp.add_linear_dim(base=(first[0][0], first[0][1] + 5), p1=first[0], p2=first[1]).render()
    path = folder / name
    doc.saveas(path)
    return path


# (管线类型 as keyed in, 管径 as keyed in, utility, subtype, diameter_mm, extra attrs)
CODED_ROWS: tuple[tuple[str, object, str, str | None, float | None, dict[str, object]], ...] = (
    ("ＪＳ", "DN300", "water", None, 300.0, {}),
    (
        " ys ",
        "600*400",
        "drainage",
        "storm",
        600.0,
        {"box_width_mm": 600.0, "box_height_mm": 400.0},
    ),
    ("Ws 污水", "De110", "drainage", "sewer", 110.0, {}),
    ("ps排水", "300mm", "drainage", None, 300.0, {}),
    ("RQ　燃气", "D219×6", "gas", None, 219.0, {"wall_mm": 6.0}),
    ("热力管沟", "2×DN500", "heat", None, 500.0, {"pipe_count": 2}),
    ("给水管", "/", "water", None, None, {}),
    ("DL电缆", "0", "power", None, None, {}),
    ("XH", "", "other", "traffic_signal", None, {}),
)


def coded_geopackage(folder: Path, *, type_field: str = "管线类型") -> Path:
    """A GeoPackage as a survey database exports it: codes typed any way, sizes as text.

    ``type_field`` names the utility field, e.g. ``管线类\\ufffd`` as QGIS writes a
    shapefile field name the DBF limit cut inside a character.
    """
    frame = survey_lines(len(CODED_ROWS))
    frame["编号"] = [f"GX{k:03d}" for k in range(len(CODED_ROWS))]
    frame[type_field] = [r[0] for r in CODED_ROWS]
    frame["管径"] = [str(r[1]) for r in CODED_ROWS]
    path = folder / "管线成果.gpkg"
    frame.to_file(path, engine="pyogrio", layer="管线")
    return path


def per_utility_shapefiles(folder: Path) -> list[Path]:
    """A delivery with one shapefile per utility and no type field (JS_LINE.shp, YS_LINE.shp)."""
    paths = []
    for k, name in enumerate(("JS_LINE", "YS_LINE", "WS_LINE", "RQ_LINE")):
        frame = survey_lines(k + 2).iloc[k : k + 2].reset_index(drop=True)
        frame["管径"] = ["DN300", "DN200"]
        frame["材质"] = ["球墨铸铁", "PE"]
        paths.append(_write_shapefile(frame, folder / f"{name}.shp", "GBK"))
    return paths
