"""Benchmark the shared-trench optimiser on the whole Harbin road graph.

Run: ``.venv/bin/python -m bench.trench`` (about a few minutes on 2 cores). Every method runs on
the same instances in one process: our exact MILP, our heuristic, networkx ``steiner_tree``
(kou and mehlhorn, timed on the full graph) and separate trenches.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import logging
import statistics
import time
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from networkx.algorithms.approximation import steiner_tree

from routing import _trench_model as tm
from routing import trench
from routing.costs import load_cost_model
from routing.graph import build_road_graph
from routing.reduce import TrenchNetwork
from routing.results import Site

HARBIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "harbin_osm" / "bfmap_ways.csv"
# bfmap class_id -> OSM highway (see the data README)
CLASS = {
    101: "motorway",
    102: "motorway_link",
    104: "trunk",
    105: "trunk_link",
    106: "primary",
    107: "primary_link",
    108: "secondary",
    109: "secondary_link",
    110: "tertiary",
    111: "tertiary_link",
    112: "residential",
    113: "living_street",
    114: "service",
    117: "unclassified",
}
UTILITIES = (
    "water",
    "power",
    "telecom",
    "gas",
    "heat",
    "drainage",
    "storm",
    "street_lighting",
    "reclaimed_water",
    "cable_tv",
)
ON_DATE = dt.date(2026, 11, 25)


def load_harbin() -> nx.MultiGraph:
    """Harbin roads (bfmap edge list) through ``routing.graph.build_road_graph``, EPSG:32652."""
    df = pd.read_csv(HARBIN)
    roads = gpd.GeoDataFrame(
        {"segment_id": df["gid"], "road_class": df["class_id"].map(CLASS)},
        geometry=shapely.from_wkt(df["geom"]),
        crs=4326,
    ).to_crs(32652)
    return build_road_graph(roads)


def make_instance(G: nx.MultiGraph, nodes: list[int], xy: np.ndarray, k: int, seed: int):  # noqa: N803
    """Sites within 1 km of a random centre, each utility with 2 supply candidates within 2.5 km."""
    rng = np.random.default_rng(seed)
    utilities = UTILITIES[:k]
    centre = xy[rng.integers(len(nodes))]
    dist = np.hypot(*(xy - centre).T)
    near = np.flatnonzero(dist < 1000)
    wide = np.flatnonzero((dist > 500) & (dist < 2500))
    site_nodes = rng.choice(near, size=5, replace=False)
    sites = []
    for i, n in enumerate(site_nodes):
        need = {u for u in utilities if rng.random() < 0.7} or {utilities[0]}
        sites.append(Site(nodes[n], frozenset(need), name=f"site{i}"))
    for u in utilities:  # every utility serves at least one site
        if not any(u in s.utilities for s in sites):
            s = sites[int(rng.integers(len(sites)))]
            sites[sites.index(s)] = Site(s.node, s.utilities | {u}, s.name)
    supplies = {u: [nodes[n] for n in rng.choice(wide, size=2, replace=False)] for u in utilities}
    return sites, supplies


def run_kou_full(H: nx.Graph, net: TrenchNetwork, problem, method: str):  # noqa: N803
    """networkx steiner_tree on the full (largest-component) graph; returns (time, solution)."""
    index = net.index()
    demands = [d for d in problem.demands if d.sites]
    terminals = set()
    chosen = {}
    for d in demands:
        dist = tm._Paths(net, tm._weights(net, d, problem)).distances([index[t] for t in d.sites])
        chosen[d.utility] = min((index[s] for s in d.sources), key=lambda s: (dist[s], s))
        terminals.add(chosen[d.utility])
        terminals.update(index[t] for t in d.sites)
    t0 = time.perf_counter()
    tree = steiner_tree(H, sorted(terminals), weight="weight", method=method)
    elapsed = time.perf_counter() - t0
    sol = {}
    for d in demands:
        edges = set()
        for t in d.sites:
            path = nx.shortest_path(tree, chosen[d.utility], index[t])
            edges.update(H[a][b]["edge"] for a, b in itertools.pairwise(path))
        sol[d.utility] = tm._edge_refs(net, edges)
    return elapsed, tm._solution_cost(problem, sol)


def full_graph(net: TrenchNetwork, mean_lay: float) -> nx.Graph:
    w = net.cost_cny + mean_lay * net.length_m
    H = nx.Graph()  # noqa: N806
    for e in np.argsort(-w, kind="stable"):
        H.add_edge(int(net.eu[e]), int(net.ev[e]), weight=float(w[e]), edge=int(e))
    return H


def _fmt(gap: float | None) -> str:
    return "n/a" if gap is None else f"{gap:.1e}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--ks", default="3,6,10")
    parser.add_argument("--time-limit", type=float, default=60.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    t0 = time.perf_counter()
    G = load_harbin()  # noqa: N806
    t_graph = time.perf_counter() - t0
    # the largest component, so that networkx's kou (which needs a connected graph) runs
    big = max(nx.connected_components(G), key=len)
    G = G.subgraph(big).copy()  # noqa: N806
    t0 = time.perf_counter()
    net = trench.prepare_network(G, on_date=ON_DATE)
    t_prep = time.perf_counter() - t0
    print(
        f"graph: {G.number_of_nodes()} nodes, {G.number_of_edges()} edges "
        f"(build {t_graph:.1f} s, pricing {t_prep:.2f} s)"
    )
    nodes = list(G.nodes)
    xy = np.array([(G.nodes[n]["x"], G.nodes[n]["y"]) for n in nodes])
    model = load_cost_model()
    rows = []
    for k in [int(x) for x in args.ks.split(",")]:
        H = full_graph(net, statistics.mean(model.laying_cost_per_m(u) for u in UTILITIES[:k]))  # noqa: N806
        for seed in range(args.seeds):
            sites, supplies = make_instance(G, nodes, xy, k, seed)
            problem = trench._build_problem(net, tuple(sites), supplies, model, None)
            exact = trench.plan_shared_trench(
                net, sites, supplies, method="milp", time_limit_s=args.time_limit
            )
            heur = trench.plan_shared_trench(net, sites, supplies, method="heuristic")
            t_kou, c_kou = run_kou_full(H, net, problem, "kou")
            t_meh, c_meh = run_kou_full(H, net, problem, "mehlhorn")
            opt = exact.total_cost_cny
            row = {
                "K": k,
                "seed": seed,
                "sites": len(sites),
                "terminals": len(problem.terminals()),
                "corridor_edges": dict(exact.stats).get("corridor_edges"),
                "milp_s": exact.solve_time_s,
                "status": exact.status,
                "gap": exact.gap,
                "heur_s": heur.solve_time_s,
                "heur_ratio": heur.total_cost_cny / opt,
                "kou_s": t_kou,
                "kou_ratio": c_kou / opt,
                "mehlhorn_s": t_meh,
                "mehlhorn_ratio": c_meh / opt,
                "separate_ratio": exact.separate_cost_cny / opt,
                "overlay_ratio": exact.overlay_cost_cny / opt,
                "opt_cny": opt,
            }
            rows.append(row)
            print(
                f"K={k:2d} seed={seed} terms={row['terminals']:2d} "
                f"corridor={row['corridor_edges']} | "
                f"milp {row['milp_s']:.3f}s {row['status']} gap={_fmt(row['gap'])} | "
                f"heur {row['heur_s']:.3f}s x{row['heur_ratio']:.4f} | "
                f"kou {t_kou:.3f}s x{row['kou_ratio']:.4f} | mehlhorn {t_meh:.3f}s "
                f"x{row['mehlhorn_ratio']:.4f} | separate x{row['separate_ratio']:.3f} "
                f"overlay x{row['overlay_ratio']:.3f}",
                flush=True,
            )
    table = pd.DataFrame(rows)
    print()
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
