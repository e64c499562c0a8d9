"""Sections and quantities for a plan from the trench optimiser (the TrenchPlan adapter)."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import LineString

from routing._check_section import check_section
from routing.errors import SectionError
from routing.graph import build_road_graph
from routing.plan_sections import lane_for_road_class
from routing.plan_sections import quantities_for_plan
from routing.plan_sections import sections_for_plan
from routing.plan_sections import segments_from_plan
from routing.results import TrenchPlan
from routing.sections import FLAG_UNVERIFIED
from routing.sections import SiteConditions
from routing.sections import cross_section
from routing.sections import dig_width_rule
from routing.sections import required_width_m
from routing.sections import width_rule
from routing.trench import plan_shared_trench


@pytest.fixture(scope="module")
def roads() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "segment_id": ["a", "b", "c"],
            "road_class": ["primary", "residential", "footway"],
            "width_m": [14.0, 8.0, 4.0],
            "pavement": ["asphalt", "asphalt", "paving"],
        },
        geometry=[
            LineString([(0, 0), (100, 0)]),
            LineString([(100, 0), (200, 0)]),
            LineString([(100, 0), (100, 60)]),
        ],
        crs=32652,
    )


def _node(G, x: float, y: float):  # type: ignore[no-untyped-def]  # noqa: N803
    return next(
        n for n, d in G.nodes(data=True) if abs(d["x"] - x) < 1e-6 and abs(d["y"] - y) < 1e-6
    )


def test_plan_edges_become_sections_with_road_attributes(roads: gpd.GeoDataFrame) -> None:
    G = build_road_graph(roads)  # noqa: N806
    site = SiteConditions(frost_depth_m=2.0)
    width = width_rule(site)
    plan = plan_shared_trench(
        G,
        {_node(G, 200, 0): {"water", "gas"}, _node(G, 100, 60): {"telecom"}},
        {"water": _node(G, 0, 0), "gas": _node(G, 0, 0), "telecom": _node(G, 0, 0)},
        required_width_m=width,
    )
    segments, sections = sections_for_plan(plan, G=G, site=site)
    assert len(sections) == len(plan.edges) == 3
    by_road = {s.road_class: (s, sec) for s, sec in zip(segments, sections, strict=True)}
    seg_a, sec_a = by_road["primary"]
    assert {p.spec.utility for p in sec_a.lines} == {"water", "gas", "telecom"}
    assert seg_a.road_width_m == 14.0
    assert seg_a.pavement == "asphalt"
    assert sec_a.lane == "motor"
    assert by_road["footway"][1].lane == "non_motor"
    assert sec_a.length_m == pytest.approx(100.0)
    for sec in sections:
        assert check_section(sec) == []
    # the optimiser's width hook and the sections agree: every road it used can hold them
    for seg, sec in zip(segments, sections, strict=True):
        utilities = frozenset(p.spec.utility for p in sec.lines)
        assert width(utilities) <= seg.road_width_m + 1e-9  # type: ignore[operator]
        assert not sec.needs_approval
    _, quantities = quantities_for_plan(plan, G=G, site=site)
    assert quantities.trench_length_m == pytest.approx(plan.trench_length_m)
    assert quantities.lines_attached_m["water"] == pytest.approx(200.0)


def test_existing_lines_crossing_an_edge_become_vertical_checks(roads: gpd.GeoDataFrame) -> None:
    """An existing water main at 3.0 m crosses road a; a cable of unknown depth crosses road b.

    Medium-A gas default (D0 110) under the motor lane: cover .9, bottom 1.01; the main's top
    at 3.0 leaves 1.99 m >= .15 (表4.1.14). The unsurveyed cable makes b need manual review.
    """
    G = build_road_graph(roads)  # noqa: N806
    plan = plan_shared_trench(
        G,
        {_node(G, 200, 0): {"gas"}},
        {"gas": _node(G, 0, 0)},
        required_width_m=required_width_m,
    )
    existing = gpd.GeoDataFrame(
        {"utility": ["water", "telecom"], "depth_m": [3.0, None], "diameter_mm": [500.0, None]},
        geometry=[LineString([(50, -20), (50, 20)]), LineString([(150, -20), (150, 20)])],
        crs=32652,
    )
    segments, sections = sections_for_plan(plan, G=G, existing_lines=existing)
    by_road = {s.road_class: sec for s, sec in zip(segments, sections, strict=True)}
    vertical = [c for c in by_road["primary"].clearances if c.kind == "vertical"]
    assert len(vertical) == 1
    assert vertical[0].actual_m == pytest.approx(1.99, abs=0.005)
    assert (vertical[0].required_m, vertical[0].clause) == (0.15, "GB 50289-2016 表4.1.14")
    assert by_road["residential"].needs_manual_review
    assert any("unknown depth" in f.message for f in by_road["residential"].flags)
    with pytest.raises(SectionError, match="reproject"):
        sections_for_plan(plan, G=G, existing_lines=existing.to_crs(4326))


def test_stored_plan_with_road_rows_instead_of_the_graph(roads: gpd.GeoDataFrame) -> None:
    """A plan rebuilt from its JSON, road attributes from road rows; a missing width.

    Road b has no width in its row: the residential class default (6.0 m) is used and shown
    as unverified.
    """
    G = build_road_graph(roads)  # noqa: N806
    plan = plan_shared_trench(
        G, {_node(G, 200, 0): {"water", "gas"}}, {"water": _node(G, 0, 0), "gas": _node(G, 0, 0)}
    )
    stored = TrenchPlan.from_dict(plan.to_dict())
    rows = roads.assign(width_m=[14.0, None, 4.0])
    segments = segments_from_plan(stored, roads=rows)
    by_road = {s.road_segment_id: s for s in segments}
    assert by_road["a"].road_width_m == 14.0
    assert by_road["a"].pavement == "asphalt"
    assert by_road["b"].road_width_m == 6.0
    assert "class default" in by_road["b"].road_width_note
    sec_b = cross_section(by_road["b"])
    assert any(f.kind == FLAG_UNVERIFIED and "6.0 m assumed" in f.message for f in sec_b.flags)
    assert by_road["a"].geometry is not None
    assert by_road["a"].length_m == pytest.approx(100.0)


def test_lane_for_road_class() -> None:
    assert lane_for_road_class("cycleway") == "non_motor"
    assert lane_for_road_class("secondary") == "motor"


def test_dig_rule_detours_around_a_road_too_narrow_for_the_dig() -> None:
    """A square: the direct road (2.5 m) is narrower than the 4-line dig, the detour is wide.

    The cost model's own per-utility widths would let the optimiser use the 2.5 m road for
    water + gas (its additive widths are narrower); with the section's dig width it takes
    the 300 m detour with the lines that do not fit, and every edge's utility set fits its
    road's dig (a single line may still use the narrow road).
    """
    roads = gpd.GeoDataFrame(
        {
            "segment_id": ["direct", "d1", "d2", "d3"],
            "road_class": ["residential"] * 4,
            "width_m": [2.5, 12.0, 12.0, 12.0],
            "pavement": ["asphalt"] * 4,
        },
        geometry=[
            LineString([(0, 0), (100, 0)]),
            LineString([(0, 0), (0, 100)]),
            LineString([(0, 100), (100, 100)]),
            LineString([(100, 100), (100, 0)]),
        ],
        crs=32652,
    )
    G = build_road_graph(roads)  # noqa: N806
    site = SiteConditions(frost_depth_m=2.0)
    utilities = {"water", "gas", "power", "drainage"}
    rule = dig_width_rule(site)
    assert rule(frozenset(utilities)) > 2.5
    src, dst = _node(G, 0, 0), _node(G, 100, 0)
    plan = plan_shared_trench(
        G, {dst: utilities}, dict.fromkeys(utilities, src), required_width_m=rule
    )
    assert {"d1", "d2", "d3"} <= {e.segment_id for e in plan.edges}
    widths = {"direct": 2.5, "d1": 12.0, "d2": 12.0, "d3": 12.0}
    for edge in plan.edges:
        assert rule(frozenset(edge.utilities)) <= widths[edge.segment_id]
    direct = [e for e in plan.edges if e.segment_id == "direct"]
    assert all(len(e.utilities) < len(utilities) for e in direct)
    segments, sections = sections_for_plan(plan, G=G, site=site)
    for seg, sec in zip(segments, sections, strict=True):
        assert sec.surface_width_m <= seg.road_width_m  # type: ignore[operator]
