"""Small map fixtures built from the committed sample area, and a city stored in PostGIS."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import Connection
from sqlalchemy import text

from geodata.utilities import normalize_utility
from maps.frames import MapContext
from tests.helpers import read_sample

CRS = "EPSG:32652"
SRID = 32652


def sample_roads() -> gpd.GeoDataFrame:
    roads = read_sample("roads").to_crs(CRS)
    roads = roads.rename(columns={"highway": "road_class"})
    roads["edge"] = roads["osm_id"].astype(str)
    return roads


def sample_trees() -> gpd.GeoDataFrame:
    """The sample's OSM trees plus SYNTHETIC street trees beside the trench block."""
    trees = read_sample("trees").to_crs(CRS)
    trees["source_id"] = "T" + trees["osm_id"].astype(str)
    trees["species"] = trees["leaf_type"].fillna("")
    street = street_trees()
    return gpd.GeoDataFrame(
        pd.concat([trees[["source_id", "species", "geometry"]], street], ignore_index=True),
        geometry="geometry",
        crs=CRS,
    )


# street trees beside each trench edge at these distances (m) from its centreline: the
# first two are inside every utility's tree clearance (CJJ 75-97: 1.0-1.5 m), the last not
STREET_TREE_OFFSETS_M = (0.8, 1.3, 8.0)


def street_trees() -> gpd.GeoDataFrame:
    """SYNTHETIC trees at known distances from the first three trench edges."""
    rows = []
    for e in trench_edges().head(3).itertuples():
        for k, offset in enumerate(STREET_TREE_OFFSETS_M):
            side = shapely.offset_curve(e.geometry, offset)
            rows.append(
                {
                    "source_id": f"S{e.edge}-{k}",
                    "species": "synthetic street tree",
                    "geometry": side.interpolate(0.3 + 0.2 * k, normalized=True),
                }
            )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS)


def sample_proposals() -> gpd.GeoDataFrame:
    proposals = read_sample("proposed_lines").to_crs(CRS)
    proposals["utility"] = proposals["utility"].map(normalize_utility)
    return proposals


def trench_edges(n_edges: int = 8) -> gpd.GeoDataFrame:
    """A hand-made trench plan on the sample roads: utility sets of 1 to 4 sharers."""
    roads = sample_roads()
    # a compact block, so the plan fits one sheet at a standard scale
    centre = roads.geometry.union_all().centroid
    block = shapely.box(centre.x - 150, centre.y - 120, centre.x + 150, centre.y + 120)
    roads = roads.clip(block).explode(ignore_index=True)
    roads = roads[(roads.geom_type == "LineString") & (roads.geometry.length > 25)]
    roads = roads.drop_duplicates("edge").head(n_edges)
    sets = [
        {"water", "gas", "power", "telecom"},
        {"water", "gas", "power"},
        {"water", "gas"},
        {"water"},
        {"heat", "power"},
        {"telecom"},
        {"water", "heat", "drainage"},
        {"power", "telecom"},
    ]
    return gpd.GeoDataFrame(
        {
            "edge": roads["edge"].to_numpy(),
            "utilities": [sets[i % len(sets)] for i in range(len(roads))],
        },
        geometry=roads.geometry.to_numpy(),
        crs=CRS,
    )


def sample_context(edges: gpd.GeoDataFrame) -> MapContext:
    roads = sample_roads()
    trees = sample_trees()
    near = shapely.union_all(edges.geometry.to_numpy()).buffer(1.5)
    trees["affected"] = trees.intersects(near)
    protected = read_sample("protected_areas").to_crs(CRS)
    first = edges.iloc[0]
    mid = first.geometry.interpolate(0.5, normalized=True)
    warnings = gpd.GeoDataFrame(
        {"rule": ["protection_period"], "message": ["道路保护期内 road inside protection period"]},
        geometry=[mid],
        crs=CRS,
    )
    groups = gpd.GeoDataFrame(
        {
            "group": ["G1"],
            "utilities": ["water, gas, power, telecom"],
            "projects": ["P1, P2"],
            "length_m": [first.geometry.length],
        },
        geometry=[first.geometry],
        crs=CRS,
    )
    return MapContext(
        roads=roads, trees=trees, protected=protected, groups=groups, warnings=warnings
    )


