"""Derive the quantities the four road and tree permits are decided on from trench sections.

Per road segment and per plan: trench length, excavation and backfill volume, pavement
restoration area by pavement type, road occupation area (trench plus working strips) and
duration, trees inside the clearance buffers (to fell or to protect; 砍伐城市树木), the lines
attached to the road and existing poles in their way (依附于城市道路建设管线、杆线), and road
and existing-line crossings (占用 / 挖掘城市道路). Prices come only from the city-filled
``routing/data/unit_prices.yaml``; with none there, costs are ``None``, never invented.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import yaml
from pyproj import CRS
from pyproj.exceptions import CRSError
from shapely.geometry.base import BaseGeometry

from routing import standards as std
from routing.errors import SectionError
from routing.sections import CrossSection
from routing.sections import PlacedLine
from routing.sections import TrenchSegment

__all__ = [
    "UNIT_PRICES_PATH",
    "PlanQuantities",
    "SegmentQuantities",
    "TreeFinding",
    "UnitPrices",
    "bedding_volume_m3",
    "check_layer_crs",
    "load_unit_prices",
    "plan_quantities",
    "quantities_frame",
    "segment_quantities",
]

logger = logging.getLogger(__name__)

UNIT_PRICES_PATH = Path(__file__).parent / "data" / "unit_prices.yaml"
_PRICE_KEYS = (
    "excavation_cny_per_m3",
    "backfill_cny_per_m3",
    "occupation_cny_per_m2_day",
    "tree_felling_cny_each",
)
_RATE_KEYS = ("trench_m_per_day", "restoration_days")
_UNKNOWN_PAVEMENT = "unknown"


@dataclass(frozen=True, slots=True)
class UnitPrices:
    """City-filled prices and work rates; every field may be missing (``None`` / empty)."""

    currency: str = "CNY"
    source: str = ""
    restoration_cny_per_m2: Mapping[str, float] = field(default_factory=dict)
    excavation_cny_per_m3: float | None = None
    backfill_cny_per_m3: float | None = None
    occupation_cny_per_m2_day: float | None = None
    tree_felling_cny_each: float | None = None
    trench_m_per_day: float | None = None
    restoration_days: float | None = None

    @property
    def empty(self) -> bool:
        """No price at all: report quantities only."""
        return not self.restoration_cny_per_m2 and all(
            getattr(self, k) is None for k in _PRICE_KEYS
        )


@dataclass(frozen=True, slots=True)
class TreeFinding:
    """A tree inside a line's clearance buffer: ``fell`` if inside the dig, else ``protect``."""

    tree_id: Any
    segment_id: str
    action: str
    line: str
    distance_m: float
    rule: std.RuleValue

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return {
            "tree_id": _jsonable(self.tree_id),
            "segment_id": self.segment_id,
            "action": self.action,
            "line": self.line,
            "distance_m": round(self.distance_m, 3),
            "required_m": self.rule.value,
            "clause": self.rule.clause,
            "verification": self.rule.verification,
        }


