"""The Lagrangian split of the trench cost: exact subgradients, a valid split, a valid bound."""

from __future__ import annotations

import time

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings

from routing import trench as trench_module
from routing._steiner_bound import steiner_through_nodes
from routing._trench_exact import _lagrange_bound
from routing._trench_exact import _project_split
from routing._trench_heuristic import _heuristic
from routing._trench_model import _solution_cost
from routing._trench_model import _width_violations
from routing.errors import NoRouteError
from routing.errors import UnreachableSupplyError
from routing.results import Site
from routing.trench import _build_problem
from routing.trench import plan_shared_trench
from routing.trench import prepare_network
from tests.routing.test_trench import MODEL
from tests.routing.test_trench import OPTS
from tests.routing.test_trench import graph
from tests.routing.test_trench_alternatives import instances
from tests.routing.test_trench_bound import random_arrays
from tests.routing.test_trench_honesty import city_grid


@pytest.mark.parametrize("seed", range(100))
def test_the_traced_dreyfus_wagner_tree_costs_its_bound_and_joins_every_site(seed):
    n, eu, ev, w, sources, sites = random_arrays(seed)
    sb = steiner_through_nodes(n, eu, ev, w, sources, sites, with_tree=True)
    assert sb is not None
    assert sb.tree_edges is not None
    tree = sb.tree_edges
    assert float(w[tree].sum()) == pytest.approx(sb.tree_cny)
    H = nx.Graph()  # noqa: N806
    H.add_nodes_from(range(n))
    H.add_edges_from(zip(eu[tree].tolist(), ev[tree].tolist(), strict=True))
    for t in sites:
        assert any(nx.has_path(H, s, t) for s in sources), t


def test_the_projected_split_pays_each_edge_exactly_among_its_utilities():
    rng = np.random.default_rng(0)
    cost = rng.uniform(1, 100, 50)
    allowed = rng.random((4, 50)) < 0.7
    allowed[0] = True  # every edge has a utility
    lam = rng.normal(0, 60, (4, 50))
    out = _project_split(lam, cost, allowed)
    assert (out >= 0).all()
    assert (out[~allowed] == 0).all()
    np.testing.assert_allclose(out.sum(axis=0), cost)
    # a split that already is one stays as it is
    even = allowed * cost / allowed.sum(axis=0)
    np.testing.assert_allclose(_project_split(even, cost, allowed), even)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(instances())
def test_with_binding_widths_the_bound_stays_under_the_optimum_and_its_plans_fit(case):
    """The optimum here is HiGHS's alone (the Lagrangian switched off), widths included."""
    G, sites, supplies = case  # noqa: N806
    original = trench_module._lagrange_bound
    trench_module._lagrange_bound = lambda *a, **k: None
    try:
        exact = plan_shared_trench(G, sites, supplies, time_limit_s=20.0, **OPTS)
    except (NoRouteError, UnreachableSupplyError):
        return
    finally:
        trench_module._lagrange_bound = original
    if exact.status == "empty":
        return
    assert exact.status == "optimal"
    net = prepare_network(G, cost_model=MODEL, on_date=OPTS["on_date"])
    problem = _build_problem(net, tuple(sites), supplies, MODEL, None)
    try:
        warm = _heuristic(net, problem)
    except NoRouteError:
        return
    upper = _solution_cost(problem, warm)
    result = _lagrange_bound(net, problem, warm, upper, max_rounds=40)
    assert result is not None
    assert result.bound <= exact.total_cost_cny * (1 + 1e-9) + 1e-6
    if result.plan is not None:
        assert not _width_violations(problem, result.plan)
        assert exact.total_cost_cny - 1e-6 <= _solution_cost(problem, result.plan) < upper


