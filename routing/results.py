"""Frozen results of the shared-trench optimiser, and their one GeoJSON shape."""

from __future__ import annotations

import math
from collections.abc import Hashable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import numpy as np
import shapely
import shapely.geometry

__all__ = [
    "ALTERNATIVE_KINDS",
    "CONSTRAINTS",
    "CostShare",
    "PlanAlternative",
    "PlanViolation",
    "ProjectsPlan",
    "RouteStep",
    "Site",
    "TrenchAlternatives",
    "TrenchEdge",
    "TrenchPlan",
    "TrenchRequest",
    "UtilityRoute",
    "plan_to_geojson",
]

STATUSES = ("optimal", "time_limit", "heuristic", "baseline", "uncoordinated", "empty")
"""``optimal``: HiGHS proved it (gap within 1e-7); ``time_limit``: best found, ``gap`` proven;
``heuristic`` / ``baseline``: no bound; ``uncoordinated``: built from each utility's own route,
no search and no bound; ``empty``: every site sits on its supply point."""

CONSTRAINTS = {
    "road_width": "道路宽度不足 road too narrow",
    "protection_period": "道路保护期内禁止挖掘 road in its protection period",
    "bridge": "桥梁禁止开挖 no trench on a bridge",
    "no_plan": "未找到符合约束的方案 no plan found that keeps the rules",
}
"""The rules an alternative can break, with their labels (Chinese first)."""

ALTERNATIVE_KINDS = {
    "joint": "联合最优 joint optimum",
    "separate": "各自开挖 each utility in its own trench",
    "overlay": "简单叠加 overlay of uncoordinated routes",
    "heuristic": "启发式 heuristic",
}
"""The alternatives :func:`routing.trench.plan_alternatives` returns, in order, with labels."""


@dataclass(frozen=True)
class Site:
    """A building connection point on the graph and the utilities it needs."""

    node: Hashable
    utilities: frozenset[str]
    name: str | None = None
    project: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "utilities", frozenset(self.utilities))


@dataclass(frozen=True)
class TrenchRequest:
    """One project: its sites and, per utility, the candidate supply nodes."""

    sites: tuple[Site, ...]
    supplies: tuple[tuple[str, tuple[Hashable, ...]], ...]
    name: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "sites", tuple(self.sites))
        supplies = self.supplies.items() if isinstance(self.supplies, Mapping) else self.supplies
        object.__setattr__(self, "supplies", tuple(sorted((str(u), tuple(n)) for u, n in supplies)))

    def supply_map(self) -> dict[str, tuple[Hashable, ...]]:
        return dict(self.supplies)


@dataclass(frozen=True)
class RouteStep:
    """One row of a utility's path from its supply to a site, in pgRouting's words.

    ``edge`` is the road segment id (-1 on the last row), ``cost`` the utility's own laying
    cost on that edge in CNY, ``agg_cost`` the sum before this row; ``source`` is the supply
    node and ``target`` the site node.
    """

    seq: int
    node: Hashable
    edge: Any
    cost: float
    agg_cost: float
    source: Hashable
    target: Hashable
    length_m: float = 0.0


@dataclass(frozen=True)
class TrenchEdge:
    """One road segment the trench digs, with the utilities laid in it."""

    source: Hashable
    target: Hashable
    key: Hashable
    segment_id: Any
    length_m: float
    cost_cny: float
    utilities: tuple[str, ...]
    road_class: str | None = None
    name: str | None = None
    geometry: Any = None


@dataclass(frozen=True)
class UtilityRoute:
    """Where one utility runs: the supply nodes it uses, its edges and per-site steps."""

    utility: str
    supply_nodes: tuple[Hashable, ...]
    sites: tuple[Hashable, ...]
    edges: tuple[tuple[Hashable, Hashable, Hashable], ...]
    length_m: float
    laying_cost_cny: float
    steps: tuple[RouteStep, ...]


@dataclass(frozen=True)
class CostShare:
    """What one utility pays of the plan's total cost under ``TrenchPlan.sharing_rule``."""

    utility: str
    cost_cny: float
    fraction: float
    standalone_cost_cny: float


