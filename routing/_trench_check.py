"""Check a set of trench digs against the rules a plan must keep, naming each one broken."""

from __future__ import annotations

import math
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

from routing._trench_model import _Problem
from routing._trench_model import _ref_key
from routing.reduce import EdgeRef
from routing.results import PlanViolation

Dig = tuple[EdgeRef, frozenset[str]]
"""One trench dug along one input edge and the utilities laid in it."""


def _dig_violations(
    problem: _Problem,
    forbidden: Mapping[EdgeRef, str],
    digs: Iterable[Dig],
    *,
    width_rule_name: str,
) -> tuple[PlanViolation, ...]:
    """Every rule the digs break: bridges, protection periods, road widths.

    Several digs on one edge (each utility in its own trench, dug in the same works window)
    must fit side by side: the road must be at least the sum of their widths.
    """
    by_edge: dict[EdgeRef, list[frozenset[str]]] = {}
    for ref, utilities in digs:
        by_edge.setdefault(ref, []).append(frozenset(utilities))
    out: list[PlanViolation] = []
    for ref in sorted(by_edge, key=_ref_key):
        groups = by_edge[ref]
        users = tuple(sorted(frozenset().union(*groups)))
        info = problem.info[ref]
        reason = forbidden.get(ref)
        if reason is not None:
            out.append(_forbidden(ref, info, users, reason))
            continue
        width = info.width_m
        if not math.isfinite(width):
            continue
        need = float(sum(problem.width(g) for g in groups))
        if need > width + 1e-9:
            side = " side by side" if len(groups) > 1 else ""
            out.append(
                PlanViolation(
                    constraint="road_width",
                    edge=ref,
                    segment_id=info.segment_id,
                    utilities=users,
                    required_m=need,
                    available_m=float(width),
                    detail=(
                        f"segment {info.segment_id!r} is {width:g} m wide; "
                        f"{' + '.join(' & '.join(sorted(g)) for g in groups)}{side} need "
                        f"{need:.2f} m ({width_rule_name})"
                    ),
                )
            )
    return tuple(out)


def _forbidden(ref: EdgeRef, info: Any, users: tuple[str, ...], reason: str) -> PlanViolation:
    constraint = "bridge" if reason == "bridge" else "protection_period"
    return PlanViolation(
        constraint=constraint,
        edge=ref,
        segment_id=info.segment_id,
        utilities=users,
        required_m=None,
        available_m=None,
        detail=f"segment {info.segment_id!r}: {reason}",
    )


def _shared_digs(sol: Mapping[str, frozenset[EdgeRef]]) -> list[Dig]:
    """One dig per edge carrying every utility routed along it (a shared-trench plan)."""
    users: dict[EdgeRef, set[str]] = {}
    for u, refs in sol.items():
        for r in refs:
            users.setdefault(r, set()).add(u)
    return [(r, frozenset(us)) for r, us in users.items()]


def _own_digs(sol: Mapping[str, frozenset[EdgeRef]]) -> list[Dig]:
    """One dig per utility and edge (each utility in its own trench)."""
    return [(r, frozenset({u})) for u, refs in sol.items() for r in refs]


def _rule_name(rule: Any) -> str:
    """A width rule's name for messages: ``dig_width_rule`` for its inner closure."""
    name = getattr(rule, "__qualname__", None) or type(rule).__name__
    return str(name).split(".<locals>")[0]
