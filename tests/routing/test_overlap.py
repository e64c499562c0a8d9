"""Matching proposed lines to road edges: hand-drawn cases with answers known on paper."""

from __future__ import annotations

# ruff: noqa: N806 - G is networkx's name for a graph
import geopandas as gpd
import pandas as pd
import pytest
from shapely import LineString
from shapely import MultiLineString

from routing.errors import InvalidGraphError
from routing.errors import ProposalError
from routing.graph import build_road_graph
from routing.graph import build_road_network
from routing.overlap import ALONG_COLUMNS
from routing.overlap import CROSSING_COLUMNS
from routing.overlap import RoadIndex
from routing.overlap import match_lines

CRS = 32652


@pytest.fixture(scope="module")
def street() -> RoadIndex:
    """Two 100 m edges of one 10 m wide street, west to east, meeting at x=100."""
    roads = gpd.GeoDataFrame(
        {"segment_id": ["a", "b"], "width_m": [10.0, 10.0]},
        geometry=[LineString([(0, 0), (100, 0)]), LineString([(100, 0), (200, 0)])],
        crs=CRS,
    )
    return RoadIndex.from_graph(build_road_graph(roads))


def lines(**geoms: object) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=list(geoms.values()), index=list(geoms), crs=CRS)


def row(matching, line: str, segment: str) -> dict[str, object]:
    found = matching.along[
        (matching.along["line"] == line) & (matching.along["segment_id"] == segment)
    ]
    assert len(found) == 1, found
    return found.iloc[0].to_dict()


def test_lines_on_opposite_sides_of_one_road(street: RoadIndex) -> None:
    m = match_lines(
        street,
        lines(north=LineString([(10, 7), (90, 7)]), south=LineString([(90, -6), (10, -6)])),
    )
    north, south = row(m, "north", "a"), row(m, "south", "a")
    assert (north["side"], south["side"]) == ("left", "right")
    assert north["overlap_m"] == pytest.approx(80) == south["overlap_m"]
    assert (north["from_m"], north["to_m"]) == pytest.approx((10, 90))
    assert north["share"] == pytest.approx(0.8)
    assert (north["offset_m"], south["offset_m"]) == pytest.approx((7, 6))
    assert tuple(m.along.columns) == ALONG_COLUMNS
    assert m.crossings.empty and m.off_network.empty


def test_reversed_digitising_gives_the_same_match(street: RoadIndex) -> None:
    m = match_lines(
        street,
        lines(fwd=LineString([(10, 7), (90, 7)]), rev=LineString([(90, 7), (10, 7)])),
    )
    fwd, rev = row(m, "fwd", "a"), row(m, "rev", "a")
    fwd.pop("line")
    rev.pop("line")
    assert fwd == pytest.approx(rev)


def test_a_line_that_only_crosses(street: RoadIndex) -> None:
    m = match_lines(street, lines(x=LineString([(50, -40), (50, 40)])), step_m=2.0)
    assert m.along.empty
    assert tuple(m.crossings.columns) == CROSSING_COLUMNS
    assert len(m.crossings) == 1
    cross = m.crossings.iloc[0]
    assert (cross["segment_id"], cross["x"], cross["y"]) == ("a", 50, 0)
    assert cross["angle_deg"] == pytest.approx(90)
    # beyond the corridor (5 m half width + 5 m verge) the line is off the network
    assert m.off_network_m()["x"] == pytest.approx(60)


def test_a_crossing_at_a_node_counts_once(street: RoadIndex) -> None:
    m = match_lines(street, lines(x=LineString([(100, -40), (100, 40)])))
    assert len(m.crossings) == 1


def test_along_half_a_segment(street: RoadIndex) -> None:
    m = match_lines(street, lines(half=LineString([(0, 3), (50, 3)])))
    half = row(m, "half", "a")
    assert half["share"] == pytest.approx(0.5)
    assert half["overlap_m"] == pytest.approx(50)
    assert len(m.along) == 1


