"""Analyse a route in its city: sections, quantities, warnings and crossings, in one result.

:func:`analyse_route` is the one analysis of a trench route. The plan review page,
``/sections``, the permit quantities, the permit sheets, the review maps and the record
sheet all read the :class:`RouteAnalysis` it returns (through ``api.services.analysis``).
It is pure: the city's layers come in a :class:`CityContext` (read by
``geodata.context.read_city_context``), the date for protection periods comes as ``on``.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from routing.errors import SectionError
from routing.graph import road_class_width_m
from routing.quantities import PlanQuantities
from routing.quantities import UnitPrices
from routing.quantities import check_layer_crs
from routing.quantities import plan_quantities
from routing.results import TrenchPlan
from routing.section_types import FLAG_APPROVAL
from routing.section_types import FLAG_MANUAL_REVIEW
from routing.section_types import CrossSection
from routing.section_types import ExistingLine
from routing.section_types import LineSpec
from routing.section_types import SiteConditions
from routing.section_types import TrenchSegment
from routing.sections import cross_section
from routing.sections import default_line
from routing.standards import protection_end

__all__ = [
    "NON_MOTOR_CLASSES",
    "PARALLEL_MAX_DEG",
    "ROAD_MATCH_M",
    "AnalysisWarning",
    "CityContext",
    "Crossing",
    "RouteAnalysis",
    "analyse_route",
    "lane_for_road_class",
]

logger = logging.getLogger(__name__)

# an edge without a stored road id takes the nearest parallel road within this distance of
# its midpoint (m): a trench lies inside the road it runs along, so a few metres is enough
ROAD_MATCH_M = 3.0
# "parallel": the road's direction at the edge's midpoint differs by at most this (degrees);
# a cross street meeting the edge's middle is not the road it runs along
PARALLEL_MAX_DEG = 30.0
# road classes without motor traffic: the trench lies under a sidewalk or non-motor lane
NON_MOTOR_CLASSES = frozenset(
    {"footway", "path", "cycleway", "pedestrian", "steps", "living_street"}
)
# a fell finding outranks a protect finding of the same tree on another segment
_ACTION_RANK = {"fell": 2, "protect": 1}
# half the step (m) used to read a line's direction around a point
_DIRECTION_STEP_M = 1.0


@dataclass(frozen=True)
class CityContext:
    """What a city holds around a route, every frame in the metric CRS ``crs``.

    ``roads`` carry ``segment_id`` (the stored row id, as plans name it) and optionally
    ``name``, ``road_class``, ``width_m``, ``pavement``, ``built_on``, ``overhauled_on``;
    ``existing_lines`` carry ``utility`` and optional ``subtype``, ``depth_m`` (to the
    top) and ``diameter_mm``; ``trees`` and ``poles`` are points (``poles`` may carry
    ``pole_kind``); ``protected_areas`` are polygons with optional ``name``,
    ``area_kind``, ``protected_until``. A context with no frames is a route outside every
    stored city: widths are unknown and every section needs manual review.
    """

    crs: Any
    roads: gpd.GeoDataFrame | None = None
    trees: gpd.GeoDataFrame | None = None
    poles: gpd.GeoDataFrame | None = None
    existing_lines: gpd.GeoDataFrame | None = None
    protected_areas: gpd.GeoDataFrame | None = None


@dataclass(frozen=True)
class AnalysisWarning:
    """A finding about one edge a reviewer must see (``kind``: manual_review, approval,
    protection_period, protected_area)."""

    edge: str
    kind: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"edge": self.edge, "kind": self.kind, "message": self.message}


@dataclass(frozen=True)
class Crossing:
    """An existing line crossing an edge (its vertical clearance is in the edge's section)."""

    edge: str
    utility: str
    label: str
    top_depth_m: float | None
    surveyed: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "edge": self.edge,
            "utility": self.utility,
            "label": self.label,
            "top_depth_m": self.top_depth_m,
            "surveyed": self.surveyed,
        }


