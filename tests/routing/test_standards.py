"""Tests for routing.standards: loading, schema checks, symmetric and wildcard lookups."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from routing import standards as st
from routing.errors import StandardsError


def test_tables_load_and_every_value_is_cited() -> None:
    s = st.load_standards()
    assert len(s.horizontal) == 208
    assert len(s.vertical) == 90
    assert len(s.cover) == 22
    for row in (*s.horizontal, *s.vertical):
        assert row.rule.clause
        assert row.rule.verification in st.VERIFICATION_LEVELS
        assert row.rule.source.startswith(
            ("horizontal_clearances.csv:", "vertical_clearances.csv:")
        )


def test_load_is_cached() -> None:
    assert st.load_standards() is st.load_standards()


def test_horizontal_lookup_is_symmetric_and_cites_the_row() -> None:
    ab = st.horizontal_clearance("water", "d_gt_200mm", "sewer_storm", "*")
    ba = st.horizontal_clearance("sewer_storm", "*", "water", "d_gt_200mm")
    assert ab == ba
    assert ab is not None
    assert ab.value == 1.5
    assert ab.clause == "GB 50289-2016 表4.1.9"
    assert ab.verification == "verified"
    assert ab.source == "horizontal_clearances.csv:18"


def test_wildcard_subtype_matches_any_and_none_matches_only_wildcards() -> None:
    rule = st.horizontal_clearance("water", "d_le_200mm", "gas", "medium_a")
    assert rule is not None
    assert rule.value == 0.5
    assert rule.unverified
    # water-sewer needs the diameter class: with no tags it is unknown
    assert st.horizontal_clearance("water", None, "sewer_storm", None) is None


def test_gas_gas_takes_the_larger_diameter_class() -> None:
    small = st.horizontal_clearance(
        "gas", {"medium_a", "dn_le_300mm"}, "gas", {"low", "dn_le_300mm"}
    )
    mixed = st.horizontal_clearance(
        "gas", {"medium_a", "dn_le_300mm"}, "gas", {"low", "dn_gt_300mm"}
    )
    assert small is not None and mixed is not None
    assert (small.value, mixed.value) == (0.4, 0.5)


def test_same_utility_pairs_blank_in_4_1_9_take_the_utility_standard_never_0() -> None:
    assert (
        st.horizontal_clearance("power", "conduit", "power", "direct_buried", tables="gb50289")
        is None
    )
    assert st.horizontal_clearance("telecom", "duct", "telecom", "duct", tables="gb50289") is None
    cable = st.horizontal_clearance("power", "conduit", "power", "direct_buried")
    assert cable is not None and (cable.value, cable.clause) == (0.1, "GB 50217-2018 表5.3.5")
    for utility in ("water", "sewer_storm", "reclaimed_water", "heat", "telecom"):
        rule = st.horizontal_clearance(utility, None, utility, None)
        assert rule is not None and rule.value > 0, utility


def test_where_standards_differ_the_stricter_is_taken_and_both_are_cited() -> None:
    """Direct-buried cable to medium-A gas: 表4.1.9 0.5, GB 50217 表5.3.5 1.0 -> 1.0, both cited."""
    rule = st.horizontal_clearance("gas", "medium_a", "power", "direct_buried")
    assert rule is not None
    assert rule.value == 1.0
    assert rule.clause == "GB 50217-2018 表5.3.5; GB 50289-2016 表4.1.9"
    assert "0.5" in rule.note
    only = st.horizontal_clearance("gas", "medium_a", "power", "direct_buried", tables="gb50289")
    assert only is not None and only.value == 0.5


def test_gas_pressure_classes() -> None:
    assert [st.gas_pressure_class(p) for p in (0.005, 0.2, 0.4, 0.8, 1.6, 2.5, 4.0)] == [
        "low", "medium_b", "medium_a", "sub_high_b", "sub_high_a", "high_b", "high_a"
    ]  # fmt: skip
    with pytest.raises(ValueError, match=r"above 4\.0 MPa"):
        st.gas_pressure_class(6.3)


def test_vertical_lookup() -> None:
    rule = st.vertical_clearance("power", "direct_buried", "sewer_storm", None)
    assert rule is not None
    assert (rule.value, rule.verification) == (0.5, "verified")
    assert st.vertical_clearance("telecom", "protected", "power", "protected").value == 0.25  # type: ignore[union-attr]


def test_min_cover_prefers_specific_rows_and_accepts_lane_aliases() -> None:
    assert st.min_cover("water", "d_gt_200mm", "motor").value == 0.7  # type: ignore[union-attr]
    assert st.min_cover("water", {"pe", "d_gt_200mm"}, "motor_lane").value == 1.0  # type: ignore[union-attr]
    assert st.min_cover("gas", "medium_a", "sidewalk").value == 0.6  # type: ignore[union-attr]
    assert st.min_cover("pipe_trench", None, "non_motor") is None
    with pytest.raises(ValueError, match="unknown lane 'bus'"):
        st.min_cover("gas", None, "bus")


def test_tree_clearance_aliases() -> None:
    assert st.tree_clearance("sewer_storm").value == 1.5  # type: ignore[union-attr]
    assert st.tree_clearance("power", "conduit").value == 1.0  # type: ignore[union-attr]
    assert st.tree_clearance("telecom", "duct", plant="shrub").value == 1.0  # type: ignore[union-attr]
    assert st.tree_clearance("water", plant="shrub") is None


def test_excavation_and_frost_rules() -> None:
    rules = st.excavation_rules()
    assert rules.moratorium_new_road_years.value == 5
    assert rules.moratorium_overhauled_road_years.value == 3
    assert rules.moratorium_new_road_years.clause == "城市道路管理条例 第33条"
    frost = {(f.utility, f.subtype): f for f in st.frost_rules()}
    assert set(frost) == {
        ("water", "*"),
        ("sewer_storm", "*"),
        ("reclaimed_water", "*"),
        ("power", "direct_buried"),
        ("gas", "wet"),
    }
    assert frost["water", "*"].margin.value == 0.15  # type: ignore[union-attr]
    assert frost["water", "*"].governing.clause == "GB 50289-2016 §4.1.1"
    order, rule = st.layout_order()
    assert order[:2] == ("power", "telecom")
    assert rule.clause == "GB 50289-2016 §4.1.3"


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "standards"
    shutil.copytree(st.STANDARDS_DIR, target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        (
            "horizontal_clearances.csv",
            "building,*,water,d_le_200mm,1.00,",
            "building,*,water,d_le_200mm,one,",
            r"horizontal_clearances.csv row 2 column 'min_m': 'one' is not a number",
        ),
        (
            "vertical_clearances.csv",
            "water,*,water,*,0.15,,GB 50289-2016 表4.1.14,same_as_1998",
            "water,*,water,*,0.15,,GB 50289-2016 表4.1.14,probably",
            r"vertical_clearances.csv row 2 column 'verification': 'probably'",
        ),
        (
            "min_cover_depth.csv",
            "water,*,motor_lane,0.70,,GB 50289-2016 表4.1.1",
            "water,*,motor_lane,-0.70,,GB 50289-2016 表4.1.1",
            r"min_cover_depth.csv row 3 column 'min_cover_m'",
        ),
        (
            "min_cover_depth.csv",
            "water,*,motor_lane,0.70,,GB 50289-2016 表4.1.1",
            "water,*,motor_lane,0.70,,",
            r"min_cover_depth.csv row 3 column 'source_clause': empty",
        ),
        (
            "road_excavation.yaml",
            "overhauled_road_years: 3",
            "overhauled_years: 3",
            r"road_excavation.yaml: missing key .*overhauled_road_years",
        ),
    ],
)
def test_bad_tables_fail_at_load_naming_file_row_column(
    tmp_path: Path, file: str, old: str, new: str, message: str
) -> None:
    folder = _copy(tmp_path)
    _edit(folder / file, old, new)
    with pytest.raises(StandardsError, match=message):
        st.load_standards(folder)


def test_duplicate_symmetric_pair_is_rejected(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    path = folder / "horizontal_clearances.csv"
    with path.open("a", encoding="utf-8") as fh:
        fh.write("sewer_storm,*,water,d_gt_200mm,1.40,,GB 50289-2016 表4.1.9,unverified,\n")
    with pytest.raises(StandardsError, match=r"row 210: pair .* already given in row 18"):
        st.load_standards(folder)


def test_missing_table(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    (folder / "tree_clearances.csv").unlink()
    with pytest.raises(StandardsError, match=r"standards table missing: .*tree_clearances\.csv"):
        st.load_standards(folder)
