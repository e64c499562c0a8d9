"""The alternatives a coordinator compares: joint optimum, own trenches, overlay, heuristic."""

from __future__ import annotations

import datetime as dt
import math

import networkx as nx
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from routing.errors import NoRouteError
from routing.results import CONSTRAINTS
from routing.results import PlanAlternative
from routing.results import Site
from routing.results import TrenchAlternatives
from routing.results import TrenchPlan
from routing.trench import plan_alternatives
from routing.trench import plan_shared_trench
from tests.routing.test_trench import MODEL
from tests.routing.test_trench import OPTS
from tests.routing.test_trench import graph

# the test's own width rule, as MODEL states it: margin 0.5 m + each utility's section
SECTION_M = {"water": 0.5, "power": 0.6, "gas": 0.4}
LAY = {"water": 10.0, "power": 20.0, "gas": 5.0}


def need_m(utilities: frozenset[str] | set[str]) -> float:
    return 0.5 + sum(SECTION_M[u] for u in utilities) if utilities else 0.0


def narrow_corner() -> nx.MultiGraph:
    # S-A 100 m is 1.2 m wide: water alone needs 1.0 m, power alone 1.1 m, both 1.6 m.
    # The detour S-B-A is 200 m and wide.
    return graph([("S", "A", 100, {"width_m": 1.2}), ("S", "B", 100), ("B", "A", 100)])


def test_the_overlay_that_costs_less_than_the_optimum_is_ruled_out_by_the_road_width():
    # the page's contradiction on a hand graph. Each utility's own route is S-A (water
    # 100 * 110 = 11,000; power 100 * 120 = 12,000). Overlaid, S-A is dug once for both:
    # 10,000 + 1,000 + 2,000 = 13,000, but the road is 1.2 m and the pair needs 1.6 m. The
    # optimum puts both on the detour: 20,000 + 2,000 + 4,000 = 26,000 (water on S-A and
    # power around would be 11,000 + 24,000 = 35,000).
    G = narrow_corner()  # noqa: N806
    sites, supplies = [Site("A", {"water", "power"})], {"water": "S", "power": "S"}
    alt = plan_alternatives(G, sites, supplies, **OPTS)
    assert isinstance(alt, TrenchAlternatives)
    assert [a.kind for a in alt.all] == ["joint", "separate", "overlay", "heuristic"]
    assert alt.joint.total_cost_cny == pytest.approx(26000)
    assert alt.joint.status == "optimal"
    assert alt.joint.gap == pytest.approx(0.0, abs=1e-9)
    assert alt.joint.feasible
    assert alt.overlay.total_cost_cny == pytest.approx(13000)
    assert not alt.overlay.feasible
    (v,) = alt.overlay.violations
    assert (v.constraint, v.segment_id, v.utilities) == ("road_width", "s0", ("power", "water"))
    assert (v.required_m, v.available_m) == (pytest.approx(1.6), 1.2)
    assert "CostModel.required_width_m" in v.detail
    assert v.label.startswith("道路宽度不足")
    # own trenches: both dig S-A in the same works window, side by side: 1.0 + 1.1 m
    assert alt.separate.total_cost_cny == pytest.approx(23000)
    assert not alt.separate.feasible
    (w,) = alt.separate.violations
    assert (w.constraint, w.required_m) == ("road_width", pytest.approx(2.1))
    # the plan itself says why its overlay saving is negative
    plan = plan_shared_trench(G, sites, supplies, **OPTS)
    assert plan.savings_vs_overlay_cny == pytest.approx(-13000)
    assert not plan.overlay_feasible
    assert plan.summary()["overlay_violations"][0]["constraint"] == "road_width"
    again = TrenchPlan.from_dict(plan.to_dict())
    assert again.overlay_violations == plan.overlay_violations


