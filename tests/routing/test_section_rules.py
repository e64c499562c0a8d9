"""Hand-computed sections for the rules completed from each utility's own standard (issue 15).

Notation as in test_sections: r = D0/2, s_ij = r_i + r_j + c_ij, b1 from GB 50268 表4.3.2,
x from the left wall (red-line side); bedding from GB 50268 (``pipe_bedding``: metal/plastic
.10 / .15 / .20 m for D0 <= 500 / 1000 / 3000 mm, concrete .15 / .20 / .25 m).
"""

from __future__ import annotations

import pytest

from routing._check_section import check_section
from routing.errors import SectionError
from routing.quantities import bedding_volume_m3
from routing.quantities import segment_quantities
from routing.sections import FLAG_APPROVAL
from routing.sections import FLAG_MANUAL_REVIEW
from routing.sections import CrossSection
from routing.sections import ExistingLine
from routing.sections import LineSpec
from routing.sections import SiteConditions
from routing.sections import TrenchSegment
from routing.sections import cross_section
from routing.sections import default_lines

CM = 0.005
HARBIN = SiteConditions(frost_depth_m=2.0)


def _line(section: CrossSection, label: str):  # type: ignore[no-untyped-def]
    return next(p for p in section.lines if p.spec.name == label)


def _h(section: CrossSection, a: str, b: str):  # type: ignore[no-untyped-def]
    ia, ib = _line(section, a).index, _line(section, b).index
    return next(c for c in section.clearances if c.kind == "horizontal" and {c.a, c.b} == {ia, ib})


def test_heat_supply_and_return_are_two_pipes_apart_never_touching() -> None:
    """Heat supply and return, D0 400 each (pre-insulated, direct-buried), motor lane.

    Heat-heat is blank in 表4.1.9; CJJ/T 81-2013 casing to casing 0.25 m (unverified).
    x_S = .20 + .30 = .50; x_R = .50 + .20 + .20 + .25 = 1.15; B = 1.15 + .20 + .30 = 1.65.
    Cover 1.0 (表4.1.1 motor lane), bedding .10: depth = 1.0 + .4 + .1 = 1.50 -> vertical walls.
    """
    supply = LineSpec("heat", 400, subtype="direct_buried", tags=frozenset({"supply"}), label="S")
    ret = LineSpec("heat", 400, subtype="direct_buried", tags=frozenset({"return"}), label="R")
    sec = cross_section(TrenchSegment("heat", (supply, ret), road_width_m=12))
    assert [p.x_m for p in sec.lines] == pytest.approx([0.50, 1.15], abs=CM)
    assert sec.bottom_width_m == pytest.approx(1.65, abs=CM)
    assert sec.depth_m == pytest.approx(1.50, abs=CM)
    assert sec.support == "vertical"
    pair = _h(sec, "S", "R")
    assert pair.required_m == 0.25
    assert pair.clause.startswith("CJJ/T 81-2013")
    assert check_section(sec) == []
    # a heat line known only by its kind is two pipes too
    assert [s.tags for s in default_lines("heat")] == [
        frozenset({"supply"}),
        frozenset({"return"}),
    ]


