"""Shrink a road graph to the part a shared trench can use, keeping an optimum inside."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Hashable
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from routing.costs import CostModel
from routing.errors import InvalidGraphError

__all__ = [
    "EdgeInfo",
    "TrenchNetwork",
    "contract_chains",
    "drop_dead_ends",
    "multi_source_distances",
    "network_from_graph",
    "reduce_network",
    "restrict_edges",
]

logger = logging.getLogger(__name__)

EdgeRef = tuple[Hashable, Hashable, Hashable]
"""An edge of the input graph: ``(u, v, key)`` (key 0 for a simple graph)."""

# scipy's dijkstra drops explicit zeros from sparse input: zero-cost edges get this instead
_EPS_WEIGHT = 1e-9


@dataclass(frozen=True)
class EdgeInfo:
    """One road edge of the input graph as the trench planner prices it."""

    ref: EdgeRef
    segment_id: Any
    length_m: float
    trench_cost_cny: float
    width_m: float
    road_class: str | None
    name: str | None
    geometry: Any


@dataclass(frozen=True)
class TrenchNetwork:
    """An undirected, array-backed network of usable trench edges.

    Edge ``i`` joins node indices ``eu[i]`` and ``ev[i]``; it stands for the chain of input
    edges ``parts[i]``, so reductions never lose the road segments behind an edge. ``width_m``
    is the narrowest road along the edge (``inf`` where unknown). ``info`` maps every input edge
    to its :class:`EdgeInfo`; ``forbidden`` maps each forbidden input edge to its reason.
    """

    nodes: tuple[Hashable, ...]
    eu: NDArray[np.int64]
    ev: NDArray[np.int64]
    cost_cny: NDArray[np.float64]
    length_m: NDArray[np.float64]
    width_m: NDArray[np.float64]
    parts: tuple[tuple[EdgeRef, ...], ...]
    info: Mapping[EdgeRef, EdgeInfo]
    forbidden: Mapping[EdgeRef, str]
    crs: Any = None

    @property
    def n_nodes(self) -> int:
        return len(self.nodes)

    @property
    def n_edges(self) -> int:
        return len(self.eu)

    def index(self) -> dict[Hashable, int]:
        """Node label -> index."""
        return {n: i for i, n in enumerate(self.nodes)}


def network_from_graph(
    G: nx.Graph,  # noqa: N803
    *,
    cost_model: CostModel,
    on_date: dt.date,
    emergency_repair: bool = False,
) -> TrenchNetwork:
    """Price every edge of a road graph and drop the forbidden ones.

    Parameters
    ----------
    G
        Road graph (``build_road_graph`` output or any networkx graph) whose edges carry
        ``length_m`` and optionally ``road_class``, ``pavement``, ``width_m``, ``bridge``,
        ``protected_until``, ``segment_id``, ``geometry``, ``crossings``, ``tree_conflicts``.
    cost_model
        Prices and rules.
    on_date
        Date of the works: roads still in their protection period on it are forbidden.
    emergency_repair
        Lift the protection period (城市道路管理条例 art. 34).

    Returns
    -------
    TrenchNetwork
        Usable edges only. Parallel edges keep the cheaper trench; self-loops are dropped.

    Raises
    ------
    InvalidGraphError
        If an edge has no usable ``length_m``.
    """
    if G.is_directed():
        msg = "the road graph must be undirected (trenches ignore one-way rules)"
        raise InvalidGraphError(msg)
    nodes = tuple(sorted(G.nodes, key=_node_key))
    index = {n: i for i, n in enumerate(nodes)}
    degree = {n: len(set(G[n]) - {n}) for n in nodes}
    info: dict[EdgeRef, EdgeInfo] = {}
    forbidden: dict[EdgeRef, str] = {}
    best: dict[tuple[int, int], tuple[float, float, str, EdgeRef]] = {}
    edges = (
        G.edges(keys=True, data=True)
        if G.is_multigraph()
        else ((u, v, 0, d) for u, v, d in G.edges(data=True))
    )
    for u, v, k, data in edges:
        ref: EdgeRef = (u, v, k)
        length = data.get("length_m")
        try:
            length_m = float(length)
        except (TypeError, ValueError):
            msg = f"edge {ref!r} has no usable length_m ({length!r})"
            raise InvalidGraphError(msg) from None
        if not np.isfinite(length_m) or length_m < 0:
            msg = f"edge {ref!r} has length_m {length!r}; it must be finite and >= 0"
            raise InvalidGraphError(msg)
        junction_ends = int(degree[u] >= 3) + int(degree[v] >= 3)
        cost = cost_model.edge_trench_cost_cny(data, junction_ends=junction_ends)
        width = data.get("width_m")
        width_m = float(width) if width is not None and np.isfinite(float(width)) else np.inf
        info[ref] = EdgeInfo(
            ref=ref,
            segment_id=data.get("segment_id"),
            length_m=length_m,
            trench_cost_cny=cost,
            width_m=width_m,
            road_class=data.get("road_class"),
            name=data.get("name"),
            geometry=data.get("geometry"),
        )
        reason = cost_model.forbidden_reason(
            data, on_date=on_date, emergency_repair=emergency_repair
        )
        if reason is not None:
            forbidden[ref] = reason
            continue
        if u == v:
            continue
        a, b = sorted((index[u], index[v]))
        # parallel edges: keep the cheaper trench (then the shorter, then the smaller key)
        candidate = (cost, length_m, repr(k), ref)
        if (a, b) not in best or candidate[:3] < best[(a, b)][:3]:
            best[(a, b)] = candidate
    pairs = sorted(best)
    refs = [best[p][3] for p in pairs]
    net = TrenchNetwork(
        nodes=nodes,
        eu=np.array([p[0] for p in pairs], dtype=np.int64),
        ev=np.array([p[1] for p in pairs], dtype=np.int64),
        cost_cny=np.array([info[r].trench_cost_cny for r in refs], dtype=np.float64),
        length_m=np.array([info[r].length_m for r in refs], dtype=np.float64),
        width_m=np.array([info[r].width_m for r in refs], dtype=np.float64),
        parts=tuple((r,) for r in refs),
        info=info,
        forbidden=forbidden,
        crs=G.graph.get("crs"),
    )
    logger.info(
        "trench network: %d nodes, %d usable edges, %d forbidden",
        net.n_nodes,
        net.n_edges,
        len(forbidden),
    )
    return net


def restrict_edges(
    net: TrenchNetwork, mask: NDArray[np.bool_], *, keep: Iterable[int] = ()
) -> TrenchNetwork:
    """Keep the edges where ``mask`` is true and the nodes they touch (plus ``keep``)."""
    mask = np.asarray(mask, dtype=bool)
    used = np.zeros(net.n_nodes, dtype=bool)
    used[net.eu[mask]] = True
    used[net.ev[mask]] = True
    for i in keep:
        used[i] = True
    new_index = np.full(net.n_nodes, -1, dtype=np.int64)
    new_index[used] = np.arange(int(used.sum()))
    return TrenchNetwork(
        nodes=tuple(n for n, u in zip(net.nodes, used, strict=True) if u),
        eu=new_index[net.eu[mask]],
        ev=new_index[net.ev[mask]],
        cost_cny=net.cost_cny[mask],
        length_m=net.length_m[mask],
        width_m=net.width_m[mask],
        parts=tuple(p for p, m in zip(net.parts, mask, strict=True) if m),
        info=net.info,
        forbidden=net.forbidden,
        crs=net.crs,
    )


def drop_dead_ends(net: TrenchNetwork, keep: Iterable[Hashable]) -> TrenchNetwork:
    """Remove non-terminal dead ends, repeatedly, and isolated nodes.

    A dead end (degree 1) that is not in ``keep`` can only hang off a tree as a useless leaf,
    so no optimum uses its edge.
    """
    keep_idx = _keep_indices(net, keep)
    degree = np.bincount(np.concatenate([net.eu, net.ev]), minlength=net.n_nodes)
    alive = np.ones(net.n_edges, dtype=bool)
    incident: list[list[int]] = [[] for _ in range(net.n_nodes)]
    for e, (a, b) in enumerate(zip(net.eu.tolist(), net.ev.tolist(), strict=True)):
        incident[a].append(e)
        incident[b].append(e)
    stack = [i for i in range(net.n_nodes) if degree[i] == 1 and i not in keep_idx]
    while stack:
        i = stack.pop()
        if degree[i] != 1:
            continue
        for e in incident[i]:
            if alive[e]:
                alive[e] = False
                other = int(net.ev[e] if net.eu[e] == i else net.eu[e])
                degree[i] -= 1
                degree[other] -= 1
                if degree[other] == 1 and other not in keep_idx:
                    stack.append(other)
                break
    return restrict_edges(net, alive, keep=sorted(keep_idx))


def contract_chains(net: TrenchNetwork, keep: Iterable[Hashable]) -> TrenchNetwork:
    """Replace each chain of non-terminal degree-2 nodes by one edge.

    The new edge sums cost and length, takes the narrowest width and lists every input edge
    of the chain in ``parts``. Of parallel edges, one that is no cheaper, no shorter and no
    wider than another is dropped; loops and cycles without a terminal are dropped.
    """
    keep_idx = _keep_indices(net, keep)
    degree = np.bincount(np.concatenate([net.eu, net.ev]), minlength=net.n_nodes)
    incident: list[list[int]] = [[] for _ in range(net.n_nodes)]
    for e, (a, b) in enumerate(zip(net.eu.tolist(), net.ev.tolist(), strict=True)):
        incident[a].append(e)
        incident[b].append(e)
    branch = [degree[i] != 2 or i in keep_idx for i in range(net.n_nodes)]
    eu = net.eu.tolist()
    ev = net.ev.tolist()
    cost = net.cost_cny.tolist()
    length = net.length_m.tolist()
    width = net.width_m.tolist()
    visited = [False] * net.n_edges
    merged: list[tuple[int, int, float, float, float, tuple[EdgeRef, ...]]] = []
    for start in range(net.n_nodes):
        if not branch[start]:
            continue
        for e0 in incident[start]:
            if visited[e0]:
                continue
            visited[e0] = True
            chain = [e0]
            node = ev[e0] if eu[e0] == start else eu[e0]
            while not branch[node]:
                a0, a1 = incident[node]
                e = a1 if a0 == chain[-1] else a0
                if visited[e]:
                    break
                visited[e] = True
                chain.append(e)
                node = ev[e] if eu[e] == node else eu[e]
            if node == start or not branch[node]:
                continue  # a loop back to itself never helps a tree
            a, b = (start, node) if start < node else (node, start)
            if len(chain) == 1:
                merged.append((a, b, cost[e0], length[e0], width[e0], net.parts[e0]))
                continue
            merged.append(
                (
                    a,
                    b,
                    sum(cost[c] for c in chain),
                    sum(length[c] for c in chain),
                    min(width[c] for c in chain),
                    tuple(p for c in chain for p in net.parts[c]),
                )
            )
    merged = _drop_dominated(merged)
    mask_nodes = [i for i in range(net.n_nodes) if branch[i]]
    sub = TrenchNetwork(
        nodes=net.nodes,
        eu=np.array([m[0] for m in merged], dtype=np.int64),
        ev=np.array([m[1] for m in merged], dtype=np.int64),
        cost_cny=np.array([m[2] for m in merged], dtype=np.float64),
        length_m=np.array([m[3] for m in merged], dtype=np.float64),
        width_m=np.array([m[4] for m in merged], dtype=np.float64),
        parts=tuple(m[5] for m in merged),
        info=net.info,
        forbidden=net.forbidden,
        crs=net.crs,
    )
    return restrict_edges(
        sub, np.ones(sub.n_edges, dtype=bool), keep=sorted(keep_idx & set(mask_nodes))
    )


def reduce_network(net: TrenchNetwork, keep: Iterable[Hashable]) -> TrenchNetwork:
    """Drop dead ends and contract chains until a round removes under 1 % of the edges.

    Every round is optional (the network stays exact), so stopping early only trades a
    little size for time; small networks are reduced until nothing changes.
    """
    keep = set(keep)
    while True:
        before = net.n_edges
        net = contract_chains(drop_dead_ends(net, keep), keep)
        if before - net.n_edges <= 0.01 * before:
            return net


def multi_source_distances(
    net: TrenchNetwork,
    weight: NDArray[np.float64],
    sources: Iterable[int],
    *,
    predecessors: bool = False,
) -> Any:
    """Shortest distance from the nearest of ``sources`` to every node (scipy Dijkstra).

    ``weight`` is per edge; ``inf`` removes an edge. With ``predecessors`` returns
    ``(dist, pred)`` where ``pred`` is -9999 at sources and unreachable nodes.
    """
    src = np.asarray(sorted(set(sources)), dtype=np.int64)
    if len(src) == 0:
        dist = np.full(net.n_nodes, np.inf)
        return (dist, np.full(net.n_nodes, -9999)) if predecessors else dist
    matrix = weight_matrix(net, weight)
    result = dijkstra(
        matrix,
        directed=False,
        indices=src,
        min_only=True,
        return_predecessors=predecessors,
    )
    if predecessors:
        dist, pred, _ = result
        return dist, pred
    return result


def weight_matrix(net: TrenchNetwork, weight: NDArray[np.float64]) -> csr_matrix:
    """Sparse adjacency with ``weight`` per edge (the cheapest of parallels; inf = absent)."""
    template = _csr_template(net)
    if template is not None:
        # one edge per node pair: reuse the sparsity pattern, only the weights change
        indptr, indices, order = template
        data = np.maximum(weight[order], _EPS_WEIGHT)
        return csr_matrix((data, indices, indptr), shape=(net.n_nodes, net.n_nodes))
    ok = np.isfinite(weight)
    w = np.maximum(weight[ok], _EPS_WEIGHT)
    n = net.n_nodes
    # keep the cheapest of parallel edges: sort descending so the last write wins in tocsr
    order = np.argsort(-w, kind="stable")
    u = net.eu[ok][order]
    v = net.ev[ok][order]
    w = w[order]
    lo = np.minimum(u, v)
    hi = np.maximum(u, v)
    key = lo * n + hi
    _, first = np.unique(key[::-1], return_index=True)
    pick = len(key) - 1 - first
    return csr_matrix((w[pick], (lo[pick], hi[pick])), shape=(n, n))


_TEMPLATES: dict[int, tuple[TrenchNetwork, Any]] = {}


def _csr_template(net: TrenchNetwork) -> Any:
    """(indptr, indices, edge order) of a network without parallel edges, else None.

    Cached per network object (a few recent ones) since the planner builds many weight
    matrices on one network. An edge of weight ``inf`` stays in the pattern: scipy's
    Dijkstra never relaxes it.
    """
    hit = _TEMPLATES.get(id(net))
    if hit is not None and hit[0] is net:
        return hit[1]
    n = net.n_nodes
    lo = np.minimum(net.eu, net.ev)
    hi = np.maximum(net.eu, net.ev)
    key = lo * n + hi
    template = None
    if len(np.unique(key)) == len(key):
        order = np.lexsort((hi, lo))
        indptr = np.searchsorted(lo[order], np.arange(n + 1)).astype(np.int64)
        template = (indptr, hi[order].astype(np.int64), order)
    if len(_TEMPLATES) > 8:
        _TEMPLATES.clear()
    _TEMPLATES[id(net)] = (net, template)
    return template


def _drop_dominated(
    merged: list[tuple[int, int, float, float, float, tuple[EdgeRef, ...]]],
) -> list[tuple[int, int, float, float, float, tuple[EdgeRef, ...]]]:
    by_pair: dict[
        tuple[int, int], list[tuple[int, int, float, float, float, tuple[EdgeRef, ...]]]
    ] = {}
    for m in merged:
        by_pair.setdefault((m[0], m[1]), []).append(m)
    out = []
    for pair in sorted(by_pair):
        group = by_pair[pair]
        if len(group) == 1:
            out.append(group[0])
            continue
        group = sorted(group, key=lambda m: (m[2], m[3], -m[4], repr(m[5])))
        kept: list[tuple[int, int, float, float, float, tuple[EdgeRef, ...]]] = []
        for m in group:
            if not any(k[2] <= m[2] and k[3] <= m[3] and k[4] >= m[4] for k in kept):
                kept.append(m)
        out.extend(kept)
    return out


def _keep_indices(net: TrenchNetwork, keep: Iterable[Hashable]) -> set[int]:
    index = net.index()
    return {index[n] for n in keep if n in index}


def _node_key(node: Hashable) -> tuple[str, str]:
    # deterministic order for any node labels (ints, strings, tuples mixed)
    return (type(node).__name__, f"{node!r:>40}" if isinstance(node, int) else repr(node))
