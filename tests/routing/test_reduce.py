"""Graph reduction: dead ends, chains, parallel edges, and the corridor keeping an optimum."""

from __future__ import annotations

import datetime as dt
import random
from types import MappingProxyType

import networkx as nx
import numpy as np
import pytest

from routing.costs import CostModel
from routing.errors import InvalidGraphError
from routing.reduce import contract_chains
from routing.reduce import drop_dead_ends
from routing.reduce import network_from_graph
from routing.reduce import reduce_network
from routing.results import Site
from routing.trench import plan_shared_trench

DAY = dt.date(2026, 11, 25)
MODEL = CostModel(
    excavation_cny_per_m=MappingProxyType({"default": 100.0}),
    restoration_cny_per_m=MappingProxyType({"default": 0.0}),
    laying_cny_per_m=MappingProxyType({"water": 10.0, "power": 20.0}),
    section_width_m=MappingProxyType({"water": 0.5, "power": 0.6}),
)


def net_of(edges, **kw):
    G = nx.MultiGraph(crs="EPSG:32652")  # noqa: N806
    for i, (u, v, length, *rest) in enumerate(edges):
        G.add_edge(u, v, segment_id=f"s{i}", length_m=float(length), **(rest[0] if rest else {}))
    return network_from_graph(G, cost_model=MODEL, on_date=DAY, **kw)


def edges_of(net):
    return sorted(
        (net.nodes[a], net.nodes[b], round(c), tuple(p[0:2] for p in parts))
        for a, b, c, parts in zip(net.eu, net.ev, net.cost_cny, net.parts, strict=True)
    )


def test_forbidden_edges_are_dropped_with_their_reason():
    net = net_of([("A", "B", 10, {"bridge": True}), ("B", "C", 10)])
    assert net.n_edges == 1
    assert net.forbidden == {("A", "B", 0): "bridge"}


def test_parallel_edges_keep_the_cheaper_trench():
    net = net_of([("A", "B", 30), ("A", "B", 10), ("A", "B", 20)])
    assert edges_of(net) == [("A", "B", 1000, (("A", "B"),))]
    assert net.parts[0] == (("A", "B", 1),)


def test_dead_ends_go_but_terminals_stay():
    # A-B-C-D with a spur C-E-F; terminals A and D: the spur goes
    net = net_of([("A", "B", 1), ("B", "C", 1), ("C", "D", 1), ("C", "E", 1), ("E", "F", 1)])
    out = drop_dead_ends(net, {"A", "D"})
    assert {e[:2] for e in edges_of(out)} == {("A", "B"), ("B", "C"), ("C", "D")}
    # a terminal at the spur's tip keeps it, and then C-D is the dead end
    kept = drop_dead_ends(net, {"A", "F"})
    assert {e[:2] for e in edges_of(kept)} == {("A", "B"), ("B", "C"), ("C", "E"), ("E", "F")}


def test_chains_contract_into_one_edge_that_remembers_its_segments():
    # A-B-C-D chain of 10 + 20 + 30 m between terminals A and D, plus a 100 m shortcut A-D
    net = net_of(
        [
            ("A", "B", 10, {"width_m": 5.0}),
            ("B", "C", 20, {"width_m": 2.0}),
            ("C", "D", 30),
            ("A", "D", 100),
        ]
    )
    out = contract_chains(net, {"A", "D"})
    assert out.n_edges == 2
    chain = int(np.argmin(out.length_m))
    assert out.length_m[chain] == 60
    assert out.cost_cny[chain] == 6000
    assert out.width_m[chain] == 2.0  # the narrowest part
    assert [p[:2] for p in out.parts[chain]] == [("A", "B"), ("B", "C"), ("C", "D")]
    # a terminal inside the chain stops the contraction there
    assert contract_chains(net, {"A", "D", "C"}).n_edges == 3


def test_dominated_parallel_chain_is_dropped_but_a_wider_one_stays():
    # two A-D routes of equal length; the narrower, dearer one is dominated
    net = net_of(
        [("A", "B", 50), ("B", "D", 50), ("A", "C", 50, {"road_class": "x"}), ("C", "D", 60)]
    )
    assert reduce_network(net, {"A", "D"}).n_edges == 1
    wide = net_of(
        [("A", "B", 50, {"width_m": 1.0}), ("B", "D", 50), ("A", "C", 50), ("C", "D", 60)]
    )
    assert reduce_network(wide, {"A", "D"}).n_edges == 2


def test_isolated_cycle_without_terminal_disappears():
    net = net_of([("A", "B", 1), ("X", "Y", 1), ("Y", "Z", 1), ("Z", "X", 1)])
    assert {e[:2] for e in edges_of(reduce_network(net, {"A", "B"}))} == {("A", "B")}


def test_bad_lengths_are_named():
    G = nx.MultiGraph()  # noqa: N806
    G.add_edge("A", "B", length_m=None)
    with pytest.raises(InvalidGraphError, match=r"edge \('A', 'B', 0\) has no usable length_m"):
        network_from_graph(G, cost_model=MODEL, on_date=DAY)
    with pytest.raises(InvalidGraphError, match="undirected"):
        network_from_graph(nx.MultiDiGraph(), cost_model=MODEL, on_date=DAY)


@pytest.mark.parametrize("seed", range(8))
def test_reduction_and_corridor_keep_the_optimum(seed):
    # a 6x6 grid with random lengths: the plan on the reduced corridor must cost what the
    # heuristic-free exhaustive check of the plain shortest path says for one utility, and
    # the exact plan never exceeds the heuristic
    rng = random.Random(seed)
    G = nx.MultiGraph(crs="EPSG:32652")  # noqa: N806
    for i in range(6):
        for j in range(6):
            for di, dj in ((1, 0), (0, 1)):
                if i + di < 6 and j + dj < 6:
                    G.add_edge((i, j), (i + di, j + dj), length_m=float(rng.randint(5, 30)))
    nodes = sorted(G.nodes)
    a, b = rng.sample(nodes, 2)
    plan = plan_shared_trench(G, [Site(b, {"water"})], {"water": a}, cost_model=MODEL, on_date=DAY)
    assert plan.status == "optimal"
    assert plan.total_cost_cny == pytest.approx(110 * nx.shortest_path_length(G, a, b, "length_m"))
    sites = [Site(n, {"water", "power"}) for n in rng.sample(nodes, 3)]
    supplies = {"water": rng.sample(nodes, 2), "power": rng.sample(nodes, 2)}
    exact = plan_shared_trench(G, sites, supplies, cost_model=MODEL, on_date=DAY)
    heur = plan_shared_trench(G, sites, supplies, method="heuristic", cost_model=MODEL, on_date=DAY)
    assert exact.status == "optimal"
    assert exact.total_cost_cny <= heur.total_cost_cny + 1e-6
    assert exact.bound_cny <= exact.total_cost_cny + 1e-6
