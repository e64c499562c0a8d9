"""Round trips through every supported format, on real sample features."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

from geodata.errors import LayerReadError
from geodata.errors import MissingCRSError
from geodata.layers import list_layers
from geodata.layers import load_layer
from geodata.layers import save_layer
from tests.helpers import assert_same_geometries
from tests.helpers import read_sample
from tests.helpers import sample_path

SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


@pytest.fixture(scope="module")
def roads() -> gpd.GeoDataFrame:
    """Real Harbin OSM roads with Chinese names (EPSG:4326)."""
    frame = read_sample("roads")
    return frame[["osm_id", "name", "highway", "lanes", "geometry"]].head(40).copy()


def _names(frame: gpd.GeoDataFrame) -> list[object]:
    return [None if pd.isna(v) else v for v in frame["name"]]


def test_sample_area_is_small_and_has_a_non_wgs84_layer() -> None:
    path = sample_path("roads")
    assert path.stat().st_size < 200 * 1024
    crs = {name: pyogrio.read_info(path, layer=name)["crs"] for name in list_layers(path)}
    assert crs["roads"] == "EPSG:4326"
    assert crs["nagaoka_lines"] == "EPSG:6676"
    assert crs["proposed_lines"] == "EPSG:32652"


def test_geopackage_round_trip_with_layer_choice(tmp_path: Path, roads: gpd.GeoDataFrame) -> None:
    path = tmp_path / "city.gpkg"
    save_layer(roads, path, layer="roads")
    save_layer(roads.to_crs(32652), path, layer="roads_utm")
    assert list_layers(path) == ["roads", "roads_utm"]
    with pytest.raises(
        LayerReadError, match="holds 2 layers; choose one with layer=: roads, roads_utm"
    ):
        load_layer(path)
    loaded = load_layer(path, layer="roads_utm")
    assert loaded.layer == "roads_utm"
    assert loaded.driver == "GPKG"
    assert loaded.source_crs == "EPSG:32652"
    assert_same_geometries(loaded.frame, roads.to_crs(32652), tolerance=1e-6)
    assert _names(loaded.frame) == _names(roads)


def test_geopackage_missing_layer_names_the_layers(tmp_path: Path, roads: gpd.GeoDataFrame) -> None:
    path = save_layer(roads, tmp_path / "one.gpkg", layer="roads")
    with pytest.raises(
        LayerReadError, match=r"one\.gpkg has no layer 'trees'; its layers are roads"
    ):
        load_layer(path, layer="trees")


def test_geojson_rfc7946_round_trip(tmp_path: Path, roads: gpd.GeoDataFrame) -> None:
    path = save_layer(roads, tmp_path / "roads.geojson")
    text = json.loads(path.read_text(encoding="utf-8"))
    assert text["features"][0]["geometry"]["type"] == "LineString"
    loaded = load_layer(path)
    assert loaded.source_crs == "EPSG:4326"
    assert_same_geometries(loaded.frame, roads, tolerance=1e-9)
    assert _names(loaded.frame) == _names(roads)


def test_geojson_legacy_crs_member_is_honoured(tmp_path: Path, roads: gpd.GeoDataFrame) -> None:
    utm = roads.to_crs(32652)
    path = save_layer(utm, tmp_path / "roads_utm.geojson")
    member = json.loads(path.read_text(encoding="utf-8"))["crs"]
    assert member["properties"]["name"].endswith("32652")
    loaded = load_layer(path)
    assert loaded.source_crs == "EPSG:32652"
    assert_same_geometries(loaded.frame, utm, tolerance=1e-6)


def test_geojson_without_crs_member_is_wgs84(tmp_path: Path) -> None:
    path = tmp_path / "plain.geojson"
    feature = {
        "type": "Feature",
        "properties": {"id": 1},
        "geometry": {"type": "Point", "coordinates": [126.63, 45.75]},
    }
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    assert load_layer(path).source_crs == "EPSG:4326"


def test_flatgeobuf_round_trip(tmp_path: Path, roads: gpd.GeoDataFrame) -> None:
    path = save_layer(roads.to_crs(32652), tmp_path / "roads.fgb")
    loaded = load_layer(path)
    assert loaded.driver == "FlatGeobuf"
    assert loaded.source_crs == "EPSG:32652"
    # FlatGeobuf's spatial index stores features in Hilbert order
    frame = loaded.frame.sort_values("osm_id").reset_index(drop=True)
    expected = roads.to_crs(32652).sort_values("osm_id").reset_index(drop=True)
    assert_same_geometries(frame, expected, tolerance=1e-6)
    assert _names(frame) == _names(expected)


def test_shapefile_round_trip_honours_prj(tmp_path: Path, roads: gpd.GeoDataFrame) -> None:
    path = save_layer(roads.to_crs(32652), tmp_path / "roads.shp")
    loaded = load_layer(path)
    assert loaded.source_crs == "EPSG:32652"
    assert loaded.encoding == "utf-8"
    assert_same_geometries(loaded.frame, roads.to_crs(32652), tolerance=1e-6)
    assert _names(loaded.frame) == _names(roads)


def test_gbk_shapefile_with_cpg(tmp_path: Path, roads: gpd.GeoDataFrame) -> None:
    chinese = roads.rename(columns={"name": "名称"})
    path = save_layer(chinese, tmp_path / "gbk.shp", encoding="GBK")
    assert path.with_suffix(".cpg").read_text().strip() == "GBK"
    raw = path.with_suffix(".dbf").read_bytes()
    assert "上海街".encode("gbk") in raw or any(
        str(n).encode("gbk") in raw for n in roads["name"].dropna()
    )
    loaded = load_layer(path)
    assert loaded.encoding == "gbk"
    assert "名称" in loaded.frame.columns
    assert loaded.undecodable == ()
    assert [None if pd.isna(v) else v for v in loaded.frame["名称"]] == _names(roads)
    assert_same_geometries(loaded.frame, roads, tolerance=1e-9)


def test_gbk_shapefile_without_cpg_needs_the_encoding(
    tmp_path: Path, roads: gpd.GeoDataFrame
) -> None:
    path = save_layer(roads, tmp_path / "gbk.shp", encoding="GBK")
    path.with_suffix(".cpg").unlink()
    guessed = load_layer(path)
    bad = [p for p in guessed.undecodable if p.field == "name"]
    assert bad, "GBK bytes read as UTF-8 must be reported, not garbled silently"
    assert bad[0].index is not None
    assert bad[0].encoding == "utf-8"
    told = load_layer(path, encoding="gbk")
    assert told.undecodable == ()
    assert _names(told.frame) == _names(roads)


def test_explicit_encoding_overrides_a_wrong_cpg(tmp_path: Path, roads: gpd.GeoDataFrame) -> None:
    path = save_layer(roads, tmp_path / "gbk.shp", encoding="GBK")
    path.with_suffix(".cpg").write_text("UTF-8")
    assert load_layer(path).undecodable
    assert _names(load_layer(path, encoding="GB18030").frame) == _names(roads)


def test_zipped_shapefile_with_prj_and_cpg(tmp_path: Path, roads: gpd.GeoDataFrame) -> None:
    path = save_layer(roads.to_crs(32652), tmp_path / "roads.shp", encoding="GBK")
    archive = tmp_path / "roads.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for suffix in SHAPEFILE_PARTS:
            zf.write(path.with_suffix(suffix), f"export/roads{suffix}")
    loaded = load_layer(archive)
    assert loaded.file == "roads.zip!export/roads.shp"
    assert loaded.source_crs == "EPSG:32652"
    assert loaded.encoding == "gbk"
    assert _names(loaded.frame) == _names(roads)
    assert list_layers(archive) == ["roads"]


def test_zip_with_two_shapefiles_needs_a_layer(tmp_path: Path, roads: gpd.GeoDataFrame) -> None:
    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, frame in (("a", roads.head(3)), ("b", roads.tail(4))):
            path = save_layer(frame, tmp_path / f"{name}.shp")
            for suffix in SHAPEFILE_PARTS:
                zf.write(path.with_suffix(suffix), f"{name}{suffix}")
    with pytest.raises(LayerReadError, match="several layers; choose one with layer=: a, b"):
        load_layer(archive)
    assert len(load_layer(archive, layer="b").frame) == 4


def test_dxf_round_trip_needs_a_crs(tmp_path: Path, roads: gpd.GeoDataFrame) -> None:
    utm = roads.to_crs(32652)
    path = save_layer(utm, tmp_path / "roads.dxf", layer="roads")
    with pytest.raises(MissingCRSError, match=r"roads.dxf: the layer has no CRS \(DXF"):
        load_layer(path)
    loaded = load_layer(path, crs="EPSG:32652")
    assert loaded.driver == "DXF"
    assert loaded.crs_from_caller
    assert set(loaded.frame["cad_layer"]) == {"roads"}
    assert_same_geometries(loaded.frame, utm, tolerance=1e-6)


def test_shapefile_without_prj_is_refused_unless_crs_given(
    tmp_path: Path, roads: gpd.GeoDataFrame
) -> None:
    path = save_layer(roads, tmp_path / "noprj.shp")
    path.with_suffix(".prj").unlink()
    with pytest.raises(MissingCRSError, match=r"noprj\.shp.*has no CRS"):
        load_layer(path)
    assert load_layer(path, crs="EPSG:4326").source_crs == "EPSG:4326"


@pytest.mark.parametrize("suffix", [".kml", ".csv", ""])
def test_unsupported_types_are_refused(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"layer{suffix}"
    path.write_text("x")
    with pytest.raises(LayerReadError, match="unsupported file type"):
        load_layer(path)


def test_corrupt_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "broken.gpkg"
    path.write_bytes(b"not a geopackage at all" * 10)
    with pytest.raises(LayerReadError, match=r"broken\.gpkg"):
        load_layer(path)


def test_unknown_encoding_is_refused(tmp_path: Path, roads: gpd.GeoDataFrame) -> None:
    path = save_layer(roads, tmp_path / "roads.shp")
    with pytest.raises(LayerReadError, match="unknown text encoding 'klingon'"):
        load_layer(path, encoding="klingon")


def test_save_refuses_unknown_suffix_and_missing_crs(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(geometry=[shapely.Point(1, 2)])
    with pytest.raises(MissingCRSError):
        save_layer(frame, tmp_path / "x.gpkg")
    with pytest.raises(LayerReadError, match=r"cannot write \.kml"):
        save_layer(frame.set_crs(4326), tmp_path / "x.kml")
