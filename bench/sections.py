"""Benchmark cross-sections and permit quantities for every road segment of Harbin.

Every edge of the noded Harbin OSM road graph (EPSG:32652) gets a random, seeded utility mix
(synthetic: OSM has no pipelines) and is laid out by ``routing.sections`` with the LP, with
the MILP over free orders, and with a greedy adjacent-only placement (the alternative the
issue rules out) measured side by side; then quantities (trees, towers) for the whole plan.
Every LP and MILP section is re-checked by the independent checker.

Run: ``.venv/bin/python -m bench.sections [--limit N] [--write]``

``--approval`` instead measures, on the repository's Harbin sample (tests/data/sample_area.gpkg,
OSM roads), the share of multi-utility segments that need safety measures and approval,
with the reasons, before (the old model: one trench under the carriageway of the class
default width, curb clearances both sides) and after (the road's cross-section from the
class templates and placement by GB 50289 §4.1.2-§4.1.5, routing.road_placement):
``.venv/bin/python -m bench.sections --approval [--write]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import platform
import random
import re
import statistics
import time
from collections.abc import Callable
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

import geopandas as gpd
import numpy as np

from routing._check_section import check_section
from routing.graph import build_road_graph
from routing.quantities import plan_quantities
from routing.road_placement import place_on_road
from routing.road_placement import road_section
from routing.sections import CrossSection
from routing.sections import LineSpec
from routing.sections import SiteConditions
from routing.sections import TrenchSegment
from routing.sections import cross_section

DATA = Path("/work/shared/data/harbin_osm")
CRS = "EPSG:32652"
BENCH_MD = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
HEADING = "## Cross-sections (issue 6)"
APPROVAL_HEADING = "## Where the lines go: approvals before and after (issue 15)"
SAMPLE = Path(__file__).resolve().parent.parent / "tests" / "data" / "sample_area.gpkg"
# the old model's lane: footways and the like under a non-motor lane, else the carriageway
_NON_MOTOR = frozenset({"footway", "path", "cycleway", "pedestrian", "steps", "living_street"})
# Harbin frost depth: a city parameter (about 1.8-2.0 m, unverified; local design value)
HARBIN = SiteConditions(frost_depth_m=2.0)
SEED = 20261125
T = TypeVar("T")
R = TypeVar("R")

POOL = {
    "water": [
        LineSpec("water", 170, dn_mm=150),
        LineSpec("water", 320, dn_mm=300),
        LineSpec("water", 630, dn_mm=600, role="transmission"),
    ],
    "drainage": [
        LineSpec("drainage", 480, subtype="sewer", material="concrete_flexible_joint"),
        LineSpec("drainage", 960, subtype="storm", material="concrete_rigid_joint"),
    ],
    "gas": [
        LineSpec("gas", 110, subtype="low"),
        LineSpec("gas", 160, subtype="medium_a"),
        LineSpec("gas", 325, subtype="sub_high_b", dn_mm=300),
    ],
    "heat": [LineSpec("heat", 450, subtype="direct_buried")],
    "power": [
        LineSpec("power", 400, subtype="conduit"),
        LineSpec("power", 120, subtype="direct_buried"),
    ],
    "telecom": [
        LineSpec("telecom", 300, subtype="duct"),
        LineSpec("telecom", 60, subtype="direct_buried"),
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None, help="first N segments only")
    parser.add_argument("--write", action="store_true", help=f"write results into {BENCH_MD.name}")
    parser.add_argument("--approval", action="store_true", help="approvals before and after")
    args = parser.parse_args()
    if args.approval:
        report = approval_report()
        print(report)
        if args.write:
            _write(report, APPROVAL_HEADING)
        return

    t0 = time.perf_counter()
    roads = gpd.read_file(DATA / "harbin_roads.geojson").to_crs(CRS)
    roads = roads[~roads["highway"].isin(["construction", "proposed", "raceway"])]
    roads = roads.rename(columns={"highway": "road_class", "surface": "pavement"})
    G = build_road_graph(roads)  # noqa: N806 - networkx's name
    load_s = time.perf_counter() - t0
    segments = _segments(G, args.limit)
    trees, towers = _context()

    lp, lp_s = _timed(lambda s: cross_section(s, site=HARBIN, method="lp"), segments)
    milp, milp_s = _timed(lambda s: cross_section(s, site=HARBIN, method="milp"), segments)
    greedy_widths, greedy_s = _timed(_greedy_width, lp)
    t = time.perf_counter()
    problems = sum(bool(check_section(s)) for s in (*lp, *milp))
    check_s = time.perf_counter() - t
    t = time.perf_counter()
    quantities = plan_quantities(lp, segments, trees=trees, poles=towers, crs=CRS)
    quantities_s = time.perf_counter() - t

    greedy_bad = 0
    greedy_narrower = []
    for sec, width in zip(lp, greedy_widths, strict=True):
        if width < sec.bottom_width_m - (sec.shoring.value * 2 if sec.shoring else 0.0) - 1e-6:
            greedy_bad += 1
            greedy_narrower.append(sec.bottom_width_m - width)
    milp_gain = [a.bottom_width_m - b.bottom_width_m for a, b in zip(lp, milp, strict=True)]
    n = len(segments)
    lines_per = statistics.mean(len(s.lines) for s in segments)
    totals = quantities.as_dict()["totals"]
    rows = {
        "segments (graph edges)": f"{n}",
        "lines per segment (mean)": f"{lines_per:.2f}",
        "load + build graph": f"{load_s:.1f} s",
        "sections, LP (HiGHS)": _per(lp_s, n),
        "sections, MILP over free orders": _per(milp_s, n),
        "greedy adjacent-only placement (alternative)": _per(greedy_s, n),
        "independent check of LP + MILP sections": _per(check_s, 2 * n),
        "quantities for the plan (trees, towers)": _per(quantities_s, n),
        "LP / greedy time ratio": f"{sum(lp_s) / max(sum(greedy_s), 1e-12):.0f}x",
        "checker problems (LP + MILP)": f"{problems}",
        "greedy sections breaking a non-adjacent clearance": f"{greedy_bad} of {n} "
        f"({100 * greedy_bad / n:.1f} %), too narrow by up to "
        f"{max(greedy_narrower, default=0.0):.2f} m",
        "MILP narrower than LP": f"{sum(g > 1e-6 for g in milp_gain)} segments, "
        f"by up to {max(milp_gain, default=0.0):.2f} m",
        "status ok / manual review / approval": f"{sum(s.status == 'ok' for s in lp)} / "
        f"{sum(s.needs_manual_review for s in lp)} / {sum(s.needs_approval for s in lp)}",
        "sections citing unverified values": f"{sum(s.unverified for s in lp)}",
        "trench length": f"{totals['trench_length_m'] / 1000:.1f} km",
        "excavation / backfill": f"{totals['excavation_m3'] / 1e6:.2f} / "
        f"{totals['backfill_m3'] / 1e6:.2f} million m³",
        "occupation area": f"{totals['occupation_area_m2'] / 1e6:.2f} km²",
        "trees to fell / protect": f"{totals['trees_to_fell']} / {totals['trees_to_protect']}",
        "towers in clearance": f"{totals['poles_in_clearance']}",
    }
    text = _markdown(rows, args.limit)
    print(text)
    if args.write:
        _write(text)


def _segments(G, limit: int | None) -> list[TrenchSegment]:  # type: ignore[no-untyped-def]  # noqa: N803
    rng = random.Random(SEED)
    kinds = sorted(POOL)
    out = []
    for k, (u, v, key, data) in enumerate(G.edges(keys=True, data=True)):
        if limit is not None and k >= limit:
            break
        mix = rng.sample(kinds, rng.randint(2, 6))
        lines = [rng.choice(POOL[u_]) for u_ in mix]
        if rng.random() < 0.1:  # a second gas main now and then (same rank: MILP orders them)
            lines.append(rng.choice(POOL["gas"]))
        lines = [
            dataclasses.replace(line, label=f"{line.utility}{i}") for i, line in enumerate(lines)
        ]
        width = data.get("width_m")
        out.append(
            TrenchSegment(
                segment_id=f"{data.get('segment_id')}:{u}-{v}-{key}",
                lines=tuple(lines),
                geometry=data.get("geometry"),
                length_m=float(data["length_m"]),
                road_width_m=float(width) if width and np.isfinite(width) else None,
                lane=_lane(data.get("road_class")),
                pavement=data.get("pavement"),
                road_class=data.get("road_class"),
            )
        )
    return out


def _lane(road_class: str | None) -> str:
    return "non_motor" if road_class in _NON_MOTOR else "motor"


def approval_report() -> str:
    """Share of multi-utility sample segments needing approval, before and after, with reasons."""
    roads = gpd.read_file(SAMPLE, layer="roads").to_crs(CRS)
    roads = roads.rename(columns={"highway": "road_class", "surface": "pavement"})
    G = build_road_graph(roads)  # noqa: N806 - networkx's name
    segments = _segments(G, None)
    before_reasons: dict[str, int] = {}
    after_reasons: dict[str, int] = {}
    rules: dict[str, int] = {}
    before = after = 0
    t = time.perf_counter()
    for seg in segments:
        old = cross_section(seg, site=HARBIN)
        if old.needs_approval:
            before += 1
            for reason in _approval_reasons(old):
                before_reasons[reason] = before_reasons.get(reason, 0) + 1
        road = road_section(seg.road_class)
        placed = place_on_road(
            seg.lines, road, segment_id=seg.segment_id, site=HARBIN, length_m=seg.length_m
        )
        rules[placed.rule] = rules.get(placed.rule, 0) + 1
        if placed.needs_approval:
            after += 1
            for sec in placed.sections:
                for reason in _approval_reasons(sec):
                    after_reasons[reason] = after_reasons.get(reason, 0) + 1
    elapsed = time.perf_counter() - t
    n = len(segments)
    lines = [
        APPROVAL_HEADING,
        "",
        "Command: `.venv/bin/python -m bench.sections --approval --write` (seed "
        f"{SEED}; {elapsed:.0f} s on the shared machine). Every edge of the repository's Harbin "
        f"sample (tests/data/sample_area.gpkg, {len(roads)} OSM roads noded into {n} segments) "
        "gets a random mix of 2-6 utilities (synthetic: OSM has no pipelines), Harbin frost "
        "depth 2.0 m. *Before*: one trench under the carriageway, road width from OSM or the "
        "class default of `road_class_defaults.csv`, curb clearances on both sides (the model "
        "before issue 15, on today's tables). *After*: the road's cross-section from the class "
        "templates of `routing/data/road_templates.yaml` (assumptions a city replaces) and "
        "`routing.road_placement.place_on_road` (sidewalks, non-motor lanes and green strips "
        "first, §4.1.3 order, both sides above 40 m, building row on the sidewalk side, tree "
        "rows, carriageway last).",
        "",
        "| | segments needing approval | share |",
        "|---|---:|---:|",
        f"| before | {before} of {n} | {100 * before / n:.1f} % |",
        f"| after | {after} of {n} | {100 * after / n:.1f} % |",
        "",
        "Placement chosen after: "
        + ", ".join(f"{k} {v}" for k, v in sorted(rules.items(), key=lambda kv: -kv[1]))
        + ".",
        "",
        "Reasons (a segment may have several):",
        "",
        "| reason | before | after |",
        "|---|---:|---:|",
    ]
    for reason in sorted(set(before_reasons) | set(after_reasons)):
        lines.append(
            f"| {reason} | {before_reasons.get(reason, 0)} | {after_reasons.get(reason, 0)} |"
        )
    lines.append("")
    return "\n".join(lines)


def _approval_reasons(section: CrossSection) -> list[str]:
    out = []
    for flag in section.flags:
        if flag.kind != "needs_safety_measures_and_approval":
            continue
        if "§4.1.12" in flag.clause:
            out.append("crossing breaks the §4.1.12 top-down order")
        elif "needs" in flag.message and "of road" in flag.message:
            edges = "/".join(dict.fromkeys(k for k in section.edges if k != "open"))
            out.append(f"{section.lane} zone narrower than dig + {edges} clearances (§4.1.9)")
        else:
            out.append(flag.message.split(":")[0])
    return out


def _context() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    trees = gpd.read_file(DATA / "harbin_trees.geojson").to_crs(CRS)
    # tree rows are lines: count their vertices as trees
    trees = trees.explode(index_parts=False).get_coordinates(ignore_index=False)
    trees = gpd.GeoDataFrame(geometry=gpd.points_from_xy(trees.x, trees.y), crs=CRS).reset_index(
        drop=True
    )
    utilities = gpd.read_file(DATA / "harbin_utilities.geojson").to_crs(CRS)
    towers = utilities[
        (utilities.geometry.geom_type == "Point") & (utilities.get("power") == "tower")
    ]
    towers = gpd.GeoDataFrame(
        {"pole_kind": ["hv_tower_gt_35kv"] * len(towers)}, geometry=towers.geometry.values, crs=CRS
    )
    return trees, towers


def _timed(fn: Callable[[T], R], items: Iterable[T]) -> tuple[list[R], list[float]]:
    out: list[R] = []
    times: list[float] = []
    for item in items:
        t = time.perf_counter()
        out.append(fn(item))
        times.append(time.perf_counter() - t)
    return out, times


def _greedy_width(section: CrossSection) -> float:
    """Bottom width from adjacent clearances only (each line after the previous one)."""
    ordered = sorted(section.lines, key=lambda p: p.x_m)
    required = {
        frozenset((c.a, c.b)): c.required_m or 0.0
        for c in section.clearances
        if c.kind == "horizontal"
    }
    x = ordered[0].spec.radius_m + ordered[0].working_width.value
    for a, b in itertools.pairwise(ordered):
        x += a.spec.radius_m + b.spec.radius_m + required[frozenset((a.index, b.index))]
    return x + ordered[-1].spec.radius_m + ordered[-1].working_width.value


def _per(times: list[float] | float, n: int) -> str:
    ms = np.atleast_1d(np.asarray(times, dtype=float)) * 1000.0
    if len(ms) == n and n > 1:
        return (
            f"{ms.sum() / 1000:.1f} s total; per segment mean {ms.mean():.2f} ms, "
            f"median {np.median(ms):.2f} ms, p95 {np.percentile(ms, 95):.2f} ms"
        )
    total = float(np.sum(ms)) / 1000.0
    return f"{total:.1f} s total; {1000 * total / max(n, 1):.2f} ms per segment"


def _markdown(rows: dict[str, str], limit: int | None) -> str:
    cmd = ".venv/bin/python -m bench.sections --write" + (f" --limit {limit}" if limit else "")
    lines = [
        HEADING,
        "",
        f"Command: `{cmd}` (seed {SEED}). Machine: {platform.machine()}, 2 cores shared with "
        "other engineers, Python " + platform.python_version() + ".",
        "",
        "Every edge of the noded Harbin OSM road graph (EPSG:32652) gets a random utility mix "
        "(2-6 utilities, sizes from a small pool; synthetic, OSM has no pipelines), Harbin frost "
        "depth 2.0 m (city parameter), road widths from the graph (OSM width, else the class "
        "default of `routing/data/road_class_defaults.csv`). LP and MILP placements and the "
        "greedy adjacent-only alternative run side by side in the same process; every LP and "
        "MILP section is "
        "re-checked by `routing._check_section` (independent of the placer).",
        "",
        "| measure | value |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in rows.items()),
        "",
        "Reading: the LP's median is about 3 ms per segment, almost all of it scipy/HiGHS "
        "call overhead (two small LPs; means and p95 grow when the shared machine is "
        "loaded); the greedy adjacent-only layout is two to three orders of "
        "magnitude faster but about 1 section in 20 breaks a clearance between non-adjacent "
        "lines, which the LP cannot. The MILP (free order among same-rank lines) is never "
        "wider and sometimes narrower. Every section cites at least one `unverified` value "
        "(the GB 50268 b1 table alone is unverified), so every output carries that flag until "
        "the tables are checked. Over half the segments need approval: the class-default "
        "widths of small roads cannot hold the dig plus the 1.5 m curb clearances of 表4.1.9.",
        "",
    ]
    return "\n".join(lines)


def _write(text: str, heading: str = HEADING) -> None:
    current = BENCH_MD.read_text(encoding="utf-8") if BENCH_MD.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text + "\n", current)
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    BENCH_MD.write_text(updated, encoding="utf-8")


if __name__ == "__main__":
    main()
