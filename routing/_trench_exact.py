"""Solve the shared-trench problem exactly: Lagrangian bound, then a HiGHS MILP."""

from __future__ import annotations

import itertools
import logging
import math
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Hashable
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import highspy
import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from routing._steiner_bound import SteinerBound
from routing._steiner_bound import dual_ascent
from routing._steiner_bound import steiner_through_nodes
from routing._trench_heuristic import _HeuristicState
from routing._trench_model import _INF
from routing._trench_model import OPTIMALITY_GAP
from routing._trench_model import Solution
from routing._trench_model import _allowed
from routing._trench_model import _arc_masks
from routing._trench_model import _Demand
from routing._trench_model import _edge_ids
from routing._trench_model import _edge_refs
from routing._trench_model import _lower_bounds
from routing._trench_model import _Problem
from routing._trench_model import _solution_cost
from routing._trench_model import _width_violations
from routing.errors import NoRouteError
from routing.reduce import EdgeRef
from routing.reduce import TrenchNetwork
from routing.reduce import reduce_network
from routing.reduce import restrict_edges

logger = logging.getLogger(__name__)

_LOCAL = threading.local()


def _lagrange_bound(
    net: TrenchNetwork,
    problem: _Problem,
    warm: Solution,
    upper: float,
    *,
    deadline: float = _INF,
    max_rounds: int = 60,
    start: Mapping[EdgeRef, NDArray[np.float64]] | None = None,
) -> LagrangeResult | None:
    """Lower bound from splitting each trench edge's cost among utilities (Lagrangian).

    Every plan pays ``c_e y_e >= sum_u lam_ue x_ue`` when ``lam_e >= 0`` and ``sum_u lam_ue =
    c_e``, so its cost is at least the sum over utilities of their optimal Steiner trees under
    the weights ``lam_ue + lay_u len_e``: a bound for every split, the Lagrangian dual of the
    linking rows ``x_ue <= y_e``. The split starts from the warm plan (each dug edge split
    among the utilities in it, the others evenly) and climbs by projected subgradient steps
    (Polyak's step towards ``upper``, halved when the bound stalls): a utility's own optimal
    tree is the subgradient, traced back from Dreyfus–Wagner where it has few sites; where
    Wong's dual ascent bounds it instead, the edges its reduced costs say an optimal tree may
    use stand in. Returns the best bound and, per utility, the nodes it may still use in a
    plan costing at most ``upper`` (see :mod:`routing._steiner_bound`), and the best split as
    shares per input edge (``start`` of a later call on a smaller network); None if a site
    cannot be reached. Each round's trees together are also a plan (a Lagrangian heuristic):
    one that fits the widths and, after rip-up and re-route, costs less than ``upper`` is
    returned as ``plan`` and lowers ``upper`` for the rest of the climb.
    """
    active = [d for d in problem.demands if d.sites]
    users = np.zeros((len(active), net.n_edges))
    for i, d in enumerate(active):
        users[i, list(_edge_ids(net, warm.get(d.utility, frozenset())))] = 1.0
    allowed = np.array([_allowed(net, d, problem) for d in active], dtype=bool)
    users *= allowed
    count = users.sum(axis=0)
    n_allowed = allowed.sum(axis=0)
    share = np.where(count > 0, users / np.maximum(count, 1), allowed / np.maximum(n_allowed, 1))
    if start is not None:
        share = _shares_from_refs(net, start, share)
    lam = _project_split(share * net.cost_cny, net.cost_cny, allowed)
    best: tuple[float, dict[str, frozenset[Hashable]]] | None = None
    best_lam = lam
    theta, stall = 2.0, 0
    # each utility's tree stays on the nodes its best bound still allows (a plan costing at
    # most ``upper`` uses no other), which keeps every bound valid and the trees cheap
    usable = allowed.copy()
    state = _HeuristicState(net, problem, active)
    plan: Solution | None = None
    for rnd in range(max_rounds):
        bounds = _utility_trees(net, active, usable, lam, deadline)
        if bounds is None:
            return None
        lb = float(sum(b.tree_cny for b in bounds))
        found = _tree_plan(state, bounds, upper, always=rnd % 5 == 4)
        if found is not None:
            plan, upper = found, _solution_cost(problem, found)
        logger.debug("lagrange round: %.0f theta %.3g", lb, theta)
        if best is None or lb > best[0] + 1e-9 * abs(upper):
            node_ok = {}
            for i, (d, sb) in enumerate(zip(active, bounds, strict=True)):
                ok = lb - sb.tree_cny + sb.through_cny <= upper * (1 + 1e-7) + 1e-6
                node_ok[d.utility] = frozenset(net.nodes[v] for v in np.flatnonzero(ok))
                usable[i] &= ok[net.eu] & ok[net.ev]
            best, best_lam = (lb, node_ok), lam
            stall = 0
        else:
            stall += 1
            if stall >= 3:  # the step overshoots: halve it
                theta, stall = theta / 2, 0
        closed = best[0] >= upper * (1 - OPTIMALITY_GAP) - 1e-6
        if closed or theta < 1e-3 or time.perf_counter() > deadline:
            break
        direction = _subgradient(net, bounds, usable)
        # Polyak's step in share coordinates (lam_ue = alpha_ue c_e): the gradient in alpha is
        # c_e times the direction, so costly edges move their split as fast as cheap ones
        c = net.cost_cny
        norm = float(((c * direction) ** 2).sum())
        if norm <= 0:
            break
        step = theta * max(upper - lb, 1e-6 * abs(upper)) / norm
        lam = _project_split(lam + step * c * c * direction, c, usable)
    if best is None:
        return None
    return LagrangeResult(best[0], best[1], _shares_by_ref(net, best_lam), plan)