@dataclass(frozen=True)
class RouteAnalysis:
    """A route in its city: a section and quantities per edge, warnings, crossings.

    ``edges`` is the route as analysed (``edge``, ``utilities``, ``n_utilities``,
    ``length_m``, ``road_segment_id``, geometry; in ``crs``); ``segments[i]`` and
    ``sections[i]`` belong to its row ``i``. ``trees`` are the context's trees with
    ``action`` (``fell`` / ``protect`` / empty) and ``affected``; ``protected`` the roads
    inside their protection period on the analysis date and the protected areas, for maps.
    """

    crs: Any
    edges: gpd.GeoDataFrame
    segments: tuple[TrenchSegment, ...]
    sections: tuple[CrossSection, ...]
    quantities: PlanQuantities
    warnings: tuple[AnalysisWarning, ...]
    crossings: tuple[Crossing, ...]
    trees: gpd.GeoDataFrame | None = None
    protected: gpd.GeoDataFrame | None = None

    def section(self, edge: str | None = None) -> CrossSection:
        """The section of edge ``edge``, or of the most shared (then longest) one.

        Raises
        ------
        KeyError
            If the route has no edge ``edge``, or no edge at all.
        """
        by_id = {s.segment_id: s for s in self.sections}
        if edge is not None:
            if edge not in by_id:
                msg = f"the route has no segment {edge!r}"
                raise KeyError(msg)
            return by_id[edge]
        if not self.sections:
            msg = "the route has no segments"
            raise KeyError(msg)
        order = sorted(
            zip(self.edges["n_utilities"], self.edges["length_m"], self.edges["edge"], strict=True),
            key=lambda t: (-int(t[0]), -float(t[1])),
        )
        return by_id[str(order[0][2])]

    def as_dict(self) -> dict[str, Any]:
        """Sections, quantities, warnings and crossings as JSON values."""
        return {
            "sections": [s.as_dict() for s in self.sections],
            "quantities": self.quantities.as_dict(),
            "warnings": [w.as_dict() for w in self.warnings],
            "crossings": [c.as_dict() for c in self.crossings],
        }


def analyse_route(
    route: TrenchPlan | gpd.GeoDataFrame | Sequence[TrenchSegment],
    context: CityContext,
    *,
    site: SiteConditions,
    on: dt.date | None = None,
    lines: Mapping[str, LineSpec | Sequence[LineSpec]] | None = None,
    method: str = "lp",
    prices: UnitPrices | None = None,
) -> RouteAnalysis:
    """Lay out every edge of a route in its road and count what building it takes.

    Parameters
    ----------
    route
        A ``TrenchPlan``; or trench edges as a GeoDataFrame with ``edge``, ``utilities``
        (a list or comma-joined) and optional ``segment_id`` (stored road id),
        ``length_m``, ``road_class``; or ready ``TrenchSegment`` rows (their lines, road
        width, lane and pavement are taken as given; the context adds crossing lines).
    context
        The city's layers around the route (:class:`CityContext`); the route is
        reprojected to ``context.crs``.
    site
        Frost depth and soil (``routing.sections.SiteConditions``).
    on
        The date protection periods are judged on; none: no protection-period warnings.
    lines
        Line specs per utility; others take ``routing.sections.default_line``.
    method, prices
        Passed to ``routing.sections.cross_section`` and ``routing.quantities``.

    Returns
    -------
    RouteAnalysis

    Raises
    ------
    SectionError
        If a layer is in another CRS than ``context.crs``, a segment id repeats, or as
        ``cross_section`` and ``plan_quantities``.

    Notes
    -----
    One rule matches an edge to its road (:func:`_match_roads`): the stored road whose
    ``segment_id`` the edge carries, else the nearest road within ``ROAD_MATCH_M`` of the
    edge's midpoint that runs within ``PARALLEL_MAX_DEG`` of it. A matched road without a
    width takes its class default (shown as unverified); an unmatched edge has an unknown
    width and goes to manual review.
    """
    check_layer_crs(
        context.crs,
        roads=context.roads,
        trees=context.trees,
        poles=context.poles,
        existing_lines=context.existing_lines,
        protected_areas=context.protected_areas,
    )
    roads = _nonempty(context.roads)
    existing = _nonempty(context.existing_lines)
    if _is_segments(route):
        segments = _given_segments(route, existing)  # type: ignore[arg-type]
        edges = _segment_frame(segments, context.crs)
    else:
        edges = _edge_frame(route, context.crs)
        segments = _segments(edges, roads, existing, lines or {})
        edges["road_segment_id"] = [s.road_segment_id for s in segments]
    sections = tuple(cross_section(s, site=site, method=method) for s in segments)
    quantities = plan_quantities(
        sections,
        segments,
        trees=_nonempty(context.trees),
        poles=_nonempty(context.poles),
        roads=roads,
        existing_lines=existing,
        prices=prices,
        crs=context.crs,
    )
    protected_roads = _protected_roads(roads, on)
    warnings = _warnings(segments, sections, protected_roads, context.protected_areas)
    crossings = tuple(
        Crossing(
            edge=s.segment_id,
            utility=c.utility,
            label=c.label,
            top_depth_m=c.top_depth_m,
            surveyed=c.surveyed,
        )
        for s in segments
        for c in s.crossings
    )
    logger.info(
        "route analysed: %d segments, %d need manual review, %d warnings, %d trees to fell",
        len(sections),
        sum(s.needs_manual_review for s in sections),
        len(warnings),
        quantities.trees_to_fell,
    )
    return RouteAnalysis(
        crs=context.crs,
        edges=edges,
        segments=segments,
        sections=sections,
        quantities=quantities,
        warnings=warnings,
        crossings=crossings,
        trees=_mark_trees(context.trees, quantities),
        protected=_protected_frame(protected_roads, roads, context.protected_areas, context.crs),
    )


