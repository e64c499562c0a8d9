"""Find good shared-trench plans fast: shortest-path heuristic and networkx baselines."""

from __future__ import annotations

import itertools
import logging
import math

import networkx as nx
import numpy as np

from routing._trench_model import _INF
from routing._trench_model import Solution
from routing._trench_model import _Demand
from routing._trench_model import _edge_refs
from routing._trench_model import _pair_index
from routing._trench_model import _Paths
from routing._trench_model import _Problem
from routing._trench_model import _walk
from routing._trench_model import _weights
from routing.errors import NoRouteError
from routing.reduce import TrenchNetwork

logger = logging.getLogger(__name__)


# heuristic: shortest-path heuristic per utility over a shared trench, best of all roots,
# then rip-up and re-route one utility at a time while the total cost falls


def _heuristic(net: TrenchNetwork, problem: _Problem) -> Solution:
    demands = [d for d in problem.demands if d.sites]
    if not demands:
        return {d.utility: frozenset() for d in problem.demands}
    state = _HeuristicState(net, problem, demands)
    base_order = sorted(
        range(len(demands)),
        key=lambda i: (-demands[i].lay_per_m * len(demands[i].sites), demands[i].utility),
    )
    best: list[set[int]] | None = None
    best_cost = _INF
    for root in base_order:
        order = [root] + [i for i in base_order if i != root]
        routes = state.greedy(order)
        if routes is None:
            continue
        cost = state.cost(routes)
        if cost < best_cost - 1e-9:
            best, best_cost = routes, cost
    if best is None:  # width limits made every order fail; fall back to one utility at a time
        msg = "the heuristic found no plan that fits the road widths"
        raise NoRouteError(msg)
    best = state.improve(best, base_order)
    sol = {d.utility: _edge_refs(net, best[i]) for i, d in enumerate(demands)}
    for d in problem.demands:
        sol.setdefault(d.utility, frozenset())
    return sol


class _HeuristicState:
    def __init__(self, net: TrenchNetwork, problem: _Problem, demands: list[_Demand]) -> None:
        self.net = net
        self.problem = problem
        self.demands = demands
        index = net.index()
        self.sources = [[index[s] for s in d.sources if s in index] for d in demands]
        self.sites = [[index[t] for t in d.sites] for d in demands]
        self.base = [_weights(net, d, problem) for d in demands]
        self.lay = [d.lay_per_m * net.length_m for d in demands]
        self.pairs = _pair_index(net)
        self.finite_width = np.flatnonzero(np.isfinite(net.width_m))

    def cost(self, routes: list[set[int]]) -> float:
        trench = set().union(*routes)
        total = float(self.net.cost_cny[list(trench)].sum()) if trench else 0.0
        for i, r in enumerate(routes):
            if r:
                total += float(self.lay[i][list(r)].sum())
        return total

    def route(self, i: int, routes: list[set[int]]) -> set[int] | None:
        """Shortest-path heuristic for demand i given the other utilities' trench."""
        w = self.base[i].copy()
        trench = [e for j, r in enumerate(routes) if j != i for e in r]
        if trench:
            t_idx = np.fromiter(set(trench), dtype=np.int64)
            ok = np.isfinite(w[t_idx])
            w[t_idx[ok]] = self.lay[i][t_idx[ok]]
            # a shared edge must stay wide enough for every utility in it
            users: dict[int, set[str]] = {}
            for j, r in enumerate(routes):
                if j != i:
                    for e in r:
                        if math.isfinite(self.net.width_m[e]):
                            users.setdefault(e, set()).add(self.demands[j].utility)
            me = self.demands[i].utility
            for e, us in users.items():
                if self.problem.width(frozenset(us | {me})) > self.net.width_m[e] + 1e-9:
                    w[e] = _INF
        paths = _Paths(self.net, w)
        in_tree = set(self.sources[i])
        remaining = [t for t in self.sites[i] if t not in in_tree]
        edges: set[int] = set()
        while remaining:
            dist, pred = paths.run(sorted(in_tree))
            t = min(remaining, key=lambda x: (dist[x], x))
            if not math.isfinite(dist[t]):
                return None
            for v, e in _walk(pred, t, lambda v: v in in_tree, self.pairs, w):
                edges.add(e)
                in_tree.add(v)
            remaining = [x for x in remaining if x not in in_tree]
        return edges

    def greedy(self, order: list[int]) -> list[set[int]] | None:
        routes: list[set[int]] = [set() for _ in self.demands]
        for i in order:
            r = self.route(i, routes)
            if r is None:
                return None
            routes[i] = r
        return routes

    def improve(
        self, routes: list[set[int]], order: list[int], max_rounds: int = 6
    ) -> list[set[int]]:
        cost = self.cost(routes)
        for _ in range(max_rounds):
            improved = False
            for i in order:
                r = self.route(i, routes)
                if r is None or r == routes[i]:
                    continue
                trial = [*routes[:i], r, *routes[i + 1 :]]
                c = self.cost(trial)
                if c < cost - 1e-9 * max(1.0, cost):
                    routes, cost, improved = trial, c, True
            if not improved:
                break
        return routes


def _feasible_upper(net: TrenchNetwork, problem: _Problem, upper: float) -> float:
    """``upper`` if finite, else the cost of one greedy pass (a plan that fits the widths)."""
    if math.isfinite(upper):
        return upper
    demands = [d for d in problem.demands if d.sites]
    state = _HeuristicState(net, problem, demands)
    order = sorted(range(len(demands)), key=lambda i: (-demands[i].lay_per_m, demands[i].utility))
    routes = state.greedy(order)
    return _INF if routes is None else state.cost(routes)


# networkx baselines


def _steiner_baseline(net: TrenchNetwork, problem: _Problem, method: str) -> Solution:
    """One networkx Steiner tree over all sites and each utility's nearest supply."""
    from networkx.algorithms.approximation import steiner_tree  # noqa: PLC0415

    index = net.index()
    demands = [d for d in problem.demands if d.sites]
    mean_lay = sum(d.lay_per_m for d in demands) / len(demands)
    w = net.cost_cny + mean_lay * net.length_m
    H = nx.Graph()  # noqa: N806
    for e in np.argsort(-w, kind="stable"):  # cheapest parallel edge written last wins
        H.add_edge(int(net.eu[e]), int(net.ev[e]), weight=float(w[e]), edge=int(e))
    chosen: dict[str, int] = {}
    terminals: set[int] = set()
    for d in demands:
        dist = _Paths(net, _weights(net, d, problem)).distances([index[t] for t in d.sites])
        chosen[d.utility] = min((index[s] for s in d.sources), key=lambda s: (dist[s], s))
        terminals.add(chosen[d.utility])
        terminals.update(index[t] for t in d.sites)
    tree = nx.Graph()
    for comp in nx.connected_components(H):
        term = sorted(terminals & comp)
        if len(term) > 1:
            tree.update(steiner_tree(H.subgraph(comp), term, weight="weight", method=method))
    sol: Solution = {}
    for d in demands:
        edges: set[int] = set()
        for t in d.sites:
            path = nx.shortest_path(tree, chosen[d.utility], index[t])
            edges.update(H[a][b]["edge"] for a, b in itertools.pairwise(path))
        sol[d.utility] = _edge_refs(net, edges)
    for d in problem.demands:
        sol.setdefault(d.utility, frozenset())
    return sol
