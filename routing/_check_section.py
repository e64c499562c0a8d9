"""Check a laid-out cross-section against the standards, independently of the placer and its tables.

Two sources, neither shared with :mod:`routing.standards`:

* :data:`REFERENCE`: cells typed in here from the standards' own text (GB 50289-2016 表4.1.9,
  表4.1.14, 表4.1.1; GB 50028-2006 表6.3.3-1/-2 and §6.3.4; GB 50217-2018 §5.3; GB 50268-2008
  §4.3.2 表4.3.2 and 表4.3.3; GB 50013/50015 frost margin). Where the checker needs a cell it
  holds here, it uses this value, never the CSV's, so a typo in a product table shows up as
  a section that breaks the reference (and :func:`reference_mismatches` names the cell).
* the raw CSV and YAML files (read with ``csv``, ``yaml`` and its own lookup) for the cells
  not typed in here, so a bug in the product's lookup code cannot hide itself either.

Used by the property tests and the benchmark.
"""

from __future__ import annotations

import csv
import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import yaml

from routing import standards as std  # the product: only compared against (reference_mismatches)

if TYPE_CHECKING:
    from routing.sections import CrossSection
    from routing.sections import LineSpec
    from routing.sections import PlacedLine

__all__ = ["REFERENCE", "check_section", "reference_mismatches"]

_DIR = Path(__file__).parent / "standards"
_TOL_M = 1e-6
_KEY = {"drainage": "sewer_storm", "sewer": "sewer_storm", "storm": "sewer_storm"}
# GB 50289 表4.1.9 ("h") and the utilities' own standards ("oh": GB 50217, GB 50028 §6.4 ...)
_H_FILES = (("h", "horizontal_clearances.csv"), ("oh", "utility_horizontal_clearances.csv"))

