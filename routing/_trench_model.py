"""State a shared-trench problem on an array network; price, route and bound it."""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable
from collections.abc import Hashable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.sparse.csgraph import dijkstra

from routing.costs import WidthRule
from routing.reduce import EdgeRef
from routing.reduce import TrenchNetwork
from routing.reduce import reduce_network
from routing.reduce import restrict_edges
from routing.reduce import weight_matrix
from routing.results import Site

logger = logging.getLogger(__name__)

OPTIMALITY_GAP = 1e-7
"""Relative gap under which a plan counts as proven optimal (HiGHS's proof tolerance)."""

Solution = dict[str, frozenset[EdgeRef]]
_INF = math.inf

# problem statement


@dataclass(frozen=True)
class _Demand:
    utility: str
    lay_per_m: float
    sources: tuple[Hashable, ...]
    sites: tuple[Hashable, ...]  # site nodes that are not themselves supply nodes
    all_sites: tuple[Hashable, ...]


@dataclass(frozen=True)
class _Problem:
    demands: tuple[_Demand, ...]
    width: WidthRule
    info: Mapping[EdgeRef, Any]
    sites: tuple[Site, ...]

    def terminals(self) -> set[Hashable]:
        out: set[Hashable] = set()
        for d in self.demands:
            out.update(d.sources)
            out.update(d.all_sites)
        return out

    def restricted(self, utilities: Iterable[str]) -> _Problem:
        keep = set(utilities)
        return _Problem(
            tuple(d for d in self.demands if d.utility in keep), self.width, self.info, self.sites
        )


# shared helpers on array networks


def _allowed(net: TrenchNetwork, d: _Demand, problem: _Problem) -> NDArray[np.bool_]:
    need = problem.width(frozenset({d.utility}))
    return np.asarray(net.width_m >= need - 1e-9)


def _weights(net: TrenchNetwork, d: _Demand, problem: _Problem) -> NDArray[np.float64]:
    w = net.cost_cny + d.lay_per_m * net.length_m
    return np.where(_allowed(net, d, problem), w, _INF)


def _terminal_components(net: TrenchNetwork, terminals: set[Hashable]) -> TrenchNetwork:
    graph = coo_matrix((np.ones(net.n_edges), (net.eu, net.ev)), shape=(net.n_nodes, net.n_nodes))
    _, labels = connected_components(graph, directed=False)
    index = net.index()
    wanted = {labels[index[t]] for t in terminals}
    mask = np.isin(labels[net.eu], list(wanted))
    return restrict_edges(net, mask, keep=[index[t] for t in terminals])


def _edge_refs(net: TrenchNetwork, edges: Iterable[int]) -> frozenset[EdgeRef]:
    return frozenset(p for e in edges for p in net.parts[e])


def _edge_ids(net: TrenchNetwork, refs: frozenset[EdgeRef]) -> set[int]:
    return {e for e, parts in enumerate(net.parts) if all(p in refs for p in parts)}


def _solution_cost(problem: _Problem, sol: Mapping[str, frozenset[EdgeRef]]) -> float:
    lay = {d.utility: d.lay_per_m for d in problem.demands}
    trench = frozenset().union(*sol.values()) if sol else frozenset()
    total = sum(problem.info[r].trench_cost_cny for r in trench)
    for u, refs in sol.items():
        total += lay[u] * sum(problem.info[r].length_m for r in refs)
    return float(total)


def _width_violations(
    problem: _Problem, sol: Mapping[str, frozenset[EdgeRef]]
) -> list[tuple[EdgeRef, frozenset[str]]]:
    users: dict[EdgeRef, set[str]] = {}
    for u, refs in sol.items():
        for r in refs:
            users.setdefault(r, set()).add(u)
    out = []
    for r, us in sorted(users.items(), key=lambda x: repr(x[0])):
        width = problem.info[r].width_m
        if math.isfinite(width) and problem.width(frozenset(us)) > width + 1e-9:
            out.append((r, frozenset(us)))
    return out