@dataclass(frozen=True, slots=True)
class SegmentQuantities:
    """Quantities of one trench segment (lengths m, areas m², volumes m³, days)."""

    segment_id: str
    road_segment_id: str
    status: str
    needs_manual_review: bool
    needs_approval: bool
    unverified: bool
    road_class: str | None
    pavement: str
    lane: str
    trench_length_m: float
    surface_width_m: float
    bottom_width_m: float
    depth_m: float
    excavation_m3: float
    lines_volume_m3: float
    backfill_m3: float
    restoration_area_m2: float
    occupation_width_m: float
    occupation_area_m2: float
    occupation_days: float | None
    lines_attached: tuple[tuple[str, str, float], ...]
    trees: tuple[TreeFinding, ...]
    poles_in_clearance: tuple[Any, ...]
    poles_unknown_rule: tuple[Any, ...]
    road_crossings: int
    line_crossings: Mapping[str, int]
    costs_cny: Mapping[str, float | None]
    notes: tuple[str, ...] = ()
    bedding_m3: float = 0.0

    @property
    def trees_to_fell(self) -> int:
        """Trees inside the dig."""
        return sum(t.action == "fell" for t in self.trees)

    @property
    def trees_to_protect(self) -> int:
        """Trees outside the dig but inside a line's clearance buffer."""
        return sum(t.action == "protect" for t in self.trees)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return {
            "segment_id": self.segment_id,
            "road_segment_id": self.road_segment_id,
            "status": self.status,
            "needs_manual_review": self.needs_manual_review,
            "needs_safety_measures_and_approval": self.needs_approval,
            "unverified": self.unverified,
            "road_class": self.road_class,
            "pavement": self.pavement,
            "lane": self.lane,
            "trench_length_m": round(self.trench_length_m, 3),
            "surface_width_m": round(self.surface_width_m, 4),
            "bottom_width_m": round(self.bottom_width_m, 4),
            "depth_m": round(self.depth_m, 4),
            "excavation_m3": round(self.excavation_m3, 3),
            "lines_volume_m3": round(self.lines_volume_m3, 3),
            "bedding_m3": round(self.bedding_m3, 3),
            "backfill_m3": round(self.backfill_m3, 3),
            "restoration_area_m2": round(self.restoration_area_m2, 3),
            "occupation_width_m": round(self.occupation_width_m, 4),
            "occupation_area_m2": round(self.occupation_area_m2, 3),
            "occupation_days": self.occupation_days,
            "lines_attached": [
                {"utility": u, "subtype": s, "length_m": round(length, 3)}
                for u, s, length in self.lines_attached
            ],
            "trees_to_fell": self.trees_to_fell,
            "trees_to_protect": self.trees_to_protect,
            "trees": [t.as_dict() for t in self.trees],
            "poles_in_clearance": [_jsonable(p) for p in self.poles_in_clearance],
            "poles_unknown_rule": [_jsonable(p) for p in self.poles_unknown_rule],
            "road_crossings": self.road_crossings,
            "line_crossings": dict(self.line_crossings),
            "costs_cny": dict(self.costs_cny),
            "notes": list(self.notes),
        }


@dataclass(frozen=True, slots=True)
class PlanQuantities:
    """Totals of a plan and its segments; trees are counted once even if near two segments."""

    segments: tuple[SegmentQuantities, ...]
    trench_length_m: float
    excavation_m3: float
    backfill_m3: float
    restoration_area_m2_by_pavement: Mapping[str, float]
    occupation_area_m2: float
    occupation_by_lane: Mapping[str, Mapping[str, float]]
    by_road_segment: Mapping[str, Mapping[str, Any]]
    trees_to_fell: int
    trees_to_protect: int
    poles_in_clearance: int
    road_crossings: int
    line_crossings: Mapping[str, int]
    lines_attached_m: Mapping[str, float]
    costs_cny: Mapping[str, float | None]
    needs_manual_review: tuple[str, ...]
    needs_approval: tuple[str, ...]
    unverified: bool
    prices_source: str

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return {
            "totals": {
                "trench_length_m": round(self.trench_length_m, 3),
                "excavation_m3": round(self.excavation_m3, 3),
                "backfill_m3": round(self.backfill_m3, 3),
                "restoration_area_m2_by_pavement": {
                    k: round(v, 3) for k, v in self.restoration_area_m2_by_pavement.items()
                },
                "occupation_area_m2": round(self.occupation_area_m2, 3),
                "occupation_by_lane": {
                    lane: {k: round(v, 3) for k, v in row.items()}
                    for lane, row in self.occupation_by_lane.items()
                },
                "trees_to_fell": self.trees_to_fell,
                "trees_to_protect": self.trees_to_protect,
                "poles_in_clearance": self.poles_in_clearance,
                "road_crossings": self.road_crossings,
                "line_crossings": dict(self.line_crossings),
                "lines_attached_m": {k: round(v, 3) for k, v in self.lines_attached_m.items()},
                "costs_cny": dict(self.costs_cny),
            },
            "needs_manual_review": list(self.needs_manual_review),
            "needs_safety_measures_and_approval": list(self.needs_approval),
            "unverified": self.unverified,
            "prices_source": self.prices_source,
            "by_road_segment": {k: dict(v) for k, v in self.by_road_segment.items()},
            "segments": [s.as_dict() for s in self.segments],
        }


# -- public functions ---------------------------------------------------------------------------


