"""Road graph: nodes at real intersections only, on hand-drawn layouts and real data."""

# ruff: noqa: N803, N806 - G is networkx's name for a graph

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from shapely import LineString
from shapely import MultiLineString
from shapely import Polygon

from routing.errors import InvalidGraphError
from routing.errors import RoadLayerError
from routing.graph import build_road_graph
from routing.graph import build_road_network
from routing.graph import nearest_nodes
from routing.graph import road_class_width_m
from tests.conftest import SAMPLE_DATA
from tests.conftest import TEST_DATA

CRS = 32652


def roads(*geoms: object, **columns: list[object]) -> gpd.GeoDataFrame:
    data = {"segment_id": [f"s{i}" for i in range(len(geoms))], **columns}
    return gpd.GeoDataFrame(data, geometry=list(geoms), crs=CRS)


def degrees(G) -> list[int]:
    return sorted(d for _, d in G.degree())


def test_t_junction_ending_on_a_line_interior_makes_a_node() -> None:
    G = build_road_graph(roads(LineString([(0, 0), (100, 0)]), LineString([(50, 0), (50, 60)])))
    assert (G.number_of_nodes(), G.number_of_edges()) == (4, 3)
    assert degrees(G) == [1, 1, 1, 3]
    lengths = sorted(round(d["length_m"], 6) for *_, d in G.edges(data=True))
    assert lengths == [50.0, 50.0, 60.0]
    assert sorted(d["segment_id"] for *_, d in G.edges(data=True)) == ["s0", "s0", "s1"]


def test_crossing_at_a_shared_vertex_is_a_node() -> None:
    G = build_road_graph(
        roads(LineString([(0, 0), (50, 0), (100, 0)]), LineString([(50, -50), (50, 0), (50, 50)]))
    )
    assert (G.number_of_nodes(), G.number_of_edges()) == (5, 4)
    assert G.graph["report"].grade_separated == 0


@pytest.mark.parametrize(
    "columns",
    [
        {"bridge": ["no", "yes"]},  # OSM bridge tag
        {"layer": [0, 1]},  # OSM layer tag
        {"tunnel": [True, False]},  # one goes under
        {"level": [-1, 0]},
    ],
)
def test_overpass_sharing_a_vertex_is_not_a_node(columns: dict[str, list[object]]) -> None:
    layer = roads(
        LineString([(0, 0), (50, 0), (100, 0)]),
        LineString([(50, -50), (50, 0), (50, 50)]),
        **columns,
    )
    G = build_road_graph(layer)
    assert (G.number_of_nodes(), G.number_of_edges()) == (4, 2)
    assert G.graph["report"].grade_separated == 1
    assert G.graph["report"].n_components == 2


def test_bridge_polygon_marks_the_deck_and_keeps_the_road_below_apart() -> None:
    layer = roads(
        LineString([(0, 0), (50, 0), (100, 0)]),  # under the bridge
        LineString([(50, -30), (50, 0), (50, 30)]),  # on the deck
    )
    deck = gpd.GeoDataFrame(geometry=[Polygon([(45, -30), (55, -30), (55, 30), (45, 30)])], crs=CRS)
    G = build_road_graph(layer, bridges=deck)
    assert (G.number_of_nodes(), G.number_of_edges()) == (4, 2)
    flags = {d["segment_id"]: d["bridge"] for *_, d in G.edges(data=True)}
    assert flags == {"s0": False, "s1": True}
    with pytest.raises(RoadLayerError, match="CRS"):
        build_road_graph(layer, bridges=deck.to_crs(4326))


def test_bridge_ends_join_their_approach_roads() -> None:
    layer = roads(
        LineString([(0, 0), (40, 0)]),
        LineString([(40, 0), (60, 0)]),
        LineString([(60, 0), (100, 0)]),
        bridge=[None, "yes", None],
    )
    G = build_road_graph(layer)
    assert (G.number_of_nodes(), G.number_of_edges()) == (4, 3)
    assert G.graph["report"].n_components == 1


def test_crossing_without_shared_vertex_is_not_a_node() -> None:
    G = build_road_graph(roads(LineString([(0, 0), (100, 0)]), LineString([(50, -50), (50, 50)])))
    assert (G.number_of_nodes(), G.number_of_edges()) == (4, 2)


