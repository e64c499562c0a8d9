"""Cross-sections computed by hand from the standards tables, fail-closed cases, a property test.

Notation in the hand calculations: r = D0/2, s_ij = r_i + r_j + c_ij (centre separation from
the edge-to-edge clearance c_ij of 表4.1.9), b1 from GB 50268 表4.3.2, x measured from the
left wall (red-line side). Harbin: frost depth 2.0 m (city parameter).
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from shapely.geometry import LineString

from routing._check_section import check_section
from routing.errors import SectionError
from routing.sections import FLAG_APPROVAL
from routing.sections import FLAG_MANUAL_REVIEW
from routing.sections import FLAG_SPECIAL_SCHEME
from routing.sections import FLAG_UNVERIFIED
from routing.sections import CrossSection
from routing.sections import ExistingLine
from routing.sections import LineSpec
from routing.sections import SiteConditions
from routing.sections import TrenchSegment
from routing.sections import cross_section
from routing.sections import cross_sections
from routing.sections import dig_width_m
from routing.sections import required_width_m

CM = 0.005  # "to the centimetre"
HARBIN = SiteConditions(frost_depth_m=2.0)
T419 = "GB 50289-2016 表4.1.9"
T411 = "GB 50289-2016 表4.1.1"

WATER300 = LineSpec("water", 320, dn_mm=300, label="water DN300")
GAS_MA = LineSpec("gas", 160, subtype="medium_a", dn_mm=150, label="gas medium-A")
POWER_CONDUIT = LineSpec("power", 200, subtype="conduit", label="power conduit")
TELECOM_DUCT = LineSpec("telecom", 300, subtype="duct", label="telecom duct")
FOUR = (WATER300, GAS_MA, POWER_CONDUIT, TELECOM_DUCT)


def _line(section: CrossSection, label: str):  # type: ignore[no-untyped-def]
    return next(p for p in section.lines if p.spec.name == label)


def _h(section: CrossSection, a: str, b: str):  # type: ignore[no-untyped-def]
    ia, ib = _line(section, a).index, _line(section, b).index
    return next(c for c in section.clearances if c.kind == "horizontal" and {c.a, c.b} == {ia, ib})


def _assert_layout(section: CrossSection, expected: dict[str, tuple[float, float]]) -> None:
    for label, (x, cover) in expected.items():
        line = _line(section, label)
        assert line.x_m == pytest.approx(x, abs=CM), label
        assert line.cover_m == pytest.approx(cover, abs=CM), label
    assert check_section(section) == []


def test_harbin_motor_lane_water_gas_power_telecom() -> None:
    """Water DN300 (D0 320) + medium-A gas (D0 160) + power in conduit (D0 200) + telecom duct (D0 300).

    Order §4.1.3: power, telecom, water (distribution), gas (distribution).
    r: P .10, T .15, W .16, G .08. Clearances 表4.1.9: P-T .5, P-W .5, P-G 1.0, T-W 1.0,
    T-G 1.0, W-G .5. b1 = 300 mm for all (D0 <= 500, metal/plastic).
    x_P = .10 + .30 = .40; x_T = .40 + .10 + .15 + .5 = 1.15;
    x_W = max(.40 + .76, 1.15 + .15 + .16 + 1.0 = 2.46) = 2.46;
    x_G = max(.40 + 1.18, 1.15 + 1.23, 2.46 + .16 + .08 + .5 = 3.20) = 3.20;
    B = 3.20 + .08 + .30 = 3.58.
    Cover motor lane: P .5 (conduit), T .9, G .9; W frost-governed (§4.1.1): 2.0 + .15 (GB 50015)
    = 2.15 > .7. Bedding under the water main (GB 50268, metal/plastic D0 <= 500): .10.
    Depth = 2.15 + .32 + .10 = 2.57 > 1.5 (clay walls) -> slopes 1:0.67 (stiff clay,
    traffic): surface = 3.58 + 2 x .67 x 2.57 = 7.024 (fits the 14 m road).
    """
    seg = TrenchSegment("harbin-1", FOUR, length_m=100, road_width_m=14, lane="motor")
    sec = cross_section(seg, site=HARBIN)
    _assert_layout(
        sec,
        {
            "power conduit": (0.40, 0.50),
            "telecom duct": (1.15, 0.90),
            "water DN300": (2.46, 2.15),
            "gas medium-A": (3.20, 0.90),
        },
    )
    assert sec.bottom_width_m == pytest.approx(3.58, abs=CM)
    assert sec.depth_m == pytest.approx(2.57, abs=CM)
    assert sec.support == "slope"
    assert sec.slope_ratio is not None
    assert sec.slope_ratio.value == 0.67
    assert sec.surface_width_m == pytest.approx(7.024, abs=CM)
    # the slopes (1.72 m each side) reach further than the 1.5 m curb clearances
    assert sec.road_width_needed_m == pytest.approx(7.024, abs=CM)
    assert _line(sec, "water DN300").bedding.value == pytest.approx(0.10)  # type: ignore[union-attr]
    assert sec.status == "ok"
    # clauses and verification levels cited
    pg = _h(sec, "power conduit", "gas medium-A")
    assert (pg.required_m, pg.clause, pg.verification) == (1.0, T419, "corroborated")
    tg = _h(sec, "telecom duct", "gas medium-A")
    assert (tg.required_m, tg.verification) == (1.0, "unverified")
    water = _line(sec, "water DN300")
    frost = next(c for c in sec.clearances if c.kind == "frost_cover" and c.a == water.index)
    assert frost.required_m == pytest.approx(2.15)
    assert "GB 50289-2016 §4.1.1" in frost.clause
    assert "GB 50015 §3.5.3" in frost.clause
    assert sec.width_rule.clause == "GB 50268-2008 §4.3.2"
    assert sec.unverified  # T-G 1.0 and the b1 table are unverified
    assert any(f.kind == FLAG_UNVERIFIED and "表4.1.9" in f.clause for f in sec.flags)


def test_water_and_sewer_under_sidewalk() -> None:
    """Water DN150 (D0 170) + sewer (D0 480, flexible-joint concrete), sidewalk, no frost.

    Order: water, sewer. Water d<=200mm - sewer 1.0 (表4.1.9, verified).
    x_W = .085 + .30 = .385; x_S = .385 + .085 + .24 + 1.0 = 1.71; B = 1.71 + .24 + .30 = 2.25.
    Covers (表4.1.1, sidewalk): .6 and .6; bedding (GB 50268): water .10 (metal/plastic),
    sewer .15 (concrete, D0 <= 500); depth = max(.6 + .17 + .10, .6 + .48 + .15) = 1.23
    <= 1.5 -> vertical walls; surface = B = 2.25.
    """
    lines = (
        LineSpec("water", 170, dn_mm=150, label="W"),
        LineSpec("drainage", 480, subtype="sewer", material="concrete_flexible_joint", label="S"),
    )
    sec = cross_section(TrenchSegment("c2", lines, road_width_m=10, lane="sidewalk"))
    _assert_layout(sec, {"W": (0.385, 0.60), "S": (1.71, 0.60)})
    assert (sec.bottom_width_m, sec.surface_width_m) == pytest.approx((2.25, 2.25), abs=CM)
    assert sec.depth_m == pytest.approx(1.23, abs=CM)
    assert sec.support == "vertical"
    ws = _h(sec, "W", "S")
    assert (ws.required_m, ws.clause, ws.verification) == (1.0, T419, "verified")


def test_gas_and_heat_under_motor_lane_order_from_rule_not_input() -> None:
    """Heat (D0 400) listed before medium-A gas (D0 200, DN200), motor lane, no frost.

    §4.1.3 puts gas (distribution) before heat. Gas-heat 1.0 (表4.1.9, same_as_1998).
    x_G = .10 + .30 = .40; x_H = .40 + .10 + .20 + 1.0 = 1.70; B = 1.70 + .20 + .30 = 2.20.
    Covers: gas .9, heat 1.0; bedding .10 each (metal/plastic, D0 <= 500);
    depth = max(.9 + .2 + .1, 1.0 + .4 + .1) = 1.50 -> vertical walls (clay, <= 1.5 m).
    """
    lines = (
        LineSpec("heat", 400, subtype="direct_buried", label="H"),
        LineSpec("gas", 200, subtype="medium_a", label="G"),
    )
    sec = cross_section(TrenchSegment("c3", lines, road_width_m=10))
    _assert_layout(sec, {"G": (0.40, 0.90), "H": (1.70, 1.00)})
    assert sec.bottom_width_m == pytest.approx(2.20, abs=CM)
    assert sec.surface_width_m == pytest.approx(2.20, abs=CM)
    assert sec.depth_m == pytest.approx(1.50, abs=CM)
    assert _h(sec, "G", "H").verification == "same_as_1998"
    assert _line(sec, "H").cover_rule.clause == T411  # type: ignore[union-attr]


def test_shoring_when_slopes_do_not_fit_the_road() -> None:
    """The Harbin case on a 6 m road: slopes need 7.02 m, so shore (b2 = 200 mm each side).

    B = 3.58 + 2 x .20 = 3.98; every x shifts by .20: P .60, T 1.35, W 2.66, G 3.40.
    Surface = B (vertical shored walls). Road needed with the curb clearances (表4.1.9, 1.5 m
    for all four): left edge t = max(0, 1.5 - .60 + .10) = 1.0; right = max(3.98,
    3.40 + .08 + 1.5) = 4.98; 1.0 + 4.98 = 5.98 <= 6 m: no approval needed.
    """
    sec = cross_section(TrenchSegment("c4", FOUR, road_width_m=6), site=HARBIN)
    _assert_layout(
        sec,
        {
            "power conduit": (0.60, 0.50),
            "telecom duct": (1.35, 0.90),
            "water DN300": (2.66, 2.15),
            "gas medium-A": (3.40, 0.90),
        },
    )
    assert sec.support == "shoring"
    assert sec.shoring is not None
    assert sec.shoring.value == pytest.approx(0.20)
    assert sec.shoring.clause.startswith("GB 50268-2008 §4.3.2")
    assert sec.bottom_width_m == pytest.approx(3.98, abs=CM)
    assert sec.surface_width_m == pytest.approx(3.98, abs=CM)
    assert sec.road_width_needed_m == pytest.approx(5.98, abs=CM)
    assert {r.clause for _, r in sec.curb_rules} == {T419}  # type: ignore[union-attr]
    assert sec.status == "ok"


def test_road_too_narrow_is_flagged_not_relaxed() -> None:
    """The Harbin case on a 3.5 m road: the shored dig (3.98 m) plus curb clearances (5.98 m).

    Clearances stay as the table says (telecom-water 1.0 binding); the segment is flagged
    "needs safety measures and approval" citing GB 50289-2016 §4.1.9 / §4.1.14.
    """
    sec = cross_section(TrenchSegment("c5", FOUR, road_width_m=3.5), site=HARBIN)
    assert sec.surface_width_m == pytest.approx(3.98, abs=CM)
    assert sec.needs_approval
    assert sec.status == FLAG_APPROVAL
    flag = next(f for f in sec.flags if f.kind == FLAG_APPROVAL)
    assert flag.clause == "GB 50289-2016 §4.1.9 / §4.1.14"
    assert "5.98" in flag.message
    assert "3.98" in flag.message
    assert "3.50" in flag.message
    assert _h(sec, "telecom duct", "water DN300").actual_m == pytest.approx(1.0, abs=CM)
    assert check_section(sec) == []


def test_direct_buried_cables_in_harbin_follow_frost_and_bedding() -> None:
    """Direct-buried power (D0 100) + direct-buried telecom (D0 50), motor lane, Harbin.

    Power db - telecom db .5 (表4.1.9). x_P = .05 + .30 = .35; x_T = .35 + .05 + .025 + .5 = .925;
    B = .925 + .025 + .30 = 1.25. Power db is frost-governed (§4.1.1, no margin): cover
    max(1.0, 2.0) = 2.0; telecom .9. Depth = 2.0 + .10 + .10 bedding (GB 50217) = 2.20
    -> slopes: surface = 1.25 + 2 x .67 x 2.2 = 4.198.
    """
    lines = (
        LineSpec("telecom", 50, subtype="direct_buried", label="T"),
        LineSpec("power", 100, subtype="direct_buried", label="P"),
    )
    sec = cross_section(TrenchSegment("c6", lines, road_width_m=7), site=HARBIN)
    _assert_layout(sec, {"P": (0.35, 2.00), "T": (0.925, 0.90)})
    assert sec.bottom_width_m == pytest.approx(1.25, abs=CM)
    assert sec.depth_m == pytest.approx(2.20, abs=CM)
    assert sec.surface_width_m == pytest.approx(4.198, abs=CM)
    assert _h(sec, "P", "T").clause == T419


def test_three_water_lines_under_sidewalk() -> None:
    """Sewer (D0 600, flexible concrete) + reclaimed (D0 200) + water DN300 (D0 320), sidewalk.

    Order: water, reclaimed, sewer. W-R .5, W(d>200)-S 1.5 (verified), R-S .5.
    x_W = .16 + .30 = .46; x_R = .46 + .16 + .10 + .5 = 1.22;
    x_S = max(.46 + .16 + .30 + 1.5 = 2.42, 1.22 + .10 + .30 + .5 = 2.12) = 2.42;
    b1 of the sewer: D0 600 -> row <= 1000, flexible concrete 400 mm: B = 2.42 + .30 + .40 = 3.12.
    Covers .6 each; bedding under the sewer .20 (concrete, D0 <= 1000);
    depth = .6 + .6 + .2 = 1.4 -> vertical walls.
    """
    lines = (
        LineSpec("drainage", 600, subtype="sewer", material="concrete_flexible_joint", label="S"),
        LineSpec("reclaimed_water", 200, label="R"),
        LineSpec("water", 320, dn_mm=300, label="W"),
    )
    sec = cross_section(TrenchSegment("c7", lines, road_width_m=10, lane="non_motor"))
    _assert_layout(sec, {"W": (0.46, 0.60), "R": (1.22, 0.60), "S": (2.42, 0.60)})
    assert sec.bottom_width_m == pytest.approx(3.12, abs=CM)
    assert sec.depth_m == pytest.approx(1.40, abs=CM)
    assert _h(sec, "W", "S").required_m == 1.5
    assert _h(sec, "W", "S").verification == "verified"
    assert (_h(sec, "W", "R").clause, _h(sec, "R", "S").clause) == (T419, T419)
    assert _h(sec, "R", "S").verification == "corroborated"
    assert _line(sec, "S").working_width.value == pytest.approx(0.40)
    assert _line(sec, "S").working_width.clause == "GB 50268-2008 §4.3.2 表4.3.2"


def test_single_large_sewer_is_the_gb50268_formula() -> None:
    """One sewer DN1200 (D0 1400, rigid-joint concrete) in Harbin under a motor lane.

    B = D0 + 2 b1 = 1.40 + 2 x .60 (row <= 1500, rigid) = 2.60; x = 1.30.
    Frost-governed, no margin: cover 2.0 (> .7). Bedding .25 (concrete, D0 <= 3000, GB 50268).
    Depth = 2.0 + 1.4 + .25 = 3.65 >= 3 m -> special construction scheme (建办质〔2018〕31号).
    Slopes: 2.60 + 2 x .67 x 3.65 = 7.491.
    """
    line = LineSpec(
        "drainage", 1400, dn_mm=1200, subtype="sewer", material="concrete_rigid_joint", label="S"
    )
    sec = cross_section(TrenchSegment("c8", (line,), road_width_m=20), site=HARBIN)
    _assert_layout(sec, {"S": (1.30, 2.00)})
    assert sec.bottom_width_m == pytest.approx(2.60, abs=CM)
    assert sec.depth_m == pytest.approx(3.65, abs=CM)
    assert sec.surface_width_m == pytest.approx(7.491, abs=CM)
    flag = next(f for f in sec.flags if f.kind == FLAG_SPECIAL_SCHEME)
    assert "建办质〔2018〕31号" in flag.clause
    assert _line(sec, "S").working_width.value == pytest.approx(0.60)
    assert sec.width_rule.clause == "GB 50268-2008 §4.3.2"
    frost = next(c for c in sec.clearances if c.kind == "frost_cover")
    assert (frost.required_m, frost.clause) == (2.0, "GB 50289-2016 §4.1.1")
    assert _line(sec, "S").cover_rule.clause == T411  # type: ignore[union-attr]


def test_vertical_clearances_to_crossing_lines() -> None:
    """Medium-A gas (D0 200), motor lane: cover .9, bottom 1.10 m.

    Existing water main, top 2.0 m: gap 2.0 - 1.1 = .90 >= .15 (表4.1.14 gas-water, ok).
    Existing direct-buried telecom, top 1.0, D0 100 (bottom 1.1): the gas overlaps it
    (-.10), .50 required (表4.1.14) -> violated, needs manual review (never relaxed).
    """
    seg = TrenchSegment(
        "c9",
        (LineSpec("gas", 200, subtype="medium_a", label="G"),),
        road_width_m=7,
        crossings=(
            ExistingLine("water", 2.0, 500, label="old water"),
            ExistingLine("telecom", 1.0, 100, subtype="direct_buried", label="old cable"),
        ),
    )
    sec = cross_section(seg)
    v = {c.other: c for c in sec.clearances if c.kind == "vertical"}
    assert v["old water"].actual_m == pytest.approx(0.90, abs=CM)
    assert (v["old water"].required_m, v["old water"].status) == (0.15, "ok")
    assert v["old water"].clause == "GB 50289-2016 表4.1.14"
    assert (v["old cable"].required_m, v["old cable"].status) == (0.5, "violated")
    assert sec.status == FLAG_MANUAL_REVIEW
    assert sec.bottom_width_m == pytest.approx(0.80, abs=CM)


# -- fail closed ----------------------------------------------------------------------------------


def test_unknown_pair_is_unknown_and_needs_manual_review() -> None:
    """Telecom of no known kind + gas: 表4.1.9's gas-telecom cells need direct_buried or duct.

    (Power-power, which 表4.1.9 leaves blank, now takes GB 50217's cable-cable 0.1 m.)
    """
    lines = (
        LineSpec("telecom", 200, label="P1"),
        LineSpec("gas", 100, subtype="medium_a", label="P2"),
    )
    sec = cross_section(TrenchSegment("u", lines, road_width_m=7))
    pair = _h(sec, "P1", "P2")
    assert pair.rule is None
    assert (pair.status, pair.clause, pair.verification) == ("unknown", "UNKNOWN", "UNKNOWN")
    assert sec.needs_manual_review
    assert sec.status == FLAG_MANUAL_REVIEW
    assert sec.as_dict()["status"] == FLAG_MANUAL_REVIEW
    assert check_section(sec) == []


def test_unverified_values_are_shown_on_every_output() -> None:
    """Water - medium-A gas 0.5 is `unverified` in 表4.1.9: flagged, and in the JSON."""
    sec = cross_section(TrenchSegment("v", (WATER300, GAS_MA), road_width_m=10))
    assert sec.unverified
    flag = next(f for f in sec.flags if f.kind == FLAG_UNVERIFIED)
    assert "horizontal_clearances.csv:22" in flag.message
    body = sec.as_dict()
    assert body["unverified"] is True
    pair = next(c for c in body["clearances"] if c["kind"] == "horizontal")
    assert (pair["required_m"], pair["verification"]) == (0.5, "unverified")
    assert any(r.source == "horizontal_clearances.csv:22" for r in sec.unverified_rules)


def test_unknown_road_width_needs_manual_review() -> None:
    sec = cross_section(TrenchSegment("w", (GAS_MA,)))
    assert sec.status == FLAG_MANUAL_REVIEW
    assert any("road width unknown" in f.message for f in sec.flags)


@pytest.mark.parametrize(
    ("segment", "message"),
    [
        (TrenchSegment("e1", ()), "segment 'e1': no lines"),
        (
            TrenchSegment("e2", (LineSpec("oil", 100),)),
            "segment 'e2' line 0 .*unknown utility 'oil'",
        ),
        (
            TrenchSegment("e3", (LineSpec("gas", 0),)),
            "segment 'e3' line 0 .*outside_diameter_mm must be > 0",
        ),
        (
            TrenchSegment("e4", (LineSpec("gas", 100, material="wood"),)),
            "segment 'e4' line 0 .*unknown material 'wood'",
        ),
        (TrenchSegment("e5", (GAS_MA,), road_width_m=0), "segment 'e5': road_width_m must be > 0"),
    ],
)
def test_bad_input_names_segment_and_line(segment: TrenchSegment, message: str) -> None:
    with pytest.raises(SectionError, match=message):
        cross_section(segment)


def test_bad_site_and_method() -> None:
    seg = TrenchSegment("s", (GAS_MA,), road_width_m=5)
    with pytest.raises(SectionError, match="unknown slope_soil 'peat'"):
        cross_section(seg, site=SiteConditions(slope_soil="peat"))
    with pytest.raises(ValueError, match="unknown placement method 'greedy'"):
        cross_section(seg, method="greedy")
    with pytest.raises(ValueError, match="unknown lane"):
        cross_section(dataclasses.replace(seg, lane="bus"))


def test_required_width_matches_the_section_and_the_batch_equals_single_calls() -> None:
    seg = TrenchSegment("r", FOUR, road_width_m=14, geometry=LineString([(0, 0), (30, 40)]))
    sec = cross_section(seg, site=HARBIN)
    assert sec.length_m == pytest.approx(50.0)
    assert dig_width_m(FOUR, site=HARBIN, road_width_m=14) == pytest.approx(sec.surface_width_m)
    # the least road: shored dig (3.98) with the curb clearances = 5.98 (see the shoring case)
    assert required_width_m(FOUR, site=HARBIN) == pytest.approx(5.98, abs=CM)
    # bare utility names use the documented defaults and give a positive width
    assert required_width_m(["water", "gas", "power", "telecom"]) > 0
    assert required_width_m([]) == 0.0
    batch = cross_sections([seg, dataclasses.replace(seg, segment_id="r2")], site=HARBIN)
    assert [s.surface_width_m for s in batch] == [sec.surface_width_m] * 2


def test_milp_never_wider_than_lp_for_same_rank_lines() -> None:
    """Two gas mains (same rank) between telecom and heat: MILP chooses their order."""
    lines = (
        TELECOM_DUCT,
        LineSpec("gas", 400, subtype="sub_high_b", dn_mm=400, label="G-SHB"),
        LineSpec("gas", 110, subtype="low", dn_mm=100, label="G-low"),
        LineSpec("heat", 300, subtype="direct_buried", label="H"),
    )
    seg = TrenchSegment("m", lines, road_width_m=20)
    lp = cross_section(seg, method="lp")
    mip = cross_section(seg, method="milp")
    assert mip.method == "milp"
    assert mip.bottom_width_m <= lp.bottom_width_m + 1e-9
    assert check_section(lp) == []
    assert check_section(mip) == []


# -- property test --------------------------------------------------------------------------------

_POOL = [
    LineSpec("water", 170, dn_mm=150),
    LineSpec("water", 420, dn_mm=400, role="transmission"),
    LineSpec("water", 220, dn_mm=200, tags=frozenset({"pe"})),
    LineSpec("drainage", 480, subtype="sewer", material="concrete_flexible_joint"),
    LineSpec("drainage", 1100, subtype="storm", material="concrete_rigid_joint"),
    LineSpec("reclaimed_water", 200),
    LineSpec("gas", 110, subtype="low"),
    LineSpec("gas", 200, subtype="medium_b"),
    LineSpec("gas", 160, subtype="medium_a"),
    LineSpec("gas", 325, subtype="sub_high_b", dn_mm=300),
    LineSpec("gas", 406, subtype="sub_high_a", dn_mm=400),
    LineSpec("heat", 350, subtype="direct_buried"),
    LineSpec("power", 120, subtype="direct_buried"),
    LineSpec("power", 400, subtype="conduit"),
    LineSpec("telecom", 60, subtype="direct_buried"),
    LineSpec("telecom", 300, subtype="duct"),
]


@st.composite
def _segments(draw: st.DrawFn) -> tuple[TrenchSegment, SiteConditions, str]:
    picks = draw(st.lists(st.sampled_from(range(len(_POOL))), min_size=1, max_size=6))
    lines = []
    for k, i in enumerate(picks):
        base = _POOL[i]
        scale = draw(st.sampled_from([0.5, 1.0, 1.5]))
        lines.append(
            dataclasses.replace(
                base, outside_diameter_mm=base.outside_diameter_mm * scale, label=f"L{k}"
            )
        )
    road = draw(st.one_of(st.none(), st.floats(min_value=1.0, max_value=40.0)))
    lane = draw(st.sampled_from(["motor", "non_motor"]))
    frost = draw(st.one_of(st.none(), st.floats(min_value=0.0, max_value=2.5)))
    support = draw(st.sampled_from(["auto", "slope", "shoring"]))
    method = draw(st.sampled_from(["lp", "milp"]))
    seg = TrenchSegment("p", tuple(lines), road_width_m=road, lane=lane)
    return seg, SiteConditions(frost_depth_m=frost, support=support), method


@settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(_segments())
def test_every_generated_section_meets_every_clearance_it_cites(
    case: tuple[TrenchSegment, SiteConditions, str],
) -> None:
    seg, site, method = case
    sec = cross_section(seg, site=site, method=method)
    assert check_section(sec) == []
    for c in sec.clearances:
        if c.kind in ("horizontal", "cover", "frost_cover", "working_width") and c.rule is not None:
            assert c.status == "ok"
            assert c.actual_m >= c.rule.value - 1e-6


def test_the_checker_catches_a_moved_line_and_a_wrong_citation() -> None:
    sec = cross_section(TrenchSegment("k", FOUR, road_width_m=14), site=HARBIN)
    water = _line(sec, "water DN300")
    moved = dataclasses.replace(water, x_m=water.x_m - 0.2)
    bad = dataclasses.replace(sec, lines=tuple(moved if p is water else p for p in sec.lines))
    assert any("gap" in p for p in check_section(bad))
    wrong = tuple(
        dataclasses.replace(c, required_m=0.1) if c.kind == "horizontal" else c
        for c in sec.clearances
    )
    assert any("table says" in p for p in check_section(dataclasses.replace(sec, clearances=wrong)))


def test_the_checker_catches_a_line_above_the_frost_cover() -> None:
    """Water is frost-governed in Harbin: lifted to the 表4.1.1 cover it breaks §4.1.1."""
    sec = cross_section(TrenchSegment("k", FOUR, road_width_m=14), site=HARBIN)
    assert check_section(sec) == []
    water = _line(sec, "water DN300")
    lifted = dataclasses.replace(water, cover_m=1.0)  # > 表4.1.1 motor-lane cover, < 2.15
    bad = dataclasses.replace(sec, lines=tuple(lifted if p is water else p for p in sec.lines))
    assert any("frost cover 2.15" in p for p in check_section(bad))