def load_unit_prices(path: Path | str | None = None) -> UnitPrices:
    """Read the city's unit prices (default ``routing/data/unit_prices.yaml``, empty).

    Raises
    ------
    SectionError
        A price or rate is not a number >= 0; the message names the file and key.
    """
    file = Path(path) if path is not None else UNIT_PRICES_PATH
    return _load_unit_prices(file)


def segment_quantities(
    section: CrossSection,
    segment: TrenchSegment,
    *,
    trees: gpd.GeoDataFrame | None = None,
    poles: gpd.GeoDataFrame | None = None,
    roads: gpd.GeoDataFrame | None = None,
    existing_lines: gpd.GeoDataFrame | None = None,
    prices: UnitPrices | None = None,
    crs: Any = None,
    spoil_on_site: bool = False,
) -> SegmentQuantities:
    """Quantities of one segment from its section.

    Parameters
    ----------
    section, segment
        The section computed for ``segment`` (same ``segment_id``).
    trees, poles, roads, existing_lines
        Optional layers in the segments' metric ``crs`` (checked). ``poles`` may carry
        ``pole_kind`` (a 表4.1.9 pole subtype); ``existing_lines`` ``utility``.
    prices
        City prices; default :func:`load_unit_prices` (empty: costs ``None``).
    spoil_on_site
        Keep spoil beside the trench (adds a heap no higher than GB 50268 §4.3.4 allows to the
        occupied width); by default spoil is hauled away.

    Returns
    -------
    SegmentQuantities

    Raises
    ------
    SectionError
        Section and segment ids differ, or a layer's CRS is missing, geographic or differs.

    Notes
    -----
    Excavation per metre is the trapezoid ``(B + W) / 2 * H`` (B bottom, W surface width, H
    depth, bedding included); bedding (GB 50268 / GB 50217) is :func:`bedding_volume_m3`;
    backfill is excavation less the lines' outside volume and the bedding. Occupied width is the
    surface width plus the clear strip GB 50268 §4.3.4 keeps between spoil and the trench
    edge, on both sides (working space).
    """
    if section.segment_id != segment.segment_id:
        msg = f"section {section.segment_id!r} is not for segment {segment.segment_id!r}"
        raise SectionError(msg)
    prices = prices if prices is not None else load_unit_prices()
    check_layer_crs(crs, trees=trees, poles=poles, roads=roads, existing_lines=existing_lines)
    geometry = std.trench_geometry()
    length = section.length_m
    area = (section.bottom_width_m + section.surface_width_m) / 2.0 * section.depth_m
    excavation = area * length
    lines_volume = sum(math.pi * p.spec.radius_m**2 for p in section.lines) * length
    bedding = bedding_volume_m3(section)
    backfill = max(excavation - lines_volume - bedding, 0.0)
    restoration = section.surface_width_m * length
    strip = float(geometry["spoil_heap"]["min_distance_from_edge_m"])
    occupation_width = section.surface_width_m + 2.0 * strip
    notes = [f"working strip {strip:g} m each side (GB 50268-2008 §4.3.4 spoil clear of the edge)"]
    if spoil_on_site:
        height = float(geometry["spoil_heap"]["max_height_m"])
        heap = area / height
        occupation_width += heap
        notes.append(f"spoil heap {heap:.2f} m wide at <= {height:g} m high (no bulking)")
    occupation_area = occupation_width * length
    days = None
    if prices.trench_m_per_day and prices.restoration_days is not None:
        days = length / prices.trench_m_per_day + prices.restoration_days
    else:
        notes.append("occupation duration needs work rates in unit_prices.yaml")
    pavement = segment.pavement or _UNKNOWN_PAVEMENT
    found_trees = _trees(section, segment, trees)
    in_clear, unknown_poles = _poles(section, segment, poles)
    costs = _costs(
        prices,
        pavement=pavement,
        excavation=excavation,
        backfill=backfill,
        restoration=restoration,
        occupation=occupation_area,
        days=days,
        felled=sum(t.action == "fell" for t in found_trees),
    )
    return SegmentQuantities(
        segment_id=segment.segment_id,
        road_segment_id=segment.road_segment_id or segment.segment_id,
        status=section.status,
        needs_manual_review=section.needs_manual_review,
        needs_approval=section.needs_approval,
        unverified=section.unverified,
        road_class=segment.road_class,
        pavement=pavement,
        lane=segment.lane,
        trench_length_m=length,
        surface_width_m=section.surface_width_m,
        bottom_width_m=section.bottom_width_m,
        depth_m=section.depth_m,
        excavation_m3=excavation,
        lines_volume_m3=lines_volume,
        bedding_m3=bedding,
        backfill_m3=backfill,
        restoration_area_m2=restoration,
        occupation_width_m=occupation_width,
        occupation_area_m2=occupation_area,
        occupation_days=days,
        lines_attached=tuple((p.spec.utility, p.spec.subtype or "", length) for p in section.lines),
        trees=found_trees,
        poles_in_clearance=in_clear,
        poles_unknown_rule=unknown_poles,
        road_crossings=_road_crossings(segment, roads),
        line_crossings=_line_crossings(segment, existing_lines),
        costs_cny=costs,
        notes=tuple(notes),
    )