@dataclass(frozen=True)
class PlanViolation:
    """One rule a plan breaks: which (a key of ``CONSTRAINTS``), where and by how much.

    ``required_m`` / ``available_m`` are set for ``road_width`` (the width rule's need against
    the road's width); ``edge`` and ``segment_id`` are None for ``no_plan``.
    """

    constraint: str
    edge: tuple[Hashable, Hashable, Hashable] | None
    segment_id: Any
    utilities: tuple[str, ...]
    required_m: float | None
    available_m: float | None
    detail: str

    @property
    def label(self) -> str:
        """The rule's label, Chinese first."""
        return CONSTRAINTS.get(self.constraint, self.constraint)

    @property
    def message(self) -> str:
        """Label and detail in one line, e.g. for a table cell."""
        return f"{self.label}: {self.detail}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "constraint": self.constraint,
            "label": self.label,
            "edge": None if self.edge is None else list(self.edge),
            "segment_id": self.segment_id,
            "utilities": list(self.utilities),
            "required_m": self.required_m,
            "available_m": self.available_m,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlanViolation:
        edge = data.get("edge")
        return cls(
            constraint=data["constraint"],
            edge=None if edge is None else (edge[0], edge[1], edge[2]),
            segment_id=data.get("segment_id"),
            utilities=tuple(data.get("utilities") or ()),
            required_m=data.get("required_m"),
            available_m=data.get("available_m"),
            detail=data.get("detail", ""),
        )


