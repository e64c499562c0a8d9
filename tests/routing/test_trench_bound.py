"""Lower bounds of the shared-trench planner: never above the optimum, and exact where solved."""

from __future__ import annotations

import numpy as np
import pytest

from routing import _steiner_bound
from routing._steiner_bound import dual_ascent
from routing._steiner_bound import steiner_through_nodes
from routing._trench_exact import _lagrange_bound
from routing._trench_exact import _path_bound
from routing._trench_heuristic import _heuristic
from routing._trench_model import _solution_cost
from routing.costs import load_cost_model
from routing.errors import UnreachableSupplyError
from routing.trench import _build_problem
from routing.trench import plan_shared_trench
from routing.trench import prepare_network
from tests.routing.test_trench import OPTS
from tests.routing.test_trench import check_feasible
from tests.routing.test_trench import exhaustive_optimum
from tests.routing.test_trench import random_instance
from tests.routing.test_trench_honesty import city_grid


def random_arrays(seed: int):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 25))
    m = int(rng.integers(n, 3 * n))
    eu, ev = rng.integers(0, n, m), rng.integers(0, n, m)
    keep = eu != ev
    # a path through all nodes keeps every site reachable
    eu = np.concatenate([eu[keep], np.arange(n - 1)])
    ev = np.concatenate([ev[keep], np.arange(1, n)])
    w = rng.integers(1, 50, len(eu)).astype(float)
    order = rng.permutation(n)
    sources = [int(x) for x in order[:2]]
    sites = [int(x) for x in order[2 : 2 + int(rng.integers(1, 6))]]
    return n, eu, ev, w, sources, sites


@pytest.mark.parametrize("seed", range(100))
def test_dual_ascent_is_never_above_the_exact_steiner_tree(seed):
    n, eu, ev, w, sources, sites = random_arrays(seed)
    exact = steiner_through_nodes(n, eu, ev, w, sources, sites)
    bound = dual_ascent(n, eu, ev, w, sources, sites)
    assert exact is not None
    assert bound is not None
    assert bound.tree_cny <= exact.tree_cny + 1e-6
    assert bound.tree_cny > 0


def test_dual_ascent_is_exact_on_a_path():
    # root - 0 - 1 - 2 with the site at 2: the only tree costs 3 + 4 = 7
    bound = dual_ascent(3, np.array([0, 1]), np.array([1, 2]), np.array([3.0, 4.0]), [0], [2])
    assert bound is not None
    assert bound.tree_cny == pytest.approx(7.0)
    assert bound.through_cny[1] == pytest.approx(7.0)


@pytest.mark.parametrize("seed", range(60))
@pytest.mark.parametrize("trees", ["dreyfus_wagner", "dual_ascent"])
def test_the_bound_is_never_above_the_optimum_and_the_plan_equals_enumeration(
    seed, trees, monkeypatch
):
    # with MAX_TERMINALS = 0 every utility's tree is bounded by dual ascent, which also
    # drives the bound-based node elimination: the optimum must survive it
    if trees == "dual_ascent":
        monkeypatch.setattr(_steiner_bound, "MAX_TERMINALS", 0)
    G, sites, supplies = random_instance(seed)  # noqa: N806
    try:
        plan = plan_shared_trench(G, sites, supplies, **OPTS)
    except UnreachableSupplyError:
        return
    if plan.status == "empty":
        return
    optimum = exhaustive_optimum(G, sites, supplies)
    assert plan.status == "optimal"
    assert plan.total_cost_cny == pytest.approx(optimum)
    check_feasible(G, plan, sites, supplies)
    stats = dict(plan.stats)
    assert "lagrange_bound_cny" in stats
    for key in ("lagrange_bound_cny", "path_bound_cny"):
        assert stats[key] <= optimum * (1 + 1e-9) + 1e-6, key
    assert plan.bound_cny is not None
    assert plan.bound_cny <= optimum * (1 + 1e-9) + 1e-6


def test_dual_ascent_raises_the_bound_where_dreyfus_wagner_cannot_run():
    # nine sites per utility: no Dreyfus-Wagner; the Lagrangian bound (run to its end, no
    # deadline) now rests on dual ascent and beats the shortest-path bound
    G, sites, supplies = city_grid(0, n=10)  # noqa: N806
    net = prepare_network(G)
    problem = _build_problem(net, tuple(sites), supplies, load_cost_model(), None)
    warm = _heuristic(net, problem)
    upper = _solution_cost(problem, warm)
    result = _lagrange_bound(net, problem, warm, upper, max_rounds=5)
    assert result is not None
    assert _path_bound(net, problem) < result.bound <= upper
