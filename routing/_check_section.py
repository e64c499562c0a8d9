"""Check a laid-out cross-section against the raw standards tables, independently of the placer.

This reads the CSV and YAML files itself (``csv``, ``yaml``) and re-derives each required
distance with its own lookup, so a bug in :mod:`routing.standards` or
:mod:`routing.sections` cannot hide itself. Used by the property tests and the benchmark.
"""

from __future__ import annotations

import csv
import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import yaml

if TYPE_CHECKING:
    from routing.sections import CrossSection
    from routing.sections import LineSpec
    from routing.sections import PlacedLine

__all__ = ["check_section"]

_DIR = Path(__file__).parent / "standards"
_TOL_M = 1e-6
_KEY = {"drainage": "sewer_storm", "sewer": "sewer_storm", "storm": "sewer_storm"}


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
    """Dig plus each line's curb clearance (表4.1.9 curb rows), both curbs under motor lanes."""
    n = section.slope_ratio.value if section.slope_ratio is not None else 0.0
    spread = n * section.depth_m
    left = [spread]
    right = [section.bottom_width_m + spread]
    for p in section.lines:
        curb = _pair_value_with(p.spec, "curb") or 0.0
        if section.lane in ("motor", "motor_lane"):
            left.append(curb - p.x_m + p.spec.radius_m)
        right.append(p.x_m + p.spec.radius_m + curb)
    return max(left) + max(right)


def _pair_value_with(spec: LineSpec, other: str) -> float | None:
    key = _KEY.get(spec.utility, spec.utility)
    tags = _tags(spec)
    values = [
        float(row["min_m"])
        for row in _rows("horizontal_clearances.csv")
        if row["utility_a"] == key
        and row["utility_b"] == other
        and (row["subtype_a"] == "*" or row["subtype_a"] in tags)
    ]
    return max(values) if values else None


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
    frost = _frost_cover(a.spec, section.site.frost_depth_m)
    if frost is not None and a.cover_m < frost - _TOL_M:
        problems.append(f"{a.spec.name}: cover {a.cover_m:.3f} above the frost cover {frost}")
    b1 = _b1_m(a.spec)
    b2 = section.shoring.value if section.shoring is not None else 0.0
    left = a.x_m - a.spec.radius_m - b2
    right = section.bottom_width_m - b2 - a.x_m - a.spec.radius_m
    if min(left, right) < b1 - _TOL_M:
        problems.append(f"{a.spec.name}: {min(left, right):.4f} m to the wall < b1 {b1}")
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
    for row in _rows("horizontal_clearances.csv"):
        out.update((row["subtype_a"], row["subtype_b"]))
    return frozenset(out)


def _pair_value(a: LineSpec, b: LineSpec) -> float | None:
    ka, kb = _KEY.get(a.utility, a.utility), _KEY.get(b.utility, b.utility)
    ta, tb = _tags(a), _tags(b)
    found: dict[int, list[float]] = {}
    for row in _rows("horizontal_clearances.csv"):
        for (u1, t1), (u2, t2) in (((ka, ta), (kb, tb)), ((kb, tb), (ka, ta))):
            if row["utility_a"] == u1 and row["utility_b"] == u2:
                ok1 = row["subtype_a"] == "*" or row["subtype_a"] in t1
                ok2 = row["subtype_b"] == "*" or row["subtype_b"] in t2
                if ok1 and ok2:
                    spec = (row["subtype_a"] != "*") + (row["subtype_b"] != "*")
                    found.setdefault(spec, []).append(float(row["min_m"]))
    if not found:
        return None
    return max(found[max(found)])


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
        (row["subtype"] != "*", float(row["min_cover_m"]))
        for row in _rows("min_cover_depth.csv")
        if row["utility"] == key
        and row["location"] == location
        and (row["subtype"] == "*" or row["subtype"] in tags)
    ]
    if not values:
        return None
    top = max(v[0] for v in values)
    return max(v[1] for v in values if v[0] == top)


def _frost_cover(spec: LineSpec, frost_depth_m: float | None) -> float | None:
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
    table = _geometry()["trench_bottom_width"]["b1_table_mm"]
    column = table["columns"].index(spec.material)
    rows = table["rows"]
    row = next((r for r in rows if spec.outside_diameter_mm <= r["d0_max_mm"]), rows[-1])
    value = row["values"][column]
    return float(max(value) if isinstance(value, list) else value) / 1000.0