def lane_for_road_class(road_class: str | None) -> str:
    """``non_motor`` for footways, paths, cycleways and pedestrian streets, else ``motor``.

    Examples
    --------
    >>> lane_for_road_class("footway"), lane_for_road_class("primary"), lane_for_road_class(None)
    ('non_motor', 'motor', 'motor')
    """
    return "non_motor" if road_class in NON_MOTOR_CLASSES else "motor"


# -- the route as edges -----------------------------------------------------------------------


def _is_segments(route: Any) -> bool:
    return (
        isinstance(route, Sequence)
        and not isinstance(route, str)
        and all(isinstance(s, TrenchSegment) for s in route)
    )


def _edge_frame(route: TrenchPlan | gpd.GeoDataFrame, crs: Any) -> gpd.GeoDataFrame:
    if isinstance(route, TrenchPlan):
        frame = gpd.GeoDataFrame(
            {
                "edge": _unique([str(e.segment_id) for e in route.edges]),
                "utilities": [tuple(sorted(e.utilities)) for e in route.edges],
                "segment_id": [str(e.segment_id) for e in route.edges],
                "length_m": [e.length_m for e in route.edges],
                "road_class": [e.road_class for e in route.edges],
            },
            geometry=[e.geometry for e in route.edges],
            crs=route.crs,
        )
    elif isinstance(route, gpd.GeoDataFrame):
        if "edge" not in route.columns or "utilities" not in route.columns:
            msg = f"route edges need 'edge' and 'utilities' columns; got {list(route.columns)}"
            raise SectionError(msg)
        frame = route.copy()
        frame["edge"] = frame["edge"].astype(str)
        frame["utilities"] = [_utilities(u) for u in frame["utilities"]]
    else:
        msg = f"cannot analyse {type(route).__name__}: a TrenchPlan, edges or segments"
        raise SectionError(msg)
    if frame.crs is None:
        msg = "the route has no CRS; give its metric CRS"
        raise SectionError(msg)
    if CRS.from_user_input(frame.crs) != CRS.from_user_input(crs):
        frame = frame.to_crs(crs)
        frame["length_m"] = frame.geometry.length  # reprojected: measure in the city's CRS
    if "length_m" not in frame.columns:
        frame["length_m"] = frame.geometry.length
    frame["length_m"] = [
        float(v) if _finite(v) is not None else float(g.length)
        for v, g in zip(frame["length_m"], frame.geometry, strict=True)
    ]
    frame["n_utilities"] = [len(u) for u in frame["utilities"]]
    if frame["edge"].duplicated().any():
        dup = frame.loc[frame["edge"].duplicated(), "edge"].iloc[0]
        msg = f"route edge {dup!r} given twice"
        raise SectionError(msg)
    return frame


