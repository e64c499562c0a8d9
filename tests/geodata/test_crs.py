from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from pyproj import CRS

from geodata.crs import crs_label
from geodata.crs import parse_crs
from geodata.crs import pick_metric_crs
from geodata.crs import require_metric
from geodata.crs import to_crs
from geodata.errors import CRSError
from geodata.errors import MissingCRSError
from tests.helpers import read_sample


def test_pick_metric_crs_for_harbin_lonlat_is_utm_52n() -> None:
    roads = read_sample("roads")
    assert roads.crs.to_epsg() == 4326
    assert pick_metric_crs(roads).to_epsg() == 32652


def test_pick_metric_crs_keeps_a_projected_metric_crs() -> None:
    lines = read_sample("nagaoka_lines")
    assert pick_metric_crs(lines).to_epsg() == 6676


def test_pick_metric_crs_near_a_zone_edge_takes_the_nearest_central_meridian() -> None:
    # Nagaoka (138.7 E) lies in UTM 54 (138-144); its central meridian is 141
    frame = gpd.GeoDataFrame(geometry=[shapely.Point(138.75, 37.42)], crs=4326)
    assert pick_metric_crs(frame).to_epsg() == 32654


def test_pick_metric_crs_refuses_a_frame_without_crs() -> None:
    frame = gpd.GeoDataFrame(geometry=[shapely.Point(1, 2)])
    with pytest.raises(MissingCRSError, match="no CRS"):
        pick_metric_crs(frame)


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:4490", "EPSG:2263"])
def test_require_metric_refuses_degrees_and_feet(crs: str) -> None:
    with pytest.raises(CRSError, match="must be computed in metres") as info:
        require_metric(crs, what="buffers")
    assert crs in str(info.value)
    assert "buffers" in str(info.value)


@pytest.mark.parametrize("crs", ["EPSG:32652", "EPSG:6676", "EPSG:4547", 26986])
def test_require_metric_accepts_projected_metres(crs: object) -> None:
    assert require_metric(crs).is_projected


def test_require_metric_refuses_none() -> None:
    with pytest.raises(CRSError, match="none"):
        require_metric(None)


def test_parse_crs_forms_and_unknown() -> None:
    assert parse_crs("32652") == CRS.from_epsg(32652)
    assert parse_crs(" epsg:6676 ").to_epsg() == 6676
    with pytest.raises(CRSError, match="'EPSG:999999'"):
        parse_crs("EPSG:999999")


def test_crs_label() -> None:
    assert crs_label("epsg:4326") == "EPSG:4326"
    assert crs_label(CRS.from_epsg(32652)) == "EPSG:32652"


def test_to_crs_reprojects_and_keeps_lengths_metric() -> None:
    roads = read_sample("roads")
    metric = to_crs(roads, "EPSG:32652")
    assert metric.crs.to_epsg() == 32652
    # a road block in central Harbin: metres, not degrees
    assert 20_000 < metric.length.sum() < 200_000
    assert to_crs(metric, 32652) is metric


def test_to_crs_refuses_a_frame_without_crs() -> None:
    with pytest.raises(MissingCRSError):
        to_crs(gpd.GeoDataFrame(geometry=[shapely.Point(1, 2)]), 32652)
