"""Warnings with the rule they cite, and refusal of unusable proposals (routing.checks)."""

from __future__ import annotations

# ruff: noqa: N806 - G is networkx's name for a graph
import datetime as dt

import geopandas as gpd
import pandas as pd
import pytest
from shapely import LineString

from routing.checks import check_clearances
from routing.checks import check_protection
from routing.checks import check_recent_digs
from routing.checks import validate_proposals
from routing.errors import ProposalError
from routing.graph import build_road_graph
from routing.overlap import RoadIndex
from routing.overlap import match_lines
from routing.standards import protection_end

CRS = 32652
D = dt.date


@pytest.fixture(scope="module")
def road() -> tuple[RoadIndex, pd.DataFrame]:
    """New road a (opened 2024-06-01), overhauled road b (2025-03-01), old road c."""
    roads = gpd.GeoDataFrame(
        {
            "segment_id": ["a", "b", "c"],
            "name": ["新建路", "大修路", "老路"],
            "width_m": 10.0,
            "built_on": [D(2024, 6, 1), D(2000, 1, 1), D(1990, 1, 1)],
            "overhauled_on": [None, D(2025, 3, 1), None],
            "last_dug_on": [None, None, D(2026, 2, 1)],
        },
        geometry=[
            LineString([(0, 0), (100, 0)]),
            LineString([(100, 0), (200, 0)]),
            LineString([(200, 0), (300, 0)]),
        ],
        crs=CRS,
    )
    G = build_road_graph(roads)
    edges = pd.DataFrame(
        [
            {k: d[k] for k in ("edge_id", "segment_id", "name", "protected_until", "last_dug_on")}
            for *_, d in G.edges(data=True)
        ]
    ).set_index("edge_id")
    return RoadIndex.from_graph(G), edges


def props(**rows: tuple[D, D, LineString]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "source_id": list(rows),
            "utility": "water",
            "project": [f"P-{k}" for k in rows],
            "planned_start": [r[0] for r in rows.values()],
            "planned_end": [r[1] for r in rows.values()],
        },
        geometry=[r[2] for r in rows.values()],
        index=list(rows),
        crs=CRS,
    )


def test_protection_periods_come_from_article_33() -> None:
    assert protection_end(D(2024, 6, 1), None) == D(2029, 6, 1)
    assert protection_end(None, D(2025, 3, 1)) == D(2028, 3, 1)
    assert protection_end(D(2000, 1, 1), D(2025, 3, 1)) == D(2028, 3, 1)


def test_digging_a_protected_road(road: tuple[RoadIndex, pd.DataFrame]) -> None:
    index, edges = road
    lines = props(
        along_new=(D(2027, 5, 1), D(2027, 6, 1), LineString([(10, 6), (90, 6)])),
        after=(D(2029, 6, 2), D(2029, 7, 1), LineString([(10, -6), (90, -6)])),
        crosses_overhauled=(D(2027, 5, 1), D(2027, 5, 2), LineString([(150, -30), (150, 30)])),
        old_road=(D(2027, 5, 1), D(2027, 6, 1), LineString([(210, 6), (290, 6)])),
    )
    found = check_protection(match_lines(index, lines), lines, edges)
    by_line = {f.line: f for f in found}
    assert set(by_line) == {"along_new", "crosses_overhauled"}
    new = by_line["along_new"]
    assert new.kind == "protected_road"
    assert new.rule == "城市道路管理条例 第33条"
    assert new.verification == "verified"
    assert "新建路" in new.message and "2029-06-01" in new.message
    assert by_line["crosses_overhauled"].values["protected_until"] == "2028-03-01"


def test_road_dug_recently_by_another_project(road: tuple[RoadIndex, pd.DataFrame]) -> None:
    index, edges = road
    lines = props(
        soon=(D(2026, 6, 1), D(2026, 7, 1), LineString([(210, 6), (290, 6)])),
        later=(D(2027, 6, 1), D(2027, 7, 1), LineString([(110, 6), (190, 6)])),
    )
    earlier = pd.DataFrame(
        {"edge_id": [1], "line": ["old"], "project": ["P-old"], "planned_end": [D(2027, 1, 1)]}
    )
    found = check_recent_digs(match_lines(index, lines), lines, edges, earlier=earlier)
    assert {(f.line, f.where["segment_id"]) for f in found} == {("soon", "c"), ("later", "b")}
    assert all(f.kind == "dug_recently" for f in found)
    # the same project digging twice is its own business, not a warning
    own = earlier.assign(project=["P-later"])
    found = check_recent_digs(match_lines(index, lines), lines, edges, earlier=own)
    assert {f.line for f in found} == {"soon"}


def test_recent_digs_within_one_batch_equal_those_across_batches(
    road: tuple[RoadIndex, pd.DataFrame],
) -> None:
    """Many single calls equal one batch call: the later line is warned either way."""
    index, edges = road
    lines = props(
        first=(D(2027, 1, 1), D(2027, 3, 1), LineString([(110, 6), (190, 6)])),
        second=(D(2027, 9, 17), D(2027, 10, 1), LineString([(110, -6), (190, -6)])),
    )
    batch = check_recent_digs(match_lines(index, lines), lines, edges)
    assert [(f.line, f.values["dug_until"]) for f in batch] == [("second", "2027-03-01")]

    def on_file(name: str) -> pd.DataFrame:
        row = lines.loc[[name]]
        return pd.DataFrame(
            {
                "edge_id": [1],
                "line": [name],
                "project": row["project"].tolist(),
                "planned_start": row["planned_start"].tolist(),
                "planned_end": row["planned_end"].tolist(),
            }
        )

    for new, old in (("second", "first"), ("first", "second")):
        one = lines.loc[[new]]
        found = check_recent_digs(match_lines(index, one), one, edges, earlier=on_file(old))
        assert [(f.line, f.message) for f in found] == [(f.line, f.message) for f in batch]


