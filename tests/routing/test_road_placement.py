"""Placement across the whole road (道路横断面), hand-computed from the templates and tables.

The 三块板 primary template (routing/data/road_templates.yaml, an assumption): from the left red
line sidewalk 4.0 | tree strip 1.5 | non-motor 3.5 | green 2.0 | carriageway 18 | green 2.0 |
non-motor 3.5 | tree strip 1.5 | sidewalk 4.0 = 40 m (not > 40: §4.1.5 both sides not asked).
Zones for lines (§4.1.2): left sidewalk [0, 4] (building | tree row .75 beyond), left non-motor +
green [5.5, 11] (tree row .75 beyond | curb), and their mirrors on the right.
Lines: P power conduit D0 200, T telecom duct D0 300, W water DN300 D0 320, G gas medium-A
D0 160, S sewer D0 480 (flexible concrete); no frost. Laid alone the four P, T, W, G sit at
x = .40, 1.15, 2.46, 3.20 with B = 3.58 (test_sections); under a sidewalk or non-motor lane
covers .5/.6/.6/.6, bedding .10 under W and G: depth = .6 + .32 + .10 = 1.02 (vertical walls).
"""

from __future__ import annotations

import pytest

from routing._check_section import check_section
from routing.errors import SectionError
from routing.road_placement import place_on_road
from routing.road_placement import road_section
from routing.road_placement import zones
from routing.sections import LineSpec
from routing.tunnel import tunnel_option

CM = 0.005
P = LineSpec("power", 200, subtype="conduit", label="P")
T = LineSpec("telecom", 300, subtype="duct", label="T")
W = LineSpec("water", 320, dn_mm=300, label="W")
G = LineSpec("gas", 160, subtype="medium_a", dn_mm=150, label="G")
S = LineSpec("drainage", 480, subtype="sewer", material="concrete_flexible_joint", label="S")


def test_template_zones_of_a_three_slab_road() -> None:
    road = road_section("primary")
    assert road.assumed
    assert road.layout == "三块板"
    assert road.red_line_width_m == pytest.approx(40.0)
    found = [(z.side, z.start_m, z.end_m, z.near_edge, z.far_edge) for z in zones(road)]
    assert found == [
        ("left", 0.0, 4.0, "building", "tree"),
        ("left", 5.5, 11.0, "tree", "curb"),
        ("right", 29.0, 34.5, "tree", "curb"),
        ("right", 36.0, 40.0, "building", "tree"),
    ]


def test_three_slab_road_lines_go_under_the_non_motor_lane_and_the_sidewalk() -> None:
    """Buildings on the red line (setback 0): the 表4.1.9 building row decides.

    One trench of all five: S sits at x_S = max(x_W + .16 + .24 + 1.5, x_G + .08 + .24 + 1.2)
    = 4.72, B = 5.26: the non-motor zone needs 4.72 + .24 + 1.5 (curb) = 6.46 > 5.5, the
    sidewalk less: no one trench fits. Two trenches, split in the §4.1.3 order (P T W G | S):
    * P T W G in the left sidewalk: W to the building 3.0 (d > 200): wall at t = 3.0 - 2.46
      + .16 = .70; far side W to the tree row 1.5 - .75 = .75: 2.46 + .16 + .75 = 3.37 < B;
      needs .70 + 3.58 = 4.28 > 4.0 -> no. In the left non-motor lane: tree row T, W 1.5 - .75
      = .75 (t = max(.75 - 1.15 + .15, .75 - 2.46 + .16, 0) = 0); curb 1.5 each: right =
      max(3.58, 3.20 + .08 + 1.5 = 4.78) -> needs 4.78 <= 5.5: fits. Lines at 5.5 + x.
    * S alone in the right sidewalk (B = .48 + 2 x .30 = 1.08, depth .6 + .48 + .15 = 1.23):
      building 2.5 (表4.1.9, verified) governs: t = 2.5 - .54 + .24 = 2.20; far: tree 1.5 - .75:
      .54 + .24 + .75 = 1.53; needs 2.20 + 1.53 = 3.73 <= 4.0; S at 40 - 2.20 - .54 = 37.26.
    """
    road = road_section("primary", building_setback_m=0.0)
    placed = place_on_road([S, G, W, T, P], road, segment_id="r", length_m=100)
    assert placed.rule == "two_trenches"
    left, right = placed.trenches
    assert left.zone.kinds == ("non_motor", "green")
    assert [p.spec.name for p in left.section.lines] == ["P", "T", "W", "G"]
    assert left.line_offsets_m == pytest.approx((5.90, 6.65, 7.96, 8.70), abs=CM)
    assert left.section.road_width_needed_m == pytest.approx(4.78, abs=CM)
    assert left.section.lane == "non_motor"
    assert right.zone.kinds == ("sidewalk",)
    assert right.section.wall_offset_m == pytest.approx(2.20, abs=CM)
    assert right.section.road_width_needed_m == pytest.approx(3.73, abs=CM)
    assert right.line_offsets_m == pytest.approx((37.26,), abs=CM)
    building = next(r for _, side, r in right.section.edge_rules if side == "left")
    assert building is not None
    assert (building.value, building.verification) == (2.5, "verified")
    assert not placed.needs_approval
    for t in placed.trenches:
        assert check_section(t.section) == []