def plan_quantities(
    sections: Sequence[CrossSection],
    segments: Sequence[TrenchSegment],
    *,
    trees: gpd.GeoDataFrame | None = None,
    poles: gpd.GeoDataFrame | None = None,
    roads: gpd.GeoDataFrame | None = None,
    existing_lines: gpd.GeoDataFrame | None = None,
    prices: UnitPrices | None = None,
    crs: Any = None,
    spoil_on_site: bool = False,
) -> PlanQuantities:
    """Quantities of every segment of a plan and their totals.

    Same parameters as :func:`segment_quantities`; ``sections[i]`` belongs to
    ``segments[i]``. An empty plan gives zero totals.

    Raises
    ------
    SectionError
        Lengths differ, or as :func:`segment_quantities`.
    """
    if len(sections) != len(segments):
        msg = f"{len(sections)} sections for {len(segments)} segments"
        raise SectionError(msg)
    prices = prices if prices is not None else load_unit_prices()
    check_layer_crs(crs, trees=trees, poles=poles, roads=roads, existing_lines=existing_lines)
    per = tuple(
        segment_quantities(
            sec,
            seg,
            trees=trees,
            poles=poles,
            roads=roads,
            existing_lines=existing_lines,
            prices=prices,
            crs=crs,
            spoil_on_site=spoil_on_site,
        )
        for sec, seg in zip(sections, segments, strict=True)
    )
    return _totals(per, prices)


def quantities_frame(quantities: PlanQuantities) -> pd.DataFrame:
    """One row per segment (for CSV): ids, status, lengths, areas, volumes, counts, costs."""
    rows = []
    for q in quantities.segments:
        row = {
            "segment_id": q.segment_id,
            "road_segment_id": q.road_segment_id,
            "status": q.status,
            "unverified": q.unverified,
            "road_class": q.road_class,
            "pavement": q.pavement,
            "lane": q.lane,
            "trench_length_m": q.trench_length_m,
            "surface_width_m": q.surface_width_m,
            "bottom_width_m": q.bottom_width_m,
            "depth_m": q.depth_m,
            "excavation_m3": q.excavation_m3,
            "backfill_m3": q.backfill_m3,
            "restoration_area_m2": q.restoration_area_m2,
            "occupation_area_m2": q.occupation_area_m2,
            "occupation_days": q.occupation_days,
            "utilities": ";".join(u for u, _, _ in q.lines_attached),
            "trees_to_fell": q.trees_to_fell,
            "trees_to_protect": q.trees_to_protect,
            "poles_in_clearance": len(q.poles_in_clearance),
            "road_crossings": q.road_crossings,
            "line_crossings": sum(q.line_crossings.values()),
        }
        for key, value in q.costs_cny.items():
            row[f"cost_{key}_cny"] = value
        rows.append(row)
    return pd.DataFrame(rows)


# -- helpers ------------------------------------------------------------------------------------


