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
    tree_edges: NDArray[np.int64] | None = None
    """Edge indices of one optimal tree (Dreyfus–Wagner with ``with_tree``), else None."""


def steiner_through_nodes(  # noqa: PLR0917 - arrays of one graph, one DP
    n_nodes: int,
    eu: NDArray[np.int64],
    ev: NDArray[np.int64],
    weight: NDArray[np.float64],
    sources: list[int],
    sites: list[int],
    *,
    with_tree: bool = False,
) -> SteinerBound | None:
    """Dreyfus–Wagner over the sites and a super-root joined to every source at zero cost.

    Returns None when there are more than ``MAX_TERMINALS`` terminals. With ``with_tree`` the
    edges of one optimal tree are traced back too (``tree_edges``: the subgradient of the
    Lagrangian bound).

    Notes
    -----
    O(3^k n + 2^k (m + n log n)) for k terminals (Dreyfus & Wagner 1971).
    """
    k = len(sites) + 1
    if k > MAX_TERMINALS:
        return None
    # the DP runs on the nodes the finite edges and the terminals touch, numbered afresh
    ok = np.flatnonzero(np.isfinite(weight))
    src = np.asarray(sources, dtype=np.int64)
    tgt = np.asarray(sites, dtype=np.int64)
    used = np.unique(np.concatenate([eu[ok], ev[ok], src, tgt]))
    local = np.full(n_nodes, -1, dtype=np.int64)
    local[used] = np.arange(len(used))
    out = _dreyfus_wagner(
        len(used), local[eu[ok]], local[ev[ok]], weight[ok], local[src], local[tgt], with_tree
    )
    through = np.full(n_nodes, np.inf)
    through[used] = out.through_cny
    tree = None if out.tree_edges is None else ok[out.tree_edges]
    return SteinerBound(out.tree_cny, through, tree)


def _dreyfus_wagner(  # noqa: PLR0917, PLR0915 - arrays of one graph, one DP
    n_nodes: int,
    eu: NDArray[np.int64],
    ev: NDArray[np.int64],
    weight: NDArray[np.float64],
    sources: NDArray[np.int64],
    sites: NDArray[np.int64],
    with_tree: bool,
) -> SteinerBound:
    k = len(sites) + 1
    root = n_nodes
    n = n_nodes + 2  # + super-root + the propagation source (hub)
    hub = n - 1
    rows = np.concatenate([eu, np.full(len(sources), root)])
    cols = np.concatenate([ev, sources])
    vals = np.concatenate([np.maximum(weight, _EPS), np.full(len(sources), _EPS)])
    ids = np.concatenate([np.arange(len(eu)), np.full(len(sources), -1)])
    base_rows, base_cols, base_vals, kept = _dedup(rows, cols, vals, n)
    # both directions written out: directed Dijkstra skips scipy's symmetrising copy
    sym_rows = np.concatenate([base_rows, base_cols])
    sym_cols = np.concatenate([base_cols, base_rows])
    sym_vals = np.concatenate([base_vals, base_vals])
    base = csr_matrix((sym_vals, (sym_rows, sym_cols)), shape=(n, n))
    # one matrix with an arc hub -> v for every v, whose weights each merge step rewrites
    with_hub = csr_matrix(
        (
            np.concatenate([sym_vals, np.full(n - 1, np.inf)]),
            (
                np.concatenate([sym_rows, np.full(n - 1, hub)]),
                np.concatenate([sym_cols, np.arange(n - 1)]),
            ),
        ),
        shape=(n, n),
    )
    with_hub.sort_indices()
    hub_slots = with_hub.indptr[hub] + np.arange(n - 1)
    terminals = [*sites.tolist(), root]
    full = (1 << k) - 1
    dp = np.full((1 << k, n), np.inf)
    pred = np.full((1 << k, n), -9999, dtype=np.int32) if with_tree else None
    split = np.zeros((1 << k, n), dtype=np.int32) if with_tree else None
    merged = np.full((1 << k, n), np.inf) if with_tree else None
    for i, t in enumerate(terminals):
        if pred is None:
            dp[1 << i] = dijkstra(base, directed=True, indices=t)
        else:
            dp[1 << i], pred[1 << i] = dijkstra(
                base, directed=True, indices=t, return_predecessors=True
            )
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
                    if split is None:
                        np.minimum(best, dp[a] + dp[mask ^ a], out=best)
                        continue
                    cand = dp[a] + dp[mask ^ a]
                    better = cand < best
                    best[better] = cand[better]
                    split[mask][better] = a
            if not np.isfinite(best[: n - 1]).any():
                continue
            with_hub.data[hub_slots] = np.maximum(best[: n - 1], _EPS)
            if pred is None or merged is None:
                dist = dijkstra(with_hub, directed=True, indices=hub)
            else:
                dist, pred[mask] = dijkstra(
                    with_hub, directed=True, indices=hub, return_predecessors=True
                )
                merged[mask] = best
            dp[mask] = np.minimum(best, dist)
            dp[mask][hub] = np.inf
    through = dp[full][:n_nodes]
    tree = None
    if (
        pred is not None
        and split is not None
        and merged is not None
        and np.isfinite(dp[full][root])
    ):
        keys = base_rows * n + base_cols
        tree = _trace(dp, pred, split, merged, terminals, full, root, hub, (keys, ids[kept], n))
    return SteinerBound(float(dp[full][root]), through, tree)


def _trace(  # noqa: PLR0917 - the DP's tables
    dp: NDArray[np.float64],
    pred: NDArray[np.int32],
    split: NDArray[np.int32],
    merged: NDArray[np.float64],
    terminals: list[int],
    full: int,
    root: int,
    hub: int,
    pairs: tuple[NDArray[np.int64], NDArray[np.int64], int],
) -> NDArray[np.int64]:
    """The edges of the Dreyfus–Wagner tree of ``full`` at ``root``, from the DP's tables.

    ``pairs``: the sorted keys ``lo * n + hi`` of the graph's entries, their edge ids, ``n``.
    """
    keys, key_ids, n = pairs
    edges: set[int] = set()

    def add(a: int, b: int) -> None:
        at = int(np.searchsorted(keys, min(a, b) * n + max(a, b)))
        e = int(key_ids[at])
        if e >= 0:  # the super-root's zero-cost arcs are no road
            edges.add(e)

    stack = [(full, root)]
    while stack:
        mask, v = stack.pop()
        if mask & (mask - 1) == 0:  # one terminal: its shortest path
            t = terminals[mask.bit_length() - 1]
            while v != t and pred[mask][v] >= 0:
                p = int(pred[mask][v])
                add(p, v)
                v = p
            continue
        # walk towards the hub until the node where the two parts meet
        while merged[mask][v] > dp[mask][v] + 1e-9 * max(1.0, dp[mask][v]):
            p = int(pred[mask][v])
            if p < 0 or p == hub:
                break
            add(p, v)
            v = p
        a = int(split[mask][v])
        stack.extend([(a, v), (mask ^ a, v)])
    return np.fromiter(sorted(edges), dtype=np.int64, count=len(edges))


def _dedup(
    rows: NDArray[np.int64], cols: NDArray[np.int64], vals: NDArray[np.float64], n: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
    """Keep only the cheapest of parallel entries (csr_matrix would sum them); and which."""
    lo = np.minimum(rows, cols)
    hi = np.maximum(rows, cols)
    order = np.lexsort((vals, hi, lo))
    lo, hi, vals = lo[order], hi[order], vals[order]
    first = np.ones(len(lo), dtype=bool)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    return lo[first], hi[first], vals[first], order[first]


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
