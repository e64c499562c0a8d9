"""Own each city's road graph: build it in one function, cache it while the roads stay the same.

:func:`build_city_graph` is the one function that turns a city's stored roads into a road
graph (bridge decks from the city's ``protected_areas`` of kind ``bridge`` mark bridges, so
an overpass is never a junction). :class:`RoadGraphs` is the one cache: the app's lifespan
makes one (``app.state.graphs``) and every router reaches it through
:data:`api.deps.RoadGraphsDep`; co-location, planning and the demo all get the same graph
from it. Snapping to the graph is :func:`routing.graph.nearest_nodes`.

The cache is keyed by city and checked against the city's road state (its road and
protected-area layers: ids, feature counts, import times) on every ``get``, one small
query on the ``layers`` table. Any import, replacement or deletion of such a layer, through
the API, the CLI or another process, changes the state, and the next ``get`` rebuilds.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass
from typing import Any

import networkx as nx
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from geodata.storage import CityInfo
from geodata.storage import get_city
from geodata.storage import read_features
from geodata.tables import Layer
from routing.errors import RoadLayerError
from routing.graph import build_road_graph
from routing.overlap import RoadIndex

__all__ = ["CityGraph", "RoadGraphs", "build_city_graph", "road_state"]

logger = logging.getLogger(__name__)

# layer kinds the graph is built from: roads, and protected areas for the bridge decks
_GRAPH_KINDS = ("roads", "protected_areas")


@dataclass(frozen=True, eq=False)
class CityGraph:
    """A city's road graph and what matching needs of it, for one road state.

    Attributes
    ----------
    city
        The city.
    G
        The road graph (:func:`routing.graph.build_road_graph`); ``G.graph["crs"]`` is the
        city's metric CRS and edge ``segment_id`` is the stored ``road_segments.id``.
    state
        The road state it was built from (see :func:`road_state`).

    Treat it as read-only: it is shared by every request of the city.
    """

    city: CityInfo
    G: nx.MultiGraph
    state: tuple[Any, ...]

    @functools.cached_property
    def index(self) -> RoadIndex:
        """Spatial index of the edges for :func:`routing.overlap.match_lines` (built once)."""
        return RoadIndex.from_graph(self.G)

    @functools.cached_property
    def endpoints(self) -> dict[int, tuple[Any, Any]]:
        """``edge_id -> (u, v)``: the two nodes of every edge."""
        return {d["edge_id"]: (u, v) for u, v, d in self.G.edges(data=True)}

    @functools.cached_property
    def edges(self) -> pd.DataFrame:
        """Per ``edge_id``: ``segment_id``, ``name``, ``protected_until``, ``last_dug_on``."""
        rows = sorted(self.G.edges(data=True), key=lambda e: e[2]["edge_id"])
        return pd.DataFrame(
            {
                "segment_id": pd.array([d["segment_id"] for *_, d in rows], dtype=object),
                "name": [d["name"] for *_, d in rows],
                "protected_until": [d["protected_until"] for *_, d in rows],
                "last_dug_on": [d["last_dug_on"] for *_, d in rows],
            },
            index=pd.Index([d["edge_id"] for *_, d in rows], name="edge_id"),
        )

    @functools.cached_property
    def dated(self) -> pd.DataFrame:
        """The edges with a protection end or a last dig (what the date checks look at)."""
        e = self.edges
        return e[e["protected_until"].notna() | e["last_dug_on"].notna()]


def road_state(session: Session, city_id: int) -> tuple[Any, ...]:
    """The city's road state: ``(kind, layer id, feature count, imported at)`` per layer.

    Layers are stored whole and never edited in place, so any import, replacement or
    deletion of a road or protected-area layer changes this tuple.
    """
    rows = session.execute(
        select(Layer.kind, Layer.id, Layer.feature_count, Layer.imported_at)
        .where(Layer.city_id == city_id, Layer.kind.in_(_GRAPH_KINDS))
        .order_by(Layer.kind, Layer.id)
    ).all()
    return tuple(tuple(r) for r in rows)


def build_city_graph(session: Session, city: str | CityInfo) -> CityGraph:
    """Build a city's road graph from its stored roads and bridge decks.

    This is the one function that does it; everything else gets the graph through
    :meth:`RoadGraphs.get`, which calls this when the city's roads changed.

    Parameters
    ----------
    city
        The city's name (or its :class:`geodata.storage.CityInfo`).

    Returns
    -------
    CityGraph

    Raises
    ------
    CityNotFoundError
        No such city.
    RoadLayerError
        The city has no road segments.
    """
    info = city if isinstance(city, CityInfo) else get_city(session, city)
    state = road_state(session, info.id)
    roads = read_features(session, city=info.name, kind="roads")
    if roads.empty:
        msg = f"city {info.name!r} has no road segments: import a roads layer first"
        raise RoadLayerError(msg)
    # the stored row id names a segment (warnings, groups and plans cite it)
    roads = roads.rename(columns={"id": "segment_id"})
    areas = read_features(session, city=info.name, kind="protected_areas")
    bridges = areas[areas["area_kind"] == "bridge"] if len(areas) else None
    G = build_road_graph(roads, bridges=bridges)  # noqa: N806 - networkx's name
    logger.info(
        "road graph of %s: %d nodes, %d edges, %d bridge decks",
        info.name,
        G.number_of_nodes(),
        G.number_of_edges(),
        0 if bridges is None else len(bridges),
    )
    return CityGraph(info, G, state)


class RoadGraphs:
    """The app's cache of city road graphs: one per city, rebuilt when its roads change.

    Examples
    --------
    In a route, through the dependency::

        def plan(session: SessionDep, graphs: RoadGraphsDep) -> ...:
            graph = graphs.get(session, "harbin")
            node = nearest_nodes(graph.G, x, y)

    Outside the app (CLI, demo), make one for the job: ``RoadGraphs().get(session, city)``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._graphs: dict[int, CityGraph] = {}
        self._building: dict[int, threading.Lock] = {}

    def get(self, session: Session, city: str | CityInfo) -> CityGraph:
        """The city's graph for its current road state (built on first use or after a change).

        Raises
        ------
        CityNotFoundError
            No such city.
        RoadLayerError
            The city has no road segments.
        """
        info = city if isinstance(city, CityInfo) else get_city(session, city)
        state = road_state(session, info.id)
        with self._lock:
            hit = self._graphs.get(info.id)
            building = self._building.setdefault(info.id, threading.Lock())
        if hit is not None and hit.state == state:
            return hit
        with building:  # one build per city at a time; the others wait and reuse it
            with self._lock:
                hit = self._graphs.get(info.id)
            if hit is not None and hit.state == state:
                return hit
            graph = build_city_graph(session, info)
            with self._lock:
                self._graphs[info.id] = graph
            return graph

    def invalidate(self, city_id: int | None = None) -> None:
        """Drop one city's graph (or all); the next ``get`` rebuilds it."""
        with self._lock:
            if city_id is None:
                self._graphs.clear()
            else:
                self._graphs.pop(city_id, None)