def test_recent_dig_message_names_a_numeric_road_id_as_written(
    road: tuple[RoadIndex, pd.DataFrame],
) -> None:
    """A stored road id that pandas made a float (a join with a gap) prints as 9821."""
    index, edges = road
    unnamed = edges.assign(name=None, segment_id=[float(9820 + i) for i in range(len(edges))])
    lines = props(later=(D(2027, 6, 1), D(2027, 7, 1), LineString([(110, 6), (190, 6)])))
    earlier = pd.DataFrame(
        {"edge_id": [1], "line": ["old"], "project": ["P-old"], "planned_end": [D(2027, 1, 1)]}
    )
    (found,) = check_recent_digs(match_lines(index, lines), lines, unnamed, earlier=earlier)
    assert found.message.startswith("road 9821 was dug"), found.message
    assert found.where["segment_id"] == 9821
    assert isinstance(found.where["segment_id"], int)


def test_horizontal_clearance_to_existing_lines_and_crossings() -> None:
    lines = gpd.GeoDataFrame(
        {"utility": ["water", "water", "water"], "diameter_mm": [300.0, 300.0, 300.0]},
        geometry=[
            LineString([(0, 1.5), (100, 1.5)]),  # 1.5 m centre to centre: 1.15 m wall to wall
            LineString([(0, -2.0), (100, -2.0)]),  # 1.65 m wall to wall: enough
            LineString([(50, -30), (50, 30)]),  # crosses
        ],
        index=["close", "far", "cross"],
        crs=CRS,
    )
    existing = gpd.GeoDataFrame(
        {"utility": ["drainage", "water"], "diameter_mm": [400.0, 200.0]},
        geometry=[LineString([(0, 0), (100, 0)]), LineString([(0, 1.0), (100, 1.0)])],
        index=[901, 902],
        crs=CRS,
    )
    found, crossings = check_clearances(lines, existing)
    clearance = [f for f in found if f.kind == "clearance"]
    assert [(f.line, f.where["other_id"]) for f in clearance] == [("close", 901)]
    (f,) = clearance
    assert f.values == {"distance_m": pytest.approx(1.15), "required_m": 1.5}
    assert (f.rule, f.verification) == ("GB 50289-2016 表4.1.9", "verified")
    assert crossings.to_dict() == {"close": 0, "far": 0, "cross": 2}
    assert sum(f.kind == "crossing" for f in found) == 2


def test_unknown_subtype_fails_closed_with_the_strictest_row() -> None:
    lines = gpd.GeoDataFrame(
        {"utility": ["water"]}, geometry=[LineString([(0, 1.2), (100, 1.2)])], crs=CRS
    )
    existing = gpd.GeoDataFrame(
        {"utility": ["gas"]}, geometry=[LineString([(0, 0), (100, 0)])], crs=CRS
    )
    (f,) = check_clearances(lines, existing)[0]
    assert f.values["required_m"] == 1.5  # sub-high-pressure A, the strictest water-gas row
    assert "strictest" in f.message


def test_bad_proposals_are_refused_naming_each_feature(
    road: tuple[RoadIndex, pd.DataFrame],
) -> None:
    index, _ = road
    lines = props(
        ok=(D(2026, 1, 1), D(2026, 2, 1), LineString([(10, 6), (90, 6)])),
        far=(D(2026, 1, 1), D(2026, 2, 1), LineString([(0, 900), (100, 900)])),
        loop=(D(2026, 1, 1), D(2026, 2, 1), LineString([(10, 6), (90, 6), (50, -6), (50, 8)])),
        backwards=(D(2026, 3, 1), D(2026, 2, 1), LineString([(110, 6), (190, 6)])),
        undated=(None, D(2026, 2, 1), LineString([(210, 6), (290, 6)])),
    )
    with pytest.raises(ProposalError) as info:
        validate_proposals(lines, match_lines(index, lines), id_column="source_id")
    problems = {(p["feature"], str(p["problem"]).split(" ")[0]) for p in info.value.detail}
    assert problems == {
        ("far", "far"),
        ("loop", "line"),
        ("backwards", "planned_end"),
        ("undated", "missing"),
    }
    assert str(info.value).startswith("proposed line far: far from any road")
    good = lines.loc[["ok"]]
    validate_proposals(good, match_lines(index, good))


def test_pair_without_a_rule_fails_closed_beyond_one_metre() -> None:
    """An existing kind the table has no row for, 1.5 m away: flagged, not passed."""
    lines = gpd.GeoDataFrame(
        {"utility": ["water"]}, geometry=[LineString([(0, 1.5), (100, 1.5)])], crs=CRS
    )
    existing = gpd.GeoDataFrame(
        {"utility": ["snow_melt"]}, geometry=[LineString([(0, 0), (100, 0)])], crs=CRS
    )
    (f,) = check_clearances(lines, existing)[0]
    assert f.kind == "clearance_unknown"
    assert f.values["distance_m"] == pytest.approx(1.5)
    far = existing.set_geometry([LineString([(0, -40), (100, -40)])], crs=CRS)
    assert check_clearances(lines, far)[0] == []  # beyond any clearance the table asks
