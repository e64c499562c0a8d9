"""Read what a fixed route's maps and sheets show: city layers, sections and quantities."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geodata.storage import CityInfo
from geodata.storage import get_city
from geodata.storage import read_features
from maps import style
from maps.frames import MapContext
from maps.frames import TrenchFrames
from routing.graph import road_class_width_m
from routing.plan_sections import lane_for_road_class
from routing.quantities import PlanQuantities
from routing.quantities import plan_quantities
from routing.section_types import CrossSection
from routing.section_types import SiteConditions
from routing.section_types import TrenchSegment
from routing.sections import cross_section
from routing.sections import default_line
from routing.standards import protection_end

__all__ = [
    "CONTEXT_MARGIN_M",
    "KIND_KEYS",
    "RouteAnalysis",
    "analyse_route",
    "city_of",
    "data_attribution",
    "quantity_table",
    "route_segments",
]

logger = logging.getLogger(__name__)

# context drawn around a route: this far beyond its extent (m)
CONTEXT_MARGIN_M = 150.0
# the store's layer kinds -> the review map's layer keys
KIND_KEYS = {
    "roads": "roads",
    "underground_lines": "existing",
    "proposed_lines": "proposed",
    "trees": "trees",
    "poles": "poles",
    "protected_areas": "protected",
}
# credit lines of the sample cities shipped in data/ (DATA_LICENSES.md); other cities are
# credited as their own layers
DATA_ATTRIBUTIONS = {
    "harbin": "© OpenStreetMap contributors (ODbL); 拟建管线为合成数据 proposals synthetic",
    "nagaoka": "3D都市モデル（Project PLATEAU）長岡市（2024年度）（国土交通省）CC BY 4.0",
}
# a fell finding outranks a protect finding of the same tree on another segment
_ACTION_RANK = {"fell": 2, "protect": 1}


@dataclass(frozen=True)
class RouteAnalysis:
    """A route in its city: the map context, a section per segment and the quantities.

    ``quantities`` is None when the route lies in no stored city (no layers to count).
    Trees in ``context.trees`` carry ``action`` (``fell`` / ``protect`` / empty) and
    ``affected`` from the quantities' tree findings (CJJ 75-97 表6.2.1 via routing).
    """

    frames: TrenchFrames
    city: CityInfo | None
    context: MapContext
    sections: tuple[CrossSection, ...]
    quantities: PlanQuantities | None

    def section(self, edge: str | None = None) -> CrossSection:
        """The section of segment ``edge``, or of the most shared (then longest) one.

        Raises
        ------
        KeyError
            If the route has no segment ``edge``.
        """
        by_id = {s.segment_id: s for s in self.sections}
        if edge is not None:
            if edge not in by_id:
                msg = f"the route has no segment {edge!r}"
                raise KeyError(msg)
            return by_id[edge]
        edges = self.frames.edges.sort_values(["n_utilities", "length_m"], ascending=False)
        return by_id[str(edges["edge"].iloc[0])]


def analyse_route(session: Session, frames: TrenchFrames) -> RouteAnalysis:
    """Read the city layers around a route, lay out each segment and count what it takes.

    Each segment gets each of its utilities' typical line (``routing.sections.
    default_line``) under issue 6's placer, at the city's frost depth, on the road it runs
    along (width, pavement, lane from the stored road segments). Quantities come from
    ``routing.quantities.plan_quantities`` with the stored trees, poles, roads and lines.
    """
    city = city_of(session, frames)
    frost = None if city is None else city.frost_depth_m
    if city is not None:
        frames = frames.to_crs(city.srid)
    site = SiteConditions(frost_depth_m=frost)
    if city is None:
        segments = route_segments(frames)
        sections = tuple(cross_section(s, site=site) for s in segments)
        return RouteAnalysis(frames, None, MapContext(), sections, None)
    context, bbox = _context(session, city, frames)
    segments = route_segments(frames, roads=context.roads)
    sections = tuple(cross_section(s, site=site) for s in segments)
    quantities = plan_quantities(
        sections,
        segments,
        trees=context.trees,
        poles=context.poles,
        roads=context.roads,
        existing_lines=context.existing,
        crs=city.srid,
    )
    trees = context.trees
    if trees is not None:
        trees = _mark_trees(trees, quantities)
    groups, warnings = _colocation(session, city.id, bbox)
    context = MapContext(
        roads=context.roads,
        existing=context.existing,
        trees=trees,
        poles=context.poles,
        protected=context.protected,
        groups=groups,
        warnings=warnings,
    )
    logger.info(
        "route analysed in %s: %d segments, %d trees to fell, %d to protect",
        city.name,
        len(segments),
        quantities.trees_to_fell,
        quantities.trees_to_protect,
    )
    return RouteAnalysis(frames, city, context, sections, quantities)


def route_segments(
    frames: TrenchFrames, *, roads: gpd.GeoDataFrame | None = None
) -> list[TrenchSegment]:
    """One trench segment per route edge, with each of its utilities' typical line.

    With ``roads`` (the stored road segments around the route, same CRS) each edge takes the
    width, pavement, class and lane of the road it runs along: the road nearest the edge's
    midpoint within ``ROAD_MATCH_M``. A road without a width takes its class default, shown
    as unverified; an edge with no road nearby keeps an unknown width (manual review).
    """
    attributes = _road_for_edges(frames.edges, roads)
    out = []
    for e, road in zip(frames.edges.itertuples(), attributes, strict=True):
        utilities = [u for u in style.UTILITIES if u in str(e.utilities).split(", ")]
        road_class = road.get("road_class")
        width = road.get("width_m")
        note = ""
        if road and width is None:
            width = road_class_width_m(road_class)
            note = f"class default for {road_class or 'unknown class'} (road_class_defaults.csv)"
        out.append(
            TrenchSegment(
                segment_id=str(e.edge),
                lines=tuple(default_line(u) for u in utilities),
                geometry=e.geometry,
                road_width_m=width,
                road_width_note=note,
                lane=lane_for_road_class(road_class),
                pavement=road.get("pavement"),
                road_class=road_class,
            )
        )
    return out


ROAD_MATCH_M = 3.0


def _road_for_edges(
    edges: gpd.GeoDataFrame, roads: gpd.GeoDataFrame | None
) -> list[dict[str, Any]]:
    if roads is None or len(roads) == 0 or len(edges) == 0:
        return [{} for _ in range(len(edges))]
    mids = shapely.line_interpolate_point(edges.geometry.values, 0.5, normalized=True)
    edge_idx, road_idx = roads.sindex.nearest(mids, max_distance=ROAD_MATCH_M, return_all=False)
    found: dict[int, dict[str, Any]] = {}
    for i, j in zip(edge_idx, road_idx, strict=True):
        row = roads.iloc[int(j)]
        width = row.get("width_m")
        found[int(i)] = {
            "road_class": _label(row.get("road_class")),
            "pavement": _label(row.get("pavement")),
            "width_m": float(width) if width is not None and pd.notna(width) else None,
        }
    return [found.get(i, {}) for i in range(len(edges))]


def _label(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def quantity_table(quantities: PlanQuantities) -> list[tuple[str, str, str]]:
    """The rows of the quantities table on the excavation sheet and the review page."""
    rows = [
        ("沟槽长度 Trench length", f"{quantities.trench_length_m:.1f}", "m"),
        ("开挖土方 Excavation", f"{quantities.excavation_m3:.1f}", "m³"),
        ("回填 Backfill", f"{quantities.backfill_m3:.1f}", "m³"),
    ]
    rows.extend(
        (f"路面恢复 Restoration ({pavement})", f"{area:.1f}", "m²")
        for pavement, area in sorted(quantities.restoration_area_m2_by_pavement.items())
    )
    rows += [
        ("占道面积 Road occupation", f"{quantities.occupation_area_m2:.1f}", "m²"),
        ("应伐树木 Trees to fell", str(quantities.trees_to_fell), "株"),
        ("需保护树木 Trees to protect", str(quantities.trees_to_protect), "株"),
        ("间距内杆线 Poles in clearance", str(quantities.poles_in_clearance), "根"),
        ("穿越道路 Road crossings", str(quantities.road_crossings), "处"),
        ("穿越既有管线 Line crossings", str(sum(quantities.line_crossings.values())), "处"),
    ]
    for key, cost in quantities.costs_cny.items():
        if cost is not None:
            rows.append((f"费用 Cost: {key}", f"{cost:,.0f}", "CNY"))
    if quantities.needs_manual_review:
        rows.append(("需人工复核 Manual review", str(len(quantities.needs_manual_review)), "段"))
    return rows


def data_attribution(city: CityInfo | None) -> str:
    """The credit line for a city's data on maps and sheets."""
    if city is None:
        return "数据 Data: 申请人提供 as filed by the applicant"
    return DATA_ATTRIBUTIONS.get(
        city.name, f"数据 Data: {city.title or city.name} 城市图层 city layers"
    )