# -- reference cells, typed in from the standards' text (not read from routing/standards/) -----
# (table, utility_a, subtype_a, utility_b, subtype_b) -> (value in m, where it is written).
# Tables: "h" 表4.1.9 horizontal clear distance, "v" 表4.1.14 vertical clear distance,
# "cover" 表4.1.1 (utility_b = lane), "b1" GB 50268 表4.3.2 in m (utility_a = material,
# subtype_a = D0 upper bound mm), "slope" GB 50268 表4.3.3 n of 1:n (soil, load),
# "frost" crown below the frost line.
_T419 = "GB 50289-2016 表4.1.9"
_T4114 = "GB 50289-2016 表4.1.14"
_G28H = "GB 50028-2006 表6.3.3-1"
_G28V = "GB 50028-2006 表6.3.3-2"
REFERENCE: dict[tuple[str, str, str, str, str], tuple[float, str]] = {
    # 表4.1.9 building row (to the foundation; sub-high gas to the outer wall)
    ("h", "building", "*", "sewer_storm", "*"): (2.5, _T419),
    ("h", "building", "*", "water", "d_le_200mm"): (1.0, _T419),
    ("h", "building", "*", "water", "d_gt_200mm"): (3.0, _T419),
    ("h", "building", "*", "gas", "low"): (0.7, f"{_T419}; {_G28H}"),
    ("h", "building", "*", "gas", "medium_b"): (1.0, f"{_T419}; {_G28H}"),
    ("h", "building", "*", "gas", "medium_a"): (1.5, f"{_T419}; {_G28H}"),
    ("h", "building", "*", "gas", "sub_high_b"): (5.0, f"{_T419}; {_G28H}"),
    ("h", "building", "*", "gas", "sub_high_a"): (13.5, f"{_T419}; {_G28H}"),
    # water and drainage rows
    ("h", "water", "d_le_200mm", "sewer_storm", "*"): (1.0, _T419),
    ("h", "water", "d_gt_200mm", "sewer_storm", "*"): (1.5, _T419),
    ("h", "water", "*", "gas", "low"): (0.5, f"{_T419}; {_G28H}"),
    ("h", "water", "*", "gas", "medium_a"): (0.5, f"{_T419}; {_G28H}"),
    ("h", "water", "*", "gas", "sub_high_a"): (1.5, f"{_T419}; {_G28H}"),
    ("h", "water", "*", "power", "direct_buried"): (0.5, _T419),
    ("h", "sewer_storm", "*", "gas", "low"): (1.0, f"{_T419}; {_G28H}"),
    ("h", "sewer_storm", "*", "gas", "medium_b"): (1.2, f"{_T419}; {_G28H}"),
    ("h", "sewer_storm", "*", "gas", "medium_a"): (1.2, f"{_T419}; {_G28H}"),
    ("h", "sewer_storm", "*", "gas", "sub_high_b"): (1.5, f"{_T419}; {_G28H}"),
    ("h", "sewer_storm", "*", "gas", "sub_high_a"): (2.0, f"{_T419}; {_G28H}"),
    ("h", "sewer_storm", "*", "heat", "direct_buried"): (1.5, _T419),
    ("h", "sewer_storm", "*", "power", "direct_buried"): (0.5, _T419),
    ("h", "sewer_storm", "*", "telecom", "duct"): (1.0, _T419),
    # gas rows (GB 50028 gives the same cells)
    ("h", "gas", "dn_le_300mm", "gas", "*"): (0.4, f"{_T419}; {_G28H}"),
    ("h", "gas", "dn_gt_300mm", "gas", "*"): (0.5, f"{_T419}; {_G28H}"),
    ("h", "gas", "low", "power", "direct_buried"): (0.5, f"{_T419}; {_G28H}"),
    ("h", "gas", "medium_a", "power", "direct_buried"): (0.5, f"{_T419}; {_G28H}"),
    ("h", "gas", "sub_high_a", "power", "direct_buried"): (1.5, f"{_T419}; {_G28H}"),
    ("h", "gas", "medium_a", "power", "conduit"): (1.0, f"{_T419}; {_G28H}"),
    ("h", "gas", "medium_a", "heat", "direct_buried"): (1.0, f"{_T419}; {_G28H}"),
    ("h", "gas", "sub_high_a", "heat", "direct_buried"): (2.0, f"{_T419}; {_G28H}"),
    ("h", "gas", "medium_a", "telecom", "direct_buried"): (0.5, f"{_T419}; {_G28H}"),
    ("h", "gas", "medium_a", "telecom", "duct"): (1.0, f"{_T419}; {_G28H}"),
    ("h", "gas", "medium_a", "tree", "*"): (0.75, f"{_T419}; {_G28H}"),
    ("h", "gas", "sub_high_a", "tree", "*"): (1.2, f"{_T419}; {_G28H}"),
    ("h", "gas", "medium_a", "railway", "*"): (5.0, f"{_T419}; {_G28H}"),
    # heat, power, telecom
    ("h", "heat", "direct_buried", "power", "direct_buried"): (2.0, f"{_T419}; GB 50217-2018"),
    ("h", "power", "direct_buried", "telecom", "direct_buried"): (0.5, _T419),
    # curb (道路侧石边缘)
    ("h", "water", "*", "curb", "*"): (1.5, _T419),
    ("h", "sewer_storm", "*", "curb", "*"): (1.5, f"{_T419}; GB 50014-2021 附录C"),
    ("h", "gas", "medium_a", "curb", "*"): (1.5, _T419),
    # 表4.1.14 vertical
    ("v", "water", "*", "water", "*"): (0.15, _T4114),
    ("v", "water", "*", "sewer_storm", "*"): (0.40, _T4114),
    ("v", "sewer_storm", "*", "sewer_storm", "*"): (0.15, _T4114),
    ("v", "sewer_storm", "*", "gas", "*"): (0.15, _T4114),
    ("v", "sewer_storm", "*", "heat", "*"): (0.15, _T4114),
    ("v", "sewer_storm", "*", "power", "direct_buried"): (0.50, _T4114),
    ("v", "sewer_storm", "*", "power", "protected"): (0.25, _T4114),
    ("v", "sewer_storm", "*", "telecom", "direct_buried"): (0.50, _T4114),
    ("v", "sewer_storm", "*", "railway", "rail_bottom"): (1.20, _T4114),
    ("v", "gas", "*", "gas", "*"): (0.15, f"{_T4114}; {_G28V}"),
    ("v", "gas", "*", "power", "direct_buried"): (0.50, f"{_T4114}; {_G28V}"),
    ("v", "gas", "*", "power", "protected"): (0.15, f"{_T4114}; {_G28V}"),
    # 表4.1.1 minimum cover
    ("cover", "gas", "*", "non_motor_lane_or_sidewalk", ""): (0.6, "GB 50028-2006 §6.3.4"),
    ("cover", "gas", "*", "motor_lane", ""): (0.9, "GB 50028-2006 §6.3.4"),
    ("cover", "water", "*", "non_motor_lane_or_sidewalk", ""): (0.6, "GB 50289-2016 表4.1.1"),
    ("cover", "water", "*", "motor_lane", ""): (0.7, "GB 50289-2016 表4.1.1"),
    ("cover", "sewer_storm", "*", "non_motor_lane_or_sidewalk", ""): (0.6, "GB 50014 §5.3.7"),
    ("cover", "sewer_storm", "*", "motor_lane", ""): (0.7, "GB 50014-2021 §5.3.7"),
    ("cover", "power", "direct_buried", "non_motor_lane_or_sidewalk", ""): (0.7, "GB 50217"),
    ("cover", "power", "direct_buried", "motor_lane", ""): (1.0, "GB 50217-2018 §5.3.3"),
    # GB 50268-2008 表4.3.2 b1 (m): material, D0 upper bound (mm)
    ("b1", "concrete_rigid_joint", "500", "", ""): (0.4, "GB 50268-2008 表4.3.2"),
    ("b1", "concrete_flexible_joint", "500", "", ""): (0.3, "GB 50268-2008 表4.3.2"),
    ("b1", "metal_or_plastic", "500", "", ""): (0.3, "GB 50268-2008 表4.3.2"),
    ("b1", "concrete_rigid_joint", "1000", "", ""): (0.5, "GB 50268-2008 表4.3.2"),
    ("b1", "concrete_flexible_joint", "1000", "", ""): (0.4, "GB 50268-2008 表4.3.2"),
    ("b1", "metal_or_plastic", "1000", "", ""): (0.4, "GB 50268-2008 表4.3.2"),
    ("b1", "concrete_rigid_joint", "1500", "", ""): (0.6, "GB 50268-2008 表4.3.2"),
    ("b1", "concrete_flexible_joint", "1500", "", ""): (0.5, "GB 50268-2008 表4.3.2"),
    ("b1", "metal_or_plastic", "1500", "", ""): (0.5, "GB 50268-2008 表4.3.2"),
    ("b1", "concrete_rigid_joint", "3000", "", ""): (1.0, "GB 50268-2008 表4.3.2 (800-1000)"),
    ("b1", "concrete_flexible_joint", "3000", "", ""): (0.6, "GB 50268-2008 表4.3.2"),
    ("b1", "metal_or_plastic", "3000", "", ""): (0.7, "GB 50268-2008 表4.3.2"),
    # GB 50268-2008 表4.3.3 side slopes 1:n, depth <= 5 m
    ("slope", "stiff_silty_clay_or_clay", "no_load_at_top", "", ""): (0.33, "GB 50268 表4.3.3"),
    ("slope", "stiff_silty_clay_or_clay", "static_load_at_top", "", ""): (0.5, "GB 50268 表4.3.3"),
    ("slope", "stiff_silty_clay_or_clay", "dynamic_load_at_top", "", ""): (0.67, "GB 50268"),
    ("slope", "medium_dense_sand", "dynamic_load_at_top", "", ""): (1.5, "GB 50268 表4.3.3"),
    ("slope", "stiff_silt", "dynamic_load_at_top", "", ""): (1.0, "GB 50268 表4.3.3"),
    ("slope", "old_loess", "dynamic_load_at_top", "", ""): (0.33, "GB 50268 表4.3.3"),
    # water main crown below the frost line; sewer invert above it (city's choice)
    ("frost", "water", "*", "", ""): (0.15, "GB 50013-2018 §7.3.x / GB 50015 §3.5.3"),
    ("invert", "sewer_storm", "*", "", ""): (0.15, "GB 50014-2021 §5.3.8"),
    # utilities' own standards
    ("oh", "power", "direct_buried", "gas", "*"): (1.0, "GB 50217-2018 表5.3.5"),
    ("oh", "gas", "high_a", "railway", "*"): (8.0, "GB 50028-2006 §6.4.15"),
    ("oh", "gas", "high_b", "railway", "*"): (6.0, "GB 50028-2006 §6.4.15"),
    ("oh", "gas", "high_a", "sewer_storm", "*"): (2.0, "GB 50028-2006 §6.4.15 (次高压A cell)"),
    ("ov", "gas", "pe_above", "heat", "*"): (0.5, "CJJ 63-2018"),
    ("ov", "gas", "pe_below", "heat", "*"): (1.0, "CJJ 63-2018"),
}


