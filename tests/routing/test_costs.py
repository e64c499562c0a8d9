"""Cost model: prices read from data, forbidden edges, width rule, tree conflicts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import geopandas as gpd
import networkx as nx
import pytest
import yaml
from shapely import LineString
from shapely import Point

from routing.costs import DEFAULT_COST_MODEL_PATH
from routing.costs import count_tree_conflicts
from routing.costs import load_cost_model
from routing.errors import CostModelError

DAY = dt.date(2026, 11, 25)


def test_default_model_is_marked_illustrative_and_prices_roads():
    text = DEFAULT_COST_MODEL_PATH.read_text(encoding="utf-8")
    assert "ILLUSTRATIVE DEFAULTS" in text
    model = load_cost_model()
    # residential 550 + asphalt 450
    assert model.trench_cny_per_m("residential", "asphalt") == 1000
    # footway defaults to paving stones: 400 + 350; unknown class and surface: 700 + 450
    assert model.trench_cny_per_m("footway", None) == 750
    assert model.trench_cny_per_m("racetrack", "marble") == 1150
    assert len(model.utilities) == 10
    assert model.laying_cost_per_m("heat") == 1300


def test_edge_cost_adds_crossings_and_trees():
    model = load_cost_model()
    edge = {"length_m": 10.0, "road_class": "residential", "pavement": "asphalt"}
    assert model.edge_trench_cost_cny(edge) == 10_000
    # two junction ends count as one crossing (8,000); explicit counts win
    assert model.edge_trench_cost_cny(edge, junction_ends=2) == 18_000
    assert model.edge_trench_cost_cny({**edge, "crossings": 2}, junction_ends=2) == 26_000
    assert model.edge_trench_cost_cny({**edge, "tree_conflicts": 3}) == 25_000


def test_forbidden_reasons():
    model = load_cost_model()
    assert model.forbidden_reason({"bridge": True}, on_date=DAY) == "bridge"
    protected = {"protected_until": dt.date(2027, 5, 1)}
    assert model.forbidden_reason(protected, on_date=DAY) == "protected until 2027-05-01"
    assert model.forbidden_reason(protected, on_date=DAY, emergency_repair=True) is None
    assert model.forbidden_reason(protected, on_date=dt.date(2027, 5, 2)) is None
    assert model.forbidden_reason({"protected_until": "2027-05-01"}, on_date=DAY)
    assert model.forbidden_reason({}, on_date=DAY) is None


def test_required_width_sums_sections():
    model = load_cost_model()
    assert model.required_width_m(frozenset()) == 0.0
    assert model.required_width_m(frozenset({"water", "gas"})) == pytest.approx(0.6 + 0.5 + 0.4)


def test_unknown_utility_lists_the_known_ones():
    with pytest.raises(CostModelError, match=r"'steam'.*known utilities: cable_tv, drainage"):
        load_cost_model().laying_cost_per_m("steam")


def test_bad_files_name_the_key(tmp_path: Path):
    raw = yaml.safe_load(DEFAULT_COST_MODEL_PATH.read_text(encoding="utf-8"))
    with pytest.raises(CostModelError, match="cannot read cost model"):
        load_cost_model(tmp_path / "missing.yaml")
    bad = {**raw, "crossing_cny": "lots"}
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(CostModelError, match="crossing_cny: 'lots' is not a number"):
        load_cost_model(tmp_path / "a.yaml")
    bad = {**raw, "utilities": {**raw["utilities"], "gas": {"laying_cny_per_m": -5}}}
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(CostModelError, match=r"utilities\.gas\.laying_cny_per_m: -5 must be"):
        load_cost_model(tmp_path / "b.yaml")
    bad = {k: v for k, v in raw.items() if k != "excavation_cny_per_m"}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(CostModelError, match="lacks excavation_cny_per_m"):
        load_cost_model(tmp_path / "c.yaml")
    # a city's own prices are used as given
    mine = {**raw, "crossing_cny": 1}
    (tmp_path / "d.yaml").write_text(yaml.safe_dump(mine))
    assert load_cost_model(tmp_path / "d.yaml").crossing_cny == 1


def test_tree_conflicts_count_trees_near_each_edge():
    G = nx.MultiGraph(crs="EPSG:32652")  # noqa: N806
    G.add_edge("A", "B", geometry=LineString([(0, 0), (100, 0)]), length_m=100.0)
    G.add_edge("B", "C", geometry=LineString([(100, 0), (100, 100)]), length_m=100.0)
    trees = gpd.GeoDataFrame(
        geometry=[Point(10, 1), Point(50, -1.5), Point(50, 5), Point(101, 50)], crs=32652
    )
    assert count_tree_conflicts(G, trees, buffer_m=2.0) == {("A", "B", 0): 2, ("B", "C", 0): 1}
    with pytest.raises(CostModelError, match="reproject"):
        count_tree_conflicts(G, trees.to_crs(4326))
