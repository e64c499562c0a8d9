"""Turn a trench plan's edges into cross-section segments, and sections and quantities for it."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

import geopandas as gpd
import networkx as nx

from routing.graph import road_class_width_m
from routing.quantities import PlanQuantities
from routing.quantities import UnitPrices
from routing.quantities import check_layer_crs
from routing.quantities import plan_quantities
from routing.sections import CrossSection
from routing.sections import ExistingLine
from routing.sections import LineSpec
from routing.sections import SiteConditions
from routing.sections import TrenchSegment
from routing.sections import cross_section
from routing.sections import default_line

if TYPE_CHECKING:
    # only the plan's shape is used (edges with source/target/key, segment_id, utilities,
    # length_m, road_class, geometry; crs), so the optimiser is not a runtime dependency
    from routing.results import TrenchPlan

__all__ = [
    "NON_MOTOR_CLASSES",
    "crossing_lines",
    "lane_for_road_class",
    "quantities_for_plan",
    "sections_for_plan",
    "segments_from_plan",
]

logger = logging.getLogger(__name__)

# road classes without motor traffic: the trench lies under a sidewalk or non-motor lane
NON_MOTOR_CLASSES = frozenset(
    {"footway", "path", "cycleway", "pedestrian", "steps", "living_street"}
)


def lane_for_road_class(road_class: str | None) -> str:
    """``non_motor`` for footways, paths, cycleways and pedestrian streets, else ``motor``.

    Examples
    --------
    >>> lane_for_road_class("footway"), lane_for_road_class("primary"), lane_for_road_class(None)
    ('non_motor', 'motor', 'motor')
    """
    return "non_motor" if road_class in NON_MOTOR_CLASSES else "motor"


def segments_from_plan(
    plan: TrenchPlan,
    *,
    G: nx.MultiGraph | None = None,  # noqa: N803 - networkx's name
    lines: Mapping[str, LineSpec | Sequence[LineSpec]] | None = None,
    existing_lines: gpd.GeoDataFrame | None = None,
    roads: gpd.GeoDataFrame | None = None,
) -> tuple[TrenchSegment, ...]:
    """One :class:`TrenchSegment` per plan edge, with its utilities' lines.

    Parameters
    ----------
    plan
        The optimiser's plan (edges with utility sets, lengths and geometry).
    G
        The road graph the plan was made on; its edges give ``width_m``, ``pavement`` and
        ``road_class``. Without it the road width is unknown (manual review).
    lines
        Line specs per utility; a utility not listed uses :func:`default_line` (documented
        planning sizes, not standards values).
    existing_lines
        Existing underground lines (``underground_lines`` layer, same CRS as the plan) with
        ``utility`` and optional ``subtype``, ``depth_m`` (read as the depth to the line's
        top) and ``diameter_mm``. Those crossing an edge become its vertical-clearance
        checks; a crossing line without depth or diameter makes the section need manual
        review.
    roads
        Road segments (e.g. the stored ``road_segments`` rows) with ``segment_id`` (else
        ``id``), ``width_m``, ``pavement``, ``road_class``, used when ``G`` is not given. A
        missing width takes the class default of ``routing/data/road_class_defaults.csv``
        and is shown as unverified.
    """
    by_segment = _road_attributes(roads)
    if existing_lines is not None:
        crs = G.graph.get("crs") if G is not None else None
        check_layer_crs(crs if crs is not None else plan.crs, existing_lines=existing_lines)
    out = []
    for edge in plan.edges:
        data: Mapping[str, Any] = {}
        if G is not None and G.has_edge(edge.source, edge.target, edge.key):
            data = G.edges[edge.source, edge.target, edge.key]
        elif str(edge.segment_id) in by_segment:
            data = by_segment[str(edge.segment_id)]
        specs: list[LineSpec] = []
        for utility in edge.utilities:
            chosen = (lines or {}).get(utility)
            if chosen is None:
                specs.append(default_line(utility))
            elif isinstance(chosen, LineSpec):
                specs.append(chosen)
            else:
                specs.extend(chosen)
        road_class = edge.road_class or data.get("road_class")
        width = _finite(data.get("width_m"))
        note = ""
        if width is None and data:
            width = road_class_width_m(road_class)
            note = f"class default for {road_class or 'unknown class'} (road_class_defaults.csv)"
        out.append(
            TrenchSegment(
                segment_id=f"{edge.segment_id}:{edge.source}-{edge.target}-{edge.key}",
                lines=tuple(specs),
                geometry=edge.geometry if edge.geometry is not None else data.get("geometry"),
                length_m=edge.length_m,
                road_width_m=width,
                road_width_note=note,
                lane=lane_for_road_class(road_class),
                pavement=data.get("pavement"),
                road_class=road_class,
                crossings=crossing_lines(edge.geometry, existing_lines),
                road_segment_id=str(edge.segment_id),
            )
        )
    return tuple(out)


def crossing_lines(geometry: Any, existing: gpd.GeoDataFrame | None) -> tuple[ExistingLine, ...]:
    """Existing lines of ``existing`` that cross ``geometry``, as :class:`ExistingLine` rows.

    ``depth_m`` is read as the depth to the top; a missing depth or diameter stays ``None``
    (the section then needs manual review).
    """
    if existing is None or len(existing) == 0 or geometry is None or geometry.is_empty:
        return ()
    idx = existing.sindex.query(geometry, predicate="crosses")
    rows = existing.iloc[idx]
    out = []
    for row_id, row in zip(rows.index, rows.itertuples(index=False), strict=True):
        depth = _finite(getattr(row, "depth_m", None))
        diameter = _finite(getattr(row, "diameter_mm", None))
        subtype = getattr(row, "subtype", None)
        out.append(
            ExistingLine(
                utility=str(getattr(row, "utility", "unknown")),
                top_depth_m=depth,
                outside_diameter_mm=diameter,
                subtype=subtype if isinstance(subtype, str) else None,
                label=f"existing {getattr(row, 'utility', 'line')} {row_id}",
            )
        )
    return tuple(out)


def _road_attributes(roads: gpd.GeoDataFrame | None) -> dict[str, dict[str, Any]]:
    if roads is None or len(roads) == 0:
        return {}
    key = "segment_id" if "segment_id" in roads.columns else "id" if "id" in roads.columns else None
    ids = roads[key] if key is not None else roads.index.to_series()
    out: dict[str, dict[str, Any]] = {}
    for ident, row in zip(ids.astype(str), roads.itertuples(index=False), strict=True):
        pavement = getattr(row, "pavement", None)
        road_class = getattr(row, "road_class", None)
        out[ident] = {
            "width_m": getattr(row, "width_m", None),
            "pavement": pavement if isinstance(pavement, str) else None,
            "road_class": road_class if isinstance(road_class, str) else None,
        }
    return out


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def sections_for_plan(
    plan: TrenchPlan,
    *,
    G: nx.MultiGraph | None = None,  # noqa: N803 - networkx's name
    lines: Mapping[str, LineSpec | Sequence[LineSpec]] | None = None,
    site: SiteConditions | None = None,
    method: str = "lp",
    existing_lines: gpd.GeoDataFrame | None = None,
    roads: gpd.GeoDataFrame | None = None,
) -> tuple[tuple[TrenchSegment, ...], tuple[CrossSection, ...]]:
    """Segments and their cross-sections for every edge of a plan.

    See :func:`segments_from_plan` for the parameters; ``site`` and ``method`` go to
    :func:`routing.sections.cross_section`.
    """
    segments = segments_from_plan(
        plan, G=G, lines=lines, existing_lines=existing_lines, roads=roads
    )
    sections = tuple(cross_section(s, site=site, method=method) for s in segments)
    logger.info(
        "plan sections: %d segments, %d need manual review, %d need approval",
        len(sections),
        sum(s.needs_manual_review for s in sections),
        sum(s.needs_approval for s in sections),
    )
    return segments, sections


def quantities_for_plan(
    plan: TrenchPlan,
    *,
    G: nx.MultiGraph | None = None,  # noqa: N803 - networkx's name
    lines: Mapping[str, LineSpec | Sequence[LineSpec]] | None = None,
    site: SiteConditions | None = None,
    prices: UnitPrices | None = None,
    **layers: Any,
) -> tuple[tuple[CrossSection, ...], PlanQuantities]:
    """Sections and quantities of a plan; ``layers`` are passed to :func:`plan_quantities`."""
    segments, sections = sections_for_plan(
        plan, G=G, lines=lines, site=site, existing_lines=layers.get("existing_lines")
    )
    crs = layers.pop("crs", None)
    if crs is None and G is not None:
        crs = G.graph.get("crs")
    if crs is None:
        crs = plan.crs
    return sections, plan_quantities(sections, segments, prices=prices, crs=crs, **layers)
