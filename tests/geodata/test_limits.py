"""Import limits: zip members and unpacked bytes, features and vertices, named in the error.

The limits below are set small on purpose; each test builds a file just past one of them.
The expected values are this test's own (the limit it sets), not the product's defaults.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from geodata.errors import LimitExceededError
from geodata.layers import load_layer
from geodata.limits import ImportLimits
from geodata.limits import copy_limited
from tests.helpers import read_sample

ROADS = read_sample("roads")


def _write(frame: gpd.GeoDataFrame, path: Path) -> Path:
    frame.to_file(path, engine="pyogrio")
    return path


def test_a_zip_that_unpacks_too_large_is_refused_before_unpacking(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("roads.geojson", b" " * (3 * 1024 * 1024))  # 3 MiB of blanks
    assert bomb.stat().st_size < 20_000  # a few kB on the wire
    with pytest.raises(LimitExceededError, match="解压后大小") as raised:
        load_layer(bomb, limits=ImportLimits(unzipped_bytes=1024 * 1024))
    assert raised.value.detail["limit"] == "unzipped_bytes"
    assert raised.value.detail["allowed"] == 1024 * 1024
    assert raised.value.detail["value"] == 3 * 1024 * 1024
    assert raised.value.detail["file"] == "bomb.zip"
    # nothing was unpacked next to it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.zip"]


def test_the_bytes_really_unpacked_are_counted() -> None:
    # a zip's declared sizes could understate; the copy counts what it writes
    limits = ImportLimits(unzipped_bytes=10)
    out = io.BytesIO()
    assert copy_limited(io.BytesIO(b"x" * 6), out, file="a.zip", written=0, limits=limits) == 6
    with pytest.raises(LimitExceededError, match=r"a\.zip") as raised:
        copy_limited(io.BytesIO(b"x" * 6), out, file="a.zip", written=6, limits=limits)
    assert raised.value.detail["value"] == 12


def test_a_zip_of_too_many_members_is_refused(tmp_path: Path) -> None:
    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w") as archive:
        for i in range(12):
            archive.writestr(f"part{i}.txt", b"x")
    with pytest.raises(LimitExceededError, match="压缩包文件数") as raised:
        load_layer(many, limits=ImportLimits(zip_members=10))
    assert raised.value.detail == {
        "limit": "zip_members",
        "allowed": 10,
        "value": 12,
        "file": "many.zip",
    }


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".shp"])
def test_a_layer_of_too_many_features_is_refused(tmp_path: Path, suffix: str) -> None:
    path = _write(ROADS.head(25)[["geometry"]], tmp_path / f"roads{suffix}")
    with pytest.raises(LimitExceededError, match="要素数") as raised:
        load_layer(path, limits=ImportLimits(features=20))
    assert raised.value.detail["limit"] == "features"
    assert raised.value.detail["value"] == 25
    # at the limit it is read
    assert len(load_layer(path, limits=ImportLimits(features=25)).frame) == 25


def test_a_feature_of_too_many_vertices_is_named(tmp_path: Path) -> None:
    frame = ROADS.head(3).copy()
    long_line = shapely.LineString([(126.6 + i * 1e-6, 45.7) for i in range(2_000)])
    frame.loc[frame.index[1], "geometry"] = long_line
    path = _write(frame, tmp_path / "roads.geojson")
    with pytest.raises(LimitExceededError, match="第 1 个要素的顶点数") as raised:
        load_layer(path, limits=ImportLimits(vertices_per_feature=1_000))
    assert raised.value.detail["feature"] == 1
    assert raised.value.detail["value"] == 2_000
    assert raised.value.detail["limit"] == "vertices_per_feature"


def test_a_layer_of_too_many_vertices_in_all_is_refused(tmp_path: Path) -> None:
    path = _write(ROADS.head(30), tmp_path / "roads.gpkg")
    total = int(shapely.get_num_coordinates(ROADS.head(30).geometry.to_numpy()).sum())
    with pytest.raises(LimitExceededError, match="图层顶点总数") as raised:
        load_layer(path, limits=ImportLimits(vertices=total - 1))
    assert raised.value.detail["value"] == total
    load_layer(path, limits=ImportLimits(vertices=total))
