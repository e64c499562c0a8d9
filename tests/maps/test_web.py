from __future__ import annotations

import re

import folium
import geopandas as gpd
import pytest
import shapely

from maps import style
from maps import web
from maps.frames import MapContext
from maps.frames import trench_frames
from tests.maps.sample import CRS
from tests.maps.sample import sample_context
from tests.maps.sample import sample_proposals
from tests.maps.sample import sample_roads
from tests.maps.sample import trench_edges


def render(m: folium.Map) -> str:
    return m.get_root().render()


def kind_counts(html: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for kind in re.findall(r'"kind": "(\w+)"', html):
        counts[kind] = counts.get(kind, 0) + 1
    return counts


@pytest.fixture(scope="module")
def edges() -> gpd.GeoDataFrame:
    return trench_edges()


@pytest.fixture(scope="module")
def trench_html(edges: gpd.GeoDataFrame) -> str:
    m = web.build_trench_map(
        edges, context=sample_context(edges), section_url="/plans/{plan_id}/sections/{edge}"
    )
    return render(m)


def test_every_asset_is_served_locally(trench_html: str) -> None:
    links = re.findall(r'(?:src|href)="([^"]+)"', trench_html)
    assert links, "the page links no asset at all"
    assert all(link.startswith("/static/") for link in links), links
    assert "/static/vendor/leaflet/1.9.4/leaflet.js" in links
    assert not re.search(r"https?://", trench_html)
    assert "cdn" not in trench_html.lower()


def test_canvas_renderer_layer_control_and_attribution(trench_html: str) -> None:
    assert '"preferCanvas": true' in trench_html
    assert "L.control.layers" in trench_html
    assert style.ATTRIBUTION_OSM.replace("©", "&copy;") in trench_html or (
        "OpenStreetMap contributors" in trench_html
    )
    assert "L.tileLayer" not in trench_html  # no base layer unless one is configured


def test_trench_map_draws_every_feature_once(edges: gpd.GeoDataFrame, trench_html: str) -> None:
    context = sample_context(edges)
    counts = kind_counts(trench_html)
    frames = trench_frames(edges)
    assert counts["trench"] == len(edges)
    assert counts["route"] == len(frames.routes) == 6
    assert counts["road"] == len(context.roads)
    assert counts["tree"] == len(context.trees)
    assert counts["protected"] == len(context.protected)
    assert counts["group"] == 1 and counts["warning"] == 1


def test_shared_trench_coloured_by_number_of_sharers(
    edges: gpd.GeoDataFrame, trench_html: str
) -> None:
    for n in set(trench_frames(edges).edges["n_utilities"]):
        assert style.trench_colour(int(n)) in trench_html
        assert f"Shared trench: {n} 种管线 utilities" in trench_html
    for utility in style.UTILITIES:
        assert style.utility_colour(utility) in trench_html
        assert style.label(utility) in trench_html


def test_popup_links_each_segment_to_its_cross_section(
    edges: gpd.GeoDataFrame, trench_html: str
) -> None:
    for edge in edges["edge"]:
        assert f'href=\\"/plans/None/sections/{edge}\\"' in trench_html or (
            f"/plans/None/sections/{edge}" in trench_html
        )
    assert "GeoJsonPopup" in trench_html or "bindPopup" in trench_html


def test_builders_add_to_a_given_map(edges: gpd.GeoDataFrame) -> None:
    m = web.build_layer_map({"roads": sample_roads()})
    same = web.build_trench_map(edges, m=m)
    assert same is m
    html = render(m)
    counts = kind_counts(html)
    assert counts["road"] == len(sample_roads()) and counts["trench"] == len(edges)
    assert html.count("L.control.layers") == 1
    assert html.count('class="cotrench-legend"') == 1


def test_application_map_colours_each_utility(edges: gpd.GeoDataFrame) -> None:
    proposals = sample_proposals()
    html = render(web.build_application_map(proposals, context=sample_context(edges)))
    assert kind_counts(html)["proposed"] == len(proposals)
    for utility in set(proposals["utility"]):
        assert style.utility_colour(utility) in html
    assert "\\u5de5\\u671f Window" in html  # 工期, as folium's JSON writes it


def test_local_tile_url_is_the_only_base_layer() -> None:
    url = "http://tiles.city.local/{z}/{x}/{y}.png"
    m = web.build_layer_map({"roads": sample_roads()}, tile_url=url, tile_attribution="市测绘院")
    html = render(m)
    assert html.count("L.tileLayer") == 1
    assert url in html
    assert "市测绘院" in html or "\\u5e02\\u6d4b\\u7ed8\\u9662" in html


def test_user_text_is_escaped() -> None:
    roads = sample_roads().head(2).copy()
    roads["name"] = "<script>alert(1)</script>"
    html = render(web.build_layer_map({"roads": roads}))
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;" in html or "\\u0026lt;script\\u0026gt;" in html


def test_empty_and_missing_geometry_is_skipped() -> None:
    roads = sample_roads().head(3).copy()
    roads.loc[roads.index[0], "geometry"] = shapely.LineString()
    roads.loc[roads.index[1], "geometry"] = None
    assert kind_counts(render(web.build_layer_map({"roads": roads})))["road"] == 1


@pytest.mark.parametrize(
    ("layers", "error", "words"),
    [
        ({"rivers": sample_roads()}, ValueError, "unknown layer kind(s) ['rivers']"),
        ({"roads": sample_roads().set_crs(None, allow_override=True)}, ValueError, "no CRS"),
        (
            {"existing": sample_roads().assign(utility="steam")},
            ValueError,
            "unknown utilities ['steam']",
        ),
        ({"proposed": sample_roads()}, ValueError, "needs a 'utility' column"),
    ],
)
def test_bad_layers_are_refused(layers, error, words: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=re.escape(words)):
        web.build_layer_map(layers)


def test_too_many_features_points_to_vector_tiles(edges: gpd.GeoDataFrame) -> None:
    roads = sample_roads()
    with pytest.raises(web.MapTooLargeError, match="vector tiles"):
        web.build_layer_map({"roads": roads}, max_features=len(roads) - 1)
    with pytest.raises(web.MapTooLargeError, match="too many"):
        web.build_trench_map(edges, context=MapContext(roads=roads), max_features=len(roads))


def test_trench_frames_from_plain_frame(edges: gpd.GeoDataFrame) -> None:
    frames = trench_frames(edges.assign(utilities=["water, gas"] * len(edges)))
    assert set(frames.edges["utilities"]) == {"gas, water"}
    assert frames.edges["n_utilities"].eq(2).all()
    assert frames.routes["utility"].tolist() == ["gas", "water"]
    assert frames.routes["length_m"].iloc[0] == pytest.approx(edges.geometry.length.sum())
    with pytest.raises(ValueError, match="'utilities' column"):
        trench_frames(edges.drop(columns="utilities"))
    assert frames.crs == CRS


def hand_plan(edges: gpd.GeoDataFrame):  # type: ignore[no-untyped-def]
    """A TrenchPlan (routing.results) on the hand-made edges, with made-up costs."""
    from routing import results  # noqa: PLC0415 - only this helper needs the plan types

    trench = tuple(
        results.TrenchEdge(
            source=i,
            target=i + 1,
            key=0,
            segment_id=e.edge,
            length_m=float(e.geometry.length),
            cost_cny=100.0,
            utilities=tuple(sorted(e.utilities)),
            geometry=e.geometry,
        )
        for i, e in enumerate(edges.itertuples())
    )
    return results.TrenchPlan(
        edges=trench,
        routes=(),
        trench_length_m=float(edges.geometry.length.sum()),
        trench_cost_cny=700.0,
        laying_cost_cny=300.0,
        total_cost_cny=1000.0,
        method="milp",
        status="optimal",
        bound_cny=1000.0,
        gap=0.0,
        separate_cost_cny=2500.0,
        overlay_cost_cny=1600.0,
        shares=(),
        sharing_rule="proportional",
        crs=CRS,
    )


def test_a_trench_plan_and_its_geojson_draw_the_same(edges: gpd.GeoDataFrame) -> None:
    plan = hand_plan(edges)
    frames = trench_frames(plan)
    assert frames.edges["edge"].tolist() == edges["edge"].tolist()
    assert frames.edges["n_utilities"].tolist() == [len(u) for u in edges["utilities"]]
    assert frames.summary["savings_vs_separate_cny"] == 1500.0
    from maps.frames import route_frames  # noqa: PLC0415

    again = route_frames(plan.to_geojson(), CRS)
    assert again.edges[["edge", "utilities", "n_utilities"]].equals(
        frames.edges[["edge", "utilities", "n_utilities"]]
    )
    assert again.summary["total_cost_cny"] == 1000.0
    counts = kind_counts(render(web.build_trench_map(plan)))
    assert counts["trench"] == len(edges)


def test_route_without_utilities_takes_the_applications() -> None:
    from maps.frames import route_frames  # noqa: PLC0415

    line = {"type": "LineString", "coordinates": [[317800.0, 5068100.0], [317900.0, 5068100.0]]}
    geojson = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": {"road": "西大直街"}, "geometry": line}],
    }
    frames = route_frames(geojson, CRS, default_utilities=["water", "gas"])
    assert frames.edges["utilities"].tolist() == ["gas, water"]
    assert frames.edges["length_m"].tolist() == [100.0]
    with pytest.raises(ValueError, match=r"route feature\(s\) \[0\] name no utility"):
        route_frames(geojson, CRS)
    with pytest.raises(ValueError, match="no features"):
        route_frames({"type": "FeatureCollection", "features": []}, CRS)


def test_repeated_segment_ids_are_made_unique(edges: gpd.GeoDataFrame) -> None:
    twice = edges.assign(edge=["44"] * len(edges))
    ids = trench_frames(twice).edges["edge"].tolist()
    assert ids[:3] == ["44", "44.1", "44.2"]
    assert len(set(ids)) == len(ids)


def test_existing_lines_are_dashed_in_their_utility_colour() -> None:
    from geodata.utilities import normalize_utility  # noqa: PLC0415
    from tests.helpers import read_sample  # noqa: PLC0415

    lines = read_sample("nagaoka_lines")  # real PLATEAU lines, EPSG:6676, multi-part
    lines["utility"] = lines["utility"].map(normalize_utility)
    html = render(web.build_layer_map({"existing": lines}))
    assert kind_counts(html)["existing"] == len(lines)
    for utility in set(lines["utility"]):
        assert style.utility_colour(utility) in html
    assert '"dashArray": "4 3"' in html


def test_scale_bar_is_metric_only(trench_html: str) -> None:
    assert re.search(r"L\.control\.scale\(\{imperial: false, metric: true", trench_html)
    assert "L.control.scale()" not in trench_html  # folium's default adds feet and miles
