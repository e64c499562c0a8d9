"""Shared test helpers: the committed sample area and geometry asserters."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import shapely

__all__ = ["SAMPLE_LAYERS", "assert_same_geometries", "read_sample", "sample_path"]

TEST_DATA = Path(__file__).resolve().parent / "data"
SAMPLE_AREA = TEST_DATA / "sample_area.gpkg"

# layers of tests/data/sample_area.gpkg (made by data/make_sample.py): a block of central
# Harbin (OSM, EPSG:4326) with SYNTHETIC proposals and bridge areas in EPSG:32652, plus real
# Nagaoka underground lines (PLATEAU, EPSG:6676)
SAMPLE_LAYERS = ("city", "roads", "trees", "proposed_lines", "protected_areas", "nagaoka_lines")


def sample_path(name: str) -> Path:
    """Return the GeoPackage that holds sample layer ``name`` (read it with ``layer=name``)."""
    if name not in SAMPLE_LAYERS:
        msg = f"no sample layer {name!r}; the layers are {', '.join(SAMPLE_LAYERS)}"
        raise KeyError(msg)
    return SAMPLE_AREA


def read_sample(name: str) -> gpd.GeoDataFrame:
    """Read one sample layer as a GeoDataFrame in its stored CRS."""
    return gpd.read_file(sample_path(name), layer=name)


def assert_same_geometries(
    left: gpd.GeoSeries | gpd.GeoDataFrame,
    right: gpd.GeoSeries | gpd.GeoDataFrame,
    *,
    tolerance: float = 0.0,
) -> None:
    """Assert two geometry sequences are equal pairwise, within ``tolerance`` (CRS units)."""
    a = left.geometry.to_numpy() if hasattr(left, "geometry") else left.to_numpy()
    b = right.geometry.to_numpy() if hasattr(right, "geometry") else right.to_numpy()
    assert len(a) == len(b), f"{len(a)} geometries != {len(b)}"
    same = shapely.equals_exact(a, b, tolerance=tolerance)
    bad = [i for i, ok in enumerate(same) if not ok]
    assert not bad, (
        f"{len(bad)} geometries differ, first at index {bad[0]}: {a[bad[0]]} != {b[bad[0]]}"
    )