@functools.cache
def _load_unit_prices(file: Path) -> UnitPrices:
    if not file.is_file():
        msg = f"unit prices file missing: {file}"
        raise SectionError(msg)
    doc = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    if not isinstance(doc, Mapping):
        msg = f"{file.name}: top level must be a mapping"
        raise SectionError(msg)

    def number(value: Any, key: str) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            msg = f"{file.name}: {key} must be a number >= 0 or null, got {value!r}"
            raise SectionError(msg)
        return float(value)

    restoration = doc.get("restoration_cny_per_m2") or {}
    if not isinstance(restoration, Mapping):
        msg = f"{file.name}: restoration_cny_per_m2 must map pavement type to CNY/m2"
        raise SectionError(msg)
    rates = doc.get("work_rates") or {}
    return UnitPrices(
        currency=str(doc.get("currency", "CNY")),
        source=str(doc.get("source") or ""),
        restoration_cny_per_m2={
            str(k): number(v, f"restoration_cny_per_m2.{k}") or 0.0 for k, v in restoration.items()
        },
        **{k: number(doc.get(k), k) for k in _PRICE_KEYS},
        **{k: number(rates.get(k), f"work_rates.{k}") for k in _RATE_KEYS},
    )


def check_layer_crs(crs: Any, **layers: gpd.GeoDataFrame | None) -> None:
    """Refuse layers whose CRS is missing or differs from the segments' metric ``crs``.

    Raises
    ------
    SectionError
        ``crs`` missing (with layers given), unknown or geographic; a layer without CRS or in
        another one (the message names the layer and says to reproject).
    """
    given = {name: gdf for name, gdf in layers.items() if gdf is not None}
    if not given:
        return
    if crs is None:
        msg = f"give the segments' metric crs to compare with layers {sorted(given)}"
        raise SectionError(msg)
    try:
        target = CRS.from_user_input(crs)
    except CRSError as exc:
        msg = f"unknown crs {crs!r}: give an EPSG code such as 'EPSG:32652'"
        raise SectionError(msg) from exc
    if not target.is_projected:
        msg = f"crs {target.name!r} is not projected: quantities need metres"
        raise SectionError(msg)
    for name, gdf in given.items():
        if gdf.crs is None:
            msg = f"layer {name!r} has no CRS; set it to {target.name!r}"
            raise SectionError(msg)
        if CRS.from_user_input(gdf.crs) != target:
            msg = (
                f"layer {name!r} is in {gdf.crs.name!r} but the segments are in {target.name!r}; "
                "reproject it with .to_crs() first"
            )
            raise SectionError(msg)


def _offset_line(segment: TrenchSegment, line: PlacedLine) -> BaseGeometry | None:
    geom = segment.geometry
    if geom is None or geom.is_empty or geom.length == 0:
        return None
    if abs(line.offset_m) < 1e-9:
        return geom
    # offset_curve: positive distance is to the left of the line's direction
    return geom.offset_curve(-line.offset_m)


def _tree_rule(line: PlacedLine) -> std.RuleValue | None:
    """The larger of the CJJ 75 tree distance and GB 50289 表4.1.9's line-tree cell."""
    spec = line.spec
    tags = {spec.subtype} if spec.subtype else set()
    candidates = [
        std.tree_clearance(spec.key, tags | set(spec.tags)),
        std.horizontal_clearance(spec.key, tags | set(spec.tags), "tree", None),
    ]
    rules = [r for r in candidates if r is not None]
    return max(rules, key=lambda r: r.value) if rules else None


def _trees(
    section: CrossSection, segment: TrenchSegment, trees: gpd.GeoDataFrame | None
) -> tuple[TreeFinding, ...]:
    if trees is None or len(trees) == 0 or segment.geometry is None or segment.geometry.is_empty:
        return ()
    dig = segment.geometry.buffer(section.surface_width_m / 2.0, cap_style="flat")
    reach = max(
        (abs(p.offset_m) + p.spec.radius_m + (r.value if (r := _tree_rule(p)) else 0.0))
        for p in section.lines
    )
    window = segment.geometry.buffer(max(reach, section.surface_width_m / 2.0), cap_style="flat")
    candidates = trees.iloc[trees.sindex.query(window, predicate="intersects")]
    axes = [(line, _tree_rule(line), _offset_line(segment, line)) for line in section.lines]
    found: list[TreeFinding] = []
    for tree_id, point in zip(candidates.index, candidates.geometry, strict=True):
        # CJJ 75 distances run from the line's outer wall to the tree centre
        near = sorted(
            (float(axis.distance(point)) - line.spec.radius_m, k)
            for k, (line, rule, axis) in enumerate(axes)
            if rule is not None and axis is not None
        )
        if not near:
            continue
        inside_dig = bool(dig.intersects(point))
        violated = [(d, k) for d, k in near if d < axes[k][1].value - 1e-9]  # type: ignore[union-attr]
        if not inside_dig and not violated:
            continue
        distance, k = violated[0] if violated else near[0]
        line, rule, _ = axes[k]
        assert rule is not None
        found.append(
            TreeFinding(
                tree_id,
                segment.segment_id,
                "fell" if inside_dig else "protect",
                line.spec.name,
                distance,
                rule,
            )
        )
    return tuple(found)