def test_a_line_along_two_edges_is_split_at_the_node(street: RoadIndex) -> None:
    m = match_lines(street, lines(long=LineString([(20, 4), (180, 4)])))
    assert row(m, "long", "a")["overlap_m"] == pytest.approx(80)
    assert row(m, "long", "b")["overlap_m"] == pytest.approx(80)
    assert (row(m, "long", "b")["from_m"], row(m, "long", "b")["to_m"]) == pytest.approx((0, 80))


def test_multipart_line_and_a_part_far_away(street: RoadIndex) -> None:
    m = match_lines(
        street,
        lines(multi=MultiLineString([[(120, 5), (180, 5)], [(0, 1000), (50, 1000)]])),
    )
    assert row(m, "multi", "b")["overlap_m"] == pytest.approx(60)
    off = m.off_network
    assert len(off) == 1
    assert (off.iloc[0]["part"], off.iloc[0]["length_m"]) == (1, pytest.approx(50))
    assert off.geometry.iloc[0].equals(LineString([(0, 1000), (50, 1000)]))


def test_a_line_far_from_any_road_is_reported_not_dropped(street: RoadIndex) -> None:
    m = match_lines(street, lines(far=LineString([(0, 500), (100, 500)])))
    assert m.along.empty
    assert m.off_network_m()["far"] == pytest.approx(100)


def test_dual_carriageway() -> None:
    """Carriageways 30 m apart, each 10 m wide; a line in the median goes to the nearer one."""
    roads = gpd.GeoDataFrame(
        {"segment_id": ["north", "south"], "width_m": [10.0, 10.0]},
        geometry=[LineString([(0, 30), (100, 30)]), LineString([(100, 0), (0, 0)])],
        crs=CRS,
    )
    index = RoadIndex.from_graph(build_road_graph(roads))
    m = match_lines(
        index,
        lines(
            outer_north=LineString([(0, 38), (100, 38)]),
            median=LineString([(0, 21), (100, 21)]),
            outer_south=LineString([(0, -8), (100, -8)]),
        ),
    )
    assert m.along.set_index("line")["segment_id"].to_dict() == {
        "outer_north": "north",
        "median": "north",
        "outer_south": "south",
    }
    sides = m.along.set_index("line")["side"].to_dict()
    # south is digitised east to west, so its left is the south side
    assert sides == {"outer_north": "left", "median": "right", "outer_south": "left"}


def test_refuses_other_crs_and_ungraphed_input(street: RoadIndex) -> None:
    with pytest.raises(ProposalError, match="reproject"):
        match_lines(
            street, lines(a=LineString([(0, 0), (1, 1)])).set_crs(3857, allow_override=True)
        )
    with pytest.raises(ProposalError, match="no CRS"):
        match_lines(
            street, lines(a=LineString([(0, 0), (1, 1)])).set_crs(None, allow_override=True)
        )
    G = build_road_graph(gpd.GeoDataFrame(geometry=[LineString([(0, 0), (1, 0)])], crs=CRS))
    del G.graph["crs"]
    with pytest.raises(InvalidGraphError, match="crs"):
        RoadIndex.from_graph(G)


def test_index_from_network_matches_like_from_graph() -> None:
    """The batch path (arrays, no networkx) gives the same matching as the graph model."""
    roads = gpd.GeoDataFrame(
        {"segment_id": ["a", "b", "c"], "road_class": ["primary", None, "service"]},
        geometry=[
            LineString([(0, 0), (100, 0)]),
            LineString([(100, 0), (200, 0), (200, 80)]),
            LineString([(100, 0), (100, 90)]),
        ],
        crs=CRS,
    )
    props = lines(
        one=LineString([(5, 6), (195, 6), (195, 70)]),
        two=LineString([(94, 5), (94, 80)]),
        three=LineString([(150, -30), (150, 30)]),
    )
    by_graph = match_lines(RoadIndex.from_graph(build_road_graph(roads)), props)
    net = build_road_network(roads)
    by_net = match_lines(RoadIndex.from_network(net, roads), props)
    pd.testing.assert_frame_equal(by_graph.along, by_net.along)
    pd.testing.assert_frame_equal(by_graph.crossings, by_net.crossings)
