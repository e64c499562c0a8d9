"""Quantities per segment and per plan, computed by hand from the sections."""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import LineString
from shapely.geometry import Point

from routing.errors import SectionError
from routing.quantities import load_unit_prices
from routing.quantities import plan_quantities
from routing.quantities import quantities_frame
from routing.quantities import segment_quantities
from routing.sections import LineSpec
from routing.sections import SiteConditions
from routing.sections import TrenchSegment
from routing.sections import cross_section

CRS = "EPSG:32652"
HARBIN = SiteConditions(frost_depth_m=2.0)
AXIS = LineString([(0, 0), (100, 0)])
FOUR = (
    LineSpec("water", 320, dn_mm=300, label="W"),
    LineSpec("gas", 160, subtype="medium_a", dn_mm=150, label="G"),
    LineSpec("power", 200, subtype="conduit", label="P"),
    LineSpec("telecom", 300, subtype="duct", label="T"),
)
TWO = (
    LineSpec("water", 170, dn_mm=150, label="W"),
    LineSpec("drainage", 480, subtype="sewer", material="concrete_flexible_joint", label="S"),
)


def _gdf(geoms: list, **cols: list) -> gpd.GeoDataFrame:  # type: ignore[type-arg]
    return gpd.GeoDataFrame(cols, geometry=geoms, crs=CRS)


def test_volumes_and_areas_of_the_harbin_section() -> None:
    """B 3.58, W 7.0238 (slopes), H 2.57 (bedding included), L 100 m (see test_sections).

    excavation = (3.58 + 7.0238) / 2 x 2.57 x 100 = 1362.59 m3
    lines = pi (.16² + .08² + .10² + .15²) x 100 = 20.26 m3
    bedding (GB 50268, pipes only: water and gas; the cable ducts have none) =
    .10 x (.32 + 2 x .30) + .10 x (.16 + 2 x .30) = .168 m2 x 100 = 16.80 m3
    backfill = 1362.59 - 20.26 - 16.80 = 1325.53 m3
    restoration = 7.0238 x 100 = 702.38 m2 (asphalt)
    occupation = (7.0238 + 2 x 0.8 working strip, GB 50268 §4.3.4) x 100 = 862.38 m2
    """
    seg = TrenchSegment("h", FOUR, geometry=AXIS, road_width_m=14, pavement="asphalt")
    q = segment_quantities(cross_section(seg, site=HARBIN), seg)
    assert q.trench_length_m == pytest.approx(100.0)
    assert q.excavation_m3 == pytest.approx(1362.59, abs=0.01)
    assert q.lines_volume_m3 == pytest.approx(math.pi * 0.0645 * 100, abs=0.01)
    assert q.bedding_m3 == pytest.approx(16.80, abs=0.01)
    assert q.backfill_m3 == pytest.approx(1325.53, abs=0.01)
    assert q.restoration_area_m2 == pytest.approx(702.38, abs=0.01)
    assert q.occupation_area_m2 == pytest.approx(862.38, abs=0.01)
    assert q.occupation_days is None  # no work rates: no invented duration
    assert all(v is None for v in q.costs_cny.values())  # no prices: quantities only
    assert {u for u, _, _ in q.lines_attached} == {"water", "gas", "power", "telecom"}


def test_trees_poles_and_crossings_near_a_vertical_wall_section() -> None:
    """Water (y = +.74) and sewer (y = -.585) in a 2.25 m vertical-wall trench on y = 0.

    Tree (50, 1.0): inside the dig (half width 1.125) -> fell.
    Tree (50, -2.0): outside; to the sewer wall 1.415 - .24 = 1.175 < 1.5 (CJJ 75) -> protect.
    Tree (50, -3.0): 2.175 from the sewer wall -> clear.
    Pole (20, 1.2) lighting: to the water wall .46 - .085 = .375 < .5 (表4.1.9) -> in clearance.
    Pole (60, 1.2) with no kind: no rule -> listed as unknown (fail closed).
    Road (50, -10)-(50, 10) crosses; road (100, 0)-(120, 0) only touches. Water and gas
    lines cross at x = 30 and 70.
    """
    seg = TrenchSegment(
        "v", TWO, geometry=AXIS, road_width_m=10, lane="sidewalk", pavement="paving"
    )
    sec = cross_section(seg)
    trees = _gdf([Point(50, 1.0), Point(50, -2.0), Point(50, -3.0)], species=["a", "b", "c"])
    trees.index = [11, 12, 13]
    poles = _gdf(
        [Point(20, 1.2), Point(60, 1.2), Point(80, 3.0)],
        pole_kind=["comm_lighting_lt_10kv", None, "comm_lighting_lt_10kv"],
    )
    poles.index = ["p1", "p2", "p3"]
    roads = _gdf([LineString([(50, -10), (50, 10)]), LineString([(100, 0), (120, 0)])])
    lines = _gdf(
        [LineString([(30, -5), (30, 5)]), LineString([(70, -5), (70, 5)])], utility=["water", "gas"]
    )
    q = segment_quantities(
        sec, seg, trees=trees, poles=poles, roads=roads, existing_lines=lines, crs=CRS
    )
    actions = {t.tree_id: (t.action, t.line, round(t.distance_m, 3)) for t in q.trees}
    assert actions == {11: ("fell", "W", 0.175), 12: ("protect", "S", 1.175)}
    protect = next(t for t in q.trees if t.tree_id == 12)
    assert (protect.rule.value, protect.rule.clause) == (1.5, "CJJ 75-97 表6.2.1")
    assert (q.trees_to_fell, q.trees_to_protect) == (1, 1)
    assert q.poles_in_clearance == ("p1",)
    assert q.poles_unknown_rule == ("p2",)
    assert q.road_crossings == 1
    assert dict(q.line_crossings) == {"gas": 1, "water": 1}
    body = q.as_dict()
    assert body["trees"][0]["clause"]
    assert body["trees_to_fell"] == 1