def test_sewer_and_storm_are_distinct_and_keep_a_construction_minimum() -> None:
    """Sewer D0 480 (flexible concrete) and storm D0 960 (rigid concrete), sidewalk, no frost.

    §4.1.3 order: sewer then storm. Sewer-storm: not in 表4.1.9 -> construction minimum
    0.40 m (GB 50268 §4.3.2 working room; unverified), never 0.
    b1: sewer .30 (D0 <= 500, flexible), storm .50 (D0 <= 1000, rigid).
    x_Sw = .24 + .30 = .54; x_St = .54 + .24 + .48 + .40 = 1.66; B = 1.66 + .48 + .50 = 2.64.
    Cover .6 (表4.1.1 sidewalk); bedding .15 (sewer) and .20 (storm):
    depth = max(.6 + .48 + .15, .6 + .96 + .20) = 1.76 > 1.5 (clay) -> slopes 1:0.67 (road
    20 m): surface = 2.64 + 2 x .67 x 1.76 = 4.998.
    """
    sewer = LineSpec(
        "drainage", 480, subtype="sewer", material="concrete_flexible_joint", label="Sw"
    )
    storm = LineSpec("drainage", 960, subtype="storm", material="concrete_rigid_joint", label="St")
    sec = cross_section(TrenchSegment("ss", (storm, sewer), road_width_m=20, lane="sidewalk"))
    assert _line(sec, "Sw").order_key == "sewer"
    assert _line(sec, "St").order_key == "storm"
    assert _line(sec, "Sw").x_m == pytest.approx(0.54, abs=CM)
    assert _line(sec, "St").x_m == pytest.approx(1.66, abs=CM)
    assert sec.bottom_width_m == pytest.approx(2.64, abs=CM)
    assert sec.depth_m == pytest.approx(1.76, abs=CM)
    assert sec.surface_width_m == pytest.approx(4.998, abs=CM)
    pair = _h(sec, "Sw", "St")
    assert pair.required_m == 0.40
    assert "GB 50268-2008 §4.3.2" in pair.clause
    assert check_section(sec) == []


def test_water_passing_under_an_existing_sewer_needs_protection_under_4_1_12() -> None:
    """New water DN300 (D0 320) in Harbin under a motor lane: cover 2.15, bottom 2.47.

    Existing sewer, top 1.20, D0 500: bottom 1.70; the water passes below it with
    2.15 - 1.70 = .45 >= .40 (表4.1.14): the clearance holds, but §4.1.12 says water must
    (应) lie above drainage -> protective measures and approval, flagged with the clause.
    """
    water = LineSpec("water", 320, dn_mm=300, label="W")
    seg = TrenchSegment(
        "x1",
        (water,),
        road_width_m=14,
        crossings=(ExistingLine("drainage", 1.20, 500, subtype="sewer", label="old sewer"),),
    )
    sec = cross_section(seg, site=HARBIN)
    v = next(c for c in sec.clearances if c.kind == "vertical")
    assert (v.required_m, v.status) == (0.40, "ok")
    assert v.actual_m == pytest.approx(0.45, abs=CM)
    flag = next(f for f in sec.flags if f.kind == FLAG_APPROVAL)
    assert "GB 50289-2016 §4.1.12" in flag.clause
    assert "water must (应) lie above sewer" in flag.message
    assert "protective measures" in flag.message
    assert sec.needs_approval


def test_pe_gas_over_a_direct_buried_heat_pipe_takes_cjj_63() -> None:
    """New PE gas medium-A D0 110, motor lane: cover .9, bottom 1.01 (bedding below the pipe).

    Existing direct-buried heat, top 1.25: gap 1.25 - 1.01 = .24. 表4.1.14 gives .15 (would
    pass); CJJ 63 asks .50 for PE gas above a heat pipe, in a sleeve -> the stricter, violated.
    """
    gas = LineSpec("gas", 110, subtype="medium_a", tags=frozenset({"pe"}), label="PE gas")
    seg = TrenchSegment(
        "x2",
        (gas,),
        road_width_m=10,
        crossings=(ExistingLine("heat", 1.25, 400, subtype="direct_buried", label="old heat"),),
    )
    sec = cross_section(seg)
    v = next(c for c in sec.clearances if c.kind == "vertical")
    assert v.actual_m == pytest.approx(0.24, abs=CM)
    assert v.required_m == 0.50
    assert v.status == "violated"
    assert v.clause.startswith("CJJ 63-2018")
    assert "GB 50289-2016 表4.1.14" in v.clause
    assert sec.status == FLAG_MANUAL_REVIEW