def test_width_rule_is_named_as_the_caller_passed_it():
    from routing.section_types import SiteConditions  # noqa: PLC0415
    from routing.sections import dig_width_rule  # noqa: PLC0415

    G = graph([("S", "A", 100, {"width_m": 1.0}), ("S", "B", 100), ("B", "A", 100)])  # noqa: N806
    rule = dig_width_rule(SiteConditions(frost_depth_m=2.0))
    if rule(frozenset({"water", "gas"})) <= 1.0:
        pytest.skip("the dig of water + gas fits 1 m: no violation to name")
    alt = plan_alternatives(
        G,
        [Site("A", {"water", "gas"})],
        {"water": "S", "gas": "S"},
        required_width_m=lambda us: rule(us) if len(us) > 1 else 0.5,
        **OPTS,
    )
    assert not alt.overlay.feasible
    alt2 = plan_alternatives(
        graph([("S", "A", 100, {"width_m": 0.1}), ("S", "B", 100), ("B", "A", 100)]),
        [Site("A", {"water", "gas"})],
        {"water": "S", "gas": "S"},
        required_width_m=rule,
        **OPTS,
    )
    # each alone already needs more than 0.1 m: S-A is closed to both, every plan detours
    assert alt2.overlay.feasible
    assert alt2.joint.total_cost_cny <= alt2.overlay.total_cost_cny + 1e-6


def test_a_coinciding_overlay_that_fits_is_feasible_and_the_optimum_beats_it():
    # wide roads: the overlay S-A carrying both is a shared-trench plan; the optimum equals it
    G = graph([("S", "A", 100), ("S", "B", 100), ("B", "A", 100)])  # noqa: N806
    alt = plan_alternatives(
        G, [Site("A", {"water", "power"})], {"water": "S", "power": "S"}, **OPTS
    )
    assert alt.overlay.feasible
    assert alt.overlay.violations == ()
    assert alt.overlay.total_cost_cny == pytest.approx(13000)
    assert alt.joint.total_cost_cny == pytest.approx(13000)
    assert alt.separate.feasible
    assert alt.separate.total_cost_cny == pytest.approx(23000)
    # own trenches: one edge row per utility and road, each paid on its own
    assert sorted(e.utilities for e in alt.separate.plan.edges) == [("power",), ("water",)]
    assert alt.heuristic.status == "heuristic"
    assert alt.heuristic.gap is None


def test_protected_road_and_bridge_are_named():
    # the own routes never use forbidden roads (they are priced out), but the checker that
    # rules on the alternatives must name them when a plan does use one
    from routing._trench_check import _dig_violations  # noqa: PLC0415
    from routing.trench import _build_problem  # noqa: PLC0415
    from routing.trench import prepare_network  # noqa: PLC0415

    G = graph(  # noqa: N806
        [
            ("S", "A", 100, {"bridge": True}),
            ("A", "B", 100, {"protected_until": dt.date(2028, 1, 1)}),
            ("S", "B", 300),
        ]
    )
    net = prepare_network(G, cost_model=MODEL, on_date=OPTS["on_date"])
    problem = _build_problem(net, (Site("B", {"water"}),), {"water": "S"}, MODEL, None)
    found = _dig_violations(
        problem,
        net.forbidden,
        [(("S", "A", 0), frozenset({"water"})), (("A", "B", 0), frozenset({"water"}))],
        width_rule_name="rule",
    )
    assert {(v.constraint, v.segment_id) for v in found} == {
        ("bridge", "s0"),
        ("protection_period", "s1"),
    }
    assert "2028-01-01" in next(v for v in found if v.constraint == "protection_period").detail


# ------------------------------------------------------------------------------------------
# property: the optimum costs no more than any feasible alternative shown


