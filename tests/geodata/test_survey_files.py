"""The survey deliveries of tests/geodata/survey_corpus.py read and validated (no database)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest

from geodata.errors import FieldMapError
from geodata.errors import LayerValidationError
from geodata.layers import SourceLayer
from geodata.layers import load_layer
from geodata.validate import _parse_diameter
from geodata.validate import parse_field_map
from geodata.validate import validate_layer
from tests.geodata.survey_corpus import HARBIN_GK
from tests.geodata.survey_corpus import SURVEY_ROWS
from tests.geodata.survey_corpus import gbk_shapefile
from tests.geodata.survey_corpus import gbk_zip
from tests.geodata.survey_corpus import survey_lines
from tests.geodata.survey_corpus import utf8_shapefile

ROWS = [r for r in SURVEY_ROWS if r[1] != "2×DN500"]


def test_gbk_survey_shapefile_keeps_codes_subtypes_sizes_and_chinese_text(tmp_path: Path) -> None:
    source = load_layer(gbk_shapefile(tmp_path))
    assert "权属单位名" in source.frame.columns  # cut by the DBF limit
    rows = validate_layer(source, kind="underground_lines", crs=HARBIN_GK).rows
    assert list(rows["utility"]) == [r[2] for r in ROWS]
    assert list(rows["subtype"]) == [r[3] for r in ROWS]
    assert [a["source_type"] for a in rows["attrs"]] == [r[0] for r in ROWS]
    sizes = dict(zip([r[1] for r in ROWS], rows["diameter_mm"], strict=True))
    assert sizes == {
        "DN300": 300.0,
        "Φ600": 600.0,
        "de400": 400.0,
        "1000×800": 1000.0,
        "DN200": 200.0,
        "600×400": 600.0,
        "0": None,
        "DN150": 150.0,
        "": None,
    }
    box = rows.iloc[[r[1] for r in ROWS].index("600×400")]
    assert (box["attrs"]["box_width_mm"], box["attrs"]["box_height_mm"]) == (600.0, 400.0)
    assert set(rows["owner"]) == {"哈尔滨供排水集团"}
    assert set(rows["material"]) == {"球墨铸铁"}
    assert set(rows["depth_m"]) == {1.8}


def test_utf8_shapefile_with_cut_field_name_is_read(tmp_path: Path) -> None:
    source = load_layer(utf8_shapefile(tmp_path))
    assert "管线类" in source.frame.columns
    assert not source.undecodable
    rows = validate_layer(source, kind="underground_lines", crs=HARBIN_GK).rows
    assert list(rows["utility"]) == [r[2] for r in ROWS]
    # a 管径 of 0 is "not measured", not 0.0
    assert [d is None for d in rows["diameter_mm"]] == [r[1] in ("0", "") for r in ROWS]
    assert set(rows["owner"]) == {"国网哈尔滨供电公司"}


def test_zip_with_gbk_member_names_gives_the_chinese_layer_name(tmp_path: Path) -> None:
    (tmp_path / "set").mkdir()
    shapefile = gbk_shapefile(tmp_path / "set")
    source = load_layer(gbk_zip(tmp_path, shapefile))
    assert source.layer == "管线"
    assert source.file == "测绘成果.zip!成果/管线.shp"


def test_unplanned_kinds_are_kept_as_other_or_skipped(tmp_path: Path) -> None:
    source = load_layer(gbk_shapefile(tmp_path))
    kept = validate_layer(source, kind="underground_lines", crs=HARBIN_GK)
    assert (kept.rows["utility"] == "other").sum() == 1
    skipped = validate_layer(source, kind="underground_lines", crs=HARBIN_GK, unplanned="skip")
    assert "other" not in set(skipped.rows["utility"])
    assert len(skipped.rows) == len(kept.rows) - 1
    (warning,) = [w for w in skipped.report.warnings if w.code == "unplanned_skipped"]
    assert "LD路灯 1" in warning.message


def test_unplanned_kind_in_a_proposal_is_refused_naming_the_feature() -> None:
    frame = survey_lines(2)
    frame["utility"] = ["JS给水", "LD路灯"]
    frame["project"] = "p"
    frame["applicant"] = "a"
    frame["planned_start"] = "2027-05-01"
    frame["planned_end"] = "2027-06-01"
    with pytest.raises(LayerValidationError) as caught:
        validate_layer(_source(frame), kind="proposed_lines", crs=HARBIN_GK)
    (problem,) = caught.value.detail["problems"]
    assert (problem["code"], problem["index"]) == ("unplanned_utility", 1)
    assert "路灯" in problem["message"]


def test_field_map_names_a_field_the_aliases_do_not_know() -> None:
    frame = survey_lines(2)
    frame["类别名称"] = ["RQ燃气", "WS污水"]
    with pytest.raises(LayerValidationError, match="map one with field_map"):
        validate_layer(_source(frame), kind="underground_lines", crs=HARBIN_GK)
    rows = validate_layer(
        _source(frame),
        kind="underground_lines",
        crs=HARBIN_GK,
        field_map=parse_field_map(["类别名称=utility"]),
    ).rows
    assert list(rows["utility"]) == ["gas", "drainage"]


@pytest.mark.parametrize(
    ("mapping", "why"),
    [
        ({"类别名称": "kind_of_pipe"}, "'kind_of_pipe' is not a underground_lines column"),
        ({"没有": "utility"}, "the file has no field '没有'"),
    ],
)
def test_bad_field_map_is_refused_with_why(mapping: dict[str, str], why: str) -> None:
    frame = survey_lines(1)
    frame["类别名称"] = ["RQ燃气"]
    frame["utility"] = ["RQ燃气"]
    with pytest.raises(LayerValidationError, match=why):
        validate_layer(_source(frame), kind="underground_lines", crs=HARBIN_GK, field_map=mapping)


def test_malformed_field_map_text_is_refused() -> None:
    with pytest.raises(FieldMapError, match="write SOURCE_FIELD=column"):
        parse_field_map(["管线类别"])


@pytest.mark.parametrize(
    ("text", "width", "height"),
    [
        ("DN300", 300.0, None),
        ("dn 300", 300.0, None),
        ("Φ600", 600.0, None),
        ("φ600mm", 600.0, None),
        ("de110", 110.0, None),
        ("D800", 800.0, None),
        ("300", 300.0, None),
        ("600×400", 600.0, 400.0),
        ("600x400", 600.0, 400.0),
        ("600X400", 600.0, 400.0),
        ("600*400", 600.0, 400.0),
        ("B×H=1200×1000", 1200.0, 1000.0),
    ],
)
def test_pipe_sizes_parse(text: str, width: float, height: float | None) -> None:
    size = _parse_diameter(text)
    assert size is not None
    assert (size.width_mm, size.height_mm) == (width, height)


@pytest.mark.parametrize(("value", "why"), [("2×3", "duct arrangement"), ("abc", "not a pipe")])
def test_bad_pipe_sizes_are_refused_with_why(value: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        _parse_diameter(value)


@pytest.mark.parametrize("value", [0, 0.0, "0", "", "  ", None])
def test_zero_and_blank_sizes_are_empty(value: object) -> None:
    assert _parse_diameter(value) is None


def _source(frame: gpd.GeoDataFrame) -> SourceLayer:
    return SourceLayer(
        frame=frame, file="t.gpkg", layer=None, driver="GPKG", source_crs="EPSG:4326", encoding=None
    )