def _unique(ids: list[str]) -> list[str]:
    # a road segment cut into several plan edges repeats its id (maps.frames does the same)
    seen: dict[str, int] = {}
    out = []
    for i in ids:
        n = seen.get(i, 0)
        seen[i] = n + 1
        out.append(i if n == 0 else f"{i}.{n}")
    return out


def _utilities(value: Any) -> tuple[str, ...]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ()
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    return tuple(sorted({v.strip() for v in items if v.strip()}))


def _segments(
    edges: gpd.GeoDataFrame,
    roads: gpd.GeoDataFrame | None,
    existing: gpd.GeoDataFrame | None,
    lines: Mapping[str, LineSpec | Sequence[LineSpec]],
) -> tuple[TrenchSegment, ...]:
    matched = _match_roads(edges, roads)
    out = []
    for i, (row, road) in enumerate(zip(edges.itertuples(index=False), matched, strict=True)):
        geometry = edges.geometry.iloc[i]
        own_class = getattr(row, "road_class", None)
        road_class = own_class if isinstance(own_class, str) and own_class else None
        road_class = road_class or (None if road is None else road["road_class"])
        width = None if road is None else road["width_m"]
        note = ""
        if road is not None and width is None:
            width = road_class_width_m(road_class)
            note = f"class default for {road_class or 'unknown class'} (road_class_defaults.csv)"
        specs: list[LineSpec] = []
        for utility in row.utilities:
            chosen = lines.get(utility)
            if chosen is None:
                specs.append(default_line(utility))
            elif isinstance(chosen, LineSpec):
                specs.append(chosen)
            else:
                specs.extend(chosen)
        out.append(
            TrenchSegment(
                segment_id=str(row.edge),
                lines=tuple(specs),
                geometry=geometry,
                length_m=float(row.length_m),
                road_width_m=width,
                road_width_note=note,
                lane=lane_for_road_class(road_class),
                pavement=None if road is None else road["pavement"],
                road_class=road_class,
                crossings=_crossing_lines(geometry, existing),
                road_segment_id=None if road is None else road["segment_id"],
            )
        )
    return tuple(out)


def _given_segments(
    segments: Sequence[TrenchSegment], existing: gpd.GeoDataFrame | None
) -> tuple[TrenchSegment, ...]:
    seen: set[str] = set()
    out = []
    for s in segments:
        if s.segment_id in seen:
            msg = f"segment id {s.segment_id!r} given twice"
            raise SectionError(msg)
        seen.add(s.segment_id)
        extra = _crossing_lines(s.geometry, existing)
        out.append(s if not extra else _with_crossings(s, s.crossings + extra))
    return tuple(out)


def _with_crossings(s: TrenchSegment, crossings: tuple[ExistingLine, ...]) -> TrenchSegment:
    return TrenchSegment(
        segment_id=s.segment_id,
        lines=s.lines,
        geometry=s.geometry,
        length_m=s.length_m,
        road_width_m=s.road_width_m,
        lane=s.lane,
        pavement=s.pavement,
        road_class=s.road_class,
        crossings=crossings,
        road_width_note=s.road_width_note,
        road_segment_id=s.road_segment_id,
    )


def _segment_frame(segments: Sequence[TrenchSegment], crs: Any) -> gpd.GeoDataFrame:
    utilities = [tuple(sorted({line.utility for line in s.lines})) for s in segments]
    return gpd.GeoDataFrame(
        {
            "edge": [s.segment_id for s in segments],
            "utilities": utilities,
            "n_utilities": [len(u) for u in utilities],
            "length_m": [s.trench_length_m for s in segments],
            "road_segment_id": [s.road_segment_id for s in segments],
        },
        geometry=[s.geometry for s in segments],
        crs=crs,
    )


# -- the one road-matching rule ---------------------------------------------------------------


