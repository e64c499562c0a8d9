"""Store a city's road graph as a pgRouting topology (``road_topology``).

The graph is the one :func:`api.services.graphs.build_city_graph` builds (nodes at real
intersections, bridges not junctions), written one row per edge with its nodes, its length
as ``cost`` and ``reverse_cost`` and its geometry. pgRouting's ``pgr_dijkstra`` over the
city's ``city_<name>_topology`` view then finds the planner's own shortest paths. Written
after every change of a city's roads or bridge decks (:mod:`api.services.layer_admin`,
``demo load``), in the same transaction.
"""

from __future__ import annotations

import logging

from geoalchemy2.shape import from_shape
from sqlalchemy import delete
from sqlalchemy import insert
from sqlalchemy.orm import Session

from api.services.graphs import build_city_graph
from geodata.storage import CityInfo
from geodata.storage import get_city
from geodata.tables import RoadTopologyRow
from routing.errors import RoadLayerError

__all__ = ["GRAPH_KINDS", "store_topology"]

logger = logging.getLogger(__name__)

# a change of these layer kinds changes the graph
GRAPH_KINDS = frozenset({"roads", "protected_areas"})
_CHUNK = 5_000


def store_topology(session: Session, city: str | CityInfo) -> int:
    """Replace the city's topology rows by its current graph's edges; return how many.

    A city without roads has no topology (its rows are removed).
    """
    info = city if isinstance(city, CityInfo) else get_city(session, city)
    session.execute(delete(RoadTopologyRow).where(RoadTopologyRow.city_id == info.id))
    try:
        G = build_city_graph(session, info).G  # noqa: N806 - networkx's name
    except RoadLayerError:
        return 0
    rows = [
        {
            "city_id": info.id,
            "edge_id": int(data["edge_id"]),
            "segment_id": _int(data.get("segment_id")),
            "source": int(u),
            "target": int(v),
            "cost": float(data["length_m"]),
            "reverse_cost": float(data["length_m"]),
            "srid": info.srid,
            "geom": from_shape(data["geometry"], srid=info.srid),
        }
        for u, v, data in G.edges(data=True)
    ]
    for start in range(0, len(rows), _CHUNK):
        session.execute(insert(RoadTopologyRow), rows[start : start + _CHUNK])
    logger.info("topology of %s: %d edges", info.name, len(rows))
    return len(rows)


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None