def check_section(section: CrossSection) -> list[str]:
    """Return every problem found (empty list: the section meets what it cites and the tables).

    Checks, for each pair of lines, that the edge-to-edge horizontal gap meets the table value
    (when the table has one, and that the section cites exactly that value; when it has none,
    that the section says UNKNOWN and needs manual review); that each line's cover meets
    表4.1.1 and, where §4.1.1 makes it frost-governed, the site's frost depth plus margin;
    that each line is at least b1 from the walls; that every clearance the section cites as
    ``ok`` holds; and that the surface width and the depth follow from the walls.
    """
    problems: list[str] = []
    for i, a in enumerate(section.lines):
        for b in section.lines[i + 1 :]:
            problems.extend(_check_pair(section, a, b))
        problems.extend(_check_line(section, a))
    for c in section.clearances:
        if c.status == "ok" and c.required_m is not None and c.actual_m < c.required_m - _TOL_M:
            problems.append(f"clearance {c.kind} {c.a}-{c.b}: ok but {c.actual_m} < {c.required_m}")
        if c.rule is None and c.status != "unknown":
            problems.append(f"clearance {c.kind} {c.a}-{c.b}: no rule but status {c.status}")
    n = section.slope_ratio.value if section.slope_ratio is not None else 0.0
    n_ref = _slope_n(section)
    if section.slope_ratio is not None and n_ref is not None and abs(n - n_ref) > _TOL_M:
        problems.append(f"side slope 1:{n:g} but GB 50268 表4.3.3 gives 1:{n_ref:g}")
    expect = section.bottom_width_m + 2 * n * section.depth_m
    if abs(section.surface_width_m - expect) > _TOL_M:
        problems.append(f"surface width {section.surface_width_m} != B + 2nH = {expect}")
    needed = _road_needed(section)
    if abs(needed - section.road_width_needed_m) > _TOL_M:
        problems.append(f"road width needed {section.road_width_needed_m} != {needed}")
    too_wide = section.road_width_m is not None and needed > section.road_width_m + _TOL_M
    if too_wide and not section.needs_approval:
        problems.append("wider than the road but not flagged for safety measures and approval")
    return problems


