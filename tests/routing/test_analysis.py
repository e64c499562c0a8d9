"""The one route analysis: a plan's or a route's edges laid out in their roads, with quantities."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import LineString

from routing._check_section import check_section
from routing.analysis import CityContext
from routing.analysis import analyse_route
from routing.analysis import lane_for_road_class
from routing.errors import SectionError
from routing.graph import build_road_graph
from routing.graph import road_class_width_m
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
    analysis = analyse_route(plan, CityContext(crs=32652, roads=roads), site=site)
    segments, sections = analysis.segments, analysis.sections
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
    quantities = analysis.quantities
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
    context = CityContext(crs=32652, roads=roads, existing_lines=existing)
    analysis = analyse_route(plan, context, site=SiteConditions())
    segments, sections = analysis.segments, analysis.sections
    by_road = {s.road_class: sec for s, sec in zip(segments, sections, strict=True)}
    vertical = [c for c in by_road["primary"].clearances if c.kind == "vertical"]
    assert len(vertical) == 1
    assert vertical[0].actual_m == pytest.approx(1.99, abs=0.005)
    assert (vertical[0].required_m, vertical[0].clause) == (0.15, "GB 50289-2016 表4.1.14")
    assert by_road["residential"].needs_manual_review
    assert any("unknown depth" in f.message for f in by_road["residential"].flags)
    assert {(c.utility, c.surveyed) for c in analysis.crossings} == {
        ("water", True),
        ("telecom", False),
    }
    with pytest.raises(SectionError, match="reproject"):
        analyse_route(
            plan,
            CityContext(crs=32652, roads=roads, existing_lines=existing.to_crs(4326)),
            site=SiteConditions(),
        )


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
    segments = analyse_route(
        stored, CityContext(crs=32652, roads=rows), site=SiteConditions()
    ).segments
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
    analysis = analyse_route(plan, CityContext(crs=32652, roads=roads), site=site)
    for seg, sec in zip(analysis.segments, analysis.sections, strict=True):
        assert sec.surface_width_m <= seg.road_width_m  # type: ignore[operator]


# -- route edges (a fixed route's frames): the one road-matching rule --------------------------


def _route_edges(**extra: list[object]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "edge": ["a", "b", "c"],
            "utilities": ["gas, water", "power", "telecom"],
            "length_m": [100.0, 100.0, 100.0],
            **extra,
        },
        geometry=[
            LineString([(0, 1), (100, 1)]),  # 1 m beside road 1
            LineString([(0, 51), (100, 51)]),  # 1 m beside road 2
            LineString([(0, 500), (100, 500)]),  # no road near
        ],
        crs=32652,
    )


def _two_roads() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "segment_id": [1, 2],
            "road_class": ["primary", "footway"],
            "width_m": [18.0, None],
            "pavement": ["asphalt", "concrete"],
        },
        geometry=[LineString([(0, 0), (100, 0)]), LineString([(0, 50), (100, 50)])],
        crs=32652,
    )


def test_each_edge_takes_the_road_it_runs_along() -> None:
    analysis = analyse_route(
        _route_edges(), CityContext(crs=32652, roads=_two_roads()), site=SiteConditions()
    )
    a, b, c = analysis.segments
    assert (a.road_width_m, a.pavement, a.road_class, a.lane) == (
        18.0,
        "asphalt",
        "primary",
        "motor",
    )
    assert a.road_width_note == ""
    assert a.road_segment_id == "1"  # the stored id as text, never "1.0"
    # no stored width: the class default, said to be assumed
    assert b.road_width_m == road_class_width_m("footway")
    assert "class default" in b.road_width_note
    assert b.lane == "non_motor"
    # nothing within reach: width unknown, so the section goes to manual review
    assert c.road_width_m is None
    assert {line.utility for line in a.lines} == {"gas", "water"}
    assert analysis.sections[2].needs_manual_review
    assert any(w.edge == "c" and w.kind == "manual_review" for w in analysis.warnings)


def test_a_carried_segment_id_wins_over_the_nearest_road() -> None:
    # edge a says it lies on road 2, though road 1 is nearer: the stored id decides
    edges = _route_edges(segment_id=["2", None, None])
    a, b, _ = analyse_route(
        edges, CityContext(crs=32652, roads=_two_roads()), site=SiteConditions()
    ).segments
    assert (a.road_segment_id, a.road_class) == ("2", "footway")
    assert (b.road_segment_id, b.road_class) == ("2", "footway")


def test_a_cross_street_at_the_midpoint_is_not_the_road_an_edge_runs_along() -> None:
    roads = gpd.GeoDataFrame(
        {"segment_id": [7, 8], "road_class": ["primary", "residential"], "width_m": [20.0, 9.0]},
        geometry=[
            LineString([(50, -40), (50, 40)]),  # crosses edge a at its midpoint (distance 0)
            LineString([(0, 3.5), (100, 3.5)]),  # parallel, 2.5 m off
        ],
        crs=32652,
    )
    a = analyse_route(
        _route_edges().iloc[:1], CityContext(crs=32652, roads=roads), site=SiteConditions()
    ).segments[0]
    assert (a.road_segment_id, a.road_width_m) == ("8", 9.0)
    # with only the cross street there, the edge has no road: width unknown
    alone = analyse_route(
        _route_edges().iloc[:1], CityContext(crs=32652, roads=roads.iloc[:1]), site=SiteConditions()
    ).segments[0]
    assert alone.road_width_m is None


def test_without_roads_every_width_is_unknown() -> None:
    analysis = analyse_route(_route_edges(), CityContext(crs=32652), site=SiteConditions())
    assert all(s.road_width_m is None for s in analysis.segments)
    assert all(s.needs_manual_review for s in analysis.sections)


def test_frost_depth_governs_the_cover_and_the_excavation() -> None:
    context = CityContext(crs=32652, roads=_two_roads())
    mild = analyse_route(_route_edges(), context, site=SiteConditions())
    frost = analyse_route(_route_edges(), context, site=SiteConditions(frost_depth_m=2.0))
    water = next(p for p in frost.sections[0].lines if p.spec.utility == "water")
    # GB 50013 §7.3.5: the top of a water main lies below the frost line (2.0 + D0)
    assert water.cover_m >= 2.0
    assert frost.quantities.excavation_m3 > mild.quantities.excavation_m3


def test_protection_period_and_protected_area_warnings() -> None:
    import datetime as dt  # noqa: PLC0415

    roads = _two_roads().assign(built_on=[dt.date(2025, 5, 1), None], overhauled_on=[None, None])
    area = gpd.GeoDataFrame(
        {"name": ["古树保护区"], "area_kind": ["heritage"]},
        geometry=[shapely.box(0, 45, 100, 60)],
        crs=32652,
    )
    context = CityContext(crs=32652, roads=roads, protected_areas=area)
    on = dt.date(2026, 12, 2)
    analysis = analyse_route(_route_edges(), context, site=SiteConditions(), on=on)
    protection = [w for w in analysis.warnings if w.kind == "protection_period"]
    assert [(w.edge, w.message) for w in protection] == [
        ("a", "道路保护期内 road 1 is protected until 2030-05-01")
    ]
    assert [w.edge for w in analysis.warnings if w.kind == "protected_area"] == ["b"]
    assert analysis.protected is not None and len(analysis.protected) == 2
    # judged on another date (after the period) the road is free; without a date, no check
    later = analyse_route(_route_edges(), context, site=SiteConditions(), on=dt.date(2031, 1, 1))
    assert not [w for w in later.warnings if w.kind == "protection_period"]
    undated = analyse_route(_route_edges(), context, site=SiteConditions())
    assert not [w for w in undated.warnings if w.kind == "protection_period"]


def test_trees_in_the_dig_are_felled_and_marked_for_the_maps() -> None:
    from shapely.geometry import Point  # noqa: PLC0415

    trees = gpd.GeoDataFrame(
        {"source_id": ["in", "far"]}, geometry=[Point(50, 1.2), Point(50, 300)], crs=32652
    )
    analysis = analyse_route(
        _route_edges(),
        CityContext(crs=32652, roads=_two_roads(), trees=trees),
        site=SiteConditions(),
    )
    assert analysis.trees is not None
    action = dict(zip(analysis.trees["source_id"], analysis.trees["action"], strict=True))
    assert action == {"in": "fell", "far": ""}
    assert analysis.quantities.trees_to_fell == 1
    assert analysis.trees["affected"].tolist() == [True, False]


def test_the_most_shared_section_and_an_unknown_edge() -> None:
    analysis = analyse_route(
        _route_edges(), CityContext(crs=32652, roads=_two_roads()), site=SiteConditions()
    )
    assert analysis.section().segment_id == "a"  # two utilities, the most shared
    with pytest.raises(KeyError, match="no segment"):
        analysis.section("zz")
    out = analysis.as_dict()
    assert {"sections", "quantities", "warnings", "crossings"} <= out.keys()


def test_a_route_in_another_crs_is_measured_in_the_citys() -> None:
    edges = _route_edges().to_crs(4326).drop(columns=["length_m"])
    analysis = analyse_route(
        edges, CityContext(crs=32652, roads=_two_roads()), site=SiteConditions()
    )
    assert analysis.edges.crs.to_epsg() == 32652
    assert analysis.quantities.trench_length_m == pytest.approx(300.0, abs=0.01)
    assert analysis.segments[0].road_segment_id == "1"
