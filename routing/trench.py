"""Plan one shared trench network that serves every utility of one or more projects."""

from __future__ import annotations

import dataclasses
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

from routing._trench_check import _dig_violations
from routing._trench_check import _own_digs
from routing._trench_check import _rule_name
from routing._trench_check import _shared_digs
from routing._trench_exact import _lagrange_bound
from routing._trench_exact import _milp
from routing._trench_exact import _path_bound
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
from routing.results import PlanAlternative
from routing.results import PlanViolation
from routing.results import ProjectsPlan
from routing.results import RouteStep
from routing.results import Site
from routing.results import TrenchAlternatives
from routing.results import TrenchEdge
from routing.results import TrenchPlan
from routing.results import TrenchRequest
from routing.results import UtilityRoute

__all__ = [
    "METHODS",
    "OPTIMALITY_GAP",
    "SHAPLEY_MAX_UTILITIES",
    "plan_alternatives",
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
    the heuristic's cost, so the reduced model provably keeps an optimum. Then a Lagrangian
    bound: the trench cost of each edge is split among the utilities, each utility's own
    Steiner tree under its share is solved (exactly by Dreyfus–Wagner for up to 6 sites, else
    bounded by Wong's dual ascent), and the split climbs by projected subgradient steps; each
    round's trees, repaired and improved, are also a plan (a Lagrangian heuristic). Nodes the
    bound rules out for every utility are dropped, and the bound runs again on the smaller
    network. If the bound meets the best plan, that plan is proven optimal without HiGHS;
    otherwise the MILP runs on what is left, with the smallest too-wide utility sets of each
    road as rows from the start (lazy cuts beyond ``MAX_WIDTH_ROWS``), warm-started from the
    best plan. A corridor still above ``BIG_CORRIDOR_EDGES`` gives the bound nearly all the
    time and skips HiGHS (its root LP would not finish): the plan then says ``time_limit``
    with the proven gap. See Wong (1984) and Magnanti & Wong (1984) for the formulation,
    Takahashi & Matsuyama (1980) for the shortest-path heuristic, Polzin & Daneshmand (2001)
    for the reduced-cost tests.
    """
    solver = _resolve(method, _METHODS, "method")
    started = time.perf_counter()
    net0, problem, rule_name = _prepare(
        G, sites, supplies, cost_model, on_date, emergency_repair, required_width_m, sharing
    )
    return _plan(net0, problem, solver, method, time_limit_s, sharing, started, rule_name)


def plan_alternatives(
    G: nx.Graph | TrenchNetwork,  # noqa: N803
    sites: Sequence[Site] | Mapping[Hashable, Iterable[str]],
    supplies: Mapping[str, Hashable | Sequence[Hashable]],
    *,
    cost_model: CostModel | None = None,
    on_date: dt.date | None = None,
    emergency_repair: bool = False,
    required_width_m: WidthRule | None = None,
    time_limit_s: float = 60.0,
    sharing: str = "proportional",
) -> TrenchAlternatives:
    """The alternatives a coordinator compares: joint optimum, own trenches, overlay, heuristic.

    Parameters
    ----------
    G, sites, supplies, cost_model, on_date, emergency_repair, required_width_m, sharing
        As for :func:`plan_shared_trench`.
    time_limit_s
        Wall-clock limit of the exact solve (the heuristic and the two uncoordinated plans
        take a small part of it).

    Returns
    -------
    TrenchAlternatives
        Each alternative with its cost, its feasibility and, for an infeasible one, every
        rule it breaks (:class:`~routing.results.PlanViolation`: road width under the width
        rule, protection period, bridge). The joint plan never costs more than a feasible
        alternative: the feasible ones are handed to the exact method as starting plans.

    Raises
    ------
    ValueError, TrenchRequestError, NoRouteError, UnreachableSupplyError
        As :func:`plan_shared_trench`; ``NoRouteError`` when no plan at all fits the rules.

    Notes
    -----
    ``separate`` and ``overlay`` use each utility's own shortest paths from its nearest supply
    to each of its sites (under its own trench and laying costs, on roads wide enough for it
    alone). ``separate`` digs one trench per utility; two in one road are dug in the same
    works window, so they must fit side by side (the sum of their widths). ``overlay`` digs
    each road once for all the utilities in it; where they need more width than the road has,
    the overlay is infeasible and the joint optimum may cost more than its price.

    Examples
    --------
    >>> import networkx as nx
    >>> G = nx.MultiGraph()
    >>> G.add_edge("S", "A", key=0, length_m=100.0, width_m=1.5)
    0
    >>> G.add_edge("S", "B", key=0, length_m=100.0)
    0
    >>> G.add_edge("B", "A", key=0, length_m=100.0)
    0
    >>> alt = plan_alternatives(G, {"A": {"water", "power"}}, {"water": "S", "power": "S"})
    >>> alt.overlay.feasible, alt.overlay.violations[0].constraint
    (False, 'road_width')
    >>> alt.joint.status, alt.separate.feasible  # own trenches side by side need 2.3 m
    ('optimal', False)
    """
    started = time.perf_counter()
    net0, problem, rule_name = _prepare(
        G, sites, supplies, cost_model, on_date, emergency_repair, required_width_m, sharing
    )
    # the heuristic first (it is quick), so that the exact method starts from it
    try:
        heuristic: TrenchPlan | None = _plan(
            net0, problem, _solve_heuristic, "heuristic", _INF, sharing, started, rule_name
        )
    except NoRouteError as exc:
        heuristic, heuristic_error = None, str(exc)
    else:
        heuristic_error = ""
    extra = [] if heuristic is None else [_plan_solution(heuristic)]
    joint = _plan(
        net0,
        problem,
        _solve_milp,
        "milp",
        max(time_limit_s - (time.perf_counter() - started), 0.0),
        sharing,
        time.perf_counter(),
        rule_name,
        candidates=extra,
    )
    separate = _separate_routes(net0, problem)
    overlay_plan = _assemble_uncoordinated(net0, problem, separate, joint, "overlay")
    own_plan = _assemble_uncoordinated(net0, problem, separate, joint, "separate")

    def alternative(kind: str, plan: TrenchPlan | None, sol: Solution | None) -> PlanAlternative:
        if plan is None or sol is None:
            violation = PlanViolation("no_plan", None, None, (), None, None, heuristic_error)
            return PlanAlternative(kind, None, _INF, False, (violation,), "heuristic", None, None)
        digs = _own_digs(sol) if kind == "separate" else _shared_digs(sol)
        violations = _dig_violations(problem, net0.forbidden, digs, width_rule_name=rule_name)
        return PlanAlternative(
            kind=kind,
            plan=plan,
            total_cost_cny=plan.total_cost_cny,
            feasible=not violations,
            violations=violations,
            status=plan.status,
            gap=plan.gap,
            bound_cny=plan.bound_cny,
        )

    return TrenchAlternatives(
        joint=alternative("joint", joint, _plan_solution(joint)),
        separate=alternative("separate", own_plan, separate),
        overlay=alternative("overlay", overlay_plan, separate),
        heuristic=alternative(
            "heuristic", heuristic, None if heuristic is None else _plan_solution(heuristic)
        ),
    )


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


def _prepare(  # noqa: PLR0917 - private helper
    G: nx.Graph | TrenchNetwork,  # noqa: N803 - networkx's name
    sites: Sequence[Site] | Mapping[Hashable, Iterable[str]],
    supplies: Mapping[str, Hashable | Sequence[Hashable]],
    cost_model: CostModel | None,
    on_date: dt.date | None,
    emergency_repair: bool,
    required_width_m: WidthRule | None,
    sharing: str,
) -> tuple[TrenchNetwork, Any, str]:
    """The checked sharing rule, the priced network, the problem and the width rule's name."""
    if sharing not in SHARING_RULES:
        msg = f"unknown sharing rule {sharing!r}; valid rules: {', '.join(SHARING_RULES)}"
        raise ValueError(msg)
    model = cost_model or load_cost_model()
    net0 = (
        G
        if isinstance(G, TrenchNetwork)
        else prepare_network(
            G, cost_model=model, on_date=on_date, emergency_repair=emergency_repair
        )
    )
    problem = _build_problem(net0, _as_sites(sites), supplies, model, required_width_m)
    return net0, problem, _rule_name(required_width_m or model.required_width_m)


def _plan(  # noqa: PLR0917 - private helper
    net0: TrenchNetwork,
    problem: _Problem,
    solver: Callable[..., tuple[Solution, str, float | None, dict[str, Any]]],
    method: str,
    time_limit_s: float,
    sharing: str,
    started: float,
    rule_name: str,
    *,
    candidates: Sequence[Solution] = (),
) -> TrenchPlan:
    terminals = problem.terminals()
    deadline = started + max(time_limit_s, 0.0)
    separate = _separate_routes(net0, problem)
    separate_cost = sum(_solution_cost(problem, {u: x}) for u, x in separate.items())
    overlay_cost = _solution_cost(problem, separate)
    overlay_violations = _dig_violations(
        problem, net0.forbidden, _shared_digs(separate), width_rule_name=rule_name
    )
    net1 = reduce_network(_terminal_components(net0, terminals), terminals)
    stats: dict[str, Any] = {"input_edges": net0.n_edges, "reduced_edges": net1.n_edges}
    if not any(d.sites for d in problem.demands):
        sol: Solution = {d.utility: frozenset() for d in problem.demands}
        status = "empty"
        bound: float | None = 0.0
    else:
        # every feasible plan already known is one the exact method must not do worse than
        known = [c for c in candidates if not _width_violations(problem, c)]
        if not overlay_violations:
            known.append(separate)
        sol, status, bound, more = solver(net1, problem, deadline=deadline, candidates=known)
        stats.update(more)
    total = _solution_cost(problem, sol)
    if status in ("optimal", "time_limit"):
        bound = total if bound is None and status == "optimal" else bound
        bound = None if bound is None else min(bound, total)
        # a bound that meets the plan proves it, whoever found it; one that does not never
        # lets a plan be called optimal
        if bound is not None and bound >= total * (1 - OPTIMALITY_GAP) - 1e-6:
            status = "optimal"
        elif status == "optimal":
            status = "time_limit"
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
        overlay_violations=overlay_violations,
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
    candidates: Sequence[Solution],
) -> tuple[Solution, str, float | None, dict[str, Any]]:
    # no corridor here: pruning the whole graph costs more than it saves the heuristic
    sol = _heuristic(net, problem)
    return sol, "heuristic", None, {"corridor_edges": net.n_edges}


BIG_CORRIDOR_EDGES = 3000
"""Above this many corridor edges the Lagrangian bound gets 90 % of the time, not 50 %, and
HiGHS runs only if the bound has shrunk the corridor below it (with a plan to fall back on)."""


def _solve_milp(
    net: TrenchNetwork,
    problem: _Problem,
    *,
    deadline: float,
    candidates: Sequence[Solution],
) -> tuple[Solution, str, float | None, dict[str, Any]]:
    upper = min((_solution_cost(problem, c) for c in candidates), default=_INF)
    corridor = _prune(net, problem, _feasible_upper(net, problem, upper))
    try:
        heuristic: Solution | None = _heuristic(corridor, problem)
    except NoRouteError:
        # the heuristic found no plan that fits the widths; the exact model may still
        heuristic = None
    pool = [*candidates, *([] if heuristic is None else [heuristic])]
    warm = min(pool, key=lambda c: _solution_cost(problem, c)) if pool else None
    ub = _INF if warm is None else _solution_cost(problem, warm)
    stats: dict[str, Any] = {
        "heuristic_cost_cny": _INF if heuristic is None else _solution_cost(problem, heuristic)
    }
    if math.isfinite(ub):
        corridor = _prune(corridor, problem, ub)
    stats["corridor_edges"] = corridor.n_edges
    lb = _path_bound(corridor, problem)
    stats["path_bound_cny"] = lb
    node_ok = None
    # bound, shrink the corridor to the nodes the bound still allows, and bound again on the
    # smaller network (from the split reached so far) while that keeps paying off; the
    # bounds may use up to half the time left, the rest is for the MILP; on a corridor too
    # big for HiGHS to finish its root LP in time they may use nearly all of it
    now = time.perf_counter()
    share = 0.5 if corridor.n_edges <= BIG_CORRIDOR_EDGES else 0.9
    bound_deadline = now + share * max(deadline - now, 0.0)
    split = None
    for _ in range(8):
        if warm is None:  # the split starts from a plan; with none, HiGHS bounds alone
            break
        lagrange = _lagrange_bound(
            corridor, problem, warm, ub, deadline=bound_deadline, max_rounds=25, start=split
        )
        if lagrange is None:
            break
        if lagrange.plan is not None:  # the Lagrangian trees gave a cheaper plan
            warm, ub = lagrange.plan, _solution_cost(problem, lagrange.plan)
            stats["lagrange_plan_cny"] = ub
        gained = lagrange.bound - lb
        lb = max(lb, lagrange.bound)
        node_ok, split = lagrange.node_ok, lagrange.shares
        stats["lagrange_bound_cny"] = lb
        if lb >= ub * (1 - OPTIMALITY_GAP) - 1e-6:
            # the starting plan meets the bound: optimal without branching
            stats["corridor_edges"] = corridor.n_edges
            return warm, "optimal", lb, stats
        before = corridor.n_edges
        corridor = _restrict_to_nodes(corridor, problem, node_ok)
        stats["corridor_edges"] = corridor.n_edges
        if time.perf_counter() >= bound_deadline or (
            corridor.n_edges > 0.95 * before and gained < 1e-3 * ub
        ):
            break
    if warm is not None and (
        time.perf_counter() >= deadline or corridor.n_edges > BIG_CORRIDOR_EDGES
    ):
        # no time left to build the model (which is not itself time-limited), or a model
        # whose root LP would not finish in the time left: keep the plan and its bound
        stats["milp_skipped"] = True
        return warm, "time_limit", lb, stats
    sol, status, bound, more = _milp_or_fallback(
        net, corridor, problem, warm, ub, deadline, node_ok
    )
    stats.update(more)
    if "milp_infeasible_with_plan" in more or "milp_on_whole_network" in more:
        return sol, status, bound, stats  # the corridor's bounds are not to be trusted then
    bound = lb if bound is None else max(bound, lb)
    return sol, status, bound, stats


def _milp_or_fallback(  # noqa: PLR0917 - private helper
    net: TrenchNetwork,
    corridor: TrenchNetwork,
    problem: _Problem,
    warm: Solution | None,
    ub: float,
    deadline: float,
    node_ok: Mapping[str, frozenset[Hashable]] | None,
) -> tuple[Solution, str, float | None, dict[str, Any]]:
    """The MILP on the corridor; if it has no plan, never a refusal the whole network would
    not make."""
    try:
        return _milp(corridor, problem, warm, ub, deadline, node_ok)
    except NoRouteError:
        if warm is None:
            if corridor.n_edges >= net.n_edges:
                raise
            # no plan in hand and the reduced model has none: the reductions assumed a plan
            # that the heuristic could not find again on the corridor; the whole network
            # decides (a refusal must hold for every plan, not for the corridor's)
            logger.warning("trench MILP infeasible on the corridor; solving the whole network")
            sol, status, bound, more = _milp(net, problem, None, _INF, deadline, None)
            return sol, status, bound, {**more, "milp_on_whole_network": True}
        # the model refuses a plan in hand that fits every rule: a reduction went wrong, so
        # nothing is proven; keep the plan rather than refuse the request
        logger.warning("trench MILP infeasible although a plan fits the widths; kept the plan")
        return warm, "time_limit", None, {"milp_infeasible_with_plan": True}


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
            known = [] if _width_violations(sub, separate) else [separate]
            sol, *_ = solver(
                net, sub, deadline=max(deadline, time.perf_counter() + 1.0), candidates=known
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
    overlay_violations: tuple[PlanViolation, ...] = (),
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
        overlay_violations=overlay_violations,
    )


def _assemble_uncoordinated(
    net0: TrenchNetwork, problem: _Problem, separate: Solution, joint: TrenchPlan, kind: str
) -> TrenchPlan:
    """The overlay (one dig per road) or own trenches (one per utility and road) as a plan."""
    plan = _assemble(
        net0,
        problem,
        separate,
        method=kind,
        status="uncoordinated",
        bound=None,
        gap=None,
        separate_cost=joint.separate_cost_cny,
        overlay_cost=joint.overlay_cost_cny,
        shares=_proportional_shares(
            _solution_cost(problem, separate) if kind == "overlay" else joint.separate_cost_cny,
            {s.utility: s.standalone_cost_cny for s in joint.shares},
        ),
        sharing="proportional",
        elapsed=0.0,
        stats={},
        overlay_violations=joint.overlay_violations,
    )
    if kind == "overlay":
        return plan
    # own trenches: one edge row per utility and road, each dug (and paid) on its own
    edges = tuple(dataclasses.replace(e, utilities=(u,)) for e in plan.edges for u in e.utilities)
    trench_cost = float(sum(e.cost_cny for e in edges))
    return dataclasses.replace(
        plan,
        edges=edges,
        trench_cost_cny=trench_cost,
        trench_length_m=float(sum(e.length_m for e in edges)),
        total_cost_cny=trench_cost + plan.laying_cost_cny,
    )


def _plan_solution(plan: TrenchPlan) -> Solution:
    """The per-utility edge sets of a plan (the planner's own form)."""
    return {r.utility: frozenset(r.edges) for r in plan.routes}


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
