"""One test per rule of reading pipeline surveys (issue 14): each fails when its rule breaks.

The files come from tests/geodata/survey_corpus.py: a GeoPackage with codes typed any way,
GBK and UTF-8 shapefiles whose field names the DBF limit cut, a whole CAD sheet.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import pytest

from geodata.errors import LayerValidationError
from geodata.layers import load_layer
from geodata.utilities import classify_utility
from geodata.validate import validate_layer
from tests.geodata.survey_corpus import CODED_ROWS
from tests.geodata.survey_corpus import HARBIN_GK
from tests.geodata.survey_corpus import SHEET_LAYERS
from tests.geodata.survey_corpus import SHEET_MTEXT
from tests.geodata.survey_corpus import SHEET_SIZES
from tests.geodata.survey_corpus import SHEET_TEXTS
from tests.geodata.survey_corpus import cad_sheet
from tests.geodata.survey_corpus import coded_geopackage
from tests.geodata.survey_corpus import gbk_shapefile
from tests.geodata.survey_corpus import per_utility_shapefiles
from tests.geodata.survey_corpus import survey_lines


def _lines(path: Path, **options: object) -> gpd.GeoDataFrame:
    source = load_layer(path, crs=HARBIN_GK if path.suffix == ".dxf" else None)
    return validate_layer(source, kind="underground_lines", crs=HARBIN_GK, **options).rows  # type: ignore[arg-type]


# -- codes as typed: case, spaces, full width, code and name together, trailing 管/电缆


@pytest.mark.parametrize(
    ("value", "utility", "subtype"),
    [
        ("ＪＳ", "water", None),  # full-width letters of a Chinese input method
        ("ｊｓ给水", "water", None),
        ("JS　给水", "water", None),  # ideographic space
        (" js 给水 ", "water", None),
        ("Ys", "drainage", "storm"),
        ("ＹＳ－雨水", "drainage", "storm"),
        ("给水（JS）", "water", None),  # full-width brackets
        ("给水管", "water", None),
        ("路灯电缆", "other", "street_lighting"),
        ("通信光缆", "telecom", None),
        ("热力管沟", "heat", None),
        ("DX 电信/通信", "telecom", None),
        ("TX通信", "telecom", None),
        ("YD移动", "telecom", None),
        ("LT联通", "telecom", None),
        ("SS上水", "water", None),
        ("DC电车", "power", "tram"),
    ],
)
def test_codes_classify_however_typed(value: str, utility: str, subtype: str | None) -> None:
    term = classify_utility(value)
    assert (term.utility, term.subtype) == (utility, subtype)


def test_coded_geopackage_reads_every_row_with_its_original_value(tmp_path: Path) -> None:
    rows = _lines(coded_geopackage(tmp_path))
    assert list(rows["utility"]) == [r[2] for r in CODED_ROWS]
    assert list(rows["subtype"]) == [r[3] for r in CODED_ROWS]
    assert [a["source_type"] for a in rows["attrs"]] == [r[0] for r in CODED_ROWS]


# -- 雨污分流: storm, sewer and plain 排水 stay apart; utility is drainage for all three


def test_storm_sewer_and_plain_drainage_stay_distinguishable(tmp_path: Path) -> None:
    rows = _lines(coded_geopackage(tmp_path))
    drainage = rows[rows["utility"] == "drainage"]
    found = {
        a["survey_code"]: s for a, s in zip(drainage["attrs"], drainage["subtype"], strict=True)
    }
    assert found == {"YS": "storm", "WS": "sewer", "PS": None}


# -- sizes: DN, De, Φ, mm, wall, pipe count, box W×H; 0, blank and "/" are empty


def test_sizes_parse_to_numbers_and_a_box_keeps_width_and_height(tmp_path: Path) -> None:
    rows = _lines(coded_geopackage(tmp_path))
    assert list(rows["diameter_mm"]) == [r[4] for r in CODED_ROWS]
    for attrs, (*_, extra) in zip(rows["attrs"], CODED_ROWS, strict=True):
        assert {k: attrs[k] for k in extra} == extra
    box = rows["attrs"].iloc[1]
    assert (box["section"], box["box_width_mm"], box["box_height_mm"]) == ("box", 600.0, 400.0)
    # the size as written is kept, also where it says "none"
    assert [a.get("source_size") for a in rows["attrs"]] == [
        str(r[1]) if str(r[1]) else None for r in CODED_ROWS
    ]


@pytest.mark.parametrize("empty", [0, 0.0, "0", "", " ", "/", "-", "—", "无"])
def test_a_size_of_zero_or_blank_is_stored_empty_not_zero(empty: object) -> None:
    frame = survey_lines(1)
    frame["utility"] = ["JS"]
    frame["管径"] = [empty]
    rows = _validate(frame)
    assert rows["diameter_mm"].iloc[0] is None


def test_a_duct_bank_by_its_ducts_has_no_diameter_but_keeps_the_count() -> None:
    frame = survey_lines(1)
    frame["utility"] = ["DX"]
    frame["管径"] = ["12孔"]
    rows = _validate(frame)
    assert rows["diameter_mm"].iloc[0] is None
    assert rows["attrs"].iloc[0]["duct_holes"] == 12


@pytest.mark.parametrize(
    ("size", "why"),
    [
        ("2×3", "duct arrangement"),
        ("D300×200", "a wall of 200 mm does not fit"),
        ("DN300/200", "not a pipe size"),
    ],
)
def test_a_size_that_is_no_size_is_refused_naming_feature_and_field(size: str, why: str) -> None:
    frame = survey_lines(2)
    frame["编号"] = ["GX1", "GX2"]
    frame["utility"] = ["JS", "JS"]
    frame["管径"] = ["DN300", size]
    with pytest.raises(LayerValidationError) as caught:
        _validate(frame)
    (problem,) = caught.value.detail["problems"]
    assert (problem["index"], problem["feature_id"], problem["field"]) == (1, "GX2", "管径")
    assert why in problem["message"]
    assert problem["where"] == "t.gpkg, layer '管线', feature 1 (id GX2), field '管径'"


# -- field names the DBF limit cut, matched by prefix


@pytest.mark.parametrize("name", ["管线类", "管线类\ufffd", "管线类?"])
def test_a_utility_field_cut_by_the_dbf_limit_is_recognised(tmp_path: Path, name: str) -> None:
    rows = _lines(coded_geopackage(tmp_path, type_field=name))
    assert list(rows["utility"]) == [r[2] for r in CODED_ROWS]


def test_a_short_name_that_is_no_cut_is_not_taken_for_the_field(tmp_path: Path) -> None:
    # 管线 (6 bytes) is far below the 10-byte limit: not 管线类型 cut, and no alias
    with pytest.raises(LayerValidationError, match="no 'utility' field"):
        _lines(coded_geopackage(tmp_path, type_field="管线"))


def test_utf8_shapefile_owner_cut_inside_a_character_is_recognised(tmp_path: Path) -> None:
    frame = survey_lines(2)
    frame["管线类型"] = ["JS给水", "RQ燃气"]
    frame["权属单位名称"] = ["哈尔滨供排水集团", "哈尔滨中庆燃气"]
    path = tmp_path / "owners.shp"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(laundered|truncated|decode).*")
        frame.to_file(path, engine="pyogrio", encoding="UTF-8")
    source = load_layer(path)
    assert "权属单" in source.frame.columns  # 18 bytes in UTF-8: 9 kept and a stray byte
    rows = validate_layer(source, kind="underground_lines", crs=HARBIN_GK).rows
    assert list(rows["utility"]) == ["water", "gas"]
    assert list(rows["owner"]) == ["哈尔滨供排水集团", "哈尔滨中庆燃气"]


# -- kinds the product does not plan with: kept as other with the value, or skipped


def test_one_street_light_does_not_refuse_the_survey(tmp_path: Path) -> None:
    kept = _lines(coded_geopackage(tmp_path))
    (other,) = kept[kept["utility"] == "other"]["attrs"]
    assert other["source_type"] == "XH"
    skipped = _lines(coded_geopackage(tmp_path), unplanned="skip")
    assert len(skipped) == len(kept) - 1
    assert "other" not in set(skipped["utility"])


# -- a whole CAD sheet: layers name the utility, texts label lines, furniture left out


def test_a_cad_sheet_is_read_by_layer_with_labels_and_without_its_furniture(
    tmp_path: Path,
) -> None:
    source = load_layer(cad_sheet(tmp_path), crs=HARBIN_GK)
    validated = validate_layer(source, kind="underground_lines", crs=HARBIN_GK)
    rows = validated.rows
    assert list(zip(rows["utility"], rows["subtype"], strict=True)) == list(SHEET_LAYERS.values())
    assert [a["source_type"] for a in rows["attrs"]] == list(SHEET_LAYERS)
    mtext = SHEET_MTEXT.replace("\\P", "\n")
    assert [a["cad_label"] for a in rows["attrs"]] == [
        f"{text} / {mtext}" if k % 2 == 0 else text for k, text in enumerate(SHEET_TEXTS)
    ]
    # each line's size from its own label; a label without a marked size gives none
    assert list(rows["diameter_mm"]) == list(SHEET_SIZES)
    assert rows["attrs"].iloc[1]["box_height_mm"] == 800.0
    assert rows["attrs"].iloc[6]["duct_holes"] == 12
    warned = {w.code: w for w in validated.report.warnings}
    assert warned["size_from_label"].message.startswith("6 line sizes read from their CAD labels")
    assert warned["cad_other_layers"].message.endswith("图框 1, 道路 2")
    assert warned["cad_other_layers"].field == "cad_layer"
    ignored = warned["cad_ignored"].message
    assert "12 文字 text taken as labels" in ignored
    assert "1 标注 dimension" in ignored
    assert "1 文字 text" in ignored.split("left out")[1]  # the title, far from every line


def test_a_cad_sheet_street_light_layer_can_be_skipped(tmp_path: Path) -> None:
    rows = _lines(cad_sheet(tmp_path), unplanned="skip")
    assert "LD路灯" not in {a["source_type"] for a in rows["attrs"]}
    assert len(rows) == len(SHEET_LAYERS) - 1


def test_gbk_shapefile_size_field_problem_names_file_layer_feature_and_field(
    tmp_path: Path,
) -> None:
    frame = gpd.read_file(gbk_shapefile(tmp_path), engine="pyogrio", encoding="GBK")
    frame.loc[2, "管径"] = "大约300"
    path = tmp_path / "bad" / "管线.shp"
    path.parent.mkdir()
    frame.to_file(path, engine="pyogrio", encoding="GBK")
    with pytest.raises(LayerValidationError) as caught:
        _lines(path)
    (problem,) = caught.value.detail["problems"]
    assert problem["where"] == "管线.shp, layer '管线', feature 2 (id GX002), field '管径'"
    assert "'大约300' is not a pipe size" in problem["message"]


def _validate(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    from geodata.layers import SourceLayer  # noqa: PLC0415

    source = SourceLayer(
        frame=frame,
        file="t.gpkg",
        layer="管线",
        driver="GPKG",
        source_crs="EPSG:4326",
        encoding=None,
    )
    return validate_layer(source, kind="underground_lines", crs=HARBIN_GK).rows


def test_every_problem_code_has_a_chinese_and_english_title() -> None:
    import re  # noqa: PLC0415

    import geodata.validate as module  # noqa: PLC0415

    source = Path(module.__file__).read_text(encoding="utf-8")
    codes = set(re.findall(r'Problem\(\s*"([a-z_]+)"', source))
    codes |= set(re.findall(r'"([a-z_]+)" if same else "([a-z_]+)"', source)[0])
    codes |= set(re.findall(r'\(int\(b\), int\(a\), "([a-z_]+)"', source))
    codes |= set(module._CODES.values())
    assert len(codes) > 25
    assert codes <= set(module.PROBLEM_TITLES)
    for title in module.PROBLEM_TITLES.values():
        chinese, english = title.split(" / ")
        assert not chinese.isascii()
        assert english.isascii()


def test_the_report_gives_each_problem_its_title() -> None:
    frame = survey_lines(1)
    frame["utility"] = ["JS"]
    frame["管径"] = ["大约300"]
    with pytest.raises(
        LayerValidationError, match="拒绝导入 refused as underground_lines"
    ) as caught:
        _validate(frame)
    (problem,) = caught.value.detail["problems"]
    assert problem["title"] == "数值无法识别 / not a number"


# -- one layer per utility and no type field: the utility from the layer's name


def test_one_shapefile_per_utility_takes_the_utility_from_its_name(tmp_path: Path) -> None:
    found = []
    for path in per_utility_shapefiles(tmp_path):
        validated = validate_layer(load_layer(path), kind="underground_lines", crs=HARBIN_GK)
        (warning,) = [w for w in validated.report.warnings if w.code == "utility_from_layer"]
        assert path.stem in warning.message
        rows = validated.rows
        assert {a["source_type"] for a in rows["attrs"]} == {path.stem}
        subtypes = set(rows["subtype"]) if "subtype" in rows else {None}
        found.append((set(rows["utility"]), subtypes))
    assert found == [
        ({"water"}, {None}),
        ({"drainage"}, {"storm"}),
        ({"drainage"}, {"sewer"}),
        ({"gas"}, {None}),
    ]


def test_a_layer_name_that_names_no_utility_still_needs_the_field(tmp_path: Path) -> None:
    (path, *_) = per_utility_shapefiles(tmp_path)
    renamed = tmp_path / "管线" / "管线.shp"
    renamed.parent.mkdir()
    for part in path.parent.glob(f"{path.stem}.*"):
        part.rename(renamed.with_suffix(part.suffix))
    with pytest.raises(LayerValidationError, match="no 'utility' field"):
        validate_layer(load_layer(renamed), kind="underground_lines", crs=HARBIN_GK)


# -- a DXF whose header says ANSI_1252 but whose text is UTF-8 (as GDAL writes them)


def test_utf8_text_under_an_ansi_1252_header_is_read_intact(tmp_path: Path) -> None:
    from geodata.layers import save_layer  # noqa: PLC0415

    lines = survey_lines(2, crs=HARBIN_GK)
    lines["Layer"] = ["JS_给水", "YS-雨水"]
    path = save_layer(lines, tmp_path / "gdal.dxf")  # GDAL's DXF writer
    assert b"ANSI_1252" in path.read_bytes()
    source = load_layer(path, crs=HARBIN_GK)
    assert list(source.frame["cad_layer"]) == ["JS_给水", "YS-雨水"]
    assert source.encoding == "utf-8"
    assert any("ANSI_1252 but the text is UTF-8" in note for note in source.notes)
    rows = validate_layer(source, kind="underground_lines", crs=HARBIN_GK).rows
    assert list(zip(rows["utility"], rows["subtype"], strict=True)) == [
        ("water", None),
        ("drainage", "storm"),
    ]


def test_western_text_under_ansi_1252_stays_as_declared(tmp_path: Path) -> None:
    import ezdxf  # noqa: PLC0415

    doc = ezdxf.new("R2000")
    doc.encoding = "cp1252"
    doc.modelspace().add_line((0, 0), (10, 0), dxfattribs={"layer": "Égout_RQ"})
    path = tmp_path / "latin.dxf"
    doc.saveas(path)
    assert "Égout_RQ".encode("cp1252") in path.read_bytes()
    source = load_layer(path, crs=HARBIN_GK)
    assert list(source.frame["cad_layer"]) == ["Égout_RQ"]
    assert source.notes == ()


# -- 大类 and 小类 in two fields, as survey databases keep them


def test_a_subtype_field_makes_the_type_precise() -> None:
    frame = survey_lines(6)
    frame["管线大类"] = ["PS", "排水", "DL", "RQ", "JS", "YS"]
    frame["管线小类"] = ["YS", "污水", "路灯", "中压", "给水", "雨水"]
    rows = _validate(frame)
    assert list(rows["utility"]) == ["drainage", "drainage", "other", "gas", "water", "drainage"]
    assert list(rows["subtype"]) == ["storm", "sewer", "street_lighting", "中压", None, "storm"]
    attrs = list(rows["attrs"])
    assert [a["survey_code"] for a in attrs] == ["YS", "WS", "LD", "RQ", "JS", "YS"]
    assert [a["source_type"] for a in attrs] == list(frame["管线大类"])
    assert [a["source_subtype"] for a in attrs] == list(frame["管线小类"])


@pytest.mark.parametrize(("kind", "sub"), [("JS", "燃气"), ("YS", "污水")])
def test_a_subtype_that_contradicts_the_type_is_refused_naming_the_field(
    kind: str, sub: str
) -> None:
    frame = survey_lines(2)
    frame["编号"] = ["GX1", "GX2"]
    frame["管线大类"] = ["JS", kind]
    frame["管线小类"] = [None, sub]
    with pytest.raises(LayerValidationError) as caught:
        _validate(frame)
    (problem,) = caught.value.detail["problems"]
    assert (problem["index"], problem["field"], problem["code"]) == (
        1,
        "管线小类",
        "unknown_utility",
    )
    assert f"sub-type '{sub}'" in problem["message"]
    assert "contradicts the type" in problem["message"]