def test_near_miss_is_snapped_within_tolerance_and_reported_otherwise() -> None:
    layer = roads(LineString([(0, 0), (100, 0)]), LineString([(50, 0.3), (50, 60)]))
    snapped = build_road_graph(layer, snap_tolerance_m=0.5)
    assert (snapped.number_of_nodes(), snapped.number_of_edges()) == (4, 3)
    assert snapped.graph["report"].snapped_endpoints == 1
    apart = build_road_graph(layer, snap_tolerance_m=0.2)
    assert apart.graph["report"].n_components == 2
    assert apart.graph["report"].component_sizes == (2, 2)


def test_dangling_ends_close_to_each_other_meet() -> None:
    layer = roads(LineString([(0, 0), (50, 0)]), LineString([(50.2, 0.1), (100, 0)]))
    G = build_road_graph(layer, snap_tolerance_m=0.5)
    assert (G.number_of_nodes(), G.number_of_edges()) == (3, 2)


def test_dual_carriageway_with_cross_street() -> None:
    layer = roads(
        LineString([(0, 0), (50, 0), (100, 0)]),
        LineString([(100, 20), (50, 20), (0, 20)]),
        LineString([(50, -40), (50, 0)]),
        LineString([(50, 0), (50, 20)]),
        LineString([(50, 20), (50, 60)]),
    )
    G = build_road_graph(layer)
    assert (G.number_of_nodes(), G.number_of_edges()) == (8, 7)
    assert degrees(G) == [1, 1, 1, 1, 1, 1, 4, 4]


def test_edge_contract_attributes() -> None:
    layer = roads(
        LineString([(0, 0), (100, 0)]),
        LineString([(100, 0), (100, 80)]),
        road_class=["primary", "residential"],
        width_m=[None, 8.5],
        surface=["asphalt", None],
        name=["中山路", None],
        built_on=[dt.date(2024, 6, 1), None],
    )
    G = build_road_graph(layer)
    assert G.graph["crs"] == layer.crs
    for _, data in G.nodes(data=True):
        assert {"x", "y"} <= set(data)
    edges = {d["segment_id"]: d for *_, d in G.edges(data=True)}
    a, b = edges["s0"], edges["s1"]
    assert a["width_m"] == road_class_width_m("primary") == 14.0
    assert b["width_m"] == 8.5
    assert (a["pavement"], a["name"], a["road_class"]) == ("asphalt", "中山路", "primary")
    assert a["protected_until"] == dt.date(2029, 6, 1)
    assert b["protected_until"] is None
    assert a["bridge"] is False
    assert isinstance(a["geometry"], LineString)
    assert a["geometry"].length == pytest.approx(a["length_m"])


def test_multipart_and_empty_and_reversed_rows() -> None:
    layer = roads(
        MultiLineString([[(0, 0), (50, 0)], [(50, 0), (100, 0)]]),
        LineString(),
        LineString([(100, 50), (100, 0)]),
    )
    G = build_road_graph(layer)
    assert G.graph["report"].dropped_segments == ("s1",)
    assert (G.number_of_nodes(), G.number_of_edges()) == (4, 3)


def test_refuses_geographic_or_missing_crs() -> None:
    layer = roads(LineString([(126.6, 45.7), (126.7, 45.7)]))
    with pytest.raises(InvalidGraphError, match="geographic"):
        build_road_graph(layer.set_crs(4326, allow_override=True))
    with pytest.raises(InvalidGraphError, match="no CRS"):
        build_road_graph(layer.set_crs(None, allow_override=True))


