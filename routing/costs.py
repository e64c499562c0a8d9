"""Price trench edges and utility lines from a cost model read from data."""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from routing.errors import CostModelError

__all__ = [
    "DEFAULT_COST_MODEL_PATH",
    "CostModel",
    "WidthRule",
    "count_tree_conflicts",
    "load_cost_model",
]

logger = logging.getLogger(__name__)

DEFAULT_COST_MODEL_PATH = Path(__file__).resolve().parent / "data" / "cost_model.yaml"

WidthRule = Callable[[frozenset[str]], float]
"""Required trench width (m) for a set of utilities laid together."""

_REQUIRED_KEYS = (
    "excavation_cny_per_m",
    "restoration_cny_per_m",
    "crossing_cny",
    "tree_conflict_cny",
    "utilities",
)


@dataclass(frozen=True)
class CostModel:
    """Unit prices and rules of one city; build it with :func:`load_cost_model`.

    A trench edge costs ``length_m * (excavation[road_class] + restoration[pavement])`` plus
    ``crossings * crossing_cny`` plus ``tree_conflicts * tree_conflict_cny``; each utility in
    it adds ``length_m * laying_cny_per_m[utility]``.
    """

    excavation_cny_per_m: Mapping[str, float]
    restoration_cny_per_m: Mapping[str, float]
    laying_cny_per_m: Mapping[str, float]
    section_width_m: Mapping[str, float]
    default_pavement_by_class: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({"default": "asphalt"})
    )
    crossing_cny: float = 0.0
    tree_conflict_cny: float = 0.0
    crossings_per_junction_end: float = 0.0
    working_margin_m: float = 0.0
    forbid_bridges: bool = True
    forbid_protection_period: bool = True
    source: str = "<memory>"

    @property
    def utilities(self) -> tuple[str, ...]:
        """Utilities the model prices, sorted."""
        return tuple(sorted(self.laying_cny_per_m))

    def trench_cny_per_m(self, road_class: str | None, pavement: str | None) -> float:
        """Excavation plus restoration per metre of trench on one road.

        Unknown classes and surfaces take the ``default`` row; a missing surface takes the
        class's default surface.

        Examples
        --------
        >>> model = load_cost_model()
        >>> model.trench_cny_per_m("residential", "asphalt")
        1000.0
        """
        cls = road_class or "default"
        excavation = self.excavation_cny_per_m.get(cls, self.excavation_cny_per_m["default"])
        surface = pavement or self.default_pavement_by_class.get(
            cls, self.default_pavement_by_class.get("default", "default")
        )
        restoration = self.restoration_cny_per_m.get(surface, self.restoration_cny_per_m["default"])
        return float(excavation) + float(restoration)

    def edge_trench_cost_cny(self, data: Mapping[str, Any], *, junction_ends: int = 0) -> float:
        """Trench cost of one road edge (its attribute dict).

        ``crossings`` on the edge counts road crossings; without it each junction end counts
        ``crossings_per_junction_end``. ``tree_conflicts`` counts trees in the way (0 if absent).
        """
        length_m = float(data["length_m"])
        cost = length_m * self.trench_cny_per_m(data.get("road_class"), data.get("pavement"))
        crossings = data.get("crossings")
        if crossings is None:
            crossings = junction_ends * self.crossings_per_junction_end
        cost += float(crossings) * self.crossing_cny
        cost += float(data.get("tree_conflicts") or 0) * self.tree_conflict_cny
        return cost

    def laying_cost_per_m(self, utility: str) -> float:
        """One utility's own laying cost per metre.

        Raises
        ------
        CostModelError
            If the model has no price for the utility; the message lists those it has.
        """
        try:
            return float(self.laying_cny_per_m[utility])
        except KeyError:
            msg = (
                f"cost model {self.source} has no laying price for utility {utility!r}; "
                f"known utilities: {', '.join(self.utilities)}"
            )
            raise CostModelError(msg) from None

    def required_width_m(self, utilities: frozenset[str]) -> float:
        """Default width rule: working margin plus the utilities' section widths."""
        if not utilities:
            return 0.0
        missing = sorted(u for u in utilities if u not in self.section_width_m)
        if missing:
            msg = (
                f"cost model {self.source} has no section width for {', '.join(missing)}; "
                f"known utilities: {', '.join(self.utilities)}"
            )
            raise CostModelError(msg)
        return self.working_margin_m + sum(float(self.section_width_m[u]) for u in utilities)

    def forbidden_reason(
        self,
        data: Mapping[str, Any],
        *,
        on_date: dt.date,
        emergency_repair: bool = False,
    ) -> str | None:
        """Why a trench may not use this edge at all, or None if it may.

        Bridges are forbidden; so is a road inside its protection period (``protected_until``
        after ``on_date``) unless the request is an emergency repair. Width is checked per
        utility set by the planner, not here.
        """
        if self.forbid_bridges and bool(data.get("bridge")):
            return "bridge"
        until = data.get("protected_until")
        if (
            self.forbid_protection_period
            and until is not None
            and not emergency_repair
            and _as_date(until) > on_date
        ):
            return f"protected until {_as_date(until).isoformat()}"
        return None