def _road_needed(section: CrossSection) -> float:
    """Dig plus each line's clearance to what bounds its zone (表4.1.9 curb/building/tree rows).

    The checker's own model of the edges: curb clearance at a curb, the building row at the
    red line less the setback, the tree row less the distance to the tree row.
    """
    n = section.slope_ratio.value if section.slope_ratio is not None else 0.0
    spread = n * section.depth_m
    left = [spread]
    right = [section.bottom_width_m + spread]
    objects = {"curb": "curb", "building": "building", "tree": "tree"}
    (kl, kr), (ol, orr) = section.edges, section.edge_offsets_m
    for p in section.lines:
        if kl in objects:
            c = max((_pair_value_with(p.spec, objects[kl]) or 0.0) - ol, 0.0)
            left.append(c - p.x_m + p.spec.radius_m)
        if kr in objects:
            c = max((_pair_value_with(p.spec, objects[kr]) or 0.0) - orr, 0.0)
            right.append(p.x_m + p.spec.radius_m + c)
    return max(left) + max(right)


def _pair_value_with(spec: LineSpec, other: str) -> float | None:
    """A line's clearance to an object row of 表4.1.9 (curb, building, tree), either order."""
    key = _KEY.get(spec.utility, spec.utility)
    tags = _tags(spec)
    best: list[float] = []
    for table, file in _H_FILES:
        found: dict[int, list[float]] = {}
        for row in _rows(file):
            for ua, sa, ub in (
                (row["utility_a"], row["subtype_a"], row["utility_b"]),
                (row["utility_b"], row["subtype_b"], row["utility_a"]),
            ):
                if ua == key and ub == other and (sa == "*" or sa in tags):
                    found.setdefault(sa != "*", []).append(_cell(table, row))
        if found:
            best.append(max(found[max(found)]))
    return max(best) if best else None