def _poles(
    section: CrossSection, segment: TrenchSegment, poles: gpd.GeoDataFrame | None
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    if poles is None or len(poles) == 0 or segment.geometry is None or segment.geometry.is_empty:
        return (), ()
    kinds = (
        poles["pole_kind"] if "pole_kind" in poles.columns else pd.Series(None, index=poles.index)
    )
    window = segment.geometry.buffer(
        section.surface_width_m / 2.0 + _max_pole_reach(section), cap_style="flat"
    )
    idx = poles.sindex.query(window, predicate="intersects")
    in_clear: list[Any] = []
    unknown: list[Any] = []
    for pole_id, point, kind in zip(
        poles.index[idx], poles.geometry.iloc[idx], kinds.iloc[idx], strict=True
    ):
        hit = False
        missing = False
        for line in section.lines:
            tags = {line.spec.subtype} if line.spec.subtype else set()
            rule = std.horizontal_clearance(
                line.spec.key, tags, "pole", kind if isinstance(kind, str) else None
            )
            axis = _offset_line(segment, line)
            if axis is None:
                continue
            if rule is None:
                missing = True
                continue
            if float(axis.distance(point)) - line.spec.radius_m < rule.value - 1e-9:
                hit = True
        if hit:
            in_clear.append(pole_id)
        elif missing:
            unknown.append(pole_id)
    return tuple(in_clear), tuple(unknown)


def _max_pole_reach(section: CrossSection) -> float:
    values = [
        row.rule.value
        for row in std.load_standards().horizontal
        if "pole" in (row.utility_a, row.utility_b)
    ]
    return max(values, default=0.0) + max((p.spec.radius_m for p in section.lines), default=0.0)


def _road_crossings(segment: TrenchSegment, roads: gpd.GeoDataFrame | None) -> int:
    if roads is None or len(roads) == 0 or segment.geometry is None or segment.geometry.is_empty:
        return 0
    idx = roads.sindex.query(segment.geometry, predicate="crosses")
    return len(idx)


def _line_crossings(segment: TrenchSegment, existing: gpd.GeoDataFrame | None) -> Mapping[str, int]:
    if (
        existing is None
        or len(existing) == 0
        or segment.geometry is None
        or segment.geometry.is_empty
    ):
        return {}
    idx = existing.sindex.query(segment.geometry, predicate="crosses")
    if "utility" in existing.columns:
        kinds = existing["utility"].iloc[idx].fillna("unknown").astype(str)
    else:
        kinds = pd.Series(["unknown"] * len(idx))
    return {str(k): int(v) for k, v in kinds.value_counts().sort_index().items()}


def _costs(
    prices: UnitPrices,
    *,
    pavement: str,
    excavation: float,
    backfill: float,
    restoration: float,
    occupation: float,
    days: float | None,
    felled: int,
) -> dict[str, float | None]:
    def times(price: float | None, qty: float | None) -> float | None:
        return None if price is None or qty is None else price * qty

    return {
        "excavation": times(prices.excavation_cny_per_m3, excavation),
        "backfill": times(prices.backfill_cny_per_m3, backfill),
        "restoration": times(prices.restoration_cny_per_m2.get(pavement), restoration),
        "occupation": times(
            prices.occupation_cny_per_m2_day, None if days is None else occupation * days
        ),
        "tree_felling": times(prices.tree_felling_cny_each, float(felled)),
    }


def _totals(per: Sequence[SegmentQuantities], prices: UnitPrices) -> PlanQuantities:
    by_pavement: dict[str, float] = {}
    crossings: dict[str, int] = {}
    attached: dict[str, float] = {}
    for q in per:
        by_pavement[q.pavement] = by_pavement.get(q.pavement, 0.0) + q.restoration_area_m2
        for k, v in q.line_crossings.items():
            crossings[k] = crossings.get(k, 0) + v
        for utility, _, length in q.lines_attached:
            attached[utility] = attached.get(utility, 0.0) + length
    # a tree near two segments counts once, with its strongest action
    actions: dict[Any, str] = {}
    for q in per:
        for t in q.trees:
            if actions.get(t.tree_id) != "fell":
                actions[t.tree_id] = t.action
    poles = {p for q in per for p in q.poles_in_clearance}
    # the road permit form asks carriageway and sidewalk length, width and area separately
    by_lane: dict[str, dict[str, float]] = {}
    for q in per:
        lane = std.LANES.get(q.lane, q.lane)
        row = by_lane.setdefault(lane, {"length_m": 0.0, "area_m2": 0.0})
        row["length_m"] += q.trench_length_m
        row["area_m2"] += q.occupation_area_m2
    for row in by_lane.values():
        row["mean_width_m"] = row["area_m2"] / row["length_m"] if row["length_m"] else 0.0
    by_road: dict[str, dict[str, Any]] = {}
    for q in per:
        road = by_road.setdefault(
            q.road_segment_id,
            {
                "road_class": q.road_class,
                "pieces": 0,
                "trench_length_m": 0.0,
                "excavation_m3": 0.0,
                "backfill_m3": 0.0,
                "restoration_area_m2": 0.0,
                "occupation_area_m2": 0.0,
                "trees_to_fell": 0,
                "trees_to_protect": 0,
                "needs_manual_review": False,
                "needs_safety_measures_and_approval": False,
            },
        )
        road["pieces"] += 1
        for key in (
            "trench_length_m",
            "excavation_m3",
            "backfill_m3",
            "restoration_area_m2",
            "occupation_area_m2",
        ):
            road[key] += getattr(q, key)
        road["trees_to_fell"] += q.trees_to_fell
        road["trees_to_protect"] += q.trees_to_protect
        road["needs_manual_review"] |= q.needs_manual_review
        road["needs_safety_measures_and_approval"] |= q.needs_approval
    costs: dict[str, float | None] = {}
    for key in ("excavation", "backfill", "restoration", "occupation", "tree_felling"):
        values = [q.costs_cny.get(key) for q in per]
        costs[key] = None if not values or any(v is None for v in values) else float(np.sum(values))  # type: ignore[arg-type]
    return PlanQuantities(
        segments=tuple(per),
        trench_length_m=float(sum(q.trench_length_m for q in per)),
        excavation_m3=float(sum(q.excavation_m3 for q in per)),
        backfill_m3=float(sum(q.backfill_m3 for q in per)),
        restoration_area_m2_by_pavement=by_pavement,
        occupation_area_m2=float(sum(q.occupation_area_m2 for q in per)),
        occupation_by_lane=by_lane,
        by_road_segment=by_road,
        trees_to_fell=sum(a == "fell" for a in actions.values()),
        trees_to_protect=sum(a == "protect" for a in actions.values()),
        poles_in_clearance=len(poles),
        road_crossings=sum(q.road_crossings for q in per),
        line_crossings=crossings,
        lines_attached_m=attached,
        costs_cny=costs,
        needs_manual_review=tuple(q.segment_id for q in per if q.needs_manual_review),
        needs_approval=tuple(q.segment_id for q in per if q.needs_approval),
        unverified=any(q.unverified for q in per),
        prices_source=prices.source if not prices.empty else "no unit prices: quantities only",
    )


def bedding_volume_m3(section: CrossSection) -> float:
    """Sand and gravel bedding (m³): each line's bedding thickness across ``D0 + 2 b1``.

    The bedding lies under each pipe over its working zone (the pipe and b1 each side,
    GB 50268-2008 §4.3.2), times the section's length.
    """
    total = 0.0
    for p in section.lines:
        if p.bedding is None:
            continue
        zone = p.spec.outside_diameter_mm / 1000.0 + 2.0 * p.working_width.value
        total += p.bedding.value * zone
    return total * section.length_m


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value
