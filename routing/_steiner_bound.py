"""Lower-bound a shared-trench plan by splitting trench costs among utilities (Lagrangian).

Every plan satisfies ``c_e y_e >= sum_u alpha_ue c_e x_ue`` when ``sum_u alpha_ue <= 1``, so
its cost is at least the sum over utilities of their optimal Steiner trees under the weights
``alpha_ue c_e + lay_u len_e``. With few terminals per utility those trees are exact by
Dreyfus–Wagner, which also gives, for every node v, the cheapest tree through v: a node
whose tree pushes the bound above a known plan's cost is in no better plan.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order
from scipy.sparse.csgraph import dijkstra

__all__ = ["MAX_TERMINALS", "SteinerBound", "dual_ascent", "steiner_through_nodes"]

logger = logging.getLogger(__name__)

MAX_TERMINALS = 7
"""Dreyfus–Wagner runs 2^k Dijkstras; above this many terminals (sites + super-root) it is
skipped and weaker path bounds are used."""

_EPS = 1e-9


@dataclass(frozen=True)
class SteinerBound:
    """``tree_cny``: optimal Steiner tree of one utility; ``through_cny[v]``: cheapest tree that
    also reaches node v (``inf`` where v cannot be reached)."""

    tree_cny: float
    through_cny: NDArray[np.float64]


def steiner_through_nodes(  # noqa: PLR0917 - arrays of one graph
    n_nodes: int,
    eu: NDArray[np.int64],
    ev: NDArray[np.int64],
    weight: NDArray[np.float64],
    sources: list[int],
    sites: list[int],
) -> SteinerBound | None:
    """Dreyfus–Wagner over the sites and a super-root joined to every source at zero cost.

    Returns None when there are more than ``MAX_TERMINALS`` terminals.

    Notes
    -----
    O(3^k n + 2^k (m + n log n)) for k terminals (Dreyfus & Wagner 1971).
    """
    k = len(sites) + 1
    if k > MAX_TERMINALS:
        return None
    root = n_nodes
    ok = np.isfinite(weight)
    rows = np.concatenate([eu[ok], np.full(len(sources), root)])
    cols = np.concatenate([ev[ok], np.asarray(sources, dtype=np.int64)])
    vals = np.concatenate([np.maximum(weight[ok], _EPS), np.full(len(sources), _EPS)])
    n = n_nodes + 2  # + super-root + the propagation source
    base_rows, base_cols, base_vals = _dedup(rows, cols, vals, n)
    base = csr_matrix((base_vals, (base_rows, base_cols)), shape=(n, n))
    terminals = [*sites, root]
    full = (1 << k) - 1
    dp = np.full((1 << k, n), np.inf)
    for i, t in enumerate(terminals):
        dp[1 << i] = dijkstra(base, directed=False, indices=t)
    hub = n - 1
    for size in range(2, k + 1):
        for members in itertools.combinations(range(k), size):
            mask = sum(1 << i for i in members)
            best = np.full(n, np.inf)
            low = members[0]
            rest = [i for i in members if i != low]
            # split into a part holding the lowest terminal and the rest (each split once)
            for r in range(len(rest)):
                for part in itertools.combinations(rest, r):
                    a = (1 << low) | sum(1 << i for i in part)
                    np.minimum(best, dp[a] + dp[mask ^ a], out=best)
            finite = np.flatnonzero(np.isfinite(best[: n - 1]))
            if len(finite) == 0:
                continue
            extra = csr_matrix(
                (np.maximum(best[finite], _EPS), (np.full(len(finite), hub), finite)), shape=(n, n)
            )
            dist = dijkstra(base + extra, directed=False, indices=hub)
            dp[mask] = np.minimum(best, dist)
            dp[mask][hub] = np.inf
    through = dp[full][:n_nodes]
    return SteinerBound(float(dp[full][root]), through)


def _dedup(
    rows: NDArray[np.int64], cols: NDArray[np.int64], vals: NDArray[np.float64], n: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    # csr_matrix sums duplicates: keep only the cheapest of parallel entries
    lo = np.minimum(rows, cols)
    hi = np.maximum(rows, cols)
    order = np.lexsort((vals, hi, lo))
    lo, hi, vals = lo[order], hi[order], vals[order]
    first = np.ones(len(lo), dtype=bool)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    return lo[first], hi[first], vals[first]


def dual_ascent(  # noqa: PLR0917 - arrays of one graph
    n_nodes: int,
    eu: NDArray[np.int64],
    ev: NDArray[np.int64],
    weight: NDArray[np.float64],
    sources: list[int],
    sites: list[int],
    *,
    deadline: float = np.inf,
) -> SteinerBound | None:
    """Wong's dual ascent for the Steiner arborescence from a super-root over ``sources``.

    Each undirected edge is two arcs of its weight; a super-root reaches every source at zero
    cost. While a site's cut (the nodes that reach it over arcs of zero reduced cost) does
    not hold the root, the cheapest arc entering the cut is paid for by every arc entering
    it. The sum paid is a lower bound on the cheapest tree at every step, so stopping at
    ``deadline`` still gives a valid (weaker) bound. ``through_cny[v]`` is the bound plus the
    reduced-cost distances root -> v -> nearest site: a tree of an optimal plan through v
    (whose every node leads on to a site) costs at least that. Returns None if a site cannot
    be reached.

    Notes
    -----
    Wong (1984), "A dual ascent approach for Steiner tree problems on a directed graph";
    the reduced-cost node test as in Polzin & Daneshmand (2001) and SCIP-Jack. One
    breadth-first search per ascent step, O(m) each.
    """
    import time  # noqa: PLC0415

    root = n_nodes
    ok = np.isfinite(weight)
    src = np.asarray(sources, dtype=np.int64)
    tail = np.concatenate([eu[ok], ev[ok], np.full(len(src), root)])
    head = np.concatenate([ev[ok], eu[ok], src])
    rc = np.concatenate([weight[ok], weight[ok], np.zeros(len(src))]).astype(np.float64)
    n = n_nodes + 1
    lower = 0.0
    todo = [t for t in dict.fromkeys(sites) if t not in set(sources)]
    tol = 1e-9
    while todo:
        if time.perf_counter() > deadline:
            break
        t = todo[-1]
        while True:
            zero = rc <= tol
            # reverse graph of the saturated arcs: who reaches t
            reverse = csr_matrix((np.ones(int(zero.sum())), (head[zero], tail[zero])), shape=(n, n))
            comp = breadth_first_order(reverse, t, directed=True, return_predecessors=False)
            inside = np.zeros(n, dtype=bool)
            inside[comp] = True
            if inside[root]:
                todo.pop()
                break
            entering = inside[head] & ~inside[tail]
            if not entering.any():
                return None
            delta = float(rc[entering].min())
            rc[entering] -= delta
            lower += delta
            if time.perf_counter() > deadline:
                break
    rc = np.maximum(rc, 0.0)
    graph = csr_matrix((np.maximum(rc, 1e-12), (tail, head)), shape=(n, n))
    from_root = dijkstra(graph, directed=True, indices=root)
    to_site = dijkstra(
        graph.T.tocsr(), directed=True, indices=list(dict.fromkeys(sites)), min_only=True
    )
    through = lower + from_root[:n_nodes] + to_site[:n_nodes]
    return SteinerBound(float(lower), np.asarray(through, dtype=np.float64))