def _match_roads(
    edges: gpd.GeoDataFrame, roads: gpd.GeoDataFrame | None
) -> list[dict[str, Any] | None]:
    """The road each edge runs along: by stored id, else the nearest parallel one."""
    if roads is None or len(edges) == 0:
        return [None] * len(edges)
    ids = roads["segment_id"].astype(str).tolist() if "segment_id" in roads.columns else []
    position = {ident: i for i, ident in enumerate(ids)}
    carried = edges["segment_id"] if "segment_id" in edges.columns else [None] * len(edges)
    out: list[dict[str, Any] | None] = []
    for geometry, sid in zip(edges.geometry, carried, strict=True):
        j = position.get(_id_text(sid)) if _id_text(sid) is not None else None
        if j is None:
            j = _nearest_parallel(geometry, roads)
        out.append(None if j is None else _road_row(roads, j))
    return out


def _nearest_parallel(geometry: Any, roads: gpd.GeoDataFrame) -> int | None:
    if geometry is None or geometry.is_empty or geometry.length == 0:
        return None
    mid = shapely.line_interpolate_point(geometry, 0.5, normalized=True)
    near = roads.sindex.query(mid, predicate="dwithin", distance=ROAD_MATCH_M)
    heading = _direction(geometry, mid)
    best: tuple[float, int] | None = None
    for j in sorted(int(k) for k in near):
        road = roads.geometry.iloc[j]
        angle = _angle_deg(heading, _direction(road, mid))
        if angle > PARALLEL_MAX_DEG:
            continue
        distance = float(road.distance(mid))
        if best is None or distance < best[0]:
            best = (distance, j)
    return None if best is None else best[1]


def _direction(line: Any, point: Any) -> np.ndarray:
    if line.geom_type == "MultiLineString":
        line = min(line.geoms, key=lambda part: part.distance(point))
    at = line.project(point)
    a = line.interpolate(max(at - _DIRECTION_STEP_M, 0.0))
    b = line.interpolate(min(at + _DIRECTION_STEP_M, line.length))
    return np.array([b.x - a.x, b.y - a.y])


def _angle_deg(u: np.ndarray, v: np.ndarray) -> float:
    nu, nv = float(np.hypot(*u)), float(np.hypot(*v))
    if nu == 0 or nv == 0:
        return 0.0
    cos = abs(float(np.dot(u, v))) / (nu * nv)  # either way along the road
    return math.degrees(math.acos(min(1.0, cos)))


def _road_row(roads: gpd.GeoDataFrame, j: int) -> dict[str, Any]:
    row = roads.iloc[j]
    ident = row.get("segment_id")
    return {
        "segment_id": _id_text(ident) if ident is not None else str(roads.index[j]),
        "road_class": _label(row.get("road_class")),
        "pavement": _label(row.get("pavement")),
        "width_m": _finite(row.get("width_m")),
        "name": _label(row.get("name")),
    }


def _crossing_lines(geometry: Any, existing: gpd.GeoDataFrame | None) -> tuple[ExistingLine, ...]:
    """Existing lines that cross ``geometry`` (``depth_m`` read as the depth to the top)."""
    if existing is None or geometry is None or geometry.is_empty:
        return ()
    idx = existing.sindex.query(geometry, predicate="crosses")
    rows = existing.iloc[np.sort(idx)]
    out = []
    for row_id, row in zip(rows.index, rows.itertuples(index=False), strict=True):
        subtype = getattr(row, "subtype", None)
        utility = str(getattr(row, "utility", "unknown"))
        ident = getattr(row, "id", row_id)
        out.append(
            ExistingLine(
                utility=utility,
                top_depth_m=_finite(getattr(row, "depth_m", None)),
                outside_diameter_mm=_finite(getattr(row, "diameter_mm", None)),
                subtype=subtype if isinstance(subtype, str) else None,
                label=f"existing {utility} {_id_text(ident)}",
            )
        )
    return tuple(out)


# -- warnings, protection, trees --------------------------------------------------------------