def city_of(session: Session, frames: TrenchFrames) -> CityInfo | None:
    """The stored city whose extent holds the route's centre (the smallest, if nested)."""
    centre = shapely.box(*frames.edges.to_crs(4326).total_bounds).centroid
    name = session.execute(
        text(
            "SELECT name FROM cities WHERE ST_Intersects(extent, ST_GeomFromText(:p, 4326)) "
            "ORDER BY ST_Area(extent) LIMIT 1"
        ),
        {"p": centre.wkt},
    ).scalar()
    return None if name is None else get_city(session, name)


def _context(
    session: Session, city: CityInfo, frames: TrenchFrames
) -> tuple[MapContext, tuple[float, float, float, float]]:
    minx, miny, maxx, maxy = frames.edges.total_bounds
    m = CONTEXT_MARGIN_M
    bbox = (minx - m, miny - m, maxx + m, maxy + m)
    layers = {
        key: _without_attrs(read_features(session, city=city.name, kind=kind, bbox=bbox))
        for kind, key in KIND_KEYS.items()
        if key != "proposed"
    }
    context = MapContext(
        roads=layers["roads"],
        existing=layers["existing"],
        trees=layers["trees"],
        poles=layers["poles"],
        protected=_protected(layers["roads"], layers["protected"], on=dt.date.today()),
    )
    return context, bbox