@st.composite
def instances(draw: st.DrawFn) -> tuple[nx.MultiGraph, list[Site], dict[str, list[int]]]:
    n = draw(st.integers(3, 7))
    pairs = [(a, b) for a in range(n) for b in range(a + 1, n)]
    # a spanning path keeps the graph connected; then a few more roads
    chosen = [(i, i + 1) for i in range(n - 1)]
    chosen += draw(st.lists(st.sampled_from(pairs), max_size=5, unique=True))
    G = nx.MultiGraph(crs="EPSG:32652")  # noqa: N806
    for i, (a, b) in enumerate(chosen):
        attrs: dict[str, object] = {}
        kind = draw(st.sampled_from(["wide", "wide", "narrow", "tight", "bridge"]))
        if kind == "narrow":
            attrs["width_m"] = draw(st.sampled_from([1.0, 1.1, 1.6, 2.0]))
        elif kind == "tight":
            attrs["width_m"] = 0.9  # no utility fits alone
        elif kind == "bridge":
            attrs["bridge"] = True
        G.add_edge(
            a,
            b,
            segment_id=f"s{i}",
            length_m=float(draw(st.integers(1, 9)) * 10),
            road_class="residential",
            **attrs,
        )
    utilities = draw(st.lists(st.sampled_from(["gas", "power", "water"]), min_size=1, unique=True))
    site_nodes = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=3, unique=True))
    sites = [
        Site(t, frozenset(draw(st.lists(st.sampled_from(utilities), min_size=1, unique=True))))
        for t in site_nodes
    ]
    used = sorted(set().union(*(s.utilities for s in sites)))
    supplies = {
        u: draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=2, unique=True)) for u in used
    }
    return G, sites, supplies


def independent_cost(G: nx.MultiGraph, alt: PlanAlternative) -> float:  # noqa: N803
    """Price the alternative from the graph: 100 CNY/m per dig, plus each utility's laying."""
    assert alt.plan is not None
    digs = sum(100.0 * G.edges[e.source, e.target, e.key]["length_m"] for e in alt.plan.edges)
    lay = sum(
        LAY[r.utility] * sum(G.edges[x]["length_m"] for x in r.edges) for r in alt.plan.routes
    )
    return digs + lay


def independent_violations(G: nx.MultiGraph, alt: PlanAlternative) -> set[tuple[str, object]]:  # noqa: N803
    """The test's own ruling: (constraint, segment) for each rule the plan's digs break."""
    assert alt.plan is not None
    by_edge: dict[tuple, list[tuple[str, ...]]] = {}
    for e in alt.plan.edges:
        by_edge.setdefault((e.source, e.target, e.key), []).append(e.utilities)
    out = set()
    for ref, groups in by_edge.items():
        data = G.edges[ref]
        if data.get("bridge"):
            out.add(("bridge", data["segment_id"]))
        elif "width_m" in data and sum(need_m(set(g)) for g in groups) > data["width_m"] + 1e-9:
            out.add(("road_width", data["segment_id"]))
    return out


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(instances())
def test_optimum_costs_no_more_than_any_feasible_alternative_and_infeasible_ones_say_why(case):
    G, sites, supplies = case  # noqa: N806
    try:
        alt = plan_alternatives(G, sites, supplies, time_limit_s=20.0, **OPTS)
    except NoRouteError:
        return  # no plan fits at all (a site only behind a bridge or a 0.9 m road)
    assert alt.joint.feasible, alt.joint.violations
    assert alt.joint.status in ("optimal", "empty")
    for a in alt.all:
        if a.plan is None:
            assert a.kind == "heuristic"
            assert not a.feasible
            assert [v.constraint for v in a.violations] == ["no_plan"]
            continue
        assert a.total_cost_cny == pytest.approx(independent_cost(G, a))
        found = {(v.constraint, v.segment_id) for v in a.violations}
        assert found == independent_violations(G, a), a.kind
        assert a.feasible == (not found)
        for v in a.violations:
            assert v.constraint in CONSTRAINTS
            assert v.detail
            if v.constraint == "road_width":
                assert v.required_m is not None and v.available_m is not None
                assert v.required_m > v.available_m
        if a.feasible:
            assert alt.joint.total_cost_cny <= a.total_cost_cny + 1e-6, a.kind
    assert math.isfinite(alt.joint.total_cost_cny)