def test_building_setback_lets_one_sidewalk_trench_hold_four_lines() -> None:
    """The template's 5 m setback: every building row (W 3.0 at most) is met behind the red line.

    P T W G in the left sidewalk: t = 0; far side tree row: W 2.46 + .16 + .75 = 3.37,
    T 1.15 + .15 + .75 = 2.05 < B = 3.58: needs 3.58 <= 4.0 -> one trench under the sidewalk.
    """
    placed = place_on_road([P, T, W, G], road_section("primary"), segment_id="r2")
    assert placed.rule == "one_trench"
    (only,) = placed.trenches
    assert only.zone.kinds == ("sidewalk",)
    assert only.section.road_width_needed_m == pytest.approx(3.58, abs=CM)
    assert only.dig_m == pytest.approx((0.0, 3.58), abs=CM)


def test_carriageway_only_when_the_rest_cannot_hold_the_lines() -> None:
    """Residential 一块板: sidewalks 2.5 | carriageway 7 | 2.5, setback 1.0.

    W alone in a sidewalk: building 3.0 - 1.0 = 2.0: t = 2.0 - .46 + .16 = 1.70; far curb 1.5:
    .46 + .16 + 1.5 = 2.12: needs 3.82 > 2.5 either side; no two-trench split for one line.
    Carriageway (curbs both sides): t = 1.5 - .46 + .16 = 1.20, right .46 + .16 + 1.5 = 2.12:
    3.32 <= 7 -> under the carriageway.
    """
    placed = place_on_road([W], road_section("residential"), segment_id="r3")
    assert placed.rule == "carriageway"
    assert placed.trenches[0].section.lane == "motor"
    assert placed.trenches[0].section.road_width_needed_m == pytest.approx(3.32, abs=CM)


def test_bad_road_bands_are_refused() -> None:
    with pytest.raises(SectionError, match="kind must be one of"):
        road_section("primary", bands=[("sidewalk", 3.0), ("cycle_superhighway", 3.0)])


def test_a_narrow_road_with_many_lines_gets_a_utility_tunnel_beside_the_trench() -> None:
    """Residential 一块板 (2.5 | 7 | 2.5 m) with gas, power, telecom, heat S+R, water, sewer.

    Direct burial: the carriageway alone must take the sewer-gas 1.2, heat-power 2.0 ... chain
    plus 1.5 m curbs both sides -> needs approval. GB 50289 §4.2.1: too narrow, and 6 utilities
    (dense lines, >= 5) -> 综合管廊. Compartments (GB 50838 §4.3.4-4.3.6), filled gas, power,
    telecom, heat, water, sewer: gas alone; power + telecom + water + sewer; heat S + R (heat
    never with power). Rough widths (passage .9 + sum D0 + .3 per line): gas .9 + .16 + .3 =
    1.36; .9 + (.2 + .3 + .32 + .48) + 1.2 = 3.40; heat .9 + .8 + .6 = 2.30; walls .3 x 4:
    total 8.26 m; height 2.4 clear + 2 x .3 = 3.0 m.
    """
    heat_s = LineSpec("heat", 400, subtype="direct_buried", tags=frozenset({"supply"}), label="HS")
    heat_r = LineSpec("heat", 400, subtype="direct_buried", tags=frozenset({"return"}), label="HR")
    lines = [G, P, T, heat_s, heat_r, W, S]
    placed = place_on_road(lines, road_section("residential"), segment_id="t", length_m=80)
    assert placed.needs_approval
    option = tunnel_option(lines, direct_burial_needs_approval=placed.needs_approval)
    assert option is not None
    assert (option.kind, option.kind_zh) == ("utility_tunnel", "综合管廊")
    assert len(option.reasons) == 2
    assert [c.lines for c in option.compartments] == [
        ("G",),
        ("P", "T", "W", "S"),
        ("HS", "HR"),
    ]
    assert option.compartments[0].name == "燃气舱"
    assert [c.width_m for c in option.compartments] == pytest.approx([1.36, 3.40, 2.30])
    assert option.width_m == pytest.approx(8.26)
    assert option.height_m == pytest.approx(3.0)
    assert "GB 50838-2015 §4.3.4" in option.clauses
    # power and telecom alone on a wide road: no condition holds, the trench stays
    assert tunnel_option([P, T], direct_burial_needs_approval=False) is None
    cable = tunnel_option([P, T], direct_burial_needs_approval=True)
    assert cable is not None and cable.kind_zh == "缆线管廊"