def _cell(table: str, row: dict[str, str]) -> float:
    """A table row's value, or the reference value typed in above when the cell is held there."""
    ua, sa, ub, sb = row["utility_a"], row["subtype_a"], row["utility_b"], row["subtype_b"]
    for key in ((table, ua, sa, ub, sb), (table, ub, sb, ua, sa)):
        if key in REFERENCE:
            return REFERENCE[key][0]
    return float(row["min_m"])


def reference_mismatches(standards: Any = None) -> list[str]:
    """Every reference cell whose value differs from the product's tables (empty: all agree).

    Looks each cell up through :mod:`routing.standards` (the product's loader and lookups),
    so a changed table cell, a broken loader or a lost row all show here.
    """
    tables = standards or std.load_standards()
    out: list[str] = []
    for (table, ua, sa, ub, sb), (value, where) in REFERENCE.items():
        got = _product_value(tables, (table, ua, sa, ub, sb))
        if got is None or abs(got - value) > _TOL_M:
            out.append(f"{table} {ua}/{sa} - {ub}/{sb}: product {got}, reference {value} ({where})")
    return out


def _product_value(tables: Any, key: tuple[str, str, str, str, str]) -> float | None:
    table, ua, sa, ub, sb = key
    rule: Any
    if table in ("h", "v", "oh", "ov"):
        lookup = std.horizontal_clearance if table.endswith("h") else std.vertical_clearance
        which = "own" if table.startswith("o") else "gb50289"
        sub_a, sub_b = None if sa == "*" else sa, None if sb == "*" else sb
        rule = lookup(ua, sub_a, ub, sub_b, standards=tables, tables=which)
    elif table == "cover":
        rule = std.min_cover(ua, None if sa == "*" else sa, ub, standards=tables)
    elif table == "frost":
        rule = next((f.margin for f in std.frost_rules(standards=tables) if f.utility == ua), None)
    elif table == "invert":
        entries = tables.yaml["layout_rules.yaml"]["cover_depth_rules"]
        return next(
            (
                float(e["invert_above_frost_m"])
                for e in entries
                if "invert_above_frost_m" in e and ua in e.get("applies_to_invert", ())
            ),
            None,
        )
    else:
        geometry = std.trench_geometry(standards=tables)
        if table == "b1":
            block = geometry["trench_bottom_width"]["b1_table_mm"]
            row = next((r for r in block["rows"] if int(r["d0_max_mm"]) == int(sa)), None)
            if row is None:
                return None
            cell = row["values"][list(block["columns"]).index(ua)]
            return float(max(cell) if isinstance(cell, list) else cell) / 1000.0
        block = geometry["side_slopes_depth_le_5m"]
        cell = block["rows"].get(ua, [None] * 3)[list(block["columns"]).index(sa)]
        return None if cell is None else float(cell)
    return None if rule is None else float(rule.value)


