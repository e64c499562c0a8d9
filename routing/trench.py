"""Plan one shared trench network that serves every utility of one or more projects."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from collections.abc import Hashable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import highspy
import networkx as nx
import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.sparse.csgraph import dijkstra

from routing._steiner_bound import steiner_through_nodes
from routing.costs import CostModel
from routing.costs import WidthRule
from routing.costs import load_cost_model
from routing.errors import NoRouteError
from routing.errors import TrenchRequestError
from routing.errors import UnreachableSupplyError
from routing.reduce import EdgeRef
from routing.reduce import TrenchNetwork
from routing.reduce import network_from_graph
from routing.reduce import reduce_network
from routing.reduce import restrict_edges
from routing.reduce import weight_matrix
from routing.results import CostShare
from routing.results import ProjectsPlan
from routing.results import RouteStep
from routing.results import Site
from routing.results import TrenchEdge
from routing.results import TrenchPlan
from routing.results import TrenchRequest
from routing.results import UtilityRoute

__all__ = [
    "METHODS",
    "OPTIMALITY_GAP",
    "SHAPLEY_MAX_UTILITIES",
    "plan_projects",
    "plan_shared_trench",
    "plan_shared_trenches",
    "prepare_network",
]

logger = logging.getLogger(__name__)

OPTIMALITY_GAP = 1e-7
"""Relative gap under which HiGHS reports a plan optimal (its proof tolerance)."""
SHAPLEY_MAX_UTILITIES = 6
"""Shapley shares solve 2^K - 1 coalitions; above this many utilities they are refused."""
SHARING_RULES = ("proportional", "shapley")

Solution = dict[str, frozenset[EdgeRef]]
_INF = math.inf


def prepare_network(
    G: nx.Graph,  # noqa: N803
    *,
    cost_model: CostModel | None = None,
    on_date: dt.date | None = None,
    emergency_repair: bool = False,
) -> TrenchNetwork:
    """Price a road graph once so that several plans can reuse it.

    The result can be passed to :func:`plan_shared_trench` in place of ``G``; it carries the
    cost model's prices and the forbidden edges as of ``on_date`` (today if None).
    """
    return network_from_graph(
        G,
        cost_model=cost_model or load_cost_model(),
        on_date=on_date or dt.date.today(),
        emergency_repair=emergency_repair,
    )


def plan_shared_trench(
    G: nx.Graph | TrenchNetwork,  # noqa: N803
    sites: Sequence[Site] | Mapping[Hashable, Iterable[str]],
    supplies: Mapping[str, Hashable | Sequence[Hashable]],
    *,
    method: str = "milp",
    cost_model: CostModel | None = None,
    on_date: dt.date | None = None,
    emergency_repair: bool = False,
    required_width_m: WidthRule | None = None,
    time_limit_s: float = 60.0,
    sharing: str = "proportional",
) -> TrenchPlan:
    """Find the cheapest trench network connecting every site to a supply of each utility.

    Parameters
    ----------
    G
        Undirected road graph (``routing.graph.build_road_graph``; a MultiGraph's parallel
        edges keep the cheaper trench) or a network from :func:`prepare_network`.
    sites
        Building connection points: :class:`Site` objects or ``{node: utilities}``.
    supplies
        Per utility, its candidate supply node(s) on its existing network. The plan feeds
        each site from whichever candidate is cheapest (different sites may use different
        candidates).
    method
        ``"milp"`` (exact, HiGHS), ``"heuristic"`` (shortest-path heuristic, best of all roots,
        with rip-up and re-route), ``"kou"`` or ``"mehlhorn"`` (networkx ``steiner_tree`` over
        all terminals; baselines only).
    cost_model
        Prices and rules; the packaged illustrative defaults if None.
    on_date
        Date of the works (protection periods); today if None.
    emergency_repair
        Lift protection periods.
    required_width_m
        Width a trench needs for a set of utilities (e.g. from ``routing.sections``); the cost
        model's section widths if None. A road narrower than that cannot carry the set.
    time_limit_s
        Wall-clock limit of the exact solve; on expiry the best plan found is returned with
        status ``"time_limit"`` and its proven gap.
    sharing
        ``"proportional"`` (to each utility's stand-alone cost) or ``"shapley"`` (exact Shapley
        value over coalitions of utilities, at most ``SHAPLEY_MAX_UTILITIES``).

    Returns
    -------
    TrenchPlan
        If every site sits on a supply node of each utility it needs, the plan is empty and
        costs 0.

    Raises
    ------
    ValueError
        If ``method`` or ``sharing`` is unknown (the message lists the valid names).
    TrenchRequestError
        If a site or supply node is not in the graph, a site needs nothing, or a needed
        utility has no supply.
    NoRouteError
        If a site touches only forbidden roads.
    UnreachableSupplyError
        If no supply of a utility can reach one of its sites (names the utility).

    Notes
    -----
    The exact method is the directed (arborescence) multi-commodity flow form of fixed-charge
    network design: a binary per trench edge, a binary per utility and arc linked to it, and a
    unit flow per (utility, site) from a super-root over the utility's supply candidates.
    Before solving, dead ends are dropped, degree-2 chains contracted, and every arc is removed
    whose cheapest supply→arc→site path plus the other utilities' laying lower bounds exceeds
    the heuristic's cost, so the reduced model provably keeps an optimum. Width limits of
    shared sections are added as lazy cuts. The solve is warm-started from the heuristic.
    See Wong (1984) and Magnanti & Wong (1984) for the formulation, Takahashi & Matsuyama
    (1980) for the shortest-path heuristic.
    """
    solver = _resolve(method, _METHODS, "method")
    if sharing not in SHARING_RULES:
        msg = f"unknown sharing rule {sharing!r}; valid rules: {', '.join(SHARING_RULES)}"
        raise ValueError(msg)
    started = time.perf_counter()
    model = cost_model or load_cost_model()
    net0 = (
        G
        if isinstance(G, TrenchNetwork)
        else prepare_network(
            G, cost_model=model, on_date=on_date, emergency_repair=emergency_repair
        )
    )
    problem = _build_problem(net0, _as_sites(sites), supplies, model, required_width_m)
    return _plan(net0, problem, solver, method, time_limit_s, sharing, started)


def plan_shared_trenches(
    G: nx.Graph | TrenchNetwork,  # noqa: N803
    requests: Sequence[TrenchRequest],
    **options: Any,
) -> tuple[TrenchPlan, ...]:
    """Plan each request on its own (batch form of :func:`plan_shared_trench`).

    The graph is priced once; the result equals calling :func:`plan_shared_trench` per request.
    """
    net = _prepared(G, options)
    return tuple(plan_shared_trench(net, r.sites, r.supply_map(), **options) for r in requests)


def plan_projects(
    G: nx.Graph | TrenchNetwork,  # noqa: N803
    requests: Sequence[TrenchRequest],
    **options: Any,
) -> ProjectsPlan:
    """Plan several projects together, and each alone for comparison.

    The joint plan serves every site of every project; each utility may use the supply
    candidates of any project. ``ProjectsPlan.savings_cny`` is what coordination saves.
    """
    if not requests:
        msg = "plan_projects needs at least one request"
        raise TrenchRequestError(msg)
    net = _prepared(G, options)
    sites = tuple(
        Site(s.node, s.utilities, s.name, s.project or r.name) for r in requests for s in r.sites
    )
    supplies: dict[str, list[Hashable]] = {}
    for r in requests:
        for utility, nodes in r.supplies:
            supplies.setdefault(utility, []).extend(
                n for n in nodes if n not in supplies.get(utility, [])
            )
    joint = plan_shared_trench(net, sites, supplies, **options)
    alone = plan_shared_trenches(net, requests, **options)
    return ProjectsPlan(joint=joint, alone=alone, names=tuple(r.name for r in requests))


# ---------------------------------------------------------------------------------------------
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


def _as_sites(sites: Sequence[Site] | Mapping[Hashable, Iterable[str]]) -> tuple[Site, ...]:
    if isinstance(sites, Mapping):
        return tuple(Site(n, frozenset(u)) for n, u in sites.items())
    out = []
    for s in sites:
        if not isinstance(s, Site):
            msg = f"sites must be Site objects or a {{node: utilities}} mapping, got {s!r}"
            raise TrenchRequestError(msg)
        out.append(s)
    return tuple(out)


def _build_problem(
    net: TrenchNetwork,
    sites: tuple[Site, ...],
    supplies: Mapping[str, Hashable | Sequence[Hashable]],
    model: CostModel,
    required_width_m: WidthRule | None,
) -> _Problem:
    if not sites:
        msg = "the request has no sites"
        raise TrenchRequestError(msg)
    known = set(net.nodes)
    needed: dict[str, list[Site]] = {}
    for s in sites:
        label = _site_label(s)
        if s.node not in known:
            msg = f"site {label}: node {s.node!r} is not in the road graph"
            raise TrenchRequestError(msg)
        if not s.utilities:
            msg = f"site {label} needs no utility"
            raise TrenchRequestError(msg)
        for u in sorted(s.utilities):
            needed.setdefault(u, []).append(s)
    demands = []
    for u in sorted(needed):
        raw = supplies.get(u)
        if raw is None:
            first = _site_label(needed[u][0])
            msg = f"utility {u!r} is needed by site {first} but has no supply point"
            raise TrenchRequestError(msg)
        # a single node may itself be a tuple (grid labels): a known node wins over a list
        single = not isinstance(raw, (list, set, frozenset)) and _is_node(raw, known)
        nodes = [raw] if single or not isinstance(raw, (list, tuple, set, frozenset)) else list(raw)
        if not nodes:
            msg = f"utility {u!r} has an empty list of supply points"
            raise TrenchRequestError(msg)
        for n in nodes:
            if n not in known:
                msg = f"utility {u!r}: supply node {n!r} is not in the road graph"
                raise TrenchRequestError(msg)
        sources = tuple(dict.fromkeys(nodes))
        site_nodes = tuple(dict.fromkeys(s.node for s in needed[u]))
        demands.append(
            _Demand(
                utility=u,
                lay_per_m=model.laying_cost_per_m(u),
                sources=sources,
                sites=tuple(n for n in site_nodes if n not in set(sources)),
                all_sites=site_nodes,
            )
        )
    width = required_width_m or model.required_width_m
    problem = _Problem(tuple(demands), _cached_width(width), net.info, sites)
    _check_reachable(net, problem)
    return problem


def _check_reachable(net: TrenchNetwork, problem: _Problem) -> None:
    """Raise a clear error for sites on forbidden roads and supplies that cannot reach a site."""
    index = net.index()
    incident: dict[Hashable, int] = {}
    for a, b in zip(net.eu.tolist(), net.ev.tolist(), strict=True):
        incident[net.nodes[a]] = incident.get(net.nodes[a], 0) + 1
        incident[net.nodes[b]] = incident.get(net.nodes[b], 0) + 1
    blocked: dict[Hashable, list[str]] = {}
    for ref, reason in sorted(net.forbidden.items(), key=lambda x: repr(x[0])):
        for n in ref[:2]:
            blocked.setdefault(n, []).append(f"edge {ref!r} ({reason})")
    for s in problem.sites:
        needs_route = any(s.node in d.sites for d in problem.demands)
        if needs_route and not incident.get(s.node) and s.node in blocked:
            msg = (
                f"site {_site_label(s)} (node {s.node!r}) touches only forbidden roads: "
                + "; ".join(blocked[s.node])
            )
            raise NoRouteError(msg)
    for d in problem.demands:
        if not d.sites:
            continue
        allowed = _allowed(net, d, problem)
        graph = coo_matrix(
            (np.ones(int(allowed.sum())), (net.eu[allowed], net.ev[allowed])),
            shape=(net.n_nodes, net.n_nodes),
        )
        _, labels = connected_components(graph, directed=False)
        reach = {labels[index[n]] for n in d.sources}
        for t in d.sites:
            if labels[index[t]] not in reach:
                site = next(s for s in problem.sites if s.node == t)
                msg = (
                    f"utility {d.utility!r}: none of its supply points "
                    f"{', '.join(map(repr, d.sources))} can reach site {_site_label(site)} "
                    f"(node {t!r}) along roads a trench may use"
                )
                raise UnreachableSupplyError(msg, utility=d.utility)


# ---------------------------------------------------------------------------------------------
# the pipeline shared by every method


def _plan(  # noqa: PLR0917 - private helper
    net0: TrenchNetwork,
    problem: _Problem,
    solver: Callable[..., tuple[Solution, str, float | None, dict[str, Any]]],
    method: str,
    time_limit_s: float,
    sharing: str,
    started: float,
) -> TrenchPlan:
    terminals = problem.terminals()
    deadline = started + max(time_limit_s, 0.0)
    separate = _separate_routes(net0, problem)
    separate_cost = sum(_solution_cost(problem, {u: x}) for u, x in separate.items())
    overlay_cost = _solution_cost(problem, separate)
    net1 = reduce_network(_terminal_components(net0, terminals), terminals)
    stats: dict[str, Any] = {"input_edges": net0.n_edges, "reduced_edges": net1.n_edges}
    if not any(d.sites for d in problem.demands):
        sol: Solution = {d.utility: frozenset() for d in problem.demands}
        status, bound = "empty", 0.0
    else:
        upper = overlay_cost if not _width_violations(problem, separate) else _INF
        sol, status, bound, more = solver(
            net1, problem, deadline=deadline, upper=upper, separate=separate
        )
        stats.update(more)
    total = _solution_cost(problem, sol)
    if status == "optimal":
        bound = total if bound is None else min(bound, total)
    gap = None if bound is None else (0.0 if total <= 0 else max(total - bound, 0.0) / total)
    standalone = {u: _solution_cost(problem, {u: x}) for u, x in separate.items()}
    if sharing == "shapley":
        shares = _shapley_shares(net1, problem, solver, total, standalone, deadline)
    else:
        shares = _proportional_shares(total, standalone)
    plan = _assemble(
        net0,
        problem,
        sol,
        method=method,
        status=status,
        bound=bound,
        gap=gap,
        separate_cost=separate_cost,
        overlay_cost=overlay_cost,
        shares=shares,
        sharing=sharing,
        elapsed=time.perf_counter() - started,
        stats=stats,
    )
    logger.info(
        "trench plan (%s): %s, %.0f CNY, gap %s, %.3f s",
        method,
        status,
        plan.total_cost_cny,
        "n/a" if gap is None else f"{gap:.2e}",
        plan.solve_time_s,
    )
    return plan


def _solve_heuristic(
    net: TrenchNetwork,
    problem: _Problem,
    *,
    deadline: float,
    upper: float,
    separate: Solution,
) -> tuple[Solution, str, float | None, dict[str, Any]]:
    corridor = _prune(net, problem, _feasible_upper(net, problem, upper))
    sol = _heuristic(corridor, problem)
    return sol, "heuristic", None, {"corridor_edges": corridor.n_edges}


def _solve_milp(
    net: TrenchNetwork,
    problem: _Problem,
    *,
    deadline: float,
    upper: float,
    separate: Solution,
) -> tuple[Solution, str, float | None, dict[str, Any]]:
    corridor = _prune(net, problem, _feasible_upper(net, problem, upper))
    warm = _heuristic(corridor, problem)
    ub = _solution_cost(problem, warm)
    corridor = _prune(corridor, problem, ub)
    stats: dict[str, Any] = {"heuristic_cost_cny": ub, "corridor_edges": corridor.n_edges}
    lagrange = _lagrange_bound(corridor, problem, warm, ub, deadline=deadline)
    node_ok = None
    if lagrange is not None:
        lb, node_ok = lagrange
        stats["lagrange_bound_cny"] = lb
        if lb >= ub * (1 - OPTIMALITY_GAP) - 1e-6:
            # the heuristic plan meets the bound: optimal without branching
            return warm, "optimal", lb, stats
        corridor = _restrict_to_nodes(corridor, problem, node_ok)
        stats["corridor_edges"] = corridor.n_edges
    sol, status, bound, more = _milp(corridor, problem, warm, ub, deadline, node_ok)
    stats.update(more)
    if lagrange is not None and bound is not None:
        bound = max(bound, lagrange[0])
    return sol, status, bound, stats


def _lagrange_bound(
    net: TrenchNetwork,
    problem: _Problem,
    warm: Solution,
    upper: float,
    *,
    deadline: float = _INF,
    max_rounds: int = 12,
) -> tuple[float, dict[str, frozenset[Hashable]]] | None:
    """Lower bound from splitting each trench edge's cost among utilities (Lagrangian).

    The split starts from the warm plan (each dug edge split among the utilities in it, the
    others evenly) and moves, round by round, towards an even split among the utilities
    whose own optimal trees use the edge, keeping the best bound. Returns the bound and, per
    utility, the nodes it may still use in a plan costing at most ``upper`` (see
    :mod:`routing._steiner_bound`); None if a utility has too many sites for Dreyfus–Wagner.
    """
    active = [d for d in problem.demands if d.sites]
    index = net.index()
    users = np.zeros((len(active), net.n_edges))
    for i, d in enumerate(active):
        users[i, list(_edge_ids(net, warm.get(d.utility, frozenset())))] = 1.0
    count = users.sum(axis=0)
    alpha = np.where(count > 0, users / np.maximum(count, 1), 1.0 / len(active))
    allowed = [_allowed(net, d, problem) for d in active]
    tol = 1e-7 * abs(upper) + 1e-6
    best: tuple[float, dict[str, frozenset[Hashable]]] | None = None
    for rnd in range(max_rounds):
        bounds = []
        for i, d in enumerate(active):
            w = np.where(allowed[i], alpha[i] * net.cost_cny + d.lay_per_m * net.length_m, _INF)
            sb = steiner_through_nodes(
                net.n_nodes,
                net.eu,
                net.ev,
                w,
                [index[s] for s in d.sources if s in index],
                [index[t] for t in d.sites],
            )
            if sb is None:
                return None
            bounds.append(sb)
        lb = float(sum(b.tree_cny for b in bounds))
        if best is None or lb > best[0]:
            node_ok = {}
            for d, sb in zip(active, bounds, strict=True):
                ok = lb - sb.tree_cny + sb.through_cny <= upper + tol
                node_ok[d.utility] = frozenset(net.nodes[i] for i in np.flatnonzero(ok))
            best = (lb, node_ok)
        if lb >= upper * (1 - OPTIMALITY_GAP) - 1e-6 or time.perf_counter() > deadline:
            break
        # move the split towards an even share among the utilities whose own optimal trees
        # use the edge (both ends carry a tree at that cost); any split gives a valid bound
        on = np.zeros_like(alpha)
        for i, sb in enumerate(bounds):
            near = sb.through_cny <= sb.tree_cny * (1 + 1e-9) + 1e-6
            on[i] = near[net.eu] & near[net.ev] & allowed[i]
        n_on = on.sum(axis=0)
        target = np.where(n_on > 0, on / np.maximum(n_on, 1), alpha)
        step = 0.5 / (1 + rnd / 3)
        alpha = (1 - step) * alpha + step * target
    return best


def _restrict_to_nodes(
    net: TrenchNetwork, problem: _Problem, node_ok: Mapping[str, frozenset[Hashable]]
) -> TrenchNetwork:
    """Keep edges whose two ends some utility may still use."""
    keep = np.zeros(net.n_edges, dtype=bool)
    for nodes in node_ok.values():
        ok = np.array([n in nodes for n in net.nodes], dtype=bool)
        keep |= ok[net.eu] & ok[net.ev]
    terminals = problem.terminals()
    index = net.index()
    return reduce_network(
        restrict_edges(net, keep, keep=[index[t] for t in terminals if t in index]), terminals
    )


def _feasible_upper(net: TrenchNetwork, problem: _Problem, upper: float) -> float:
    """``upper`` if finite, else the cost of one greedy pass (a plan that fits the widths)."""
    if math.isfinite(upper):
        return upper
    demands = [d for d in problem.demands if d.sites]
    state = _HeuristicState(net, problem, demands)
    order = sorted(range(len(demands)), key=lambda i: (-demands[i].lay_per_m, demands[i].utility))
    routes = state.greedy(order)
    return _INF if routes is None else state.cost(routes)


def _solve_kou(
    net: TrenchNetwork, problem: _Problem, **_: Any
) -> tuple[Solution, str, float | None, dict[str, Any]]:
    return _steiner_baseline(net, problem, "kou"), "baseline", None, {}


def _solve_mehlhorn(
    net: TrenchNetwork, problem: _Problem, **_: Any
) -> tuple[Solution, str, float | None, dict[str, Any]]:
    return _steiner_baseline(net, problem, "mehlhorn"), "baseline", None, {}


_METHODS: dict[str, Callable[..., tuple[Solution, str, float | None, dict[str, Any]]]] = {
    "milp": _solve_milp,
    "heuristic": _solve_heuristic,
    "kou": _solve_kou,
    "mehlhorn": _solve_mehlhorn,
}
METHODS = tuple(_METHODS)


# ---------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------
# exact: directed multi-commodity flow MILP in HiGHS


def _milp(  # noqa: PLR0917 - private helper
    net: TrenchNetwork,
    problem: _Problem,
    warm: Solution,
    upper: float,
    deadline: float,
    node_ok: Mapping[str, frozenset[Hashable]] | None = None,
) -> tuple[Solution, str, float | None, dict[str, Any]]:
    model = _MilpModel(net, problem, upper, node_ok)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", OPTIMALITY_GAP)
    h.setOptionValue("mip_abs_gap", 1e-6)
    h.setOptionValue("random_seed", 0)
    model.pass_to(h)
    stats: dict[str, Any] = {"milp_cols": model.n_cols, "milp_rows": model.n_rows, "width_cuts": 0}
    warm_vector = model.vector(warm)
    best, status, bound = warm, "time_limit", None
    while True:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            break
        h.setOptionValue("time_limit", float(remaining))
        if warm_vector is not None:
            start = highspy.HighsSolution()
            start.col_value = warm_vector.tolist()
            start.value_valid = True
            h.setSolution(start)
        h.run()
        model_status = h.getModelStatus()
        info = h.getInfo()
        bound = float(info.mip_dual_bound) if math.isfinite(info.mip_dual_bound) else bound
        if model_status == highspy.HighsModelStatus.kInfeasible:
            msg = "the exact model is infeasible: no trench plan fits the road widths"
            raise NoRouteError(msg)
        values = np.asarray(h.getSolution().col_value)
        found = model.solution(values) if len(values) == model.n_cols else None
        violations = _width_violations(problem, found) if found is not None else []
        if violations:
            model.add_cuts(h, violations)
            stats["width_cuts"] += len(violations)
            continue
        if (
            found is not None
            and _solution_cost(problem, found) <= _solution_cost(problem, best) + 1e-9
        ):
            best = found
        status = "optimal" if model_status == highspy.HighsModelStatus.kOptimal else "time_limit"
        break
    stats["milp_nodes"] = int(h.getInfo().mip_node_count)
    return best, status, bound, stats


class _MilpModel:
    """Columns: y per edge, z per (utility, arc), f per (utility, site, arc) and supply arc."""

    def __init__(  # noqa: PLR0915 - one model, built in order
        self,
        net: TrenchNetwork,
        problem: _Problem,
        upper: float,
        node_ok: Mapping[str, frozenset[Hashable]] | None = None,
    ) -> None:
        self.net = net
        self.problem = problem
        E, N = net.n_edges, net.n_nodes  # noqa: N806
        self.tail = np.concatenate([net.eu, net.ev])
        self.head = np.concatenate([net.ev, net.eu])
        arc_edge = np.concatenate([np.arange(E), np.arange(E)])
        rows_lb = _lower_bounds(net, problem, per_site=True)
        all_masks = _arc_masks(net, rows_lb, upper)
        cost: list[NDArray[np.float64]] = [net.cost_cny.copy()]
        integer: list[NDArray[np.bool_]] = [np.ones(E, dtype=bool)]
        upper_b: list[NDArray[np.float64]] = [np.ones(E)]
        r_i: list[NDArray[np.int64]] = []
        c_i: list[NDArray[np.int64]] = []
        vals: list[NDArray[np.float64]] = []
        row_lo: list[NDArray[np.float64]] = []
        row_hi: list[NDArray[np.float64]] = []
        n_col, n_row = E, 0
        self.z_col: dict[str, NDArray[np.int64]] = {}
        self.utilities: list[str] = []
        self.flows: list[
            tuple[
                str, int, NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]
            ]
        ] = []

        def add_rows(rr: NDArray[np.int64], cc: NDArray[np.int64], vv: NDArray[np.float64]) -> None:
            r_i.append(rr)
            c_i.append(cc)
            vals.append(vv)

        for x, path_masks in zip(rows_lb, all_masks, strict=True):
            d: _Demand = x["demand"]
            masks = path_masks
            if node_ok is not None:
                ok = np.array([n in node_ok[d.utility] for n in net.nodes], dtype=bool)
                masks = [m & ok[self.tail] & ok[self.head] for m in path_masks]
            any_arc = np.logical_or.reduce(masks)
            arcs_u = np.flatnonzero(any_arc)
            zc = np.full(2 * E, -1, dtype=np.int64)
            zc[arcs_u] = n_col + np.arange(len(arcs_u))
            n_col += len(arcs_u)
            cost.append(d.lay_per_m * net.length_m[arc_edge[arcs_u]])
            integer.append(np.ones(len(arcs_u), dtype=bool))
            upper_b.append(np.ones(len(arcs_u)))
            self.z_col[d.utility] = zc
            self.utilities.append(d.utility)
            # linking: z(u, a) + z(u, reverse a) - y(e) <= 0
            edges_u = np.unique(arc_edge[arcs_u])
            rows = n_row + np.arange(len(edges_u))
            n_row += len(edges_u)
            fwd, bwd = zc[edges_u], zc[edges_u + E]
            for part in (fwd, bwd):
                ok = part >= 0
                add_rows(rows[ok], part[ok], np.ones(int(ok.sum())))
            add_rows(rows, edges_u, -np.ones(len(edges_u)))
            row_lo.append(np.full(len(edges_u), -_INF))
            row_hi.append(np.zeros(len(edges_u)))
            # in-degree: at most one arc of u enters a node that is not a supply
            srcs = set(x["sources"])
            heads = self.head[arcs_u]
            order = np.argsort(heads, kind="stable")
            uniq, first, counts = np.unique(heads[order], return_index=True, return_counts=True)
            sel = [k for k in range(len(uniq)) if counts[k] > 1 and int(uniq[k]) not in srcs]
            for k in sel:
                members = arcs_u[order[first[k] : first[k] + counts[k]]]
                add_rows(np.full(len(members), n_row), zc[members], np.ones(len(members)))
                row_lo.append(np.array([-_INF]))
                row_hi.append(np.array([1.0]))
                n_row += 1
            # one unit of flow per site, from the super-root over the supply nodes
            src_arr = np.asarray(sorted(srcs), dtype=np.int64)
            for t, m in zip(x["sites"], masks, strict=True):
                arcs_t = np.flatnonzero(m)
                k_a, k_s = len(arcs_t), len(src_arr)
                fc = n_col + np.arange(k_a + k_s)
                n_col += k_a + k_s
                cost.append(np.zeros(k_a + k_s))
                integer.append(np.zeros(k_a + k_s, dtype=bool))
                upper_b.append(np.ones(k_a + k_s))
                # f <= z
                rows = n_row + np.arange(k_a)
                n_row += k_a
                add_rows(rows, fc[:k_a], np.ones(k_a))
                add_rows(rows, zc[arcs_t], -np.ones(k_a))
                row_lo.append(np.full(k_a, -_INF))
                row_hi.append(np.zeros(k_a))
                # conservation: inflow - outflow = 1 at the site, 0 elsewhere
                touched = np.unique(
                    np.concatenate([self.tail[arcs_t], self.head[arcs_t], src_arr, [t]])
                )
                node_row = np.full(N, -1, dtype=np.int64)
                node_row[touched] = n_row + np.arange(len(touched))
                n_row += len(touched)
                add_rows(node_row[self.head[arcs_t]], fc[:k_a], np.ones(k_a))
                add_rows(node_row[self.tail[arcs_t]], fc[:k_a], -np.ones(k_a))
                add_rows(node_row[src_arr], fc[k_a:], np.ones(k_s))
                rhs = np.zeros(len(touched))
                rhs[np.searchsorted(touched, t)] = 1.0
                row_lo.append(rhs)
                row_hi.append(rhs.copy())
                self.flows.append((d.utility, t, arcs_t, fc[:k_a], src_arr, fc[k_a:]))
        self.n_cols, self.n_rows = n_col, n_row
        self.cost = np.concatenate(cost)
        self.integer = np.concatenate(integer)
        self.col_upper = np.concatenate(upper_b)
        matrix = coo_matrix(
            (np.concatenate(vals), (np.concatenate(r_i), np.concatenate(c_i))), shape=(n_row, n_col)
        ).tocsc()
        matrix.sum_duplicates()
        self.matrix = matrix
        self.row_lo = np.concatenate(row_lo) if row_lo else np.zeros(0)
        self.row_hi = np.concatenate(row_hi) if row_hi else np.zeros(0)

    def pass_to(self, h: highspy.Highs) -> None:
        lp = highspy.HighsLp()
        lp.num_col_ = self.n_cols
        lp.num_row_ = self.n_rows
        lp.col_cost_ = self.cost
        lp.col_lower_ = np.zeros(self.n_cols)
        lp.col_upper_ = self.col_upper
        lp.row_lower_ = self.row_lo
        lp.row_upper_ = self.row_hi
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = self.matrix.indptr
        lp.a_matrix_.index_ = self.matrix.indices
        lp.a_matrix_.value_ = self.matrix.data
        lp.integrality_ = [
            highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
            for i in self.integer
        ]
        h.passModel(lp)

    def solution(self, values: NDArray[np.float64]) -> Solution:
        E = self.net.n_edges  # noqa: N806
        sol: Solution = {}
        for u in self.utilities:
            zc = self.z_col[u]
            used = np.flatnonzero((zc >= 0) & (values[np.maximum(zc, 0)] > 0.5))
            sol[u] = _edge_refs(self.net, {int(a % E) for a in used})
        for d in self.problem.demands:
            sol.setdefault(d.utility, frozenset())
        return sol

    def vector(self, sol: Solution) -> NDArray[np.float64] | None:
        """Column values of a solution (the warm start), or None if it leaves the model."""
        E = self.net.n_edges  # noqa: N806
        x = np.zeros(self.n_cols)
        index = self.net.index()
        parents: dict[str, dict[int, int]] = {}
        for u in self.utilities:
            edges = _edge_ids(self.net, sol.get(u, frozenset()))
            x[list(edges)] = 1.0
            adjacency: dict[int, list[int]] = {}
            for e in sorted(edges):
                adjacency.setdefault(int(self.net.eu[e]), []).append(e)
                adjacency.setdefault(int(self.net.ev[e]), []).append(e)
            d = next(d for d in self.problem.demands if d.utility == u)
            roots = [index[s] for s in d.sources if s in index]
            parent: dict[int, int] = dict.fromkeys(roots, -1)
            queue = deque(roots)
            while queue:
                v = queue.popleft()
                for e in adjacency.get(v, []):
                    other = int(self.net.ev[e] if self.net.eu[e] == v else self.net.eu[e])
                    if other in parent:
                        continue
                    arc = e if self.net.eu[e] == v else e + E
                    if self.z_col[u][arc] < 0:
                        return None
                    parent[other] = arc
                    x[self.z_col[u][arc]] = 1.0
                    queue.append(other)
            parents[u] = parent
        for u, t, arcs_t, f_arc, src_arr, f_src in self.flows:
            parent = parents[u]
            if t not in parent:
                return None
            pos = {int(a): k for k, a in enumerate(arcs_t)}
            v = t
            while parent[v] != -1:
                arc = parent[v]
                if arc not in pos:
                    return None
                x[f_arc[pos[arc]]] = 1.0
                v = int(self.tail[arc])
            x[f_src[int(np.searchsorted(src_arr, v))]] = 1.0
        return x

    def add_cuts(self, h: highspy.Highs, violations: list[tuple[EdgeRef, frozenset[str]]]) -> None:
        """Forbid each too-wide utility set on its edge: sum of its arcs <= |set| - 1."""
        E = self.net.n_edges  # noqa: N806
        for ref, users in violations:
            e = next(i for i, parts in enumerate(self.net.parts) if ref in parts)
            cols = [
                int(c)
                for u in sorted(users)
                if u in self.z_col
                for c in (self.z_col[u][e], self.z_col[u][e + E])
                if c >= 0
            ]
            h.addRow(
                -_INF,
                float(len(users) - 1),
                len(cols),
                np.array(cols, dtype=np.int32),
                np.ones(len(cols)),
            )


# ---------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------
# cost shares and the result


def _proportional_shares(total: float, standalone: Mapping[str, float]) -> tuple[CostShare, ...]:
    weight = sum(standalone.values())
    out = []
    for u in sorted(standalone):
        frac = standalone[u] / weight if weight > 0 else 1.0 / len(standalone)
        out.append(CostShare(u, total * frac, frac, standalone[u]))
    return tuple(out)


def _shapley_shares(  # noqa: PLR0917 - private helper
    net: TrenchNetwork,
    problem: _Problem,
    solver: Callable[..., tuple[Solution, str, float | None, dict[str, Any]]],
    total: float,
    standalone: Mapping[str, float],
    deadline: float,
) -> tuple[CostShare, ...]:
    players = sorted(d.utility for d in problem.demands)
    k = len(players)
    if k > SHAPLEY_MAX_UTILITIES:
        msg = f"Shapley shares are limited to {SHAPLEY_MAX_UTILITIES} utilities; this plan has {k}"
        raise ValueError(msg)
    value: dict[frozenset[str], float] = {frozenset(): 0.0, frozenset(players): total}
    for size in range(1, k):
        for coalition in itertools.combinations(players, size):
            sub = problem.restricted(coalition)
            if not any(d.sites for d in sub.demands):
                value[frozenset(coalition)] = 0.0
                continue
            separate = _separate_routes(net, sub)
            upper = _solution_cost(sub, separate) if not _width_violations(sub, separate) else _INF
            sol, *_ = solver(
                net,
                sub,
                deadline=max(deadline, time.perf_counter() + 1.0),
                upper=upper,
                separate=separate,
            )
            value[frozenset(coalition)] = _solution_cost(sub, sol)
    out = []
    for p in players:
        others = [q for q in players if q != p]
        phi = 0.0
        for size in range(k):
            weight = math.factorial(size) * math.factorial(k - size - 1) / math.factorial(k)
            for coalition in itertools.combinations(others, size):
                s = frozenset(coalition)
                phi += weight * (value[s | {p}] - value[s])
        out.append(CostShare(p, phi, phi / total if total > 0 else 1.0 / k, standalone[p]))
    return tuple(out)


def _assemble(
    net0: TrenchNetwork,
    problem: _Problem,
    sol: Solution,
    *,
    method: str,
    status: str,
    bound: float | None,
    gap: float | None,
    separate_cost: float,
    overlay_cost: float,
    shares: tuple[CostShare, ...],
    sharing: str,
    elapsed: float,
    stats: Mapping[str, Any],
) -> TrenchPlan:
    info = problem.info
    users: dict[EdgeRef, list[str]] = {}
    for u in sorted(sol):
        for r in sol[u]:
            users.setdefault(r, []).append(u)
    refs = sorted(users, key=_ref_key)
    edges = tuple(
        TrenchEdge(
            source=r[0],
            target=r[1],
            key=r[2],
            segment_id=info[r].segment_id,
            length_m=info[r].length_m,
            cost_cny=info[r].trench_cost_cny,
            utilities=tuple(users[r]),
            road_class=info[r].road_class,
            name=info[r].name,
            geometry=info[r].geometry,
        )
        for r in refs
    )
    routes = tuple(
        _utility_route(d, sol.get(d.utility, frozenset()), info) for d in problem.demands
    )
    trench_cost = float(sum(e.cost_cny for e in edges))
    laying = float(sum(r.laying_cost_cny for r in routes))
    return TrenchPlan(
        edges=edges,
        routes=routes,
        trench_length_m=float(sum(e.length_m for e in edges)),
        trench_cost_cny=trench_cost,
        laying_cost_cny=laying,
        total_cost_cny=trench_cost + laying,
        method=method,
        status=status,
        bound_cny=bound,
        gap=gap,
        separate_cost_cny=separate_cost,
        overlay_cost_cny=overlay_cost,
        shares=shares,
        sharing_rule=sharing,
        crs=net0.crs,
        solve_time_s=elapsed,
        stats=tuple(sorted(stats.items())),
    )


def _utility_route(
    d: _Demand, refs: frozenset[EdgeRef], info: Mapping[EdgeRef, Any]
) -> UtilityRoute:
    adjacency: dict[Hashable, list[EdgeRef]] = {}
    for r in sorted(refs, key=_ref_key):
        adjacency.setdefault(r[0], []).append(r)
        adjacency.setdefault(r[1], []).append(r)
    parent: dict[Hashable, tuple[Hashable, EdgeRef] | None] = {}
    origin: dict[Hashable, Hashable] = {}
    queue: deque[Hashable] = deque()
    for s in d.sources:
        parent[s] = None
        origin[s] = s
        queue.append(s)
    while queue:
        v = queue.popleft()
        for r in adjacency.get(v, []):
            other = r[1] if r[0] == v else r[0]
            if other not in parent:
                parent[other] = (v, r)
                origin[other] = origin[v]
                queue.append(other)
    steps: list[RouteStep] = []
    used_supplies: list[Hashable] = []
    for t in d.all_sites:
        chain: list[tuple[Hashable, EdgeRef | None]] = [(t, None)]
        v = t
        while parent.get(v) is not None:
            prev, r = parent[v]  # type: ignore[misc]
            chain.append((prev, r))
            v = prev
        chain.reverse()
        source = origin.get(t, t)
        if source not in used_supplies:
            used_supplies.append(source)
        agg = 0.0
        # after the reverse, chain[k] = (node, edge from it to the next node)
        for node, ref in chain:
            if ref is None:
                steps.append(RouteStep(len(steps) + 1, node, -1, 0.0, agg, source, t, 0.0))
                continue
            length = info[ref].length_m
            cost = d.lay_per_m * length
            steps.append(
                RouteStep(
                    len(steps) + 1, node, _edge_label(info, ref), cost, agg, source, t, length
                )
            )
            agg += cost
    length_m = float(sum(info[r].length_m for r in refs))
    return UtilityRoute(
        utility=d.utility,
        supply_nodes=tuple(used_supplies),
        sites=d.all_sites,
        edges=tuple(sorted(refs, key=_ref_key)),
        length_m=length_m,
        laying_cost_cny=d.lay_per_m * length_m,
        steps=tuple(steps),
    )


def _edge_label(info: Mapping[EdgeRef, Any], ref: EdgeRef | None) -> Any:
    if ref is None:
        return -1
    sid = info[ref].segment_id
    return sid if sid is not None else f"{ref[0]}-{ref[1]}-{ref[2]}"


def _prepared(G: nx.Graph | TrenchNetwork, options: dict[str, Any]) -> TrenchNetwork:  # noqa: N803
    if isinstance(G, TrenchNetwork):
        return G
    net = prepare_network(
        G,
        cost_model=options.get("cost_model"),
        on_date=options.get("on_date"),
        emergency_repair=options.get("emergency_repair", False),
    )
    return net


def _cached_width(rule: WidthRule) -> WidthRule:
    cache: dict[frozenset[str], float] = {}

    def width(utilities: frozenset[str]) -> float:
        if utilities not in cache:
            cache[utilities] = float(rule(utilities))
        return cache[utilities]

    return width


def _resolve(name: str, table: Mapping[str, Any], what: str) -> Any:
    try:
        return table[name]
    except KeyError:
        msg = f"unknown {what} {name!r}; valid: {', '.join(table)}"
        raise ValueError(msg) from None


def _ref_key(ref: EdgeRef) -> tuple[str, str, str]:
    return (repr(ref[0]), repr(ref[1]), repr(ref[2]))


def _is_node(value: Any, known: set[Hashable]) -> bool:
    try:
        return value in known
    except TypeError:  # unhashable
        return False


def _site_label(site: Site) -> str:
    return repr(site.name) if site.name is not None else repr(site.node)