@dataclass(frozen=True)
class LagrangeResult:
    """What :func:`_lagrange_bound` proved and found."""

    bound: float
    node_ok: dict[str, frozenset[Hashable]]
    """Per utility, the nodes a plan cheaper than the best plan known may use."""
    shares: dict[EdgeRef, NDArray[np.float64]]
    plan: Solution | None
    """A plan cheaper than the ``upper`` passed in, or None."""


def _tree_plan(
    state: _HeuristicState,
    bounds: list[SteinerBound],
    upper: float,
    *,
    always: bool = False,
) -> Solution | None:
    """The utilities' Lagrangian trees as one plan, repaired and improved by rip-up and
    re-route; the plan if it fits the widths and costs less than ``upper``, else None.

    Trees that share a road too narrow for them are repaired one utility at a time (the one
    in most conflicts is re-routed around the others, as the heuristic does). Trees more than
    25 % dearer than ``upper`` are tried only if ``always``.
    """
    if any(sb.tree_edges is None for sb in bounds):
        return None
    net, problem, active = state.net, state.problem, state.demands
    routes = [{int(e) for e in sb.tree_edges} for sb in bounds if sb.tree_edges is not None]
    first = _solution_cost(problem, _as_solution(net, problem, active, routes))
    logger.debug("tree plan %.0f (upper %.0f)", first, upper)
    if first > upper * 1.25 and not always:  # re-routing rarely brings these under
        return None
    names = [d.utility for d in active]
    for _ in range(2 * len(active)):
        conflicts = _width_violations(problem, _as_solution(net, problem, active, routes))
        if not conflicts:
            break
        count = {u: sum(u in us for _, us in conflicts) for u in names}
        i = max(range(len(names)), key=lambda j: (count[names[j]], -j))
        rerouted = state.route(i, routes)
        if rerouted is None:
            logger.debug("tree plan: %s cannot be re-routed around the others", names[i])
            return None
        routes[i] = rerouted
    routes = state.improve(routes, list(range(len(active))))
    sol = _as_solution(net, problem, active, routes)
    logger.debug("tree plan repaired and improved: %.0f", _solution_cost(problem, sol))
    if _solution_cost(problem, sol) >= upper * (1 - 1e-9) or _width_violations(problem, sol):
        return None
    if not all(_serves(net, d, r) for d, r in zip(active, routes, strict=True)):
        logger.warning("a Lagrangian tree plan leaves a site unserved; it is dropped")
        return None
    return sol


def _serves(net: TrenchNetwork, d: _Demand, route: set[int]) -> bool:
    """Whether the edges ``route`` join every site of ``d`` to one of its supplies."""
    index = net.index()
    edges = np.fromiter(route, dtype=np.int64, count=len(route))
    graph = coo_matrix(
        (np.ones(len(edges)), (net.eu[edges], net.ev[edges])), shape=(net.n_nodes, net.n_nodes)
    )
    _, labels = connected_components(graph, directed=False)
    fed = {labels[index[s]] for s in d.sources if s in index}
    return all(labels[index[t]] in fed for t in d.sites)


def _as_solution(
    net: TrenchNetwork, problem: _Problem, active: list[_Demand], routes: list[set[int]]
) -> Solution:
    sol = {d.utility: _edge_refs(net, r) for d, r in zip(active, routes, strict=True)}
    for d in problem.demands:
        sol.setdefault(d.utility, frozenset())
    return sol


def _utility_trees(
    net: TrenchNetwork,
    active: list[_Demand],
    usable: NDArray[np.bool_],
    lam: NDArray[np.float64],
    deadline: float,
) -> list[SteinerBound] | None:
    """Each utility's tree under its share of the split: exact by Dreyfus–Wagner for few
    sites, else bounded by Wong's dual ascent; None if a site cannot be reached."""
    index = net.index()
    out = []
    for i, d in enumerate(active):
        w = np.where(usable[i], lam[i] + d.lay_per_m * net.length_m, _INF)
        args = (
            net.n_nodes,
            net.eu,
            net.ev,
            w,
            [index[s] for s in d.sources if s in index],
            [index[t] for t in d.sites],
        )
        sb = steiner_through_nodes(*args, with_tree=True)
        if sb is None:
            sb = dual_ascent(*args, deadline=deadline)
        if sb is None or not np.isfinite(sb.tree_cny):
            return None
        out.append(sb)
    return out