@dataclass(frozen=True)
class TrenchPlan:
    """A shared trench network serving every utility of a request.

    Costs are in CNY. ``bound_cny`` is a proven lower bound on the optimum (None for methods
    without one) and ``gap`` is ``(total - bound) / total``. ``separate_cost_cny`` is every
    utility digging its own shortest-path trench; ``overlay_cost_cny`` is those same routes laid
    on top of each other, each road dug once where they happen to coincide.
    """

    edges: tuple[TrenchEdge, ...]
    routes: tuple[UtilityRoute, ...]
    trench_length_m: float
    trench_cost_cny: float
    laying_cost_cny: float
    total_cost_cny: float
    method: str
    status: str
    bound_cny: float | None
    gap: float | None
    separate_cost_cny: float
    overlay_cost_cny: float
    shares: tuple[CostShare, ...]
    sharing_rule: str
    crs: Any = None
    solve_time_s: float = 0.0
    stats: tuple[tuple[str, Any], ...] = field(default=())
    overlay_violations: tuple[PlanViolation, ...] = field(default=())

    @property
    def optimal(self) -> bool:
        return self.status in ("optimal", "empty")

    @property
    def overlay_feasible(self) -> bool:
        """Whether the overlay of uncoordinated routes keeps every rule (widths above all).

        When it does not, ``overlay_violations`` names each broken rule, and the plan may cost
        more than the overlay: ``savings_vs_overlay_cny`` is then negative by design.
        """
        return not self.overlay_violations

    @property
    def savings_vs_separate_cny(self) -> float:
        return self.separate_cost_cny - self.total_cost_cny

    @property
    def savings_vs_overlay_cny(self) -> float:
        return self.overlay_cost_cny - self.total_cost_cny

    @property
    def savings_vs_separate(self) -> float:
        """Fraction saved against separate trenches (0 when nothing is dug)."""
        return _fraction(self.savings_vs_separate_cny, self.separate_cost_cny)

    @property
    def savings_vs_overlay(self) -> float:
        return _fraction(self.savings_vs_overlay_cny, self.overlay_cost_cny)

    def route(self, utility: str) -> UtilityRoute:
        """The route of one utility (KeyError naming it if absent)."""
        for r in self.routes:
            if r.utility == utility:
                return r
        msg = f"plan has no route for utility {utility!r}"
        raise KeyError(msg)

    def summary(self) -> dict[str, Any]:
        """Totals, method, bound, savings and shares as plain JSON values."""
        return {
            "method": self.method,
            "status": self.status,
            "optimal": self.optimal,
            "bound_cny": self.bound_cny,
            "gap": self.gap,
            "trench_length_m": self.trench_length_m,
            "trench_cost_cny": self.trench_cost_cny,
            "laying_cost_cny": self.laying_cost_cny,
            "total_cost_cny": self.total_cost_cny,
            "separate_cost_cny": self.separate_cost_cny,
            "overlay_cost_cny": self.overlay_cost_cny,
            "overlay_feasible": self.overlay_feasible,
            "overlay_violations": [v.to_dict() for v in self.overlay_violations],
            "savings_vs_separate_cny": self.savings_vs_separate_cny,
            "savings_vs_separate": self.savings_vs_separate,
            "savings_vs_overlay_cny": self.savings_vs_overlay_cny,
            "savings_vs_overlay": self.savings_vs_overlay,
            "sharing_rule": self.sharing_rule,
            "shares": [
                {
                    "utility": s.utility,
                    "cost_cny": s.cost_cny,
                    "fraction": s.fraction,
                    "standalone_cost_cny": s.standalone_cost_cny,
                }
                for s in self.shares
            ],
            "routes": [
                {
                    "utility": r.utility,
                    "supply_nodes": list(r.supply_nodes),
                    "sites": list(r.sites),
                    "length_m": r.length_m,
                    "laying_cost_cny": r.laying_cost_cny,
                }
                for r in self.routes
            ],
            "solve_time_s": self.solve_time_s,
            "stats": dict(self.stats),
        }

    def to_geojson(self, *, to_crs: Any = None) -> dict[str, Any]:
        """The plan as a GeoJSON FeatureCollection; see :func:`plan_to_geojson`."""
        return plan_to_geojson(self, to_crs=to_crs)

    def to_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild the plan (:meth:`from_dict`), as JSON values."""
        return {
            "summary": self.summary(),
            "crs": None if self.crs is None else str(self.crs),
            "edges": [
                {
                    "source": e.source,
                    "target": e.target,
                    "key": e.key,
                    "segment_id": e.segment_id,
                    "length_m": e.length_m,
                    "cost_cny": e.cost_cny,
                    "utilities": list(e.utilities),
                    "road_class": e.road_class,
                    "name": e.name,
                    "wkt": None if e.geometry is None else shapely.to_wkt(e.geometry),
                }
                for e in self.edges
            ],
            "routes": [
                {
                    "utility": r.utility,
                    "supply_nodes": list(r.supply_nodes),
                    "sites": list(r.sites),
                    "edges": [list(x) for x in r.edges],
                    "length_m": r.length_m,
                    "laying_cost_cny": r.laying_cost_cny,
                    "steps": [
                        [s.seq, s.node, s.edge, s.cost, s.agg_cost, s.source, s.target, s.length_m]
                        for s in r.steps
                    ],
                }
                for r in self.routes
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrenchPlan:
        """Rebuild a plan stored with :meth:`to_dict` (node ids come back as JSON gave them)."""
        s = data["summary"]
        return cls(
            edges=tuple(
                TrenchEdge(
                    source=e["source"],
                    target=e["target"],
                    key=e["key"],
                    segment_id=e["segment_id"],
                    length_m=e["length_m"],
                    cost_cny=e["cost_cny"],
                    utilities=tuple(e["utilities"]),
                    road_class=e.get("road_class"),
                    name=e.get("name"),
                    geometry=None if e.get("wkt") is None else shapely.from_wkt(e["wkt"]),
                )
                for e in data["edges"]
            ),
            routes=tuple(
                UtilityRoute(
                    utility=r["utility"],
                    supply_nodes=tuple(r["supply_nodes"]),
                    sites=tuple(r["sites"]),
                    edges=tuple(tuple(x) for x in r["edges"]),
                    length_m=r["length_m"],
                    laying_cost_cny=r["laying_cost_cny"],
                    steps=tuple(RouteStep(*row) for row in r["steps"]),
                )
                for r in data["routes"]
            ),
            trench_length_m=s["trench_length_m"],
            trench_cost_cny=s["trench_cost_cny"],
            laying_cost_cny=s["laying_cost_cny"],
            total_cost_cny=s["total_cost_cny"],
            method=s["method"],
            status=s["status"],
            bound_cny=s["bound_cny"],
            gap=s["gap"],
            separate_cost_cny=s["separate_cost_cny"],
            overlay_cost_cny=s["overlay_cost_cny"],
            shares=tuple(
                CostShare(x["utility"], x["cost_cny"], x["fraction"], x["standalone_cost_cny"])
                for x in s["shares"]
            ),
            sharing_rule=s["sharing_rule"],
            crs=data.get("crs"),
            solve_time_s=s.get("solve_time_s", 0.0),
            stats=tuple(sorted((s.get("stats") or {}).items())),
            overlay_violations=tuple(
                PlanViolation.from_dict(v) for v in s.get("overlay_violations") or ()
            ),
        )


@dataclass(frozen=True)
class PlanAlternative:
    """One way to serve a request, as a coordinator compares it with the others.

    ``plan`` is None only when no plan of this kind exists (the heuristic found none that fits
    the road widths); ``total_cost_cny`` is then ``inf``. ``feasible`` is False when
    ``violations`` is not empty; each violation names the rule that rules the plan out.
    ``status``, ``gap`` and ``bound_cny`` are the plan's own (``optimal`` or ``time_limit`` for
    the joint plan; ``heuristic`` and ``uncoordinated`` carry no bound).
    """

    kind: str
    plan: TrenchPlan | None
    total_cost_cny: float
    feasible: bool
    violations: tuple[PlanViolation, ...]
    status: str
    gap: float | None
    bound_cny: float | None

    @property
    def label(self) -> str:
        """The alternative's name, Chinese first."""
        return ALTERNATIVE_KINDS.get(self.kind, self.kind)

    def summary(self) -> dict[str, Any]:
        """Plain JSON values for a side-by-side table."""
        return {
            "kind": self.kind,
            "label": self.label,
            "total_cost_cny": self.total_cost_cny if math.isfinite(self.total_cost_cny) else None,
            "trench_length_m": None if self.plan is None else self.plan.trench_length_m,
            "feasible": self.feasible,
            "violations": [v.to_dict() for v in self.violations],
            "status": self.status,
            "gap": self.gap,
            "bound_cny": self.bound_cny,
        }