def _protected(
    roads: gpd.GeoDataFrame, areas: gpd.GeoDataFrame, *, on: dt.date
) -> gpd.GeoDataFrame:
    """Roads inside their protection period on ``on`` (article 33), and protected areas."""
    parts = []
    if len(roads) and {"built_on", "overhauled_on"} <= set(roads.columns):
        until = [
            protection_end(_date(b), _date(o))
            for b, o in zip(roads["built_on"], roads["overhauled_on"], strict=True)
        ]
        mask = [u is not None and u >= on for u in until]
        inside = roads.loc[mask, ["name", "geometry"]].copy()
        inside["area_kind"] = "保护期道路 road in protection period"
        inside["until"] = [str(u) for u, m in zip(until, mask, strict=True) if m]
        parts.append(inside)
    if len(areas):
        shown = areas[[c for c in ("name", "area_kind", "geometry") if c in areas.columns]].copy()
        if "protected_until" in areas.columns:
            shown["until"] = [_text(v) for v in areas["protected_until"]]
        parts.append(shown)
    if not parts:
        return areas
    return gpd.GeoDataFrame(
        pd.concat(parts, ignore_index=True), geometry="geometry", crs=areas.crs or roads.crs
    )


def _text(value: Any) -> str:
    return "" if _date(value) is None else str(_date(value))


def _date(value: Any) -> dt.date | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return None
    return value if isinstance(value, dt.date) else pd.Timestamp(value).date()


def _mark_trees(trees: gpd.GeoDataFrame, quantities: PlanQuantities) -> gpd.GeoDataFrame:
    actions: dict[Any, str] = {}
    for segment in quantities.segments:
        for finding in segment.trees:
            old = actions.get(finding.tree_id)
            if old is None or _ACTION_RANK[finding.action] > _ACTION_RANK[old]:
                actions[finding.tree_id] = finding.action
    out = trees.copy()
    out["action"] = [actions.get(i, "") for i in out.index]
    out["affected"] = out["action"] != ""
    return out


def _colocation(
    session: Session, city_id: int, bbox: tuple[float, float, float, float]
) -> tuple[gpd.GeoDataFrame | None, gpd.GeoDataFrame | None]:
    """Co-location groups and located warnings of issue 4's tables within ``bbox``."""
    params = {"c": city_id, "x0": bbox[0], "y0": bbox[1], "x1": bbox[2], "y1": bbox[3]}
    box = "ST_MakeEnvelope(:x0, :y0, :x1, :y1, srid)"
    connection = session.connection()
    groups = gpd.read_postgis(
        text(
            "SELECT 'G' || id AS group, key, utilities, array_to_string(projects, ', ') AS "
            "projects, shared_length_m AS length_m, window_start || ' – ' || window_end AS "
            f"window, geom FROM colocation_groups WHERE city_id = :c AND geom && {box} "
            "ORDER BY id"
        ),
        connection,
        params=params,
        geom_col="geom",
    )
    warnings = gpd.read_postgis(
        text(
            "SELECT id, kind, rule || ' (' || verification || ')' AS rule, message, geom "
            f"FROM colocation_warnings WHERE city_id = :c AND geom IS NOT NULL AND geom && {box} "
            "ORDER BY id"
        ),
        connection,
        params=params,
        geom_col="geom",
    )
    return groups, warnings


def _without_attrs(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    # the importer keeps extra source fields in ``attrs``; maps only need the columns
    return gdf.drop(columns=[c for c in ("attrs",) if c in gdf.columns])