def _check_pair(section: CrossSection, a: PlacedLine, b: PlacedLine) -> list[str]:
    name = f"pair {a.spec.name}/{b.spec.name}"
    gap = abs(a.x_m - b.x_m) - a.spec.radius_m - b.spec.radius_m
    need = _pair_value(a.spec, b.spec)
    cited = [
        c for c in section.clearances if c.kind == "horizontal" and {c.a, c.b} == {a.index, b.index}
    ]
    if len(cited) != 1:
        return [f"{name}: cited {len(cited)} times"]
    if need is None:
        if cited[0].rule is not None or not section.needs_manual_review:
            return [f"{name}: no table rule but not UNKNOWN"]
        return []
    problems = []
    if cited[0].required_m is None or abs(cited[0].required_m - need) > _TOL_M:
        problems.append(f"{name}: cites {cited[0].required_m}, table says {need}")
    if gap < need - _TOL_M:
        problems.append(f"{name}: gap {gap:.4f} < {need}")
    return problems


def _check_line(section: CrossSection, a: PlacedLine) -> list[str]:
    problems = []
    cover = _cover_value(a.spec, section.lane)
    if cover is not None and a.cover_m < cover - _TOL_M:
        problems.append(f"{a.spec.name}: cover {a.cover_m:.3f} < {cover}")
    frost = _frost_cover(
        a.spec, section.site.frost_depth_m, invert=section.site.sewer_frost_rule == "invert"
    )
    if frost is not None and a.cover_m < frost - _TOL_M:
        problems.append(f"{a.spec.name}: cover {a.cover_m:.3f} above the frost cover {frost}")
    b1 = _b1_m(a.spec)
    b3 = a.spec.formwork_mm / 1000.0
    b2 = section.shoring.value if section.shoring is not None else 0.0
    left = a.x_m - a.spec.radius_m - b2
    right = section.bottom_width_m - b2 - a.x_m - a.spec.radius_m
    if min(left, right) < b1 + b3 - _TOL_M:
        problems.append(
            f"{a.spec.name}: {min(left, right):.4f} m to the wall < b1 {b1} + b3 {b3} "
            "(GB 50268-2008 §4.3.2)"
        )
    if a.bottom_m > section.depth_m + _TOL_M:
        problems.append(f"{a.spec.name}: bottom {a.bottom_m:.3f} below the trench bottom")
    return problems


def _tags(spec: LineSpec) -> set[str]:
    tags = set(spec.tags)
    if spec.subtype:
        tags.add(spec.subtype)
    dn = spec.dn_mm or spec.outside_diameter_mm
    for name in _vocabulary():
        m = re.fullmatch(r"(?:d|dn)_(le|gt)_(\d+)mm", name)
        if m and (
            (m.group(1) == "le" and dn <= int(m.group(2)))
            or (m.group(1) == "gt" and dn > int(m.group(2)))
        ):
            tags.add(name)
    return tags


@functools.cache
def _rows(name: str) -> tuple[dict[str, str], ...]:
    with (_DIR / name).open(encoding="utf-8", newline="") as fh:
        return tuple(csv.DictReader(fh))


@functools.cache
def _vocabulary() -> frozenset[str]:
    out: set[str] = set()
    for _, file in _H_FILES:
        for row in _rows(file):
            out.update((row["subtype_a"], row["subtype_b"]))
    return frozenset(out)