@dataclass(frozen=True)
class StoredCity:
    name: str
    city_id: int
    counts: dict[str, int]


def store_city(conn: Connection, *, name: str | None = None) -> StoredCity:
    """Insert a city with the sample roads, trees, protected areas and proposals."""
    name = name or f"maps_{uuid.uuid4().hex[:8]}"
    extent = shapely.box(126.40, 45.55, 126.88, 45.94).wkt
    city_id = conn.execute(
        text(
            "INSERT INTO cities (name, title, srid, crs, extent) VALUES "
            "(:name, :title, :srid, :crs, ST_GeomFromText(:extent, 4326)) RETURNING id"
        ),
        {"name": name, "title": "测试城 Test city", "srid": SRID, "crs": CRS, "extent": extent},
    ).scalar_one()
    counts = {
        "roads": _store(conn, city_id, "roads", sample_roads(), _road_row),
        "trees": _store(conn, city_id, "trees", sample_trees(), _tree_row),
        "proposed_lines": _store(conn, city_id, "proposed_lines", sample_proposals(), _prop_row),
    }
    return StoredCity(name=name, city_id=city_id, counts=counts)


def _store(conn: Connection, city_id: int, kind: str, gdf: gpd.GeoDataFrame, row) -> int:  # type: ignore[no-untyped-def]
    layer_id = conn.execute(
        text(
            "INSERT INTO layers (city_id, kind, name, source_file, source_format, source_crs, "
            "feature_count) VALUES (:c, :k, :n, 'tests/data/sample_area.gpkg', 'GPKG', "
            "'EPSG:4326', :f) RETURNING id"
        ),
        {"c": city_id, "k": kind, "n": kind, "f": len(gdf)},
    ).scalar_one()
    table, columns = {
        "roads": ("road_segments", ("name", "road_class", "bridge", "tunnel", "level")),
        "trees": ("trees", ("species",)),
        "proposed_lines": (
            "proposed_lines",
            ("utility", "project", "applicant", "planned_start", "planned_end"),
        ),
    }[kind]
    params = [
        {"layer_id": layer_id, "city_id": city_id, "wkb": geom.wkb, **row(r)}
        for geom, r in zip(gdf.geometry, gdf.itertuples(), strict=True)
    ]
    cols = ", ".join(columns)
    vals = ", ".join(f":{c}" for c in columns)
    conn.execute(
        text(
            f"INSERT INTO {table} (layer_id, city_id, srid, source_id, attrs, geom, {cols}) "
            f"VALUES (:layer_id, :city_id, {SRID}, :source_id, '{{}}', "
            f"ST_GeomFromWKB(:wkb, {SRID}), {vals})"
        ),
        params,
    )
    return len(gdf)


def _road_row(r: object) -> dict[str, object]:
    name = getattr(r, "name", None)
    return {
        "source_id": str(getattr(r, "osm_id", "")),
        "name": None if pd.isna(name) else name,
        "road_class": getattr(r, "road_class", None),
        "bridge": False,
        "tunnel": False,
        "level": 0,
    }


def _tree_row(r: object) -> dict[str, object]:
    return {"source_id": str(getattr(r, "source_id", "")), "species": getattr(r, "species", None)}


def _prop_row(r: object) -> dict[str, object]:
    return {
        "source_id": str(getattr(r, "id", "")),
        "utility": getattr(r, "utility", None),
        "project": getattr(r, "project", None),
        "applicant": getattr(r, "applicant", None),
        "planned_start": _date(getattr(r, "planned_start", None)),
        "planned_end": _date(getattr(r, "planned_end", None)),
    }


def _date(value: object) -> dt.date:
    return pd.Timestamp(str(value)).date()