def test_plan_totals_count_a_shared_tree_once_and_group_pavements(tmp_path: Path) -> None:
    a = TrenchSegment("a", TWO, geometry=AXIS, road_width_m=10, lane="sidewalk", pavement="asphalt")
    b = TrenchSegment(
        "b",
        TWO,
        geometry=LineString([(100, 0), (100, 50)]),
        road_width_m=10,
        lane="sidewalk",
        pavement="concrete",
    )
    secs = [cross_section(a), cross_section(b)]
    trees = _gdf([Point(99.8, 0.5)])  # at the corner: inside both digs
    prices_file = tmp_path / "prices.yaml"
    prices_file.write_text(
        "source: test schedule\nrestoration_cny_per_m2: {asphalt: 100}\n"
        "work_rates: {trench_m_per_day: 50, restoration_days: 3}\n",
        encoding="utf-8",
    )
    prices = load_unit_prices(prices_file)
    plan = plan_quantities(secs, [a, b], trees=trees, crs=CRS, prices=prices)
    assert plan.trench_length_m == pytest.approx(150.0)
    assert plan.restoration_area_m2_by_pavement == pytest.approx(
        {"asphalt": 225.0, "concrete": 112.5}
    )
    assert [s.trees_to_fell for s in plan.segments] == [1, 1]
    assert plan.trees_to_fell == 1
    assert plan.segments[0].costs_cny["restoration"] == pytest.approx(22500.0)
    # concrete has no price: that segment's cost is None and so is the plan total
    assert plan.segments[1].costs_cny["restoration"] is None
    assert plan.costs_cny["restoration"] is None
    assert plan.segments[0].occupation_days == pytest.approx(100 / 50 + 3)
    frame = quantities_frame(plan)
    assert list(frame["segment_id"]) == ["a", "b"]
    assert frame["restoration_area_m2"].sum() == pytest.approx(337.5)
    assert plan.as_dict()["prices_source"] == "test schedule"


def test_default_prices_are_empty() -> None:
    prices = load_unit_prices()
    assert prices.empty
    assert prices.restoration_cny_per_m2 == {}


def test_bad_prices_file(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("excavation_cny_per_m3: -5\n", encoding="utf-8")
    with pytest.raises(SectionError, match=r"p\.yaml: excavation_cny_per_m3 must be a number >= 0"):
        load_unit_prices(bad)


def test_layers_in_another_crs_are_refused() -> None:
    seg = TrenchSegment("c", TWO, geometry=AXIS, road_width_m=10)
    sec = cross_section(seg)
    trees = gpd.GeoDataFrame(geometry=[Point(1, 1)], crs="EPSG:4326")
    with pytest.raises(SectionError, match=r"layer 'trees' is in .* reproject"):
        segment_quantities(sec, seg, trees=trees, crs=CRS)
    with pytest.raises(SectionError, match="give the segments' metric crs"):
        segment_quantities(sec, seg, trees=trees)
    with pytest.raises(SectionError, match="not for segment"):
        segment_quantities(sec, TrenchSegment("other", TWO))


def test_empty_plan_has_zero_totals() -> None:
    plan = plan_quantities([], [])
    assert plan.trench_length_m == 0
    assert plan.needs_manual_review == ()


def test_occupation_by_lane_and_totals_by_road_segment() -> None:
    """Two pieces of road R1 (carriageway) and one of R2 (sidewalk), water + sewer (B 2.25 m).

    Occupation width = 2.25 + 2 x .8 = 3.85 m. R1: 100 + 50 m -> 577.5 m2; R2: 40 m -> 154 m2.
    """
    a = TrenchSegment("a", TWO, length_m=100, road_width_m=10, road_segment_id="R1")
    b = TrenchSegment("b", TWO, length_m=50, road_width_m=10, road_segment_id="R1")
    c = TrenchSegment("c", TWO, length_m=40, road_width_m=10, lane="sidewalk", road_segment_id="R2")
    plan = plan_quantities([cross_section(s) for s in (a, b, c)], [a, b, c])
    assert plan.occupation_by_lane["motor_lane"]["length_m"] == pytest.approx(150.0)
    assert plan.occupation_by_lane["motor_lane"]["area_m2"] == pytest.approx(577.5, abs=0.01)
    assert plan.occupation_by_lane["motor_lane"]["mean_width_m"] == pytest.approx(3.85, abs=0.005)
    assert plan.occupation_by_lane["non_motor_lane_or_sidewalk"]["area_m2"] == pytest.approx(
        154.0, abs=0.01
    )
    assert plan.by_road_segment["R1"]["pieces"] == 2
    assert plan.by_road_segment["R1"]["trench_length_m"] == pytest.approx(150.0)
    assert plan.by_road_segment["R2"]["occupation_area_m2"] == pytest.approx(154.0, abs=0.01)
    assert plan.as_dict()["by_road_segment"]["R1"]["needs_manual_review"] is False
