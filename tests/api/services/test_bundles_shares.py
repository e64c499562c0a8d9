"""Cost shares of a bundle: per application and per utility, summing to the joint total."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.services.bundles import split_shares
from routing.results import CostShare
from routing.results import TrenchPlan

UTILITIES = ("water", "power", "gas", "drainage", "heat", "telecom")


def plan(shares: dict[str, float]) -> TrenchPlan:
    total = sum(shares.values())
    return TrenchPlan(
        edges=(),
        routes=(),
        trench_length_m=0.0,
        trench_cost_cny=0.0,
        laying_cost_cny=0.0,
        total_cost_cny=total,
        method="milp",
        status="optimal",
        bound_cny=total,
        gap=0.0,
        separate_cost_cny=0.0,
        overlay_cost_cny=0.0,
        shares=tuple(CostShare(u, c, 0.0, c) for u, c in shares.items()),
        sharing_rule="proportional",
    )


def test_shares_follow_each_applications_own_cost_of_the_utility() -> None:
    joint = plan({"water": 600.0, "gas": 300.0})
    alone = {7: plan({"water": 100.0, "gas": 300.0}), 9: plan({"water": 300.0})}
    assert split_shares(joint, alone) == {7: {"gas": 300.0, "water": 150.0}, 9: {"water": 450.0}}


def test_a_utility_no_member_needs_is_refused() -> None:
    with pytest.raises(ValueError, match="needs 'heat'"):
        split_shares(plan({"heat": 10.0}), {1: plan({"water": 5.0}), 2: plan({"gas": 5.0})})


@st.composite
def bundles(draw: st.DrawFn) -> tuple[TrenchPlan, dict[int, TrenchPlan]]:
    n = draw(st.integers(2, 5))
    cost = st.floats(0.0, 5e6, allow_nan=False)
    alone = {}
    for i in range(n):
        needs = draw(st.sets(st.sampled_from(UTILITIES), min_size=1))
        alone[i + 1] = plan({u: draw(cost) for u in sorted(needs)})
    used = sorted({s.utility for p in alone.values() for s in p.shares})
    return plan({u: draw(cost) for u in used}), alone


@given(bundles())
def test_shares_sum_to_the_total_per_utility_and_overall(
    case: tuple[TrenchPlan, dict[int, TrenchPlan]],
) -> None:
    joint, alone = case
    shares = split_shares(joint, alone)
    assert math.fsum(c for s in shares.values() for c in s.values()) == pytest.approx(
        joint.total_cost_cny, abs=0.01
    )
    for share in joint.shares:
        paid = math.fsum(s.get(share.utility, 0.0) for s in shares.values())
        assert paid == pytest.approx(share.cost_cny, abs=0.01)
    for i, s in shares.items():
        assert set(s) <= {x.utility for x in alone[i].shares}  # only what it needs
        assert all(c >= 0 for c in s.values())