def test_gas_at_2_5_mpa_is_high_b_and_takes_gb_50028_6_4() -> None:
    """Gas 2.5 MPa (high_b, GB 50028 §6.1.6) DN300 D0 325 beside water DN300 D0 320, motor lane.

    Above 1.6 MPa 表4.1.9 has no cell; GB 50028 §6.4.15 applies the sub-high-A cells:
    water 1.5 m, curb 2.5 m. Order: water, gas (distribution).
    x_W = .16 + .30 = .46; x_G = .46 + .16 + .1625 + 1.5 = 2.2825; B = 2.2825 + .1625 + .3 = 2.745.
    Covers .7 and .9, bedding .10 each: depth = max(.7 + .32 + .1, .9 + .325 + .1) = 1.325.
    Road needed: left edge t = max(0, 1.5 - .46 + .16, 2.5 - 2.2825 + .1625) = 1.20;
    right = max(2.745, .46 + .16 + 1.5, 2.2825 + .1625 + 2.5) = 4.945; total 6.145 m.
    """
    gas = LineSpec("gas", 325, dn_mm=300, pressure_mpa=2.5, label="G")
    water = LineSpec("water", 320, dn_mm=300, label="W")
    sec = cross_section(TrenchSegment("hp", (gas, water), road_width_m=20))
    assert _line(sec, "G").spec.subtype == "high_b"
    assert _line(sec, "G").x_m == pytest.approx(2.2825, abs=CM)
    assert sec.bottom_width_m == pytest.approx(2.745, abs=CM)
    assert sec.depth_m == pytest.approx(1.325, abs=CM)
    assert sec.road_width_needed_m == pytest.approx(6.145, abs=CM)
    assert _h(sec, "W", "G").clause == "GB 50028-2006 §6.4.15"
    assert check_section(sec) == []
    with pytest.raises(SectionError, match=r"contradicts 2\.5 MPa"):
        cross_section(
            TrenchSegment("hp", (LineSpec("gas", 325, subtype="medium_a", pressure_mpa=2.5),))
        )


def test_cable_to_gas_takes_gb_50217_where_it_is_stricter() -> None:
    """Gas medium-A D0 160 and direct-buried power D0 100: 表4.1.9 0.5, GB 50217 表5.3.5 1.0.

    x_P = .05 + .30 = .35; x_G = .35 + .05 + .08 + 1.0 = 1.48; B = 1.48 + .08 + .30 = 1.86.
    """
    gas = LineSpec("gas", 160, subtype="medium_a", dn_mm=150, label="G")
    power = LineSpec("power", 100, subtype="direct_buried", label="P")
    sec = cross_section(TrenchSegment("c", (gas, power), road_width_m=20))
    assert sec.bottom_width_m == pytest.approx(1.86, abs=CM)
    pair = _h(sec, "P", "G")
    assert pair.clause == "GB 50217-2018 表5.3.5; GB 50289-2016 表4.1.9"
    assert pair.required_m == 1.0


def test_bedding_under_a_pipe_in_depth_and_volume() -> None:
    """Water DN600 ductile iron (D0 630, metal), sidewalk, no frost, 50 m.

    b1 = .40 (D0 <= 1000, metal): B = .63 + .80 = 1.43. Cover .6; bedding .15 (D0 <= 1000):
    depth = .6 + .63 + .15 = 1.38 -> vertical walls. Excavation 1.43 x 1.38 x 50 = 98.67 m3;
    bedding .15 x (.63 + 2 x .40) x 50 = 10.725 m3; pipe pi x .315² x 50 = 15.586 m3;
    backfill 98.67 - 10.725 - 15.586 = 72.36 m3.
    """
    water = LineSpec("water", 630, dn_mm=600, label="W")
    seg = TrenchSegment("bed", (water,), length_m=50, road_width_m=10, lane="sidewalk")
    sec = cross_section(seg)
    assert sec.depth_m == pytest.approx(1.38, abs=CM)
    bedding = _line(sec, "W").bedding
    assert bedding is not None
    assert (bedding.value, bedding.clause) == (
        0.15,
        "GB 50268-2008 §5.3-5.10 (管道基础 砂石垫层厚度, by pipe type)",
    )
    assert bedding_volume_m3(sec) == pytest.approx(10.725, abs=0.001)
    q = segment_quantities(sec, seg)
    assert q.excavation_m3 == pytest.approx(98.67, abs=0.01)
    assert q.backfill_m3 == pytest.approx(72.36, abs=0.01)