class _Paths:
    """Dijkstra on one weight vector, with edge recovery between consecutive nodes."""

    def __init__(self, net: TrenchNetwork, weight: NDArray[np.float64]) -> None:
        self.net = net
        self.weight = weight
        self.matrix = weight_matrix(net, weight)

    def run(self, sources: Sequence[int]) -> tuple[NDArray[np.float64], NDArray[np.int32]]:
        if len(sources) == 0:
            n = self.net.n_nodes
            return np.full(n, _INF), np.full(n, -9999, dtype=np.int32)
        dist, pred, _ = dijkstra(
            self.matrix,
            directed=False,
            indices=sorted(sources),
            min_only=True,
            return_predecessors=True,
        )
        return dist, pred

    def distances(self, sources: Sequence[int]) -> NDArray[np.float64]:
        if len(sources) == 0:
            return np.full(self.net.n_nodes, _INF)
        return np.asarray(
            dijkstra(self.matrix, directed=False, indices=sorted(sources), min_only=True)
        )


def _pair_index(net: TrenchNetwork) -> dict[tuple[int, int], list[int]]:
    pairs: dict[tuple[int, int], list[int]] = {}
    for e, (a, b) in enumerate(zip(net.eu.tolist(), net.ev.tolist(), strict=True)):
        pairs.setdefault((min(a, b), max(a, b)), []).append(e)
    return pairs


def _walk(
    pred: NDArray[np.int32],
    target: int,
    stop: Callable[[int], bool],
    pairs: dict[tuple[int, int], list[int]],
    weight: NDArray[np.float64],
) -> list[tuple[int, int]]:
    """(node, edge) steps from ``target`` back to the first node where ``stop`` holds."""
    out = []
    v = target
    while not stop(v):
        p = int(pred[v])
        cands = pairs[(min(p, v), max(p, v))]
        e = min(cands, key=lambda x: (weight[x], x))
        out.append((v, e))
        v = p
    return out


def _separate_routes(net: TrenchNetwork, problem: _Problem) -> Solution:
    """Each utility's own shortest paths from its nearest supply to each of its sites."""
    index = net.index()
    pairs = _pair_index(net)
    out: Solution = {}
    for d in problem.demands:
        w = _weights(net, d, problem)
        paths = _Paths(net, w)
        sources = {index[s] for s in d.sources}
        _, pred = paths.run(sorted(sources))
        edges: set[int] = set()
        for t in d.sites:
            for _, e in _walk(pred, index[t], sources.__contains__, pairs, w):
                edges.add(e)
        out[d.utility] = _edge_refs(net, edges)
    return out


# corridor: drop every arc no solution cheaper than ``upper`` can use


def _lower_bounds(net: TrenchNetwork, problem: _Problem, *, per_site: bool) -> list[dict[str, Any]]:
    """Distances behind the two arc tests of :func:`_arc_masks`, per utility with sites."""
    index = net.index()
    active = [d for d in problem.demands if d.sites]
    alpha = 1.0 / max(len(active), 1)
    rows = []
    for d in active:
        allowed = _allowed(net, d, problem)
        src = [index[s] for s in d.sources if s in index]
        site_idx = [index[t] for t in d.sites]
        row: dict[str, Any] = {"demand": d, "sources": src, "sites": site_idx}
        for tag, trench_share in (("full", 1.0), ("alpha", alpha)):
            w = np.where(allowed, trench_share * net.cost_cny + d.lay_per_m * net.length_m, _INF)
            paths = _Paths(net, w)
            d_root = paths.distances(src)
            to_site = (
                [paths.distances([t]) for t in site_idx]
                if per_site
                else [paths.distances(site_idx)]
            )
            far = (
                _steiner_lower_bound(d_root, to_site, site_idx)
                if per_site
                else float(max(d_root[site_idx]))
            )
            row[tag] = {"w": w, "d_root": d_root, "to_site": to_site, "far": far}
        length_paths = _Paths(net, np.where(allowed, net.length_m, _INF))
        d_len = length_paths.distances(src)
        if per_site:
            len_to_site = [length_paths.distances([t]) for t in site_idx]
            row["lay_lb"] = d.lay_per_m * _steiner_lower_bound(d_len, len_to_site, site_idx)
        else:
            row["lay_lb"] = d.lay_per_m * float(max(d_len[site_idx]))
        rows.append(row)
    return rows


