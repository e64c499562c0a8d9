"""A corpus of bad GIS files made from real sample features, each with what must be said.

Every case writes its file into a temporary folder and names the error, a pattern the
message must match (file and place), and for validation errors the problem code, feature
index and field the report must carry.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ezdxf
import geopandas as gpd
import shapely

from geodata.errors import CityNotFoundError
from geodata.errors import LayerReadError
from geodata.errors import LayerValidationError
from geodata.errors import MissingCRSError
from geodata.layers import save_layer
from tests.geodata.survey_corpus import HARBIN_GK
from tests.geodata.survey_corpus import coded_geopackage
from tests.geodata.survey_corpus import gbk_shapefile
from tests.geodata.survey_corpus import survey_lines
from tests.helpers import read_sample

__all__ = ["BAD_CASES", "BadCase"]


@dataclass(frozen=True)
class BadCase:
    id: str
    kind: str
    build: Callable[[Path], tuple[Path, dict[str, Any]]]
    error: type[Exception]
    match: str
    code: str | None = None
    index: int | None = None
    field: str | None = None


def _roads(n: int = 6) -> gpd.GeoDataFrame:
    frame = read_sample("roads")
    return frame[["osm_id", "name", "highway", "lanes", "geometry"]].head(n).reset_index(drop=True)


def _proposals() -> gpd.GeoDataFrame:
    frame = read_sample("proposed_lines")
    keep = ["id", "utility", "project", "applicant", "planned_start", "planned_end", "geometry"]
    return frame[keep].reset_index(drop=True)


def _trees() -> gpd.GeoDataFrame:
    return read_sample("trees")[["osm_id", "natural", "geometry"]].head(5).reset_index(drop=True)


def _gpkg(frame: gpd.GeoDataFrame, name: str) -> Callable[[Path], tuple[Path, dict[str, Any]]]:
    def build(tmp: Path) -> tuple[Path, dict[str, Any]]:
        return save_layer(frame, tmp / f"{name}.gpkg", layer=name), {}

    return build


def _with(frame: gpd.GeoDataFrame, index: int, **values: Any) -> gpd.GeoDataFrame:
    out = frame.copy()
    for column, value in values.items():
        if column == "geometry":
            geoms = list(out.geometry)
            geoms[index] = value
            out = out.set_geometry(gpd.GeoSeries(geoms, crs=frame.crs))
        else:
            out[column] = out[column].astype(object)
            out.loc[index, column] = value
    return out


def _bowtie_area() -> gpd.GeoDataFrame:
    frame = read_sample("protected_areas").head(4).reset_index(drop=True)
    x, y = frame.geometry.iloc[2].centroid.coords[0]
    bowtie = shapely.Polygon([(x, y), (x + 20, y + 20), (x + 20, y), (x, y + 20), (x, y)])
    return _with(frame, 2, geometry=bowtie)


def _first_point(frame: gpd.GeoDataFrame, index: int) -> shapely.LineString:
    x, y = frame.geometry.iloc[index].coords[0]
    return shapely.LineString([(x, y), (x, y)])


def _swapped_roads() -> gpd.GeoDataFrame:
    roads = _roads()
    swapped = shapely.transform(roads.geometry.iloc[3], lambda xy: xy[:, ::-1])
    return _with(roads, 3, geometry=swapped)


def _wrong_crs(tmp: Path) -> tuple[Path, dict[str, Any]]:
    # UTM 52N coordinates labelled as UTM 51N: ~500 km west of Harbin
    frame = _roads().to_crs(32652).set_crs(32651, allow_override=True)
    return save_layer(frame, tmp / "wrong_crs.gpkg", layer="roads"), {}


def _gbk_without_cpg(tmp: Path) -> tuple[Path, dict[str, Any]]:
    path = save_layer(_roads(), tmp / "gbk_roads.shp", encoding="GBK")
    path.with_suffix(".cpg").unlink()
    return path, {}


def _shapefile_without_prj(tmp: Path) -> tuple[Path, dict[str, Any]]:
    path = save_layer(_roads(), tmp / "noprj.shp")
    path.with_suffix(".prj").unlink()
    return path, {}


def _dxf_without_crs(tmp: Path) -> tuple[Path, dict[str, Any]]:
    return save_layer(_roads().to_crs(32652), tmp / "roads.dxf", layer="roads"), {}


def _two_layers(tmp: Path) -> tuple[Path, dict[str, Any]]:
    path = save_layer(_roads(), tmp / "two.gpkg", layer="roads")
    save_layer(_trees(), path, layer="trees")
    return path, {}


def _no_such_layer(tmp: Path) -> tuple[Path, dict[str, Any]]:
    return save_layer(_roads(), tmp / "one.gpkg", layer="roads"), {"layer": "streets"}


def _corrupt(tmp: Path) -> tuple[Path, dict[str, Any]]:
    path = tmp / "corrupt.geojson"
    path.write_text('{"type": "FeatureCollection", "features": [{"type": "Feat', encoding="utf-8")
    return path, {}


def _unsupported(tmp: Path) -> tuple[Path, dict[str, Any]]:
    path = tmp / "roads.kml"
    path.write_text("<kml/>", encoding="utf-8")
    return path, {}


def _empty_zip(tmp: Path) -> tuple[Path, dict[str, Any]]:
    path = tmp / "nothing.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "no layer here")
    return path, {}


def _unknown_city(tmp: Path) -> tuple[Path, dict[str, Any]]:
    return save_layer(_roads(), tmp / "roads.gpkg", layer="roads"), {"city": "atlantis"}


def _no_features(tmp: Path) -> tuple[Path, dict[str, Any]]:
    return save_layer(_roads().head(0), tmp / "empty.gpkg", layer="roads"), {}


def _survey_bad_size(tmp: Path) -> tuple[Path, dict[str, Any]]:
    (tmp / "src").mkdir()
    frame = gpd.read_file(gbk_shapefile(tmp / "src"), engine="pyogrio", encoding="GBK")
    frame.loc[2, "管径"] = "大约300"
    return save_layer(frame, tmp / "管线.shp", encoding="GBK"), {}


def _survey_code_disagrees(tmp: Path) -> tuple[Path, dict[str, Any]]:
    path = coded_geopackage(tmp)
    frame = gpd.read_file(path, engine="pyogrio")
    frame.loc[4, "管线类型"] = "JS燃气"
    return save_layer(frame, tmp / "codes.gpkg", layer="管线"), {}


def _drawing_without_utility_layers(tmp: Path) -> tuple[Path, dict[str, Any]]:
    doc = ezdxf.new("R2010")
    msp = doc.modelspace()
    for layer, line in zip(("图框", "道路"), survey_lines(2, crs=HARBIN_GK).geometry, strict=True):
        msp.add_lwpolyline(list(line.coords), dxfattribs={"layer": layer})
    path = tmp / "图纸.dxf"
    doc.saveas(path)
    return path, {"crs": HARBIN_GK}


BAD_CASES: tuple[BadCase, ...] = (
    BadCase(
        "invalid_polygon",
        "protected_areas",
        _gpkg(_bowtie_area(), "areas"),
        LayerValidationError,
        r"areas\.gpkg.*feature 2.*Self-intersection",
        code="invalid_geometry",
        index=2,
    ),
    BadCase(
        "empty_geometry",
        "roads",
        _gpkg(_with(_roads(), 1, geometry=shapely.LineString()), "roads"),
        LayerValidationError,
        r"roads\.gpkg.*feature 1 \(id \d+\).*empty geometry",
        code="empty_geometry",
        index=1,
    ),
    BadCase(
        "missing_geometry",
        "roads",
        _gpkg(_with(_roads(), 4, geometry=None), "roads"),
        LayerValidationError,
        r"feature 4 .*has no geometry",
        code="empty_geometry",
        index=4,
    ),
    BadCase(
        "point_in_road_layer",
        "roads",
        _gpkg(_with(_roads(), 2, geometry=shapely.Point(126.66, 45.74)), "roads"),
        LayerValidationError,
        r"feature 2 .*Point with 1 part\(s\) where a roads layer needs",
        code="wrong_geometry_type",
        index=2,
    ),
    BadCase(
        "several_points_one_tree",
        "trees",
        _gpkg(
            _with(_trees(), 0, geometry=shapely.MultiPoint([(126.66, 45.74), (126.661, 45.741)])),
            "trees",
        ),
        LayerValidationError,
        r"feature 0 .*MultiPoint with 2 part\(s\) where a trees layer needs one point",
        code="wrong_geometry_type",
        index=0,
    ),
    BadCase(
        "zero_length_line",
        "roads",
        _gpkg(_with(_roads(), 3, geometry=_first_point(_roads(), 3)), "roads"),
        LayerValidationError,
        r"feature 3 .*zero length",
        code="zero_length",
        index=3,
    ),
    BadCase(
        "duplicate_ids",
        "roads",
        _gpkg(_with(_roads(), 5, osm_id=int(_roads().osm_id[1])), "roads"),
        LayerValidationError,
        r"feature 5 \(id \d+\), field 'osm_id': id '\d+' already used "
        r"by feature 1",
        code="duplicate_id",
        index=5,
        field="osm_id",
    ),
    BadCase(
        "wrong_crs_outside_city",
        "roads",
        _wrong_crs,
        LayerValidationError,
        r"wrong_crs\.gpkg.*feature 0 .*outside the city's extent.*EPSG:32651",
        code="outside_extent",
        index=0,
    ),
    BadCase(
        "swapped_axes",
        "roads",
        _gpkg(_swapped_roads(), "roads"),
        LayerValidationError,
        r"feature 3 .*look swapped",
        code="outside_extent",
        index=3,
    ),
    BadCase(
        "unknown_utility",
        "proposed_lines",
        _gpkg(_with(_proposals(), 1, utility="消雪"), "proposals"),
        LayerValidationError,
        r"proposals\.gpkg.*feature 1 \(id P\d\d-\w+\), field 'utility': "
        r"unknown utility kind '消雪'",
        code="unknown_utility",
        index=1,
        field="utility",
    ),
    BadCase(
        "unparsable_date",
        "proposed_lines",
        _gpkg(_with(_proposals(), 0, planned_start="2027-13-45"), "proposals"),
        LayerValidationError,
        r"feature 0 .*field 'planned_start': '2027-13-45' is not a date",
        code="bad_date",
        index=0,
        field="planned_start",
    ),
    BadCase(
        "reversed_dates",
        "proposed_lines",
        _gpkg(_with(_proposals(), 2, planned_end="2026-01-01"), "proposals"),
        LayerValidationError,
        r"feature 2 .*field 'planned_end': planned_end 2026-01-01 is "
        r"before planned_start",
        code="reversed_dates",
        index=2,
        field="planned_end",
    ),
    BadCase(
        "missing_applicant_field",
        "proposed_lines",
        _gpkg(_proposals().drop(columns="applicant"), "proposals"),
        LayerValidationError,
        r"field 'applicant': no 'applicant' field",
        code="missing_field",
        field="applicant",
    ),
    BadCase(
        "empty_project",
        "proposed_lines",
        _gpkg(_with(_proposals(), 3, project="  "), "proposals"),
        LayerValidationError,
        r"feature 3 .*field 'project': project is empty",
        code="missing_value",
        index=3,
        field="project",
    ),
    BadCase(
        "lanes_not_a_number",
        "roads",
        _gpkg(_with(_roads(), 0, lanes="four"), "roads"),
        LayerValidationError,
        r"feature 0 .*field 'lanes': 'four' is not a number",
        code="bad_number",
        index=0,
        field="lanes",
    ),
    BadCase(
        "gbk_without_cpg",
        "roads",
        _gbk_without_cpg,
        LayerValidationError,
        r"gbk_roads\.shp.*feature \d+ \(id \d+\), field 'name': text .* is not valid utf-8; "
        r"name the file's encoding",
        code="undecodable_text",
        field="name",
    ),
    BadCase(
        "no_features",
        "roads",
        _no_features,
        LayerValidationError,
        r"empty\.gpkg.*has no features",
        code="no_features",
    ),
    BadCase(
        "shapefile_without_prj",
        "roads",
        _shapefile_without_prj,
        MissingCRSError,
        r"noprj\.shp, layer 'noprj': the layer has no CRS",
    ),
    BadCase(
        "dxf_without_crs",
        "roads",
        _dxf_without_crs,
        MissingCRSError,
        r"roads\.dxf: the layer has no CRS \(DXF files never carry one\)",
    ),
    BadCase(
        "geopackage_layer_not_chosen",
        "roads",
        _two_layers,
        LayerReadError,
        r"two\.gpkg holds 2 layers; choose one with layer=: roads, trees",
    ),
    BadCase(
        "geopackage_layer_missing",
        "roads",
        _no_such_layer,
        LayerReadError,
        r"one\.gpkg has no layer 'streets'",
    ),
    BadCase(
        "corrupt_geojson",
        "roads",
        _corrupt,
        LayerReadError,
        r"corrupt\.geojson: 无法读取 / cannot read",
    ),
    BadCase(
        "unsupported_format",
        "roads",
        _unsupported,
        LayerReadError,
        r"roads\.kml: unsupported file type \.kml",
    ),
    BadCase(
        "zip_without_layer", "roads", _empty_zip, LayerReadError, r"nothing\.zip: the zip holds no"
    ),
    BadCase("unknown_city", "roads", _unknown_city, CityNotFoundError, r"no city 'atlantis'"),
    BadCase(
        "survey_bad_pipe_size",
        "underground_lines",
        _survey_bad_size,
        LayerValidationError,
        r"管线\.shp, layer '管线', feature 2 \(id GX002\), field '管径': '大约300' is not a "
        r"pipe size",
        code="bad_number",
        index=2,
        field="管径",
    ),
    BadCase(
        "survey_code_and_name_disagree",
        "underground_lines",
        _survey_code_disagrees,
        LayerValidationError,
        r"codes\.gpkg, layer '管线', feature 4 \(id GX004\), field '管线类型': utility "
        r"'JS燃气': code JS \(给水\) and name 燃气 disagree",
        code="unknown_utility",
        index=4,
        field="管线类型",
    ),
    BadCase(
        "drawing_without_utility_layers",
        "underground_lines",
        _drawing_without_utility_layers,
        LayerValidationError,
        r"图纸\.dxf, feature 0 \(id [0-9A-F]+\), field 'cad_layer': unknown utility kind '图框'",
        code="unknown_utility",
        index=0,
        field="cad_layer",
    ),
)