def test_the_sewer_frost_rule_is_a_city_parameter() -> None:
    """Sewer D0 480 in Harbin (frost 2.0 m), motor lane.

    crown (default): cover 2.0, depth 2.0 + .48 + .15 = 2.63.
    invert (GB 50014-2021 §5.3.8): the pipe bottom may sit .15 above the frost line:
    cover 2.0 - .15 - .48 = 1.37, depth 1.37 + .48 + .15 = 2.00.
    """
    sewer = LineSpec("drainage", 480, subtype="sewer", material="concrete_flexible_joint")
    seg = TrenchSegment("f", (sewer,), road_width_m=20)
    crown = cross_section(seg, site=HARBIN)
    invert = cross_section(seg, site=SiteConditions(frost_depth_m=2.0, sewer_frost_rule="invert"))
    assert crown.lines[0].cover_m == pytest.approx(2.0, abs=CM)
    assert crown.depth_m == pytest.approx(2.63, abs=CM)
    assert invert.lines[0].cover_m == pytest.approx(1.37, abs=CM)
    assert invert.depth_m == pytest.approx(2.00, abs=CM)
    frost = next(c for c in invert.clearances if c.kind == "frost_cover")
    assert "GB 50014-2021 §5.3.8" in frost.clause
    assert check_section(crown) == []
    assert check_section(invert) == []
    with pytest.raises(SectionError, match="sewer_frost_rule"):
        cross_section(seg, site=SiteConditions(sewer_frost_rule="sometimes"))


def test_the_flag_names_the_binding_values_and_among_them_the_unverified() -> None:
    """Water d <= 200 (D0 170) and sewer (D0 480, flexible concrete), sidewalk, no frost.

    Width is fixed by W-S 1.0 (表4.1.9, verified) and b1 .30 at both walls (表4.3.2,
    unverified); depth by the sewer: cover .6 (表4.1.1, corroborated) and bedding .15
    (unverified); road width by the sewer's curb clearance 1.5 (x_S + r + 1.5 = 1.71 + .24 +
    1.5 = 3.45 beats the water's 1.5 + .47 and B = 2.25; corroborated). The red-line side is
    open. So 2 of the 5 binding values are unverified, and the flag names exactly those.
    """
    lines = (
        LineSpec("water", 170, dn_mm=150, label="W"),
        LineSpec("drainage", 480, subtype="sewer", material="concrete_flexible_joint", label="S"),
    )
    sec = cross_section(TrenchSegment("b", lines, road_width_m=10, lane="sidewalk"))
    binding = {(what, r.source) for what, r in sec.binding}
    assert binding == {
        ("width", "horizontal_clearances.csv:17"),
        ("width", "trench_geometry.yaml:trench_bottom_width.b1_table_mm.rows[0]"),
        ("depth", "min_cover_depth.csv:5"),
        ("depth", "trench_geometry.yaml:pipe_bedding.rows[0]"),
        ("road width", "horizontal_clearances.csv:56"),
    }
    weak = {r.source for _, r in sec.binding_unverified}
    assert weak == {
        "trench_geometry.yaml:trench_bottom_width.b1_table_mm.rows[0]",
        "trench_geometry.yaml:pipe_bedding.rows[0]",
    }
    flag = next(f for f in sec.flags if f.message.startswith("2 of the 5 values"))
    assert "pipe_bedding" in flag.message
    assert "horizontal_clearances.csv:17" not in flag.message
    # the curb clearance of the water line (unverified) is cited but binds nothing
    assert any(r.source == "horizontal_clearances.csv:36" for r in sec.unverified_rules)