def _subgradient(
    net: TrenchNetwork, bounds: list[SteinerBound], usable: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """Each utility's tree (or the edges dual ascent leaves at zero reduced cost) as 0/1,
    projected onto ``sum_u lam_ue = const`` over the utilities that may use the edge."""
    g = np.zeros(usable.shape)
    for i, sb in enumerate(bounds):
        if sb.tree_edges is not None:
            g[i, sb.tree_edges] = 1.0
        else:
            near = sb.through_cny <= sb.tree_cny * (1 + 1e-9) + 1e-6
            g[i] = near[net.eu] & near[net.ev]
    g *= usable
    n_usable = usable.sum(axis=0)
    return np.where(usable, g - g.sum(axis=0) / np.maximum(n_usable, 1), 0.0)


def _shares_by_ref(
    net: TrenchNetwork, lam: NDArray[np.float64]
) -> dict[EdgeRef, NDArray[np.float64]]:
    """Each input edge's split as shares of its trench cost (an edge's parts share alike)."""
    frac = lam / np.maximum(net.cost_cny, 1e-12)
    return {r: frac[:, e] for e, parts in enumerate(net.parts) for r in parts}


def _shares_from_refs(
    net: TrenchNetwork,
    shares: Mapping[EdgeRef, NDArray[np.float64]],
    default: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Shares per edge of ``net`` from shares per input edge, weighted by the parts' costs."""
    out = default.copy()
    for e, parts in enumerate(net.parts):
        known = [r for r in parts if r in shares]
        if len(known) < len(parts):
            continue
        weight = np.array([net.info[r].trench_cost_cny for r in parts])
        total = weight.sum()
        if total > 0:
            out[:, e] = sum(w * shares[r] for w, r in zip(weight, parts, strict=True)) / total
    return out


def _project_split(
    lam: NDArray[np.float64], cost: NDArray[np.float64], allowed: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """Project each edge's split onto ``{lam_u >= 0, sum_u lam_u = c_e}`` over its utilities."""
    v = np.where(allowed, lam, -1e18).T  # edges x utilities
    s = -np.sort(-v, axis=1)
    cs = np.cumsum(s, axis=1)
    j = np.arange(1, v.shape[1] + 1)
    cond = s - (cs - cost[:, None]) / j > 0
    rho = np.maximum(cond.shape[1] - 1 - np.argmax(cond[:, ::-1], axis=1), 0)
    tau = (cs[np.arange(len(cost)), rho] - cost) / (rho + 1)
    out = np.maximum(v - tau[:, None], 0.0).T
    return np.where(allowed, out, 0.0)


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


# exact: directed multi-commodity flow MILP in HiGHS

MAX_WIDTH_ROWS = 50_000
"""Width rows put into the model from the start; beyond them width limits are lazy cuts."""


def _minimal_too_wide(problem: _Problem, names: list[str], width_m: float) -> list[tuple[int, ...]]:
    """Index sets of utilities too wide for ``width_m`` whose every proper subset fits."""
    fits: dict[tuple[int, ...], bool] = {}
    out = []
    for size in range(1, len(names) + 1):
        for members in itertools.combinations(range(len(names)), size):
            need = problem.width(frozenset(names[i] for i in members))
            fits[members] = need <= width_m + 1e-9
            if fits[members] or size == 1:
                continue
            # a set is minimal when all its subsets one smaller fit
            if all(fits.get(tuple(m for m in members if m != drop), False) for drop in members):
                out.append(members)
    return out


def _milp(  # noqa: PLR0917 - private helper
    net: TrenchNetwork,
    problem: _Problem,
    warm: Solution | None,
    upper: float,
    deadline: float,
    node_ok: Mapping[str, frozenset[Hashable]] | None = None,
) -> tuple[Solution, str, float | None, dict[str, Any]]:
    """Solve the flow model in HiGHS from ``warm`` (None: no starting plan) until ``deadline``.

    Raises
    ------
    NoRouteError
        If the model is infeasible (no plan fits the road widths), or no plan was found in
        the time and none was given.
    """
    model = _MilpModel(net, problem, upper, node_ok)
    h = _solver()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", OPTIMALITY_GAP)
    h.setOptionValue("mip_abs_gap", 1e-6)
    h.setOptionValue("random_seed", 0)
    model.pass_to(h)
    stats: dict[str, Any] = {
        "milp_cols": model.n_cols,
        "milp_rows": model.n_rows,
        "width_rows": model.n_width_rows,
        "width_cuts": 0,
    }
    warm_vector = None if warm is None else model.vector(warm)
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
        if found is not None and (
            best is None
            or _width_violations(problem, best)
            or _solution_cost(problem, found) <= _solution_cost(problem, best) + 1e-9
        ):
            best = found
        status = "optimal" if model_status == highspy.HighsModelStatus.kOptimal else "time_limit"
        if found is not None:
            stats["milp_objective_cny"] = float(info.objective_function_value)
        break
    stats["milp_nodes"] = int(h.getInfo().mip_node_count)
    if best is None:
        msg = "the exact method found no plan within its time limit and had none to start from"
        raise NoRouteError(msg)
    return best, status, bound, stats


def _path_bound(net: TrenchNetwork, problem: _Problem) -> float:
    """A cheap lower bound from shortest paths, valid for every plan (see ``_arc_masks``).

    Every utility pays at least its laying cost to its farthest site, and the trench of one
    utility's farthest path on top (bound 1); with each trench split evenly among the K
    utilities with sites, every utility's farthest path under its share (bound 2).
    """
    rows = _lower_bounds(net, problem, per_site=False)
    if not rows:
        return 0.0
    lay = sum(r["lay_lb"] for r in rows)
    one = max(r["full"]["far"] + lay - r["lay_lb"] for r in rows)
    shared = sum(r["alpha"]["far"] for r in rows)
    best = max(one, shared, lay)
    return float(best) if math.isfinite(best) else 0.0


def _solver() -> highspy.Highs:
    """This thread's HiGHS instance, cleared (model, solver state and options).

    HiGHS prints its banner to the C stdout when an instance is made, before any option can
    silence it; one instance per thread keeps a service's output to that one line.
    """
    h: highspy.Highs | None = getattr(_LOCAL, "highs", None)
    if h is None:
        h = _quiet_highs()
        _LOCAL.highs = h
    else:
        h.clear()
    return h


_BANNER_LOCK = threading.Lock()


def _quiet_highs() -> highspy.Highs:
    """A HiGHS instance made with the C stdout pointed at /dev/null (its banner goes there).

    Only the construction is silenced, under a lock; anything else written to fd 1 in those
    microseconds is lost with the banner.
    """
    with _BANNER_LOCK:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with Path(os.devnull).open("wb") as null:
                os.dup2(null.fileno(), 1)
                h = highspy.Highs()  # type: ignore[no-untyped-call]
        finally:
            os.dup2(saved, 1)
            os.close(saved)
    return h


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
        # width limits from the start: on each edge, every smallest set of utilities too wide
        # for it may not all run there (sum of their arcs <= (|set| - 1) y_e), pairs first
        n_width = 0
        for e, utilities in self._width_sets(problem, arc_edge):
            cols = [
                int(c)
                for u in utilities
                for c in (self.z_col[u][e], self.z_col[u][e + E])
                if c >= 0
            ]
            add_rows(np.full(len(cols), n_row), np.asarray(cols), np.ones(len(cols)))
            add_rows(np.array([n_row]), np.array([e]), np.array([-(len(utilities) - 1.0)]))
            row_lo.append(np.array([-_INF]))
            row_hi.append(np.array([0.0]))
            n_row += 1
            n_width += 1
        self.n_width_rows = n_width
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

    def _width_sets(
        self, problem: _Problem, arc_edge: NDArray[np.int64]
    ) -> list[tuple[int, tuple[str, ...]]]:
        """(edge, utilities) for each smallest too-wide set whose utilities all reach the edge.

        At most ``MAX_WIDTH_ROWS`` rows, smallest sets first; lazy cuts catch the rest.
        """
        E = self.net.n_edges  # noqa: N806
        names = self.utilities
        if len(names) < 2:
            return []
        on_edge = np.zeros((len(names), E), dtype=bool)
        for i, u in enumerate(names):
            zc = self.z_col[u]
            on_edge[i] = (zc[:E] >= 0) | (zc[E:] >= 0)
        minimal: dict[float, list[tuple[int, ...]]] = {}
        found: list[tuple[int, int, tuple[str, ...]]] = []
        for e in np.flatnonzero(np.isfinite(self.net.width_m) & (on_edge.sum(axis=0) >= 2)):
            w = float(self.net.width_m[e])
            if w not in minimal:
                minimal[w] = _minimal_too_wide(problem, names, w)
            here = set(np.flatnonzero(on_edge[:, e]).tolist())
            for members in minimal[w]:
                if here.issuperset(members):
                    found.append((len(members), int(e), tuple(names[i] for i in members)))
        found.sort(key=lambda x: (x[0], x[1]))
        return [(e, m) for _, e, m in found[:MAX_WIDTH_ROWS]]

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