def _steiner_lower_bound(
    d_root: NDArray[np.float64], to_site: list[NDArray[np.float64]], site_idx: list[int]
) -> float:
    """Lower bound on a Steiner tree joining the supply set and the sites.

    Doubling the tree gives a closed walk through every terminal, so the tree costs at least
    half the shortest tour of the terminals' distance closure (the supply set counts as one
    terminal, reached at zero cost from every supply); and at least the farthest site's
    distance. Exact tours for up to 7 sites, else
    half the minimum spanning tree of the closure.
    """
    k = len(site_idx)
    far = float(max(d_root[site_idx]))
    if k < 2:
        return far
    root = d_root[site_idx]
    dist = np.array([[to_site[i][site_idx[j]] for j in range(k)] for i in range(k)])
    # with several supplies the tree is a forest joined by a zero-cost super-root: two sites
    # are also "close" through it
    dist = np.minimum(dist, root[:, None] + root[None, :])
    if k <= 7:
        best = _INF
        for perm in itertools.permutations(range(1, k)):
            order = (0, *perm)
            tour = root[order[0]] + root[order[-1]]
            tour += sum(dist[order[i], order[i + 1]] for i in range(k - 1))
            best = min(best, tour)
        return max(far, float(best) / 2)
    # Prim on the closure with the supply set as node k
    full = np.zeros((k + 1, k + 1))
    full[:k, :k] = dist
    full[k, :k] = root
    full[:k, k] = root
    in_tree = {k}
    key = full[k].copy()
    total = 0.0
    while len(in_tree) < k + 1:
        j = min((i for i in range(k + 1) if i not in in_tree), key=lambda i: key[i])
        total += key[j]
        in_tree.add(j)
        key = np.minimum(key, full[j])
    return max(far, total / 2)


def _arc_masks(
    net: TrenchNetwork, rows: list[dict[str, Any]], upper: float
) -> list[list[NDArray[np.bool_]]]:
    """Per utility and site, the arcs (``eu→ev`` then ``ev→eu``) a plan costing <= upper may use.

    Two valid lower bounds on any plan whose utility u runs arc (a, b) towards site t:
    (1) ``d_u(supply, a) + w_u(a, b) + d_u(b, t)`` with the full trench cost, plus every other
    utility's laying cost to its farthest site; (2) the same path with only a ``1/K`` share of
    the trench cost, plus every other utility's farthest path under that share (since
    ``c_e y_e >= sum_u c_e x_ue / K``). An arc is kept only if both bounds stay <= upper.
    """
    tail = np.concatenate([net.eu, net.ev])
    head = np.concatenate([net.ev, net.eu])
    arc_edge = np.concatenate([np.arange(net.n_edges), np.arange(net.n_edges)])
    tol = 1e-7 * abs(upper) + 1e-6
    lay_sum = sum(r["lay_lb"] for r in rows)
    far_sum = sum(r["alpha"]["far"] for r in rows)
    out = []
    for r in rows:
        rests = {"full": lay_sum - r["lay_lb"], "alpha": far_sum - r["alpha"]["far"]}
        masks = []
        for k in range(len(r["full"]["to_site"])):
            ok = np.ones(2 * net.n_edges, dtype=bool)
            for tag in ("full", "alpha"):
                b = r[tag]
                w = b["w"][arc_edge]
                ok &= np.isfinite(w) & (
                    b["d_root"][tail] + w + b["to_site"][k][head] <= upper - rests[tag] + tol
                )
            masks.append(ok)
        out.append(masks)
    return out


def _prune(
    net: TrenchNetwork, problem: _Problem, upper: float, *, rounds: int = 4
) -> TrenchNetwork:
    """Keep only edges some utility could use in a plan costing at most ``upper``.

    See :func:`_arc_masks` for the bounds. Pruning lengthens distances, so it is repeated.
    """
    terminals = problem.terminals()
    for r in range(rounds):
        per_site = net.n_edges <= 5000 or r > 0
        rows = _lower_bounds(net, problem, per_site=per_site)
        keep_arc = np.zeros(2 * net.n_edges, dtype=bool)
        for masks in _arc_masks(net, rows, upper):
            for m in masks:
                keep_arc |= m
        keep = keep_arc[: net.n_edges] | keep_arc[net.n_edges :]
        if keep.all():
            if per_site:
                break
            continue
        index = net.index()
        net = reduce_network(
            restrict_edges(net, keep, keep=[index[t] for t in terminals if t in index]), terminals
        )
    return net


def _ref_key(ref: EdgeRef) -> tuple[str, str, str]:
    return (repr(ref[0]), repr(ref[1]), repr(ref[2]))


def _site_label(site: Site) -> str:
    return repr(site.name) if site.name is not None else repr(site.node)