@dataclass(frozen=True)
class TrenchAlternatives:
    """The joint optimum beside what the utilities would do without it.

    ``joint``: the exact method's plan (``status`` ``optimal`` or ``time_limit`` with its gap);
    ``separate``: each utility digs its own trench along its own shortest routes (one dig per
    utility and road: where two run in one road, they must fit side by side); ``overlay``: the
    same routes dug together where they coincide (one dig per road, which must be wide enough
    for every utility in it); ``heuristic``: the shortest-path heuristic's plan. The joint plan
    never costs more than a feasible alternative: each feasible one is offered to the exact
    method as a starting plan.
    """

    joint: PlanAlternative
    separate: PlanAlternative
    overlay: PlanAlternative
    heuristic: PlanAlternative

    @property
    def all(self) -> tuple[PlanAlternative, ...]:
        """The four in the order of ``ALTERNATIVE_KINDS``."""
        return (self.joint, self.separate, self.overlay, self.heuristic)

    def summary(self) -> list[dict[str, Any]]:
        return [a.summary() for a in self.all]


@dataclass(frozen=True)
class ProjectsPlan:
    """Several projects planned together (``joint``) and each alone, for comparison."""

    joint: TrenchPlan
    alone: tuple[TrenchPlan, ...]
    names: tuple[str | None, ...]

    @property
    def alone_total_cost_cny(self) -> float:
        return sum(p.total_cost_cny for p in self.alone)

    @property
    def savings_cny(self) -> float:
        """What coordinating the projects saves against planning each one alone."""
        return self.alone_total_cost_cny - self.joint.total_cost_cny


def plan_to_geojson(plan: TrenchPlan, *, to_crs: Any = None) -> dict[str, Any]:
    """Turn a plan into a GeoJSON FeatureCollection, one feature per trench edge.

    Properties are ``segment_id``, ``utilities`` (sorted list), ``length_m``, ``cost``
    (trench cost, CNY), ``source`` and ``target``. The collection carries the plan summary
    under ``"plan"``. Geometries stay in the plan's CRS unless ``to_crs`` is given (use
    ``"EPSG:4326"`` for web maps, as RFC 7946 expects); a ``"crs"`` member names the CRS.

    Examples
    --------
    >>> empty = TrenchPlan((), (), 0.0, 0.0, 0.0, 0.0, "milp", "empty", 0.0, 0.0, 0.0, 0.0, (),
    ...                    "proportional")
    >>> plan_to_geojson(empty)["features"]
    []
    """
    transform = None
    crs_out = plan.crs
    if to_crs is not None and plan.crs is not None:
        from pyproj import CRS  # noqa: PLC0415  (only needed when reprojecting)
        from pyproj import Transformer  # noqa: PLC0415

        src, dst = CRS.from_user_input(plan.crs), CRS.from_user_input(to_crs)
        if src != dst:
            transformer = Transformer.from_crs(src, dst, always_xy=True)

            def transform(xy: Any) -> Any:
                x, y = transformer.transform(xy[:, 0], xy[:, 1])
                return np.column_stack([x, y])

        crs_out = to_crs
    features = []
    for e in plan.edges:
        geom = e.geometry
        if geom is not None and transform is not None:
            geom = shapely.transform(geom, transform)
        features.append(
            {
                "type": "Feature",
                "geometry": None if geom is None else shapely.geometry.mapping(geom),
                "properties": {
                    "segment_id": e.segment_id,
                    "utilities": list(e.utilities),
                    "length_m": e.length_m,
                    "cost": e.cost_cny,
                    "source": e.source,
                    "target": e.target,
                    "road_class": e.road_class,
                    "name": e.name,
                },
            }
        )
    out: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if crs_out is not None:
        out["crs"] = str(crs_out)
    out["plan"] = plan.summary()
    return out


def _fraction(part: float, whole: float) -> float:
    return 0.0 if whole <= 0 or not math.isfinite(whole) else part / whole
