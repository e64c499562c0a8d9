"""Cut the sample cities and the test sample area from the shared real data.

Run from the repository root (needs ``../shared/data``)::

    .venv/bin/python data/make_sample.py

Writes ``data/harbin.gpkg``, ``data/nagaoka.gpkg`` and ``tests/data/sample_area.gpkg``.
Real layers are cut from OpenStreetMap (Harbin, ODbL) and PLATEAU (Nagaoka, CC BY 4.0)
without geometry edits. Proposed lines, projects, applicants, planned dates and the
built/overhauled dates of a few roads are SYNTHETIC, drawn with a fixed seed; every
synthetic feature carries ``synthetic = true``.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.ops import substring

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"
SEED = 20261125

# central Harbin (Daoli, Nangang): a few thousand OSM ways
HARBIN_BOX = (126.59, 45.73, 126.67, 45.79)
# the whole OSM extract's box plus a margin: the city extent used for "outside the city" checks
HARBIN_EXTENT = (126.40, 45.55, 126.88, 45.94)
# a small block for the tests sample (tests/data/sample_area.gpkg)
TEST_BOX = (126.652, 45.735, 126.670, 45.751)
ROAD_CLASSES = (
    "motorway",
    "motorway_link",
    "trunk",
    "trunk_link",
    "primary",
    "primary_link",
    "secondary",
    "secondary_link",
    "tertiary",
    "tertiary_link",
    "unclassified",
    "residential",
    "living_street",
    "service",
    "pedestrian",
)
ROAD_FIELDS = [
    "osm_id",
    "name",
    "name_en",
    "highway",
    "lanes",
    "oneway",
    "bridge",
    "tunnel",
    "layer",
    "surface",
]
# Nagaoka: the two tiles that hold water, power, storm sewer and gas together
NAGAOKA_TILES = ("08EE753", "08EE754")
NAGAOKA_UTILITIES = ("water_supply", "power_low_voltage", "power_high_voltage", "sewer", "gas")

# synthetic proposals: the label used in the file (Chinese, as a city would send it),
# the lateral offset from the road centreline in metres, and typical sizes
UTILITY_STYLE = {
    "water": ("给水", 4.5, "DN", (100, 150, 200, 300)),
    "drainage": ("排水", 0.0, "DN", (300, 400, 600)),
    "power": ("电力", -5.0, "10kV", (150, 200)),
    "telecom": ("通信", -6.5, "光缆", (100,)),
    "gas": ("燃气", 6.0, "中压", (110, 160, 200)),
    "heat": ("供热", 3.0, "DN", (200, 300, 400)),
}
APPLICANTS = {
    "water": "示例供水有限公司（合成）",
    "drainage": "示例排水集团（合成）",
    "power": "示例供电公司（合成）",
    "telecom": "示例通信公司（合成）",
    "gas": "示例燃气有限公司（合成）",
    "heat": "示例热力集团（合成）",
}
PROJECTS = (
    "新建住宅小区配套接入",
    "学校扩建工程市政接入",
    "商业综合体新建接入",
    "老旧小区改造管线更新",
    "医院新院区市政配套",
    "产业园标准厂房接入",
    "体育馆改造配套接入",
    "公交场站新建接入",
    "社区卫生中心新建接入",
    "办公楼新建市政配套",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=SHARED)
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)

    roads = _harbin_roads(args.shared)
    trees = _harbin_trees(args.shared)
    protected_ids = _pick_protected_roads(roads, rng)
    roads = _add_protected_dates(roads, protected_ids, rng)
    proposals = _synthetic_proposals(roads, protected_ids, rng)
    bridges = _bridges(roads)
    harbin_city = _city(
        "harbin",
        "哈尔滨 Harbin（OSM 道路；拟建管线为合成数据）",
        "EPSG:32652",
        HARBIN_EXTENT,
        frost_depth_m=2.0,
    )
    out = REPO / "data" / "harbin.gpkg"
    _write(
        out,
        {
            "city": harbin_city,
            "roads": roads,
            "trees": trees,
            "proposed_lines": proposals,
            "protected_areas": bridges,
        },
    )

    lines = _nagaoka_lines(args.shared)
    west, south, east, north = lines.to_crs(4326).total_bounds
    nagaoka_city = _city(
        "nagaoka",
        "長岡市 Nagaoka（PLATEAU 地下埋設物）",
        "EPSG:6676",
        (west - 0.05, south - 0.05, east + 0.05, north + 0.05),
        frost_depth_m=None,
    )
    _write(REPO / "data" / "nagaoka.gpkg", {"city": nagaoka_city, "underground_lines": lines})

    # the tests sample: a small block of the same layers; proposals and protected areas in
    # EPSG:32652 and the Nagaoka lines in EPSG:6676, so not every layer is WGS 84
    box = shapely.box(*TEST_BOX)
    test_roads = roads[shapely.within(shapely.centroid(roads.geometry.to_numpy()), box)]
    near = box.buffer(0.002)
    test_trees = trees  # trees are sparse in OSM here: keep them all
    test_props = proposals.to_crs(32652)
    test_props = test_props[test_props.to_crs(4326).intersects(near)]
    test_bridges = bridges.to_crs(32652)
    test_bridges = test_bridges[test_bridges.to_crs(4326).intersects(near)]
    test_lines = lines[lines["tile"] == "08EE754"].iloc[::8]
    _write(
        REPO / "tests" / "data" / "sample_area.gpkg",
        {
            "city": harbin_city,
            "roads": test_roads,
            "trees": test_trees,
            "proposed_lines": test_props,
            "protected_areas": test_bridges,
            "nagaoka_lines": test_lines,
        },
        spatial_index=False,
    )


def _harbin_roads(shared: Path) -> gpd.GeoDataFrame:
    roads = gpd.read_file(shared / "harbin_osm" / "harbin_roads.geojson")
    box = shapely.box(*HARBIN_BOX)
    # shapely directly: geopandas warns about centroids in degrees, harmless for a cut
    middle = shapely.centroid(roads.geometry.to_numpy())
    keep = roads["highway"].isin(ROAD_CLASSES) & shapely.within(middle, box)
    roads = roads.loc[keep, [*ROAD_FIELDS, "geometry"]].copy()
    roads["osm_id"] = roads["osm_id"].astype("int64")
    return roads.sort_values("osm_id").reset_index(drop=True)


def _harbin_trees(shared: Path) -> gpd.GeoDataFrame:
    trees = gpd.read_file(shared / "harbin_osm" / "harbin_trees.geojson")
    box = shapely.box(*HARBIN_BOX).buffer(0.02)
    keep = (trees.geom_type == "Point") & trees.within(box)
    trees = trees.loc[keep, ["osm_id", "natural", "leaf_type", "leaf_cycle", "height", "geometry"]]
    return trees.sort_values("osm_id").reset_index(drop=True)


def _pick_protected_roads(roads: gpd.GeoDataFrame, rng: np.random.Generator) -> list[int]:
    metric = roads.to_crs(32652)
    major = metric[
        metric["highway"].isin(("primary", "secondary", "tertiary"))
        & (metric.length > 400)
        & metric["bridge"].isna()
    ]
    chosen = rng.choice(major["osm_id"].to_numpy(), size=16, replace=False)
    return sorted(int(x) for x in chosen)


def _add_protected_dates(
    roads: gpd.GeoDataFrame, protected_ids: list[int], rng: np.random.Generator
) -> gpd.GeoDataFrame:
    roads = roads.copy()
    roads["built_on"] = pd.Series([None] * len(roads), dtype="object", index=roads.index)
    roads["overhauled_on"] = pd.Series([None] * len(roads), dtype="object", index=roads.index)
    roads["dates_synthetic"] = False
    for k, osm_id in enumerate(protected_ids):
        row = roads.index[roads["osm_id"] == osm_id][0]
        if k % 2 == 0:  # new or rebuilt road: 5-year moratorium
            day = dt.date(2022, 6, 1) + dt.timedelta(days=int(rng.integers(0, 1200)))
            roads.loc[row, "built_on"] = day.isoformat()
        else:  # overhauled road: 3-year moratorium
            roads.loc[row, "built_on"] = dt.date(int(rng.integers(1995, 2012)), 9, 30).isoformat()
            day = dt.date(2024, 5, 1) + dt.timedelta(days=int(rng.integers(0, 700)))
            roads.loc[row, "overhauled_on"] = day.isoformat()
        roads.loc[row, "dates_synthetic"] = True
    return roads


def _synthetic_proposals(
    roads: gpd.GeoDataFrame, protected_ids: list[int], rng: np.random.Generator
) -> gpd.GeoDataFrame:
    metric = roads.to_crs(32652)
    candidates = metric[
        metric["highway"].isin(("primary", "secondary", "tertiary", "residential"))
        & (metric.length > 350)
        & metric["bridge"].isna()
    ]
    # half the projects run along protected roads so moratorium checks find something
    on_protected = candidates[candidates["osm_id"].isin(protected_ids)]
    others = candidates[~candidates["osm_id"].isin(protected_ids)]
    rows = []
    for p, title in enumerate(PROJECTS):
        pool = on_protected if p % 2 == 0 and len(on_protected) else others
        road = pool.iloc[int(rng.integers(len(pool)))]
        line = road.geometry
        span_m = float(min(line.length * 0.9, rng.uniform(200, 700)))
        start_m = float(rng.uniform(0, line.length - span_m))
        n_utilities = int(rng.integers(2, 5))
        kinds = rng.choice(list(UTILITY_STYLE), size=n_utilities, replace=False)
        start_date = dt.date(2027, 3, 1) + dt.timedelta(days=int(rng.integers(0, 200)))
        side = 1 if rng.random() < 0.5 else -1
        for kind in kinds:
            label, offset_m, subtype, sizes = UTILITY_STYLE[str(kind)]
            a = start_m + float(rng.uniform(0, 0.15)) * span_m
            b = start_m + span_m - float(rng.uniform(0, 0.15)) * span_m
            along = substring(line, a, b)
            if offset_m:
                along = along.offset_curve(offset_m)
            if along.geom_type != "LineString" or along.length < 50:
                continue
            # the service stub from the road to the new customer's plot
            end = np.asarray(along.coords[-1])
            prev = np.asarray(along.coords[-2])
            tangent = (end - prev) / np.linalg.norm(end - prev)
            normal = np.array([-tangent[1], tangent[0]]) * side
            stub_m = 25.0 + abs(offset_m) * 2
            geom = shapely.LineString([*along.coords, tuple(end + normal * stub_m)])
            begin = start_date + dt.timedelta(days=int(rng.integers(0, 30)))
            finish = begin + dt.timedelta(days=int(rng.integers(20, 90)))
            rows.append(
                {
                    "id": f"P{p + 1:02d}-{kind}",
                    "utility": label,
                    "subtype": subtype,
                    "diameter_mm": float(rng.choice(sizes)),
                    "project": f"示例项目 P{p + 1:02d}：{title}（合成）",
                    "applicant": APPLICANTS[str(kind)],
                    "planned_start": begin.isoformat(),
                    "planned_end": finish.isoformat(),
                    "along_osm_id": int(road["osm_id"]),
                    "synthetic": True,
                    "geometry": shapely.set_precision(geom, 0.01),
                }
            )
    return gpd.GeoDataFrame(rows, crs=32652).to_crs(4326)


def _bridges(roads: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    metric = roads.to_crs(32652)
    bridges = metric[metric["bridge"].isin(("yes", "viaduct"))].copy()
    lanes = pd.to_numeric(bridges["lanes"], errors="coerce").fillna(2)
    half_width_m = lanes * 3.5 / 2 + 1.0
    geoms = [
        shapely.MultiPolygon([g.buffer(w, cap_style="flat")])
        for g, w in zip(bridges.geometry, half_width_m, strict=True)
    ]
    out = gpd.GeoDataFrame(
        {
            "id": [f"bridge-{i}" for i in bridges["osm_id"]],
            "area_kind": "bridge",
            "name": bridges["name"].to_numpy(),
            "osm_id": bridges["osm_id"].to_numpy(),
            "synthetic": False,
        },
        geometry=geoms,
        crs=32652,
    )
    return out.to_crs(4326)


def _nagaoka_lines(shared: Path) -> gpd.GeoDataFrame:
    lines = gpd.read_file(shared / "plateau_nagaoka_unf" / "nagaoka_unf.gpkg", layer="lines")
    keep = lines["tile"].isin(NAGAOKA_TILES) & lines["utility"].isin(NAGAOKA_UTILITIES)
    cols = ["gml_id", "tile", "utility", "element", "name_ja", "name_en", "year"]
    lines = lines.loc[keep, [*cols, "geometry"]].copy()
    return lines.sort_values("gml_id").reset_index(drop=True)


def _city(
    name: str,
    title: str,
    crs: str,
    extent: tuple[float, float, float, float],
    *,
    frost_depth_m: float | None,
) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"name": [name], "title": [title], "crs": [crs], "frost_depth_m": [frost_depth_m]},
        geometry=[shapely.box(*extent)],
        crs=4326,
    )


def _write(path: Path, layers: dict[str, gpd.GeoDataFrame], *, spatial_index: bool = True) -> None:
    path.unlink(missing_ok=True)
    for name, frame in layers.items():
        frame.to_file(
            path, layer=name, driver="GPKG", SPATIAL_INDEX="YES" if spatial_index else "NO"
        )
    print(
        f"{path.relative_to(REPO)}: {path.stat().st_size / 1024:.0f} KB, "
        + ", ".join(f"{n} {len(f)}" for n, f in layers.items())
    )


if __name__ == "__main__":
    main()