def _pair_value(a: LineSpec, b: LineSpec) -> float | None:
    ka, kb = _KEY.get(a.utility, a.utility), _KEY.get(b.utility, b.utility)
    ta, tb = _tags(a), _tags(b)
    # each table's most specific rows, then the stricter of GB 50289 and the utility's own
    best: list[float] = []
    for table, file in _H_FILES:
        found: dict[int, list[float]] = {}
        for row in _rows(file):
            for (u1, t1), (u2, t2) in (((ka, ta), (kb, tb)), ((kb, tb), (ka, ta))):
                if row["utility_a"] == u1 and row["utility_b"] == u2:
                    ok1 = row["subtype_a"] == "*" or row["subtype_a"] in t1
                    ok2 = row["subtype_b"] == "*" or row["subtype_b"] in t2
                    if ok1 and ok2:
                        spec = (row["subtype_a"] != "*") + (row["subtype_b"] != "*")
                        found.setdefault(spec, []).append(_cell(table, row))
        if found:
            best.append(max(found[max(found)]))
    return max(best) if best else None


def _cover_value(spec: LineSpec, lane: str) -> float | None:
    location = {
        "motor": "motor_lane",
        "non_motor": "non_motor_lane_or_sidewalk",
        "sidewalk": "non_motor_lane_or_sidewalk",
    }.get(lane, lane)
    key = _KEY.get(spec.utility, spec.utility)
    tags = _tags(spec)
    if key == "telecom" and "steel_conduit" not in tags:
        tags.add("direct_or_plastic_concrete_conduit")
    values = [
        (row["subtype"] != "*", _cover_cell(row))
        for row in _rows("min_cover_depth.csv")
        if row["utility"] == key
        and row["location"] == location
        and (row["subtype"] == "*" or row["subtype"] in tags)
    ]
    if not values:
        return None
    top = max(v[0] for v in values)
    return max(v[1] for v in values if v[0] == top)


def _cover_cell(row: dict[str, str]) -> float:
    key = ("cover", row["utility"], row["subtype"], row["location"], "")
    return REFERENCE[key][0] if key in REFERENCE else float(row["min_cover_m"])


def _frost_cover(
    spec: LineSpec, frost_depth_m: float | None, *, invert: bool = False
) -> float | None:
    """Least cover of a frost-governed line (§4.1.1): frost depth plus its margin, if any."""
    if frost_depth_m is None:
        return None
    key = _KEY.get(spec.utility, spec.utility)
    tags = _tags(spec)
    rules = _layout()["cover_depth_rules"]
    governed = False
    for entry in rules:
        for item in entry.get("frost_governed", ()):
            utility, _, subtype = str(item).partition(":")
            governed |= utility == key and (not subtype or subtype in tags)
    if not governed:
        return None
    if invert and ("invert", key, "*", "", "") in REFERENCE:
        allowance = REFERENCE["invert", key, "*", "", ""][0]
        return max(frost_depth_m - allowance - spec.outside_diameter_mm / 1000.0, 0.0)
    if ("frost", key, "*", "", "") in REFERENCE:
        return frost_depth_m + REFERENCE["frost", key, "*", "", ""][0]
    margin = max(
        (
            float(entry["value_m"])
            for entry in rules
            if "value_m" in entry and key in entry.get("applies_to", ())
        ),
        default=0.0,
    )
    return frost_depth_m + margin


@functools.cache
def _layout() -> dict[str, Any]:
    return yaml.safe_load((_DIR / "layout_rules.yaml").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@functools.cache
def _geometry() -> dict[str, Any]:
    return yaml.safe_load((_DIR / "trench_geometry.yaml").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _b1_m(spec: LineSpec) -> float:
    """b1 of GB 50268 表4.3.2 from the reference cells (a range is taken at its upper end)."""
    bounds = sorted(
        {int(k[2]) for k in REFERENCE if k[0] == "b1" and k[1] == spec.material}, key=float
    )
    if not bounds:
        return 0.0
    bound = next((b for b in bounds if spec.outside_diameter_mm <= b), bounds[-1])
    return REFERENCE["b1", spec.material, str(bound), "", ""][0]


def _slope_n(section: CrossSection) -> float | None:
    site = section.site
    key = ("slope", site.slope_soil, site.top_load, "", "")
    return REFERENCE[key][0] if key in REFERENCE else None
