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
from typing import Any

import networkx as nx
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from routing._trench_exact import _lagrange_bound
from routing._trench_exact import _milp
from routing._trench_exact import _restrict_to_nodes
from routing._trench_heuristic import _feasible_upper
from routing._trench_heuristic import _heuristic
from routing._trench_heuristic import _steiner_baseline
from routing._trench_model import _INF
from routing._trench_model import OPTIMALITY_GAP
from routing._trench_model import Solution
from routing._trench_model import _allowed
from routing._trench_model import _Demand
from routing._trench_model import _Problem
from routing._trench_model import _prune
from routing._trench_model import _ref_key
from routing._trench_model import _separate_routes
from routing._trench_model import _site_label
from routing._trench_model import _solution_cost
from routing._trench_model import _terminal_components
from routing._trench_model import _width_violations
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

SHAPLEY_MAX_UTILITIES = 6
"""Shapley shares solve 2^K - 1 coalitions; above this many utilities they are refused."""
SHARING_RULES = ("proportional", "shapley")


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
        status = "empty"
        bound: float | None = 0.0
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
    # no corridor here: pruning the whole graph costs more than it saves the heuristic
    sol = _heuristic(net, problem)
    return sol, "heuristic", None, {"corridor_edges": net.n_edges}


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
    node_ok = None
    lb = None
    # bound, shrink the corridor to the nodes the bound still allows, and bound again on the
    # smaller network while that keeps paying off
    for _ in range(3):
        # the bound may use up to 40 % of the time left; the rest is for the MILP
        now = time.perf_counter()
        lagrange = _lagrange_bound(
            corridor, problem, warm, ub, deadline=now + 0.4 * max(deadline - now, 0.0)
        )
        if lagrange is None:
            break
        if lb is None or lagrange[0] > lb:
            lb = lagrange[0]
        node_ok = lagrange[1]
        stats["lagrange_bound_cny"] = lb
        if lb >= ub * (1 - OPTIMALITY_GAP) - 1e-6:
            # the heuristic plan meets the bound: optimal without branching
            stats["corridor_edges"] = corridor.n_edges
            return warm, "optimal", lb, stats
        before = corridor.n_edges
        corridor = _restrict_to_nodes(corridor, problem, node_ok)
        stats["corridor_edges"] = corridor.n_edges
        if corridor.n_edges > 0.8 * before:
            break
    sol, status, bound, more = _milp(corridor, problem, warm, ub, deadline, node_ok)
    stats.update(more)
    if lb is not None:
        bound = lb if bound is None else max(bound, lb)
    return sol, status, bound, stats


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


def _is_node(value: Any, known: set[Hashable]) -> bool:
    try:
        return value in known
    except TypeError:  # unhashable
        return False
