"""Duplicate geometries: twins, reversed twins and lines lying on another, by feature."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from shapely.ops import substring

from geodata.errors import LayerValidationError
from geodata.layers import SourceLayer
from geodata.validate import validate_layer
from tests.geodata.survey_corpus import HARBIN_GK
from tests.helpers import read_sample


def _source(frame: gpd.GeoDataFrame) -> SourceLayer:
    return SourceLayer(
        frame=frame,
        file="osm.gpkg",
        layer="roads",
        driver="GPKG",
        source_crs="EPSG:4326",
        encoding=None,
    )


def _with_reversed_twins(n: int) -> gpd.GeoDataFrame:
    """The sample roads plus reversed copies of the first ``n``, as in the OSM extract."""
    roads = read_sample("roads").reset_index(drop=True)
    twins = roads.head(n).copy()
    twins["geometry"] = shapely.reverse(twins.geometry.to_numpy())
    twins["osm_id"] = [f"{i}_rev" for i in twins["osm_id"]]
    return gpd.GeoDataFrame(pd_concat(roads, twins), crs=roads.crs)


def pd_concat(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(pd.concat([a, b], ignore_index=True), crs=a.crs)


def test_reversed_twins_are_reported_by_feature() -> None:
    frame = _with_reversed_twins(5)
    with pytest.raises(LayerValidationError) as caught:
        validate_layer(_source(frame), kind="roads", crs=HARBIN_GK)
    problems = caught.value.detail["problems"]
    assert {p["code"] for p in problems} == {"reversed_twin"}
    n = len(frame) - 5
    assert sorted(p["index"] for p in problems) == list(range(n, n + 5))
    first = problems[0]
    assert "the same line, reversed, as feature 0" in first["message"]
    assert "duplicates=drop" in first["message"]


def test_reversed_twins_are_dropped_when_asked() -> None:
    frame = _with_reversed_twins(5)
    validated = validate_layer(_source(frame), kind="roads", crs=HARBIN_GK, duplicates="drop")
    assert len(validated.rows) == len(frame) - 5
    (warning,) = [w for w in validated.report.warnings if w.code == "duplicates_dropped"]
    assert "5 duplicate features left out (reversed_twin 5)" in warning.message


def test_exact_twin_and_covered_piece_are_reported() -> None:
    roads = read_sample("roads").head(3).reset_index(drop=True)
    line = roads.to_crs(HARBIN_GK).geometry.iloc[0]
    piece = substring(line, 0, line.length / 2)
    extra = gpd.GeoDataFrame(
        {"osm_id": ["twin", "piece"]},
        geometry=[line, piece],
        crs=HARBIN_GK,
    ).to_crs(roads.crs)
    frame = pd_concat(roads, extra)
    with pytest.raises(LayerValidationError) as caught:
        validate_layer(_source(frame), kind="roads", crs=HARBIN_GK)
    codes = {(p["index"], p["code"]) for p in caught.value.detail["problems"]}
    assert (3, "duplicate_geometry") in codes
    assert (4, "overlapping_geometry") in codes


def test_different_utilities_on_one_path_are_not_duplicates() -> None:
    roads = read_sample("roads").head(1)
    frame = gpd.GeoDataFrame(
        {"utility": ["DL", "DX"]}, geometry=[roads.geometry.iloc[0]] * 2, crs=roads.crs
    )
    rows = validate_layer(_source(frame), kind="underground_lines", crs=HARBIN_GK).rows
    assert len(rows) == 2