def test_cambridge_graph_agrees_with_published_intersections() -> None:
    """Agreement measure: share of published intersection points with a graph node within
    1 m, and share of graph nodes within 1 m of a published point; both at least 98 %.
    The rest are points the city moved or retired since the centrelines were noded.
    The data is a 1.6 km square of central Cambridge (``tests/data/cambridge_slice.gpkg``):
    the centrelines wholly inside it, the published intersections inside it, the bridges
    touching it."""
    path = TEST_DATA / "cambridge_slice.gpkg"
    lines = gpd.read_file(path, layer="centerlines").to_crs(26986)
    points = gpd.read_file(path, layer="intersections").to_crs(26986)
    bridges = gpd.read_file(path, layer="bridges").to_crs(26986)
    net = build_road_network(lines, bridges=bridges)
    nodes = shapely.points(net.node_xy)
    _, d_pub = shapely.STRtree(nodes).query_nearest(
        points.geometry.values, return_distance=True, all_matches=False
    )
    (_, nearest), d_node = shapely.STRtree(points.geometry.values).query_nearest(
        nodes, return_distance=True, all_matches=False
    )
    assert (d_pub <= 1.0).mean() >= 0.98
    assert (d_node <= 1.0).mean() >= 0.98
    assert net.report.n_nodes == pytest.approx(len(points), rel=0.01)
    # topology: each centreline's end nodes are the published From/To nodes
    number = np.where(d_node <= 1.0, points["NodeNumber"].to_numpy()[nearest], -1)
    ends = {
        tuple(sorted((number[s], number[t]))) for s, t in zip(net.source, net.target, strict=True)
    }
    pub = {
        tuple(sorted((int(f), int(t))))
        for f, t in zip(lines["FromNode"], lines["ToNode"], strict=True)
        if not (np.isnan(f) or np.isnan(t))
    }
    assert len(ends & pub) / len(pub) >= 0.97


def test_harbin_osm_lengths_kept_and_bridges_separated() -> None:
    path = SAMPLE_DATA / "harbin.gpkg"  # the sample city's OSM roads, bridges tagged
    frame = pyogrio.read_dataframe(path, layer="roads", bbox=(126.60, 45.73, 126.68, 45.78))
    frame = frame.to_crs(32652)
    G = build_road_graph(frame)
    total = sum(d["length_m"] for *_, d in G.edges(data=True))
    assert total == pytest.approx(frame.length.sum(), rel=1e-9)
    report = G.graph["report"]
    assert report.grade_separated > 0
    assert report.component_sizes[0] > 0.8 * report.n_nodes
    # every edge starts and ends at a node (its geometry ends at the node coordinates)
    for u, v, d in G.edges(data=True):
        first, last = d["geometry"].coords[0], d["geometry"].coords[-1]
        pts = {(G.nodes[u]["x"], G.nodes[u]["y"]), (G.nodes[v]["x"], G.nodes[v]["y"])}
        assert {first, last} == pts or (first == last and len(pts) == 1)


def test_empty_layer_gives_an_empty_graph_with_its_report() -> None:
    G = build_road_graph(roads(LineString()))
    assert (G.number_of_nodes(), G.number_of_edges()) == (0, 0)
    assert G.graph["report"].dropped_segments == ("s0",)


def test_nearest_nodes_equals_brute_force_one_by_one_and_in_a_batch() -> None:
    rng = np.random.default_rng(7)
    grid = [LineString([(0, 100 * k), (400, 100 * k)]) for k in range(5)] + [
        LineString([(100 * k, 0), (100 * k, 400)]) for k in range(5)
    ]
    G = build_road_graph(roads(*grid))
    node_ids = list(G.nodes)
    xy = np.array([(G.nodes[n]["x"], G.nodes[n]["y"]) for n in node_ids])
    X, Y = rng.uniform(-50, 450, 200), rng.uniform(-50, 450, 200)
    d_all = np.hypot(X[:, None] - xy[None, :, 0], Y[:, None] - xy[None, :, 1])
    expected = [node_ids[i] for i in d_all.argmin(axis=1)]
    nodes, dists = nearest_nodes(G, X, Y, return_dist=True)
    assert nodes.tolist() == expected
    np.testing.assert_allclose(dists, d_all.min(axis=1))
    singles = [nearest_nodes(G, float(x), float(y)) for x, y in zip(X, Y, strict=True)]
    assert singles == expected
    assert all(isinstance(n, int) for n in singles)


def test_nearest_nodes_refuses_what_it_cannot_snap() -> None:
    G = build_road_graph(roads(LineString([(0, 0), (100, 0)])))
    with pytest.raises(InvalidGraphError, match="finite"):
        nearest_nodes(G, float("nan"), 0.0)
    empty = build_road_graph(roads(LineString()))
    with pytest.raises(InvalidGraphError, match="no nodes"):
        nearest_nodes(empty, 0.0, 0.0)
    # a graph that gained a node gets a new tree, not a stale answer
    assert G.nodes[nearest_nodes(G, 500.0, 0.0)]["x"] == 100.0
    G.add_node("far", x=500.0, y=0.0)
    assert nearest_nodes(G, 500.0, 0.0) == "far"
