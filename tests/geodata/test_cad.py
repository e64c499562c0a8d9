"""Surveyors' drawings: utility from the CAD layer, ANSI_936 honoured, annotation left out."""

from __future__ import annotations

from pathlib import Path

import ezdxf
import pytest

from geodata.dxf import read_dxf
from geodata.errors import LayerValidationError
from geodata.layers import load_layer
from geodata.validate import validate_layer
from tests.geodata.survey_corpus import CAD_LAYERS
from tests.geodata.survey_corpus import HARBIN_GK
from tests.geodata.survey_corpus import cad_drawing


@pytest.mark.parametrize("version", ["R2000", "R2010"])
def test_drawing_layers_give_utilities_and_chinese_stays_intact(
    tmp_path: Path, version: str
) -> None:
    path = cad_drawing(tmp_path, version=version)
    assert b"ANSI_936" in path.read_bytes()
    if version == "R2000":  # bytes in the code page itself, not UTF-8
        assert "给水".encode("gbk") in path.read_bytes()
    source = load_layer(path, crs=HARBIN_GK)
    validated = validate_layer(source, kind="underground_lines", crs=HARBIN_GK)
    rows = validated.rows
    assert list(zip(rows["utility"], rows["subtype"], strict=True)) == list(CAD_LAYERS.values())
    # the layer name as drawn, Chinese intact
    assert [a["source_type"] for a in rows["attrs"]] == list(CAD_LAYERS)
    notes = {w.code: w.message for w in validated.report.warnings}
    assert "6 文字 text" in notes["cad_ignored"]
    assert "6 图块 block" in notes["cad_ignored"]
    assert "1 标注 dimension" in notes["cad_ignored"]


def test_drawing_points_are_left_out_of_a_line_layer_with_a_note(tmp_path: Path) -> None:
    validated = validate_layer(
        load_layer(cad_drawing(tmp_path), crs=HARBIN_GK), kind="underground_lines", crs=HARBIN_GK
    )
    messages = [w.message for w in validated.report.warnings]
    assert "drawing entities that are not lines left out: 6 Point" in messages


def test_lines_on_a_layer_that_names_no_utility_are_refused_naming_the_layer(
    tmp_path: Path,
) -> None:
    doc = ezdxf.new("R2010")
    doc.modelspace().add_line((500000, 5060000), (500050, 5060000), dxfattribs={"layer": "图框"})
    path = tmp_path / "frame.dxf"
    doc.saveas(path)
    with pytest.raises(LayerValidationError) as caught:
        validate_layer(load_layer(path, crs=HARBIN_GK), kind="underground_lines", crs=HARBIN_GK)
    (problem,) = caught.value.detail["problems"]
    assert problem["code"] == "unknown_utility"
    assert problem["field"] == "cad_layer"
    assert "'图框'" in problem["message"]


def test_arcs_and_bulges_are_flattened(tmp_path: Path) -> None:
    doc = ezdxf.new("R2010")
    msp = doc.modelspace()
    msp.add_arc((0, 0), radius=10, start_angle=0, end_angle=90, dxfattribs={"layer": "RQ"})
    path = tmp_path / "arc.dxf"
    doc.saveas(path)
    (line,) = read_dxf(path).frame.geometry
    assert line.length == pytest.approx(10 * 3.14159265 / 2, rel=1e-3)