def _protected_roads(roads: gpd.GeoDataFrame | None, on: dt.date | None) -> dict[str, dt.date]:
    """Road id -> last protected day, for roads inside their protection period on ``on``."""
    if roads is None or on is None or not {"built_on", "overhauled_on"} & set(roads.columns):
        return {}
    ids = roads["segment_id"] if "segment_id" in roads.columns else roads.index.to_series()
    built = roads["built_on"] if "built_on" in roads.columns else [None] * len(roads)
    overhauled = roads["overhauled_on"] if "overhauled_on" in roads.columns else [None] * len(roads)
    out = {}
    for ident, b, o in zip(ids, built, overhauled, strict=True):
        until = protection_end(_date(b), _date(o))
        if until is not None and until >= on:
            out[str(_id_text(ident))] = until
    return out


def _warnings(
    segments: Sequence[TrenchSegment],
    sections: Sequence[CrossSection],
    protected_roads: Mapping[str, dt.date],
    areas: gpd.GeoDataFrame | None,
) -> tuple[AnalysisWarning, ...]:
    out = []
    areas = _nonempty(areas)
    for seg, sec in zip(segments, sections, strict=True):
        edge = seg.segment_id
        if sec.needs_manual_review:
            reasons = "; ".join(f.message for f in sec.flags if f.kind == FLAG_MANUAL_REVIEW)
            out.append(AnalysisWarning(edge, "manual_review", reasons or "manual review"))
        if sec.needs_approval:
            reasons = "; ".join(f.message for f in sec.flags if f.kind == FLAG_APPROVAL)
            out.append(AnalysisWarning(edge, "approval", reasons or "needs approval"))
        until = protected_roads.get(str(seg.road_segment_id))
        if seg.road_segment_id is not None and until is not None:
            out.append(
                AnalysisWarning(
                    edge,
                    "protection_period",
                    f"道路保护期内 road {seg.road_segment_id} is protected until {until}",
                )
            )
        if areas is not None and seg.geometry is not None:
            for j in np.sort(areas.sindex.query(seg.geometry, predicate="intersects")):
                name = _label(areas.iloc[int(j)].get("name")) or f"area {areas.index[int(j)]}"
                out.append(
                    AnalysisWarning(edge, "protected_area", f"保护区 crosses protected {name}")
                )
    return tuple(out)


def _protected_frame(
    protected_roads: Mapping[str, dt.date],
    roads: gpd.GeoDataFrame | None,
    areas: gpd.GeoDataFrame | None,
    crs: Any,
) -> gpd.GeoDataFrame | None:
    parts = []
    if protected_roads and roads is not None and "segment_id" in roads.columns:
        ids = pd.Series([_id_text(v) for v in roads["segment_id"]], index=roads.index)
        mask = ids.isin(list(protected_roads))
        if mask.any():
            inside = roads.loc[mask.to_numpy()].copy()
            names = inside["name"] if "name" in inside.columns else [None] * len(inside)
            shown = gpd.GeoDataFrame(
                {
                    "name": list(names),
                    "area_kind": "保护期道路 road in protection period",
                    "until": [str(protected_roads[i]) for i in ids[mask.to_numpy()]],
                },
                geometry=inside.geometry.to_numpy(),
                crs=crs,
            )
            parts.append(shown)
    if areas is not None and len(areas):
        cols = [c for c in ("name", "area_kind") if c in areas.columns]
        shown = gpd.GeoDataFrame(areas[cols].copy(), geometry=areas.geometry.to_numpy(), crs=crs)
        if "protected_until" in areas.columns:
            shown["until"] = [
                "" if _date(v) is None else str(_date(v)) for v in areas["protected_until"]
            ]
        parts.append(shown)
    if not parts:
        return areas
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=crs)


def _mark_trees(
    trees: gpd.GeoDataFrame | None, quantities: PlanQuantities
) -> gpd.GeoDataFrame | None:
    if trees is None:
        return None
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


# -- small helpers ----------------------------------------------------------------------------


def _nonempty(gdf: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    return gdf if gdf is not None and len(gdf) else None


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _label(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _id_text(value: Any) -> str | None:
    """An id as text: ``9821`` stays ``"9821"``, never ``"9821.0"``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _date(value: Any) -> dt.date | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return None
    return value if isinstance(value, dt.date) else pd.Timestamp(value).date()