def load_cost_model(path: str | Path | None = None) -> CostModel:
    """Read a cost model YAML file (the packaged illustrative defaults if no path).

    Parameters
    ----------
    path
        A YAML file shaped like ``routing/data/cost_model.yaml``.

    Returns
    -------
    CostModel

    Raises
    ------
    CostModelError
        If the file is missing, a required section is absent or a price is negative or not
        a number; the message names the file and the key.

    Examples
    --------
    >>> load_cost_model().laying_cost_per_m("water")
    420.0
    """
    source = Path(path) if path is not None else DEFAULT_COST_MODEL_PATH
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        msg = f"cannot read cost model {source}: {exc}"
        raise CostModelError(msg) from exc
    if not isinstance(raw, dict):
        msg = f"cost model {source} is not a mapping"
        raise CostModelError(msg)
    missing = [k for k in _REQUIRED_KEYS if k not in raw]
    if missing:
        msg = f"cost model {source} lacks {', '.join(missing)}"
        raise CostModelError(msg)
    excavation = _prices(raw["excavation_cny_per_m"], f"{source}: excavation_cny_per_m")
    restoration = _prices(raw["restoration_cny_per_m"], f"{source}: restoration_cny_per_m")
    for name, table in (
        ("excavation_cny_per_m", excavation),
        ("restoration_cny_per_m", restoration),
    ):
        if "default" not in table:
            msg = f"cost model {source}: {name} needs a 'default' row"
            raise CostModelError(msg)
    utilities = raw["utilities"]
    if not isinstance(utilities, dict) or not utilities:
        msg = f"cost model {source}: utilities must map names to prices"
        raise CostModelError(msg)
    laying: dict[str, float] = {}
    width: dict[str, float] = {}
    for name, row in utilities.items():
        where = f"{source}: utilities.{name}"
        if not isinstance(row, dict) or "laying_cny_per_m" not in row:
            msg = f"{where} needs laying_cny_per_m"
            raise CostModelError(msg)
        laying[str(name)] = _price(row["laying_cny_per_m"], f"{where}.laying_cny_per_m")
        width[str(name)] = _price(row.get("section_width_m", 0.0), f"{where}.section_width_m")
    forbidden = raw.get("forbidden") or {}
    section = raw.get("section") or {}
    model = CostModel(
        excavation_cny_per_m=MappingProxyType(excavation),
        restoration_cny_per_m=MappingProxyType(restoration),
        laying_cny_per_m=MappingProxyType(laying),
        section_width_m=MappingProxyType(width),
        default_pavement_by_class=MappingProxyType(
            {str(k): str(v) for k, v in (raw.get("default_pavement_by_class") or {}).items()}
            or {"default": "asphalt"}
        ),
        crossing_cny=_price(raw["crossing_cny"], f"{source}: crossing_cny"),
        tree_conflict_cny=_price(raw["tree_conflict_cny"], f"{source}: tree_conflict_cny"),
        crossings_per_junction_end=_price(
            raw.get("crossings_per_junction_end", 0.0), f"{source}: crossings_per_junction_end"
        ),
        working_margin_m=_price(section.get("working_margin_m", 0.0), f"{source}: section"),
        forbid_bridges=bool(forbidden.get("bridges", True)),
        forbid_protection_period=bool(forbidden.get("protection_period", True)),
        source=str(source),
    )
    logger.debug("cost model %s: %d utilities", source, len(laying))
    return model


def count_tree_conflicts(G: Any, trees: Any, *, buffer_m: float = 2.0) -> dict[Any, int]:  # noqa: N803
    """Count trees within ``buffer_m`` of each edge geometry, keyed ``(u, v, key)``.

    Set the counts as the edges' ``tree_conflicts`` attribute to price them, e.g.
    ``nx.set_edge_attributes(G, count_tree_conflicts(G, trees), "tree_conflicts")``.

    Parameters
    ----------
    G
        Road MultiGraph whose edges carry a ``geometry`` in ``G.graph["crs"]``.
    trees
        GeoDataFrame of tree points (or rows) in the same CRS.
    buffer_m
        Distance from the trench centre line that counts as a conflict.

    Raises
    ------
    CostModelError
        If the CRSs differ or the buffer is negative.
    """
    import geopandas as gpd  # noqa: PLC0415  (heavy; only this helper needs it)
    from pyproj import CRS  # noqa: PLC0415

    if buffer_m < 0:
        msg = f"buffer_m must be >= 0, got {buffer_m}"
        raise CostModelError(msg)
    graph_crs = G.graph.get("crs")
    if trees.crs is None or graph_crs is None or CRS.from_user_input(graph_crs) != trees.crs:
        msg = f"tree layer CRS {trees.crs} differs from the graph CRS {graph_crs}; reproject first"
        raise CostModelError(msg)
    keys = []
    geoms = []
    for u, v, k, data in G.edges(keys=True, data=True):
        if data.get("geometry") is not None:
            keys.append((u, v, k))
            geoms.append(data["geometry"])
    if not keys:
        return {}
    edges = gpd.GeoSeries(geoms, crs=trees.crs)
    hits = edges.sindex.query(trees.geometry, predicate="dwithin", distance=buffer_m)
    counts: dict[Any, int] = dict.fromkeys(keys, 0)
    for edge_index in hits[1]:
        counts[keys[int(edge_index)]] += 1
    return counts


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _prices(table: Any, where: str) -> dict[str, float]:
    if not isinstance(table, dict):
        msg = f"{where} must map names to prices"
        raise CostModelError(msg)
    return {str(k): _price(v, f"{where}.{k}") for k, v in table.items()}


def _price(value: Any, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        msg = f"{where}: {value!r} is not a number"
        raise CostModelError(msg) from None
    if not math.isfinite(number) or number < 0:
        msg = f"{where}: {value!r} must be a finite number >= 0"
        raise CostModelError(msg)
    return number
