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
    "CostShare",
    "ProjectsPlan",
    "RouteStep",
    "Site",
    "TrenchEdge",
    "TrenchPlan",
    "TrenchRequest",
    "UtilityRoute",
    "plan_to_geojson",
]

STATUSES = ("optimal", "time_limit", "heuristic", "baseline", "empty")
"""``optimal``: HiGHS proved it (gap within 1e-7); ``time_limit``: best found, ``gap`` proven;
``heuristic`` / ``baseline``: no bound; ``empty``: every site sits on its supply point."""


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

    @property
    def optimal(self) -> bool:
        return self.status in ("optimal", "empty")

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
        )


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
