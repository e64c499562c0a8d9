"""Route sections take the road they run along: width, pavement, class and lane."""

from __future__ import annotations

import geopandas as gpd
from shapely.geometry import LineString

from api.routes.route_context import route_segments
from maps.frames import TrenchFrames
from routing.graph import road_class_width_m

CRS = "EPSG:32652"


def _frames() -> TrenchFrames:
    edges = gpd.GeoDataFrame(
        {
            "edge": ["a", "b", "c"],
            "utilities": ["gas, water", "power", "telecom"],
            "n_utilities": [2, 1, 1],
            "length_m": [100.0, 100.0, 100.0],
        },
        geometry=[
            LineString([(0, 1), (100, 1)]),  # 1 m beside road 1
            LineString([(0, 51), (100, 51)]),  # 1 m beside road 2
            LineString([(0, 500), (100, 500)]),  # no road near
        ],
        crs=CRS,
    )
    routes = gpd.GeoDataFrame({"utility": [], "length_m": []}, geometry=[], crs=CRS)
    return TrenchFrames(edges=edges, routes=routes)


def test_each_edge_takes_the_road_it_runs_along() -> None:
    roads = gpd.GeoDataFrame(
        {
            "road_class": ["primary", "footway"],
            "width_m": [18.0, None],
            "pavement": ["asphalt", "concrete"],
        },
        geometry=[LineString([(0, 0), (100, 0)]), LineString([(0, 50), (100, 50)])],
        crs=CRS,
    )
    a, b, c = route_segments(_frames(), roads=roads)
    assert (a.road_width_m, a.pavement, a.road_class, a.lane) == (
        18.0,
        "asphalt",
        "primary",
        "motor",
    )
    assert a.road_width_note == ""
    # no stored width: the class default, said to be assumed
    assert b.road_width_m == road_class_width_m("footway")
    assert "class default" in b.road_width_note
    assert b.lane == "non_motor"
    # nothing within reach: width unknown, so the section goes to manual review
    assert c.road_width_m is None
    assert {line.utility for line in a.lines} == {"gas", "water"}


def test_without_roads_every_width_is_unknown() -> None:
    assert all(s.road_width_m is None for s in route_segments(_frames()))