@pytest.mark.parametrize("seed", [0, 3])  # 0: proven by the bound alone; 3: not
def test_a_corridor_too_big_for_highs_keeps_its_plan_and_says_what_the_bound_proved(
    seed, monkeypatch
):
    # the package's cost model: the grid has six utilities
    G, sites, supplies = city_grid(seed, n=8, n_sites=5)  # noqa: N806
    # the optimum as HiGHS alone proves it (no Lagrangian bound, the usual corridor)
    monkeypatch.setattr(trench_module, "_lagrange_bound", lambda *a, **k: None)
    exact = plan_shared_trench(G, sites, supplies, time_limit_s=30.0)
    assert exact.status == "optimal"
    monkeypatch.undo()
    # every corridor counts as too big: HiGHS never runs, the status comes from the bound
    monkeypatch.setattr(trench_module, "BIG_CORRIDOR_EDGES", 0)
    plan = plan_shared_trench(G, sites, supplies, time_limit_s=3.0)
    stats = dict(plan.stats)
    assert "milp_nodes" not in stats
    assert plan.bound_cny is not None
    # the reported bound is clipped to the plan's cost; the Lagrangian's own is not
    for bound in (plan.bound_cny, stats["lagrange_bound_cny"]):
        assert bound <= exact.total_cost_cny * (1 + 1e-9) + 1e-6
    assert exact.total_cost_cny <= plan.total_cost_cny + 1e-6
    if plan.status == "optimal":
        assert plan.total_cost_cny == pytest.approx(exact.total_cost_cny)
    else:
        assert plan.status == "time_limit"
        assert stats["milp_skipped"] is True
        assert plan.gap == pytest.approx(1 - plan.bound_cny / plan.total_cost_cny)
        assert plan.gap > 0


def test_a_model_that_refuses_a_plan_in_hand_keeps_the_plan_and_proves_nothing(monkeypatch):
    def refuse(*args, **kwargs):
        msg = "the exact model is infeasible: no trench plan fits the road widths"
        raise NoRouteError(msg)

    monkeypatch.setattr(trench_module, "_lagrange_bound", lambda *a, **k: None)
    monkeypatch.setattr(trench_module, "_milp", refuse)
    G, sites, supplies = city_grid(0, n=6, n_sites=4)  # noqa: N806
    heur = plan_shared_trench(G, sites, supplies, method="heuristic")
    plan = plan_shared_trench(G, sites, supplies)
    assert plan.status == "time_limit"
    assert plan.bound_cny is None
    assert plan.gap is None
    assert dict(plan.stats)["milp_infeasible_with_plan"] is True
    assert plan.total_cost_cny <= heur.total_cost_cny + 1e-6


def test_a_corridor_model_without_a_plan_in_hand_never_refuses_alone(monkeypatch):
    # no plan in hand (heuristic off, no candidates) and a corridor model that finds none:
    # the whole network decides, and here it has the optimum. The far loop A-F-G-B is pruned
    # from the corridor, so the corridor is smaller than the network.
    G = graph(  # noqa: N806
        [
            ("S", "J", 300),
            ("J", "A", 100),
            ("J", "B", 100),
            ("S", "A", 350),
            ("S", "B", 350),
            ("A", "F", 2000),
            ("F", "G", 2000),
            ("G", "B", 2000),
        ]
    )
    sites, supplies = {"A": {"water"}, "B": {"power"}}, {"water": "S", "power": "S"}
    expected = plan_shared_trench(G, sites, supplies, **OPTS)
    assert expected.status == "optimal"
    net = prepare_network(G, cost_model=MODEL, on_date=OPTS["on_date"])
    problem = _build_problem(
        net, tuple(Site(n, frozenset(u)) for n, u in sites.items()), supplies, MODEL, None
    )
    real_milp = trench_module._milp
    calls = []

    def corridor_refuses(network, *args, **kwargs):
        calls.append(network.n_edges)
        if len(calls) == 1:
            msg = "the exact model is infeasible: no trench plan fits the road widths"
            raise NoRouteError(msg)
        return real_milp(network, *args, **kwargs)

    def no_heuristic(*args, **kwargs):
        msg = "the heuristic found no plan that fits the road widths"
        raise NoRouteError(msg)

    monkeypatch.setattr(trench_module, "_heuristic", no_heuristic)
    monkeypatch.setattr(trench_module, "_milp", corridor_refuses)
    sol, status, bound, stats = trench_module._solve_milp(
        net, problem, deadline=time.perf_counter() + 30.0, candidates=[]
    )
    assert len(calls) == 2
    assert calls[0] < calls[1] == net.n_edges  # the corridor first, then the whole network
    assert stats["milp_on_whole_network"] is True
    assert status == "optimal"
    assert _solution_cost(problem, sol) == pytest.approx(expected.total_cost_cny)
    assert bound is not None
    assert bound <= expected.total_cost_cny * (1 + 1e-9) + 1e-6
