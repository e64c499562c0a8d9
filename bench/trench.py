"""Benchmark the shared-trench optimiser on the whole Harbin road graph.

Run: ``.venv/bin/python -m bench.trench`` (about a few minutes on 2 cores). Every method runs on
the same instances in one process: our exact MILP, our heuristic, networkx ``steiner_tree``
(kou and mehlhorn, timed on the full graph) and separate trenches.

``--district-year`` runs the district-year class instead (:func:`make_district_year`): one
district's applications of a year planned as one joint plan, per window group, and each alone
(``python -m bench.trench_district_year`` does the same with the issue's limits; ``make bench``
runs both).
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
from routing.results import TrenchRequest

# ../shared beside the checkout (a worktree sits one level deeper: the first that exists wins)
HARBIN = next(
    (
        p / "shared" / "data" / "harbin_osm" / "bfmap_ways.csv"
        for p in Path(__file__).resolve().parents[1:4]
        if (p / "shared" / "data" / "harbin_osm" / "bfmap_ways.csv").exists()
    ),
    Path(__file__).resolve().parents[2] / "shared" / "data" / "harbin_osm" / "bfmap_ways.csv",
)
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


def make_district_year(
    G: nx.MultiGraph,  # noqa: N803
    nodes: list[int],
    xy: np.ndarray,
    seed: int,
    *,
    n_applications: int = 50,
    max_utilities: int = 6,
    radius_m: float = 1500.0,
    year: int = 2027,
) -> list[tuple[TrenchRequest, dt.date, dt.date]]:
    """A district's year of connection applications, each with its construction window.

    ``n_applications`` building sites within ``radius_m`` of a random centre, each needing 1
    to ``max_utilities`` of the first ``max_utilities`` utilities; each utility's existing
    network offers 3 supply nodes in the district, shared by every application (the same
    mains serve the whole district). Windows start uniformly over ``year`` and last 30 to
    120 days.
    """
    rng = np.random.default_rng(1000 + seed)
    utilities = UTILITIES[:max_utilities]
    centre = xy[rng.integers(len(nodes))]
    dist = np.hypot(*(xy - centre).T)
    near = np.flatnonzero(dist < radius_m)
    supplies = {u: [nodes[n] for n in rng.choice(near, size=3, replace=False)] for u in utilities}
    site_nodes = rng.choice(near, size=n_applications, replace=False)
    out = []
    for i, n in enumerate(site_nodes):
        k = int(rng.integers(1, max_utilities + 1))
        need = frozenset(str(u) for u in rng.choice(utilities, size=k, replace=False))
        name = f"app{i:02d}"
        start = dt.date(year, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365)))
        end = start + dt.timedelta(days=int(rng.integers(30, 121)))
        request = TrenchRequest(
            (Site(nodes[n], need, name=name, project=name),),
            {u: tuple(supplies[u]) for u in sorted(need)},
            name=name,
        )
        out.append((request, start, end))
    return out


def window_groups(
    apps: list[tuple[TrenchRequest, dt.date, dt.date]], *, horizon_days: int = 0
) -> list[list[TrenchRequest]]:
    """Applications whose windows overlap (or start within ``horizon_days``), chained."""
    order = sorted(apps, key=lambda a: a[1])
    groups: list[list[TrenchRequest]] = []
    end = None
    for request, start, finish in order:
        if end is None or start > end + dt.timedelta(days=horizon_days):
            groups.append([])
            end = finish
        groups[-1].append(request)
        end = max(end, finish)
    return groups


def run_district_year(  # noqa: PLR0917 - one bench run
    G: nx.MultiGraph,  # noqa: N803
    net: TrenchNetwork,
    nodes: list[int],
    xy: np.ndarray,
    seeds: int,
    time_limit: float,
    app_time_limit: float,
) -> None:
    """Joint year plan (exact and heuristic), per window group, and per application."""
    for seed in range(seeds):
        apps = make_district_year(G, nodes, xy, seed)
        requests = [a[0] for a in apps]
        sites = [s for r in requests for s in r.sites]
        n_util = len({u for s in sites for u in s.utilities})
        heur = trench.plan_shared_trench(net, sites, _joint_supplies(requests), method="heuristic")
        plan = trench.plan_shared_trench(
            net, sites, _joint_supplies(requests), method="milp", time_limit_s=time_limit
        )
        stats = dict(plan.stats)
        print(
            f"district-year seed={seed}: {len(requests)} applications, {len(sites)} sites, "
            f"{n_util} utilities | joint milp {plan.solve_time_s:.1f}s {plan.status} "
            f"gap={_fmt(plan.gap)} corridor={stats.get('corridor_edges')} "
            f"cols={stats.get('milp_cols')} bound={plan.bound_cny} "
            f"(lagrange {stats.get('lagrange_bound_cny')}, "
            f"path {stats.get('path_bound_cny')}) | joint heuristic {heur.solve_time_s:.1f}s "
            f"x{heur.total_cost_cny / plan.total_cost_cny:.4f}"
            f" | joint {plan.total_cost_cny:,.0f} CNY",
            flush=True,
        )
        t0 = time.perf_counter()
        alone = trench.plan_shared_trenches(
            net, requests, method="milp", time_limit_s=app_time_limit
        )
        t_alone = time.perf_counter() - t0
        alone_cost = sum(p.total_cost_cny for p in alone)
        groups = window_groups(apps)
        t0 = time.perf_counter()
        grouped = [
            trench.plan_shared_trench(
                net,
                [s for r in g for s in r.sites],
                _joint_supplies(g),
                method="milp",
                time_limit_s=app_time_limit,
            )
            for g in groups
        ]
        t_groups = time.perf_counter() - t0
        group_cost = sum(p.total_cost_cny for p in grouped)
        print(
            f"  per application: {alone_cost:,.0f} CNY, "
            f"{[p.status for p in alone].count('optimal')} of {len(alone)} proven, {t_alone:.1f}s"
            f" | per window group ({len(groups)} groups): {group_cost:,.0f} CNY, "
            f"{[p.status for p in grouped].count('optimal')} proven, {t_groups:.1f}s | saving "
            f"joint vs per application {1 - plan.total_cost_cny / alone_cost:.1%}, "
            f"window groups vs per application {1 - group_cost / alone_cost:.1%}",
            flush=True,
        )


def _joint_supplies(requests: list[TrenchRequest]) -> dict[str, list[object]]:
    out: dict[str, list[object]] = {}
    for r in requests:
        for u, nodes in r.supplies:
            out.setdefault(u, []).extend(n for n in nodes if n not in out.get(u, []))
    return out


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
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument(
        "--district-year", action="store_true", help="run the district-year class instead"
    )
    parser.add_argument(
        "--app-time-limit",
        type=float,
        default=10.0,
        help="district year: time limit of each per-application and per-window-group plan",
    )
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
    if args.district_year:
        run_district_year(G, net, nodes, xy, args.seeds, args.time_limit, args.app_time_limit)
        return
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
