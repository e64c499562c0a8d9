"""Lay out the lines of a shared trench across its section under GB 50289 and size the dig.

For one trench segment and its lines this module fixes the horizontal order (GB 50289-2016
§4.1.3), the positions that meet every pairwise horizontal clearance edge to edge (表4.1.9;
half outside diameters added) at least width (an LP, :mod:`routing.placement`), the depth of
each line from the minimum cover for the lane (表4.1.1) or the city's frost depth (§4.1.1),
vertical clearances to existing lines that cross (表4.1.14), and the trench bottom width
``B = D0 + 2(b1 + b2 + b3)`` (GB 50268-2008 §4.3.2) with side slopes or shoring by depth.

Every number comes from :mod:`routing.standards` and is cited on the result. The section
fails closed: a pair with no rule is UNKNOWN and the section "needs manual review"; any
``unverified`` value cited is listed; a road too narrow for the section is flagged "needs
safety measures and approval" with the clause (GB 50289-2016 §4.1.9), never relaxed.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import re
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from routing import standards as std
from routing.errors import SectionError
from routing.placement import place_lines
from routing.section_types import EDGE_KINDS
from routing.section_types import FLAG_APPROVAL
from routing.section_types import FLAG_EXPERT_REVIEW
from routing.section_types import FLAG_MANUAL_REVIEW
from routing.section_types import FLAG_SPECIAL_SCHEME
from routing.section_types import FLAG_UNVERIFIED
from routing.section_types import UTILITIES
from routing.section_types import UTILITY_KEYS
from routing.section_types import Clearance
from routing.section_types import CrossSection
from routing.section_types import ExistingLine
from routing.section_types import LineSpec
from routing.section_types import PlacedLine
from routing.section_types import SectionFlag
from routing.section_types import SiteConditions
from routing.section_types import TrenchSegment

__all__ = [
    "FLAG_APPROVAL",
    "FLAG_EXPERT_REVIEW",
    "FLAG_MANUAL_REVIEW",
    "FLAG_SPECIAL_SCHEME",
    "FLAG_UNVERIFIED",
    "UTILITIES",
    "Clearance",
    "CrossSection",
    "ExistingLine",
    "LineSpec",
    "PlacedLine",
    "SectionFlag",
    "SiteConditions",
    "TrenchSegment",
    "cross_section",
    "cross_sections",
    "default_line",
    "default_lines",
    "dig_width_m",
    "dig_width_rule",
    "order_key",
    "required_width_m",
    "width_rule",
]

logger = logging.getLogger(__name__)

# vertical table (表4.1.14) words for cables in a protective pipe or duct
_VERTICAL_ALIASES = {("power", "conduit"): "protected", ("telecom", "duct"): "protected"}
_DIAMETER_TAG = re.compile(r"^(?:d|dn)_(le|gt)_(\d+)mm$")
_LINE_DEFAULTS = Path(__file__).parent / "data" / "line_defaults.yaml"
_SLOPE_TABLE = "side_slopes_depth_le_5m"
_MM_PER_M = 1000.0
_EPS_M = 1e-6


# -- public functions ---------------------------------------------------------------------------


def cross_section(
    segment: TrenchSegment,
    *,
    site: SiteConditions | None = None,
    method: str = "lp",
) -> CrossSection:
    """Lay out one trench segment's lines and size the trench.

    Parameters
    ----------
    segment
        The segment, its lines and its road.
    site
        City parameters (frost depth, soil); defaults to no frost and stiff clay.
    method
        ``lp`` (order fixed by §4.1.3, ties in input order) or ``milp`` (ties ordered by the
        solver for least width).

    Returns
    -------
    CrossSection

    Raises
    ------
    SectionError
        The segment has no lines, a line has an unknown utility, a non-positive diameter or an
        unknown material, or the site names an unknown soil or load column.

    Notes
    -----
    Lines sit side by side (GB 50289-2016 §4.1.6 forbids stacking them). The trench bottom
    is flat at the deepest line's bottom (plus cable bedding, GB 50217 §5.3.3). Every
    clearance the layout relies on is returned with its clause in ``clearances``.
    """
    site = site or SiteConditions()
    standards = std.load_standards()
    lines = _check_segment(segment, standards)
    _check_site(site, segment.segment_id)
    flags: list[SectionFlag] = []
    order_keys = [order_key(spec) for spec in lines]
    order, order_rule = std.layout_order(standards=standards)
    rank = [order.index(k) for k in order_keys]

    # pairwise horizontal clearances (edge to edge) -> centre separations
    h_rules: dict[tuple[int, int], std.RuleValue | None] = {}
    separation: dict[tuple[int, int], float] = {}
    for i in range(len(lines)):
        for j in range(i + 1, len(lines)):
            rule = std.horizontal_clearance(
                lines[i].key,
                _h_tags(lines[i], standards),
                lines[j].key,
                _h_tags(lines[j], standards),
            )
            h_rules[i, j] = rule
            gap = rule.value if rule is not None else 0.0
            separation[i, j] = lines[i].radius_m + lines[j].radius_m + gap
            if rule is None:
                flags.append(
                    SectionFlag(
                        FLAG_MANUAL_REVIEW,
                        f"no horizontal clearance rule for {lines[i].name} - {lines[j].name}: "
                        "UNKNOWN, placed touching; needs manual review",
                        clause="GB 50289-2016 表4.1.9",
                        verification="UNKNOWN",
                    )
                )

    b1 = [_working_width(spec, segment.segment_id, flags) for spec in lines]
    margins = [
        spec.radius_m + b1[i].value + spec.formwork_mm / _MM_PER_M for i, spec in enumerate(lines)
    ]
    placement = place_lines(rank, separation, margins, margins, method=method)

    covers = _covers(lines, segment, site, flags)
    depth = max(
        cov[0] + spec.outside_diameter_mm / _MM_PER_M + _bedding_m(spec)
        for spec, cov in zip(lines, covers, strict=True)
    )

    curb = tuple(
        (i, std.horizontal_clearance(spec.key, _h_tags(spec, standards), "curb", None))
        for i, spec in enumerate(lines)
    )
    edge_rules, left_m, right_m = _edge_clearances(lines, segment, standards)
    radii = [spec.radius_m for spec in lines]

    def need(b2_m: float, spread_m: float) -> float:
        return sum(wall_and_width(b2_m, spread_m))

    def wall_and_width(b2_m: float, spread_m: float) -> tuple[float, float]:
        xs = [x + b2_m for x in placement.x_m]
        bottom_m = placement.width_m + 2.0 * b2_m
        return _road_width_needed(xs, radii, left_m, right_m, bottom=bottom_m, spread=spread_m)

    support, slope, shoring, b2_m = _support(depth, need, segment, site, flags)
    bottom = placement.width_m + 2.0 * b2_m
    slope_n = slope.value if slope is not None else 0.0
    surface = bottom + 2.0 * slope_n * depth

    placed = []
    for i, spec in enumerate(lines):
        x = placement.x_m[i] + b2_m
        cover, cover_rule, frost_rule, frost_cover = covers[i]
        placed.append(
            PlacedLine(
                index=i,
                spec=spec,
                order_key=order_keys[i],
                x_m=x,
                offset_m=x - bottom / 2.0,
                cover_m=cover,
                bottom_m=cover + spec.outside_diameter_mm / _MM_PER_M,
                cover_rule=cover_rule,
                frost_rule=frost_rule,
                frost_cover_m=frost_cover,
                working_width=b1[i],
                bedding=_bedding(spec),
            )
        )

    clearances = _clearances(placed, h_rules, bottom, b2_m)
    clearances.extend(_crossings(placed, segment, flags))
    wall_offset, right_part = wall_and_width(b2_m, slope_n * depth)
    needed = wall_offset + right_part
    _road_check(
        segment,
        surface=surface,
        needed=needed,
        edge_rules=edge_rules,
        standards=standards,
        flags=flags,
    )
    _depth_flags(depth, flags)
    binding = _binding(
        placed,
        clearances,
        depth=depth,
        slope=slope,
        shoring=shoring,
        edges=(edge_rules, left_m, right_m),
        wall=(wall_offset, right_part, slope_n * depth, bottom),
    )
    _unverified_flag(binding, flags=flags, order_rule=order_rule)

    section = CrossSection(
        segment_id=segment.segment_id,
        lane=segment.lane,
        lines=tuple(placed),
        clearances=tuple(clearances),
        depth_m=depth,
        bottom_width_m=bottom,
        surface_width_m=surface,
        support=support,
        slope_ratio=slope,
        shoring=shoring,
        width_rule=_width_rule(standards),
        road_width_m=segment.road_width_m,
        length_m=segment.trench_length_m,
        flags=tuple(flags),
        method=placement.method,
        site=site,
        road_width_needed_m=needed,
        curb_rules=curb,
        edges=segment.edges,
        edge_offsets_m=(segment.left_offset_m, segment.right_offset_m),
        edge_rules=edge_rules,
        wall_offset_m=wall_offset,
        binding=binding,
    )
    logger.debug(
        "section %s: %d lines, B=%.3f m, surface %.3f m, depth %.3f m, %s",
        segment.segment_id,
        len(placed),
        bottom,
        surface,
        depth,
        section.status,
    )
    return section


def cross_sections(
    segments: Iterable[TrenchSegment],
    *,
    site: SiteConditions | None = None,
    method: str = "lp",
) -> tuple[CrossSection, ...]:
    """Sections for many segments (same result as calling :func:`cross_section` on each)."""
    return tuple(cross_section(s, site=site, method=method) for s in segments)


def default_line(utility: str) -> LineSpec:
    """Typical line for a utility when only its kind is known (``routing/data/line_defaults.yaml``).

    These sizes are planning assumptions, not standards values (the file says so).

    Raises
    ------
    SectionError
        No default for that utility.
    """
    defaults = _line_defaults()
    key = utility if utility in defaults else UTILITY_KEYS.get(utility, utility)
    for name, spec in defaults.items():
        if name == key or UTILITY_KEYS.get(name) == key:
            return spec
    msg = f"no default line for utility {utility!r}; known: {sorted(defaults)}"
    raise SectionError(msg)


def required_width_m(
    lines: Iterable[LineSpec | str],
    *,
    lane: str = "motor",
    site: SiteConditions | None = None,
) -> float:
    """Least road width (m) that can carry these lines in one shared trench.

    That is the section's ``road_width_needed_m`` at its narrowest dig (shored where the
    walls cannot stand unsupported): the dig plus each line's curb clearance (表4.1.9). The
    trench optimiser's width rule calls this, so a road it accepts is one the sections
    accept (plans and sections agree). A bare utility name stands for its
    :func:`default_line`. Results are cached.

    Examples
    --------
    >>> required_width_m(["water", "gas"]) > required_width_m(["gas"])
    True
    >>> required_width_m([])
    0.0
    """
    specs = _specs(lines)
    if not specs:
        return 0.0
    return _section_cached(specs, lane, site or SiteConditions(), None).road_width_needed_m


def width_rule(
    site: SiteConditions | None = None, *, lane: str = "motor"
) -> Callable[[frozenset[str]], float]:
    """The trench optimiser's width rule for a city: utilities -> :func:`required_width_m`.

    Pass it as ``plan_shared_trench(..., required_width_m=width_rule(site))`` so the plan
    only uses roads the sections accept. ``lane="motor"`` (both curbs) is the stricter
    assumption when the optimiser does not know which lane an edge's trench uses.

    Examples
    --------
    >>> rule = width_rule(SiteConditions(frost_depth_m=2.0))
    >>> rule(frozenset({"water", "gas"})) == required_width_m(
    ...     ["water", "gas"], site=SiteConditions(frost_depth_m=2.0)
    ... )
    True
    """
    chosen = site or SiteConditions()

    def rule(utilities: frozenset[str]) -> float:
        return required_width_m(sorted(utilities), lane=lane, site=chosen)

    return rule


def dig_width_rule(
    site: SiteConditions | None = None, *, lane: str = "motor"
) -> Callable[[frozenset[str]], float]:
    """The optimiser's width rule from the section's dig: utilities -> :func:`dig_width_m`.

    Pass it as ``plan_shared_trench(..., required_width_m=dig_width_rule(site))``: the plan
    then refuses roads narrower than the trench the sections will draw, so plans and
    sections agree on the dig. A road wide enough for the dig but not for the curb
    clearances stays usable and its section is flagged for safety measures and approval
    (§4.1.9), never relaxed silently; :func:`width_rule` is the stricter rule that refuses
    those roads too.

    Examples
    --------
    >>> rule = dig_width_rule()
    >>> rule(frozenset({"gas", "water"})) == dig_width_m(["gas", "water"])
    True
    """
    chosen = site or SiteConditions()

    def rule(utilities: frozenset[str]) -> float:
        return dig_width_m(sorted(utilities), lane=lane, site=chosen)

    return rule


def dig_width_m(
    lines: Iterable[LineSpec | str],
    *,
    lane: str = "motor",
    site: SiteConditions | None = None,
    road_width_m: float | None = None,
) -> float:
    """Width (m) the shared trench opens at the surface (slopes where they fit the road).

    Examples
    --------
    >>> dig_width_m(["gas"]) <= required_width_m(["gas"])
    True
    """
    specs = _specs(lines)
    if not specs:
        return 0.0
    return _section_cached(specs, lane, site or SiteConditions(), road_width_m).surface_width_m


# -- helpers ------------------------------------------------------------------------------------


def default_lines(utility: str) -> tuple[LineSpec, ...]:
    """The pipes a utility lays when only its kind is known: heat is supply and return.

    A heat line is two pipes side by side (CJJ 34; ``utility_rules.yaml: heat_pipes``), each
    the default heat size; every other utility is its one :func:`default_line`.

    Examples
    --------
    >>> [s.label for s in default_lines("heat")]
    ['heat supply 供水 (default size)', 'heat return 回水 (default size)']
    """
    spec = default_line(utility)
    if spec.key != "heat":
        return (spec,)
    block = std.load_standards().yaml["utility_rules.yaml"]["heat_pipes"]
    return tuple(
        dataclasses.replace(
            spec,
            tags=spec.tags | {str(pipe)},
            label=f"heat {pipe} {block['zh'][pipe]} (default size)",
        )
        for pipe in block["pipes"]
    )


def _specs(lines: Iterable[LineSpec | str]) -> tuple[LineSpec, ...]:
    specs = (s for x in lines for s in (default_lines(x) if isinstance(x, str) else (x,)))
    return tuple(sorted(specs, key=repr))


@functools.cache
def _section_cached(
    specs: tuple[LineSpec, ...], lane: str, site: SiteConditions, road_width_m: float | None
) -> CrossSection:
    segment = TrenchSegment("width", specs, lane=lane, road_width_m=road_width_m)
    return cross_section(segment, site=site)


@functools.cache
def _line_defaults() -> dict[str, LineSpec]:
    doc = yaml.safe_load(_LINE_DEFAULTS.read_text(encoding="utf-8"))
    out = {}
    for name, spec in doc["lines"].items():
        subtype = spec.get("subtype")
        tags: frozenset[str] = frozenset()
        if name == "drainage" and subtype in ("sewer", "storm"):
            tags = frozenset({subtype})
        out[name] = LineSpec(
            utility=name,
            outside_diameter_mm=float(spec["outside_diameter_mm"]),
            subtype=subtype,
            dn_mm=float(spec["dn_mm"]),
            material=str(spec.get("material", "metal_or_plastic")),
            tags=tags,
            label=f"{name} (default size)",
        )
    return out


def _check_segment(segment: TrenchSegment, standards: std.Standards) -> tuple[LineSpec, ...]:
    sid = segment.segment_id
    if not segment.lines:
        msg = f"segment {sid!r}: no lines to lay"
        raise SectionError(msg)
    std._lane(segment.lane)  # raises ValueError on an unknown lane
    if segment.road_width_m is not None and not (segment.road_width_m > 0):
        msg = f"segment {sid!r}: road_width_m must be > 0, got {segment.road_width_m!r}"
        raise SectionError(msg)
    for side, kind in zip(("left", "right"), segment.edges, strict=True):
        if kind not in EDGE_KINDS:
            msg = f"segment {sid!r}: {side}_edge must be one of {sorted(EDGE_KINDS)}, got {kind!r}"
            raise SectionError(msg)
    if not (segment.left_offset_m >= 0 and segment.right_offset_m >= 0):
        msg = f"segment {sid!r}: edge offsets must be >= 0"
        raise SectionError(msg)
    columns = trench_columns(standards)
    for i, spec in enumerate(segment.lines):
        where = f"segment {sid!r} line {i} ({spec.name})"
        if spec.utility not in UTILITY_KEYS:
            msg = f"{where}: unknown utility {spec.utility!r}; valid: {list(UTILITIES)}"
            raise SectionError(msg)
        if not (math.isfinite(spec.outside_diameter_mm) and spec.outside_diameter_mm > 0):
            msg = f"{where}: outside_diameter_mm must be > 0, got {spec.outside_diameter_mm!r}"
            raise SectionError(msg)
        if spec.material not in columns:
            msg = f"{where}: unknown material {spec.material!r}; valid: {columns}"
            raise SectionError(msg)
        if spec.role not in ("distribution", "transmission"):
            msg = f"{where}: role must be 'distribution' or 'transmission', got {spec.role!r}"
            raise SectionError(msg)
        if spec.formwork_mm < 0:
            msg = f"{where}: formwork_mm must be >= 0"
            raise SectionError(msg)
    return tuple(
        _with_pressure_class(spec, sid, i, standards) for i, spec in enumerate(segment.lines)
    )


def _with_pressure_class(spec: LineSpec, sid: str, i: int, standards: std.Standards) -> LineSpec:
    """A gas line given by its pressure gets its GB 50028 §6.1.6 class as subtype."""
    if spec.pressure_mpa is None:
        return spec
    where = f"segment {sid!r} line {i} ({spec.name})"
    if spec.key != "gas":
        msg = f"{where}: pressure_mpa is only for gas lines"
        raise SectionError(msg)
    try:
        subtype = std.gas_pressure_class(spec.pressure_mpa, standards=standards)
    except ValueError as exc:
        msg = f"{where}: {exc}"
        raise SectionError(msg) from None
    if spec.subtype is not None and spec.subtype != subtype:
        msg = (
            f"{where}: subtype {spec.subtype!r} contradicts {spec.pressure_mpa:g} MPa "
            f"({subtype!r}, GB 50028-2006 §6.1.6)"
        )
        raise SectionError(msg)
    return dataclasses.replace(spec, subtype=subtype)


def trench_columns(standards: std.Standards) -> list[str]:
    """Material columns of GB 50268 表4.3.2."""
    geometry = std.trench_geometry(standards=standards)
    return [str(c) for c in geometry["trench_bottom_width"]["b1_table_mm"]["columns"]]


def _check_site(site: SiteConditions, sid: str) -> None:
    geometry = std.trench_geometry()
    slopes = geometry[_SLOPE_TABLE]
    walls = _wall_depths(geometry)
    if site.slope_soil not in slopes["rows"]:
        valid = sorted(slopes["rows"])
        msg = f"segment {sid!r}: unknown slope_soil {site.slope_soil!r}; valid: {valid}"
        raise SectionError(msg)
    if site.top_load not in slopes["columns"]:
        msg = f"segment {sid!r}: unknown top_load {site.top_load!r}; valid: {slopes['columns']}"
        raise SectionError(msg)
    if site.wall_soil not in walls:
        msg = f"segment {sid!r}: unknown wall_soil {site.wall_soil!r}; valid: {sorted(walls)}"
        raise SectionError(msg)
    if site.support not in ("auto", "slope", "shoring", "vertical"):
        msg = f"segment {sid!r}: support must be auto, slope, shoring or vertical"
        raise SectionError(msg)
    if site.sewer_frost_rule not in ("crown", "invert"):
        msg = f"segment {sid!r}: sewer_frost_rule must be 'crown' or 'invert'"
        raise SectionError(msg)
    if site.frost_depth_m is not None and not (site.frost_depth_m >= 0):
        msg = f"segment {sid!r}: frost_depth_m must be >= 0"
        raise SectionError(msg)


def _wall_depths(geometry: Mapping[str, Any]) -> dict[str, float]:
    block = geometry["vertical_walls_without_support_max_depth_m"]
    return {k: float(v) for k, v in block.items() if isinstance(v, int | float)}


def order_key(spec: LineSpec) -> str:
    """Key of a line in the §4.1.3 order (``water_distribution``, ``storm`` ...)."""
    key = spec.key
    if key in ("water", "gas"):
        return f"{key}_{spec.role}"
    if key == "sewer_storm":
        return "storm" if "storm" in _tags(spec) else "sewer"
    return key


def _tags(spec: LineSpec) -> frozenset[str]:
    tags = set(spec.tags)
    if spec.subtype:
        tags.add(spec.subtype)
    return frozenset(tags)


def _h_tags(spec: LineSpec, standards: std.Standards) -> frozenset[str]:
    """Subtype tags for the clearance tables: subtype, extra tags and diameter classes."""
    return _tags(spec) | _diameter_tags(spec.dn_mm or spec.outside_diameter_mm, standards)


def _diameter_tags(dn_mm: float, standards: std.Standards) -> frozenset[str]:
    # the class bounds are read from the tables' own subtype names (d_le_200mm, dn_gt_300mm)
    out = set()
    for name in _diameter_vocabulary(standards):
        m = _DIAMETER_TAG.match(name)
        if m is None:
            continue
        bound = float(m.group(2))
        if (m.group(1) == "le" and dn_mm <= bound) or (m.group(1) == "gt" and dn_mm > bound):
            out.add(name)
    return frozenset(out)


@functools.cache
def _diameter_vocabulary(standards: std.Standards) -> frozenset[str]:
    names: set[str] = set()
    for row in (*standards.horizontal, *standards.vertical):
        names.update((row.subtype_a, row.subtype_b))
    return frozenset(n for n in names if _DIAMETER_TAG.match(n))


def _v_tags(spec: LineSpec, standards: std.Standards) -> frozenset[str]:
    tags = set(_h_tags(spec, standards))
    alias = _VERTICAL_ALIASES.get((spec.key, spec.subtype or ""))
    if alias:
        tags.add(alias)
    return frozenset(tags)


def _cover_tags(spec: LineSpec, standards: std.Standards) -> frozenset[str]:
    tags = set(_h_tags(spec, standards))
    if spec.key == "telecom" and "steel_conduit" not in tags:
        # 表4.1.1 telecom rows: direct-buried and plastic/concrete conduit share one row
        tags.add("direct_or_plastic_concrete_conduit")
    return frozenset(tags)


def _working_width(spec: LineSpec, sid: str, flags: list[SectionFlag]) -> std.RuleValue:
    geometry = std.trench_geometry()
    block = geometry["trench_bottom_width"]
    table = block["b1_table_mm"]
    column = list(table["columns"]).index(spec.material)
    rows = list(table["rows"])
    chosen = None
    for row in rows:
        if spec.outside_diameter_mm <= float(row["d0_max_mm"]):
            chosen = row
            break
    if chosen is None:
        chosen = rows[-1]
        flags.append(
            SectionFlag(
                FLAG_MANUAL_REVIEW,
                f"segment {sid!r}: {spec.name} D0 {spec.outside_diameter_mm:g} mm is beyond "
                "GB 50268 "
                f"表4.3.2 (max {chosen['d0_max_mm']} mm); b1 of the last row used",
                clause=str(block["source_clause"]),
                verification=str(table["verification"]),
            )
        )
    value = chosen["values"][column]
    # a range such as [800, 1000] is taken at its upper end (never narrower than allowed)
    mm = max(float(v) for v in value) if isinstance(value, list) else float(value)
    return std.RuleValue(
        value=mm / _MM_PER_M,
        clause=f"{block['source_clause']} 表4.3.2",
        verification=str(table["verification"]),
        condition=f"b1, {spec.material}, D0 <= {chosen['d0_max_mm']} mm",
        note="working width on one side of the pipe",
        source=f"trench_geometry.yaml:trench_bottom_width.b1_table_mm.rows[{rows.index(chosen)}]",
    )


def _bedding_m(spec: LineSpec) -> float:
    rule = _bedding(spec)
    return 0.0 if rule is None else rule.value


@functools.cache
def _bedding(spec: LineSpec) -> std.RuleValue | None:
    """Bedding under the line: sand for direct-buried cable (GB 50217 §5.3.3), sand-and-gravel
    under pipes by pipe type and D0 (GB 50268, ``trench_geometry.yaml: pipe_bedding``)."""
    geometry = std.trench_geometry()
    if spec.key == "power" and spec.subtype == "direct_buried":
        block = geometry["direct_buried_cable_bedding"]
        return std.RuleValue(
            value=float(block["soft_soil_or_sand_above_and_below_mm"]) / _MM_PER_M,
            clause=str(block["source_clause"]),
            verification=str(block["verification"]),
            condition="soft soil or sand below the cable",
            source="trench_geometry.yaml:direct_buried_cable_bedding",
        )
    block = geometry.get("pipe_bedding")
    if not block or spec.key not in block["applies_to"]:
        return None
    rows = list(block["rows"])
    index, row = next(
        ((k, r) for k, r in enumerate(rows) if spec.outside_diameter_mm <= float(r["d0_max_mm"])),
        (len(rows) - 1, rows[-1]),
    )
    column = list(block["columns"]).index(spec.material)
    return std.RuleValue(
        value=float(row["values_mm"][column]) / _MM_PER_M,
        clause=str(block["source_clause"]),
        verification=str(block["verification"]),
        condition=f"bedding under {spec.material}, D0 <= {row['d0_max_mm']} mm",
        source=f"trench_geometry.yaml:pipe_bedding.rows[{index}]",
    )


def _covers(
    lines: Sequence[LineSpec],
    segment: TrenchSegment,
    site: SiteConditions,
    flags: list[SectionFlag],
) -> list[tuple[float, std.RuleValue | None, std.FrostRule | None, float | None]]:
    standards = std.load_standards()
    frost = std.frost_rules(standards=standards)
    out: list[tuple[float, std.RuleValue | None, std.FrostRule | None, float | None]] = []
    unknown = []
    for i, spec in enumerate(lines):
        rule = std.min_cover(
            spec.key, _cover_tags(spec, standards), segment.lane, standards=standards
        )
        frost_rule = None
        frost_cover = None
        if site.frost_depth_m is not None:
            tags = _tags(spec)
            for fr in frost:
                if fr.utility == spec.key and (fr.subtype == "*" or fr.subtype in tags):
                    frost_rule = fr
                    margin = fr.margin.value if fr.margin is not None else 0.0
                    frost_cover = site.frost_depth_m + margin
                    break
            invert = _invert_rule(spec, site)
            if frost_rule is not None and invert is not None:
                # the pipe bottom may sit above the frost line: crown cover = F - a - D0
                frost_rule = dataclasses.replace(frost_rule, margin=invert)
                frost_cover = max(
                    site.frost_depth_m - invert.value - spec.outside_diameter_mm / _MM_PER_M, 0.0
                )
        candidates = [v for v in (rule.value if rule else None, frost_cover) if v is not None]
        if not candidates:
            unknown.append(i)
            out.append((math.nan, None, None, None))
            continue
        out.append((max(candidates), rule, frost_rule, frost_cover))
    if unknown:
        known = [c[0] for c in out if not math.isnan(c[0])]
        fallback = max(known) if known else 0.0
        for i in unknown:
            flags.append(
                SectionFlag(
                    FLAG_MANUAL_REVIEW,
                    f"no minimum cover rule for {lines[i].name} under {segment.lane}: UNKNOWN; "
                    f"drawn at {fallback:.2f} m (deepest known cover); needs manual review",
                    clause="GB 50289-2016 表4.1.1",
                    verification="UNKNOWN",
                )
            )
            out[i] = (fallback, None, None, None)
    return out


def _invert_rule(spec: LineSpec, site: SiteConditions) -> std.RuleValue | None:
    """The invert-above-frost allowance for drainage when the city chose ``invert``."""
    if site.sewer_frost_rule != "invert":
        return None
    rules = std.load_standards().yaml["layout_rules.yaml"]["cover_depth_rules"]
    for i, entry in enumerate(rules):
        if "invert_above_frost_m" in entry and spec.key in entry.get("applies_to_invert", ()):
            return std.RuleValue(
                value=float(entry["invert_above_frost_m"]),
                clause=str(entry["source_clause"]),
                verification=str(entry["verification"]),
                condition="pipe bottom above the frost line (city parameter sewer_frost_rule)",
                note=str(entry["rule"]),
                source=f"layout_rules.yaml:cover_depth_rules[{i}]",
            )
    return None


def _support(
    depth: float,
    need: Callable[[float, float], float],
    segment: TrenchSegment,
    site: SiteConditions,
    flags: list[SectionFlag],
) -> tuple[str, std.RuleValue | None, std.RuleValue | None, float]:
    """Choose vertical walls, slopes or shoring; return (support, slope, shoring, b2_m).

    ``need(b2_m, spread_m)`` is the road width the section needs with that shoring and
    slope spread; slopes are chosen only where that fits the known road width.
    """
    geometry = std.trench_geometry()
    walls = geometry["vertical_walls_without_support_max_depth_m"]
    wall_max = _wall_depths(geometry)[site.wall_soil]
    slopes = geometry[_SLOPE_TABLE]
    slope_clause = str(slopes["source_clause"])
    column = list(slopes["columns"]).index(site.top_load)
    n_raw = slopes["rows"][site.slope_soil][column]
    slope_limit = _slope_depth_limit()
    block = geometry["trench_bottom_width"]
    b2 = std.RuleValue(
        value=max(float(v) for v in block["b2_range_mm"]) / _MM_PER_M,
        clause=f"{block['source_clause']} (b2)",
        verification=str(block["verification"]),
        condition="shoring thickness per side, upper end of the 150-200 mm range",
        source="trench_geometry.yaml:trench_bottom_width.b2_range_mm",
    )
    slope = None
    if n_raw is not None:
        slope = std.RuleValue(
            value=float(n_raw),
            clause=slope_clause,
            verification=str(slopes["verification"]),
            condition=f"1:{float(n_raw):g}, {site.slope_soil}, {site.top_load}",
            source=f"trench_geometry.yaml:{_SLOPE_TABLE}.rows.{site.slope_soil}[{column}]",
        )
    if site.support == "vertical" or (site.support == "auto" and depth <= wall_max + _EPS_M):
        if depth > wall_max + _EPS_M:
            flags.append(
                SectionFlag(
                    FLAG_APPROVAL,
                    f"vertical unsupported walls asked for at {depth:.2f} m, deeper than "
                    f"{wall_max:g} m allowed in {site.wall_soil}",
                    clause=str(walls.get("source", "")),
                    verification=str(walls.get("verification", "")),
                )
            )
        return "vertical", None, None, 0.0
    # with the road width unknown, shore: the narrowest dig, so a width that fits is not a guess
    fits_road = (
        segment.road_width_m is not None
        and need(0.0, (slope.value if slope else 0.0) * depth) <= segment.road_width_m + _EPS_M
    )
    slope_ok = slope is not None and (slope_limit is None or depth <= slope_limit + _EPS_M)
    if site.support == "slope" or (site.support == "auto" and slope_ok and fits_road):
        if not slope_ok:
            flags.append(
                SectionFlag(
                    FLAG_MANUAL_REVIEW,
                    f"side slopes asked for but {slope_clause} gives none for {site.slope_soil} "
                    f"at {depth:.2f} m; design the support",
                    clause=slope_clause,
                    verification=str(slopes["verification"]),
                )
            )
            return "shoring", None, b2, b2.value
        return "slope", slope, None, 0.0
    return "shoring", None, b2, b2.value


def _slope_depth_limit() -> float | None:
    # the slope table is for trenches "up to N m deep": read N from the table's key
    m = re.search(r"depth_le_(\d+)m", _SLOPE_TABLE)
    return float(m.group(1)) if m else None


def _clearances(
    placed: Sequence[PlacedLine],
    h_rules: Mapping[tuple[int, int], std.RuleValue | None],
    bottom: float,
    b2_m: float,
) -> list[Clearance]:
    out = []
    for (i, j), rule in h_rules.items():
        a, b = placed[i], placed[j]
        actual = abs(a.x_m - b.x_m) - a.spec.radius_m - b.spec.radius_m
        out.append(
            Clearance(
                kind="horizontal",
                a=i,
                b=j,
                other=b.spec.name,
                required_m=None if rule is None else rule.value,
                actual_m=actual,
                rule=rule,
                status=_status(rule, actual),
            )
        )
    for line in placed:
        frost = _frost_value(line)
        if frost is not None:
            out.append(
                Clearance(
                    kind="frost_cover",
                    a=line.index,
                    b=None,
                    other="frost line",
                    required_m=frost.value,
                    actual_m=line.cover_m,
                    rule=frost,
                    status=_status(frost, line.cover_m),
                )
            )
        rule = line.cover_rule
        out.append(
            Clearance(
                kind="cover",
                a=line.index,
                b=None,
                other="ground",
                required_m=None if rule is None else rule.value,
                actual_m=line.cover_m,
                rule=rule,
                status=_status(rule, line.cover_m),
            )
        )
        to_wall = min(line.x_m - line.spec.radius_m, bottom - line.x_m - line.spec.radius_m) - b2_m
        out.append(
            Clearance(
                kind="working_width",
                a=line.index,
                b=None,
                other="trench wall",
                required_m=line.working_width.value,
                actual_m=to_wall,
                rule=line.working_width,
                status=_status(line.working_width, to_wall),
            )
        )
    return out


def _frost_value(line: PlacedLine) -> std.RuleValue | None:
    """The frost-governed cover as a cited value (city frost depth plus the margin)."""
    fr = line.frost_rule
    if fr is None or line.frost_cover_m is None:
        return None
    levels = [fr.governing.verification]
    clauses = [fr.governing.clause]
    condition = "crown below the frost line (frost depth is a city parameter)"
    if fr.margin is not None:
        levels.append(fr.margin.verification)
        clauses.append(fr.margin.clause)
        condition = (
            f"pipe bottom {fr.margin.value:g} m above the frost line (frost depth and "
            "sewer_frost_rule: city parameters)"
            if fr.margin.condition.startswith("pipe bottom")
            else f"crown {fr.margin.value:g} m below the frost line (frost depth: city parameter)"
        )
    weakest = max(levels, key=std.VERIFICATION_LEVELS.index)
    return std.RuleValue(
        value=line.frost_cover_m,
        clause="; ".join(clauses),
        verification=weakest,
        condition=condition,
        note=fr.governing.text,
        source=fr.governing.source,
    )


def _status(rule: std.RuleValue | None, actual: float) -> str:
    if rule is None:
        return "unknown"
    return "ok" if actual >= rule.value - _EPS_M else "violated"


def _crossings(
    placed: Sequence[PlacedLine], segment: TrenchSegment, flags: list[SectionFlag]
) -> list[Clearance]:
    """Vertical clearances to existing lines crossing the trench (表4.1.14).

    The new line passes above the existing one when its laid depth leaves the clearance,
    otherwise the section needs it lowered locally: that is reported as ``violated`` with
    a manual-review flag (new lines yield to existing ones, but gravity lines fix crossing
    elevations, GB 50289-2016 §4.1.13).
    """
    standards = std.load_standards()
    out = []
    for k, existing in enumerate(segment.crossings):
        name = existing.label or f"existing {existing.utility} #{k}"
        if existing.top_depth_m is None or existing.outside_diameter_mm is None:
            flags.append(
                SectionFlag(
                    FLAG_MANUAL_REVIEW,
                    f"{name} crosses the trench at an unknown depth or size: survey it before "
                    "the vertical clearances can be checked",
                    clause="GB 50289-2016 表4.1.14",
                    verification="UNKNOWN",
                )
            )
            continue
        top = existing.top_depth_m
        for line in placed:
            ex_tags = {existing.subtype} if existing.subtype else set()
            alias = _VERTICAL_ALIASES.get((existing.key, existing.subtype or ""))
            if alias:
                ex_tags.add(alias)
            above = line.bottom_m <= top
            tags = set(_v_tags(line.spec, standards))
            if "pe" in tags:  # CJJ 63: PE gas over or under a heat pipe
                tags.add("pe_above" if above else "pe_below")
            rule = std.vertical_clearance(line.spec.key, tags, existing.key, ex_tags)
            _crossing_order(line, existing, name, above=above, flags=flags)
            if line.bottom_m <= top:
                actual = top - line.bottom_m
            elif line.cover_m >= existing.bottom_depth_m:
                actual = line.cover_m - existing.bottom_depth_m
            else:
                actual = -min(line.bottom_m - top, existing.bottom_depth_m - line.cover_m)
            status = _status(rule, actual)
            out.append(
                Clearance(
                    "vertical",
                    line.index,
                    None,
                    name,
                    None if rule is None else rule.value,
                    actual,
                    rule,
                    status,
                )
            )
            if rule is None:
                flags.append(
                    SectionFlag(
                        FLAG_MANUAL_REVIEW,
                        f"no vertical clearance rule for {line.spec.name} crossing {name}: UNKNOWN",
                        clause="GB 50289-2016 表4.1.14",
                        verification="UNKNOWN",
                    )
                )
            elif status == "violated":
                flags.append(
                    SectionFlag(
                        FLAG_MANUAL_REVIEW,
                        f"{line.spec.name} crosses {name} with {actual:.2f} m vertical clearance, "
                        f"{rule.value:.2f} m required: lower or raise locally "
                        "(new yields to existing, "
                        "gravity lines fix crossing elevations)",
                        clause=rule.clause,
                        verification=rule.verification,
                    )
                )
    return out


def _crossing_key(key: str, tags: Iterable[str]) -> str:
    if key == "sewer_storm":
        return "storm" if "storm" in set(tags) else "sewer"
    return key


def _crossing_order(
    line: PlacedLine, existing: ExistingLine, name: str, *, above: bool, flags: list[SectionFlag]
) -> None:
    """Flag a crossing that breaks the top-down order of GB 50289-2016 §4.1.12."""
    doc = std.load_standards().yaml["layout_rules.yaml"]["order_at_crossings_top_down"]
    order = [str(k) for k in doc["order"]]
    new = _crossing_key(line.spec.key, _tags(line.spec))
    old = _crossing_key(existing.key, {existing.subtype} if existing.subtype else ())
    if new not in order or old not in order or new == old:
        return
    should_be_above = order.index(new) < order.index(old)
    if should_be_above == above:
        return
    mandatory = {"water", "reclaimed_water", "storm", "sewer"}
    word = "must (应)" if {new, old} <= mandatory else "should"
    protection = std.load_standards().yaml["utility_rules.yaml"]["crossing_protection"]
    upper, lower = (new, old) if should_be_above else (old, new)
    flags.append(
        SectionFlag(
            FLAG_APPROVAL,
            f"{line.spec.name} passes {'above' if above else 'below'} {name}: {upper} {word} lie "
            f"above {lower} at crossings ({doc['source_clause']}); needs protective measures "
            f"({protection['rule'].split('needs ')[-1]}) and approval",
            clause=f"{doc['source_clause']}; {protection['source_clause']}",
            verification=str(doc["verification"]),
        )
    )


def _edge_clearances(
    lines: Sequence[LineSpec], segment: TrenchSegment, standards: std.Standards
) -> tuple[tuple[tuple[int, str, std.RuleValue | None], ...], list[float], list[float]]:
    """Each line's 表4.1.9 clearance to what bounds its zone on each side (curb, building, tree).

    The clearance is measured to the object, which may lie ``*_offset_m`` beyond the zone
    edge (a building behind its setback, a tree row in the middle of its strip): the part
    left inside the zone is ``max(c - offset, 0)``.
    """
    rules: list[tuple[int, str, std.RuleValue | None]] = []
    out: dict[str, list[float]] = {"left": [], "right": []}
    offsets = {"left": segment.left_offset_m, "right": segment.right_offset_m}
    for side, kind in zip(("left", "right"), segment.edges, strict=True):
        obj = EDGE_KINDS[kind]
        for i, spec in enumerate(lines):
            if obj is None:
                out[side].append(0.0)
                continue
            rule = std.horizontal_clearance(spec.key, _h_tags(spec, standards), obj, None)
            rules.append((i, side, rule))
            out[side].append(0.0 if rule is None else max(rule.value - offsets[side], 0.0))
    return tuple(rules), out["left"], out["right"]


def _road_width_needed(
    xs: Sequence[float],
    radii: Sequence[float],
    left_m: Sequence[float],
    right_m: Sequence[float],
    *,
    bottom: float,
    spread: float,
) -> tuple[float, float]:
    """Where the trench wall sits in its zone, and the zone width the rest needs.

    With the zone's red-line-side edge at 0 and the trench's left bottom wall at ``t``: the
    dig needs ``t >= spread`` and ``t + bottom + spread <= W``; line ``i`` needs
    ``t + x_i - r_i >= l_i`` and ``t + x_i + r_i <= W - r'_i`` (its clearances to the
    edges). Unknown edge rules count as 0 here (the section is flagged separately).
    Returns ``(t, W - t)``.
    """
    t = max([spread, *(c - x + r for x, r, c in zip(xs, radii, left_m, strict=True))])
    right = max([bottom + spread, *(x + r + c for x, r, c in zip(xs, radii, right_m, strict=True))])
    return t, right


def _road_check(
    segment: TrenchSegment,
    *,
    surface: float,
    needed: float,
    edge_rules: Sequence[tuple[int, str, std.RuleValue | None]],
    standards: std.Standards,
    flags: list[SectionFlag],
) -> None:
    missing = sorted({(i, side) for i, side, r in edge_rules if r is None})
    edges = dict(zip(("left", "right"), segment.edges, strict=True))
    if missing:
        which = ", ".join(f"line {i} to the {edges[side]} ({side})" for i, side in missing)
        flags.append(
            SectionFlag(
                FLAG_MANUAL_REVIEW,
                f"no clearance rule for {which}: UNKNOWN; road fit unchecked",
                clause="GB 50289-2016 表4.1.9",
                verification="UNKNOWN",
            )
        )
    reduction = standards.yaml["layout_rules.yaml"]["clearance_reduction"]
    clause = str(reduction["source_clause"])
    if segment.road_width_note:
        flags.append(
            SectionFlag(
                FLAG_UNVERIFIED,
                f"road width {segment.road_width_m} m assumed: {segment.road_width_note}",
                verification="unverified",
            )
        )
    if segment.road_width_m is None:
        flags.append(
            SectionFlag(
                FLAG_MANUAL_REVIEW,
                f"road width unknown for segment {segment.segment_id!r}: cannot confirm the "
                f"road hosts a {surface:.2f} m wide dig",
                clause=clause,
                verification=str(reduction["verification"]),
            )
        )
        return
    if needed > segment.road_width_m + _EPS_M:
        kinds = "/".join(dict.fromkeys(k for k in segment.edges if EDGE_KINDS[k] is not None))
        rules = sorted({r.clause for _, _, r in edge_rules if r is not None})
        levels = sorted({r.verification for _, _, r in edge_rules if r is not None})
        flags.append(
            SectionFlag(
                FLAG_APPROVAL,
                f"the section needs {needed:.2f} m of road (a {surface:.2f} m dig and the "
                f"lines' {kinds or 'edge'} clearances, {', '.join(rules)}: "
                f"{', '.join(levels)}) but the road offers {segment.road_width_m:.2f} m: "
                "clearances may only be reduced with safety measures and approval; needs "
                "safety measures and approval",
                clause=clause,
                verification=str(reduction["verification"]),
            )
        )


def _depth_flags(depth: float, flags: list[SectionFlag]) -> None:
    rules = std.excavation_rules()
    for threshold, kind, text in (
        (rules.expert_review_depth_m, FLAG_EXPERT_REVIEW, "expert review of the special scheme"),
        (rules.special_scheme_depth_m, FLAG_SPECIAL_SCHEME, "a special construction scheme"),
    ):
        if depth >= threshold.value - _EPS_M:
            flags.append(
                SectionFlag(
                    kind,
                    f"trench {depth:.2f} m deep (>= {threshold.value:g} m) needs {text}",
                    clause=threshold.clause,
                    verification=threshold.verification,
                )
            )
            break


def _binding(
    placed: Sequence[PlacedLine],
    clearances: Sequence[Clearance],
    *,
    depth: float,
    slope: std.RuleValue | None,
    shoring: std.RuleValue | None,
    edges: tuple[Sequence[tuple[int, str, std.RuleValue | None]], Sequence[float], Sequence[float]],
    wall: tuple[float, float, float, float],
) -> tuple[tuple[str, std.RuleValue], ...]:
    """The values that fix the section's width, depth and road width (the tight ones).

    Width: every horizontal clearance and working width met exactly (the LP packs the lines
    against them), shoring and slopes. Depth: the cover (表4.1.1 or frost) and the bedding of
    the deepest line. Road width: the edge clearances (curb, building, tree) that reach
    furthest on each side.
    """
    out: dict[tuple[str, str], tuple[str, std.RuleValue]] = {}

    def add(what: str, rule: std.RuleValue | None) -> None:
        if rule is not None:
            out.setdefault((what, rule.source), (what, rule))

    for c in clearances:
        tight = c.required_m is not None and abs(c.actual_m - c.required_m) <= 1e-6
        if c.kind in ("horizontal", "working_width") and tight:
            add("width", c.rule)
    add("width", shoring)
    add("width", slope)
    deepest = max(placed, key=lambda p: p.bottom_m + (p.bedding.value if p.bedding else 0.0))
    for c in clearances:
        own = c.a == deepest.index and c.kind in ("cover", "frost_cover") and c.required_m
        if own and abs(c.actual_m - (c.required_m or 0.0)) <= 1e-6:
            add("depth", c.rule)
    add("depth", deepest.bedding)
    rules, left_m, right_m = edges
    t, right, spread, bottom = wall
    for i, side, rule in rules:
        if rule is None:
            continue
        p = placed[i]
        if side == "left":
            reach = left_m[i] - p.x_m + p.spec.radius_m
            if left_m[i] > 0 and reach >= t - 1e-6 and reach > spread + 1e-6:
                add("road width", rule)
        else:
            reach = p.x_m + p.spec.radius_m + right_m[i]
            if right_m[i] > 0 and reach >= right - 1e-6 and reach > bottom + spread + 1e-6:
                add("road width", rule)
    return tuple(out.values())


def _unverified_flag(
    binding: Sequence[tuple[str, std.RuleValue]],
    *,
    flags: list[SectionFlag],
    order_rule: std.Rule,
) -> None:
    """Flag the *binding* values that are unverified (cited but not binding ones are listed
    on the section, not flagged: they do not change what is dug)."""
    if order_rule.verification == "unverified":
        flags.append(
            SectionFlag(
                FLAG_UNVERIFIED, "line order rule is unverified", order_rule.clause, "unverified"
            )
        )
    weak = [(what, r) for what, r in binding if r.unverified]
    if weak:
        cited = "; ".join(f"{what}: {r.clause} ({r.source}) = {r.value:g}" for what, r in weak)
        flags.append(
            SectionFlag(
                FLAG_UNVERIFIED,
                f"{len(weak)} of the {len(binding)} values that fix this section's width, depth "
                f"or road width are unverified; check them against the official text before a "
                f"permit relies on them: {cited}",
                clause=", ".join(sorted({r.clause for _, r in weak})),
                verification="unverified",
            )
        )


def _width_rule(standards: std.Standards) -> std.Rule:
    block = std.trench_geometry(standards=standards)["trench_bottom_width"]
    return std.Rule(
        text=str(block["formula"]),
        clause=str(block["source_clause"]),
        verification=str(block["verification"]),
        source="trench_geometry.yaml:trench_bottom_width",
    )
