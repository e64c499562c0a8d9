"""Build the road graph from centreline layers and snap points to it.

This module is the one place a road graph is made (:func:`build_road_graph`) and the one
place points are snapped to its nodes (:func:`nearest_nodes`, OSMnx's
``distance.nearest_nodes(G, X, Y)`` shape). The app caches one graph per city in
``api/services/graphs.py``; co-location and planning both use that graph.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import logging
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from routing.errors import InvalidGraphError
from routing.errors import RoadLayerError
from routing.standards import protection_end

__all__ = [
    "ROAD_CLASS_DEFAULTS",
    "GraphReport",
    "RoadNetwork",
    "build_road_graph",
    "build_road_network",
    "edge_attributes",
    "nearest_nodes",
    "road_class_width_m",
    "to_networkx",
]

logger = logging.getLogger(__name__)

ROAD_CLASS_DEFAULTS = Path(__file__).parent / "data" / "road_class_defaults.csv"
# coordinates closer than this are the same vertex (GEOS and file round trips jitter below it)
_GRID_M = 1e-3
# rows per block when a full-size temporary would double the memory peak
_CHUNK = 1 << 18
# share of a segment's length inside a bridge polygon that makes it a bridge
_BRIDGE_SHARE = 0.5
# columns read from the layer, in order of preference (our stored names first, then OSM's)
_ALIASES = {
    "segment_id": ("segment_id", "id", "source_id", "osm_id", "ID"),
    "road_class": ("road_class", "highway"),
    "width_m": ("width_m", "width"),
    "pavement": ("pavement", "surface"),
    "name": ("name", "Street", "name_zh"),
    "bridge": ("bridge",),
    "tunnel": ("tunnel",),
    "level": ("level", "layer"),
    "protected_until": ("protected_until",),
    "built_on": ("built_on",),
    "overhauled_on": ("overhauled_on",),
    "last_dug_on": ("last_dug_on",),
}
_FALSE_TAGS = frozenset({"", "no", "false", "0", "none", "nan", "building_passage"})


@dataclass(frozen=True, slots=True)
class GraphReport:
    """What the build did to the layer, for the user to check.

    Attributes
    ----------
    n_nodes, n_edges
        Size of the graph.
    n_components
        Connected pieces; ``component_sizes`` lists their node counts, largest first.
    snapped_endpoints
        Dangling ends moved onto a nearby vertex or line (within ``snap_tolerance_m``).
    grade_separated
        Places where two lines share a vertex but no node was made (bridge, tunnel, layer).
    dropped_segments
        Segment ids with an empty, zero-length or non-line geometry; they are not in the graph.
    """

    n_nodes: int
    n_edges: int
    n_components: int
    component_sizes: tuple[int, ...]
    snapped_endpoints: int
    grade_separated: int
    dropped_segments: tuple[Any, ...]

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output (component sizes cut to the 20 largest)."""
        return {
            "n_nodes": self.n_nodes,
            "n_edges": self.n_edges,
            "n_components": self.n_components,
            "component_sizes": list(self.component_sizes[:20]),
            "snapped_endpoints": self.snapped_endpoints,
            "grade_separated": self.grade_separated,
            "dropped_segments": [str(s) for s in self.dropped_segments],
        }


@dataclass(frozen=True, slots=True)
class RoadNetwork:
    """The noded network as flat arrays (the fast kernel behind :func:`build_road_graph`).

    Edge ``i`` runs from node ``source[i]`` to node ``target[i]`` along
    ``coords[offsets[i]:offsets[i + 1]]`` and comes from input row ``row[i]``.
    """

    crs: Any
    node_xy: np.ndarray
    source: np.ndarray
    target: np.ndarray
    row: np.ndarray
    coords: np.ndarray
    offsets: np.ndarray
    length_m: np.ndarray
    component: np.ndarray
    report: GraphReport

    def edge_geometries(self) -> np.ndarray:
        """Edge LineStrings (shapely array), built in one vectorised call."""
        counts = np.diff(self.offsets)
        lines = shapely.linestrings(self.coords, indices=np.repeat(np.arange(counts.size), counts))
        return np.asarray(lines)


def build_road_network(  # noqa: PLR0915 - one linear pass over the arrays
    roads: gpd.GeoDataFrame,
    *,
    snap_tolerance_m: float = 0.5,
    bridges: gpd.GeoDataFrame | None = None,
) -> RoadNetwork:
    """Node a centreline layer into a network of arrays (no networkx objects).

    Parameters
    ----------
    roads
        Centrelines in a projected metric CRS. Columns are optional: ``level`` (or OSM
        ``layer``), ``bridge``, ``tunnel`` decide which shared vertices are junctions.
    snap_tolerance_m
        A dangling end this close to another vertex or line of the same level is joined to it.
    bridges
        Bridge deck polygons; a line with at least half its length on a deck is a bridge.

    Returns
    -------
    RoadNetwork

    Raises
    ------
    InvalidGraphError
        The layer has no CRS or a geographic one.

    Notes
    -----
    A vertex becomes a node where a line ends, or where two lines at the same level share it.
    Ends always join whatever they touch (a bridge ends on its approach road); a shared
    interior vertex of lines at different levels is an overpass and stays two vertices.
    Everything is array work (shapely 2, numpy): O(V log V) for V vertices.
    """
    _check_crs(roads)
    attrs = _normalised_levels(roads, bridges)
    level_of_row = attrs["level"]
    geoms = np.asarray(roads.geometry.values)
    types = shapely.get_type_id(geoms)
    if np.all(types == shapely.GeometryType.LINESTRING):
        # the common case: no multi-parts
        parts, row_of_part = geoms, np.arange(geoms.size, dtype=np.int32)
    else:
        parts, row_of_part = shapely.get_parts(geoms, return_index=True)
        types = shapely.get_type_id(parts)
    is_line = types == shapely.GeometryType.LINESTRING
    if not is_line.all():
        parts, row_of_part = parts[is_line], row_of_part[is_line]
    xy, part_of = shapely.get_coordinates(parts, return_index=True)
    part_of = part_of.astype(np.int32)
    # drop repeated consecutive vertices so no edge has zero length
    keep = np.ones(len(xy), dtype=bool)
    keep[1:] = (part_of[1:] != part_of[:-1]) | (xy[1:, 0] != xy[:-1, 0]) | (xy[1:, 1] != xy[:-1, 1])
    if not keep.all():
        xy, part_of = xy[keep], part_of[keep]
    del keep
    # empty and zero-length parts are left with fewer than two vertices: drop them
    good = np.bincount(part_of, minlength=parts.size) >= 2
    if not good.all():
        on_good = good[part_of]
        renumber = (np.cumsum(good) - 1).astype(np.int32)
        xy, part_of = xy[on_good], renumber[part_of[on_good]]
        parts, row_of_part = parts[good], row_of_part[good]
    used = np.zeros(len(roads), dtype=bool)
    used[row_of_part] = True
    dropped = tuple(attrs["segment_id"][~used].tolist())
    n_parts = parts.size
    level = level_of_row[row_of_part].astype(np.int16)[part_of]
    part_level = level_of_row[row_of_part].astype(np.int16)
    loc = _location_ids(xy)
    xy, part_of, level, snapped = _snap(
        xy, part_of, level, loc, parts, part_level, snap_tolerance_m
    )
    is_end = _ends(part_of)
    if snapped:
        loc = _location_ids(xy)
    node_key, grade_separated = _node_keys(loc, level, is_end)
    is_node = node_key >= 0
    # dense node numbers in key order, without a sort: mark the keys used, count up
    keys = node_key[is_node]
    used_key = np.zeros(int(keys.max()) + 1 if keys.size else 0, dtype=bool)
    used_key[keys] = True
    n_nodes = int(used_key.sum())
    dense = np.cumsum(used_key, dtype=np.int32)
    dense -= 1
    node_index = dense[keys]
    del dense
    del keys, used_key
    node_of_vertex = np.full(len(xy), -1, dtype=np.int32)
    node_of_vertex[is_node] = node_index
    del node_key, loc, level
    node_xy = np.empty((n_nodes, 2))
    at = np.flatnonzero(is_node).astype(np.int32)
    node_xy[node_index, 0] = xy[at, 0]  # one column at a time: half the temporary
    node_xy[node_index, 1] = xy[at, 1]
    del node_index, at
    src, tgt, edge_part, coords, offsets = _split_edges(xy, part_of, is_node, node_of_vertex)
    del xy, part_of, is_node, node_of_vertex
    # edge length: sum of its segment lengths (the jumps between edges are cut out)
    seg = np.empty(max(len(coords) - 1, 0))
    for lo in range(0, seg.size, _CHUNK):  # in chunks: no full-size temporaries
        hi = min(lo + _CHUNK, seg.size)
        seg[lo:hi] = np.hypot(
            coords[lo + 1 : hi + 1, 0] - coords[lo:hi, 0],
            coords[lo + 1 : hi + 1, 1] - coords[lo:hi, 1],
        )
    seg[offsets[1:-1] - 1] = 0.0
    length_m = np.add.reduceat(seg, offsets[:-1]) if seg.size else np.zeros(src.size)
    del seg
    n_comp, comp = _components(n_nodes, src, tgt)
    sizes = np.sort(np.bincount(comp))[::-1] if comp.size else np.array([], dtype=int)
    report = GraphReport(
        n_nodes=n_nodes,
        n_edges=int(src.size),
        n_components=int(n_comp),
        component_sizes=tuple(int(s) for s in sizes),
        snapped_endpoints=int(snapped),
        grade_separated=int(grade_separated),
        dropped_segments=dropped,
    )
    logger.info(
        "road network: %d parts -> %d nodes, %d edges, %d components, %d snapped, %d dropped",
        n_parts,
        report.n_nodes,
        report.n_edges,
        report.n_components,
        report.snapped_endpoints,
        len(dropped),
    )
    return RoadNetwork(
        crs=roads.crs,
        node_xy=node_xy,
        source=src,
        target=tgt,
        row=row_of_part[edge_part],
        coords=coords,
        offsets=offsets,
        length_m=length_m,
        component=comp,
        report=report,
    )


def build_road_graph(
    roads: gpd.GeoDataFrame,
    *,
    snap_tolerance_m: float = 0.5,
    bridges: gpd.GeoDataFrame | None = None,
) -> nx.MultiGraph:
    """Build an undirected road graph with nodes at real intersections only.

    Parameters
    ----------
    roads
        Centrelines in a projected metric CRS (stored ``road_segments`` rows or an OSM
        extract). Optional columns: ``segment_id`` (else ``id``/``source_id``/index),
        ``road_class`` (or ``highway``), ``width_m`` (or ``width``), ``pavement`` (or
        ``surface``), ``name``, ``bridge``, ``tunnel``, ``level`` (or ``layer``),
        ``protected_until``, ``built_on``, ``overhauled_on``.
    snap_tolerance_m
        Dangling ends within this distance of a same-level vertex or line are joined.
    bridges
        Optional bridge deck polygons (see :func:`build_road_network`).

    Returns
    -------
    networkx.MultiGraph
        ``G.graph["crs"]`` is the layer's CRS and ``G.graph["report"]`` a
        :class:`GraphReport`. Nodes carry ``x``, ``y``; edges carry ``edge_id``,
        ``segment_id``, ``length_m``, ``road_class``, ``width_m`` (layer value, else the
        class default from ``routing/data/road_class_defaults.csv``), ``pavement``,
        ``name``, ``bridge``, ``protected_until`` (date or None), ``last_dug_on`` (date or
        None) and ``geometry``.

    Raises
    ------
    InvalidGraphError
        The layer has no CRS or a geographic one.

    Examples
    --------
    >>> from shapely import LineString
    >>> roads = gpd.GeoDataFrame(
    ...     {"segment_id": ["a", "b"]},
    ...     geometry=[LineString([(0, 0), (100, 0)]), LineString([(50, 0), (50, 50)])],
    ...     crs=32652,
    ... )
    >>> G = build_road_graph(roads)
    >>> G.number_of_nodes(), G.number_of_edges()
    (4, 3)
    """
    net = build_road_network(roads, snap_tolerance_m=snap_tolerance_m, bridges=bridges)
    return to_networkx(net, roads, bridges=bridges)


def to_networkx(
    net: RoadNetwork, roads: gpd.GeoDataFrame, *, bridges: gpd.GeoDataFrame | None = None
) -> nx.MultiGraph:
    """Wrap a :class:`RoadNetwork` of ``roads`` as the networkx MultiGraph model."""
    table = edge_attributes(net, roads, bridges=bridges)
    geoms = net.edge_geometries()
    columns = {name: values.tolist() for name, values in table.items()}
    G = nx.MultiGraph(crs=net.crs, report=net.report)  # noqa: N806 - networkx's name
    G.add_nodes_from(
        (i, {"x": float(x), "y": float(y), "component": int(c)})
        for i, ((x, y), c) in enumerate(zip(net.node_xy, net.component, strict=True))
    )
    lengths = net.length_m.tolist()
    edges = []
    for i, (u, v) in enumerate(zip(net.source.tolist(), net.target.tolist(), strict=True)):
        data = {name: values[i] for name, values in columns.items()}
        data["edge_id"] = i
        data["length_m"] = lengths[i]
        data["geometry"] = geoms[i]
        edges.append((u, v, i, data))
    G.add_edges_from(edges)
    return G


def edge_attributes(
    net: RoadNetwork, roads: gpd.GeoDataFrame, *, bridges: gpd.GeoDataFrame | None = None
) -> dict[str, np.ndarray]:
    """The edge attributes of the graph contract, one array per attribute, in edge order.

    ``segment_id``, ``road_class``, ``width_m`` (class default where the layer has none),
    ``pavement``, ``name``, ``bridge``, ``protected_until``, ``last_dug_on``. Batch code
    (matching a whole city) uses these arrays without building networkx objects.
    """
    attrs = _normalised_levels(roads, bridges)
    attrs.update(_edge_attributes(roads))
    keys = (
        "segment_id",
        "road_class",
        "width_m",
        "pavement",
        "name",
        "bridge",
        "protected_until",
        "last_dug_on",
    )
    return {k: attrs[k][net.row] for k in keys}


def nearest_nodes(
    G: nx.MultiGraph,  # noqa: N803 - networkx's name
    X: float | np.ndarray | Sequence[float],  # noqa: N803 - OSMnx's names
    Y: float | np.ndarray | Sequence[float],  # noqa: N803
    *,
    return_dist: bool = False,
) -> Any:
    """The node nearest to each point, as OSMnx's ``distance.nearest_nodes(G, X, Y)``.

    Parameters
    ----------
    G
        A road graph from :func:`build_road_graph` (nodes carry ``x`` and ``y``).
    X, Y
        Coordinates in the graph's CRS (``G.graph["crs"]``, metres): two floats for one
        point, or two equal-length sequences for many.
    return_dist
        Also return the straight-line distance (m) from each point to its node.

    Returns
    -------
    node id, or array of node ids; with ``return_dist`` a ``(nodes, distances)`` pair
        Of equally near nodes, any one is returned.

    Raises
    ------
    InvalidGraphError
        The graph has no nodes, or a coordinate is not finite.

    Notes
    -----
    A k-d tree of the node coordinates (scipy) is built on the first call for a graph and
    kept while the graph lives, so each later point costs O(log N). The graph must not gain
    or lose nodes afterwards (the cached city graphs never do); if it does, the tree is
    rebuilt.

    Examples
    --------
    >>> from shapely import LineString
    >>> roads = gpd.GeoDataFrame(
    ...     geometry=[LineString([(0, 0), (100, 0)])], crs=32652
    ... )
    >>> G = build_road_graph(roads)
    >>> node, dist = nearest_nodes(G, 90.0, 5.0, return_dist=True)
    >>> (G.nodes[node]["x"], round(dist, 2))
    (100.0, 11.18)
    >>> [G.nodes[n]["x"] for n in nearest_nodes(G, [1.0, 99.0], [0.0, 0.0])]
    [0.0, 100.0]
    """
    scalar = np.ndim(X) == 0 and np.ndim(Y) == 0
    xy = np.column_stack(
        [np.atleast_1d(np.asarray(X, dtype=float)), np.atleast_1d(np.asarray(Y, dtype=float))]
    )
    if not np.isfinite(xy).all():
        msg = "nearest_nodes: every X and Y must be a finite number in the graph's CRS"
        raise InvalidGraphError(msg)
    nodes, tree = _node_tree(G)
    dist, idx = tree.query(xy)
    found = nodes[idx]
    if scalar:
        node = found[0].item() if isinstance(found[0], np.generic) else found[0]
        return (node, float(dist[0])) if return_dist else node
    return (found, np.asarray(dist, dtype=float)) if return_dist else found


@functools.cache
def road_class_width_m(road_class: str | None) -> float:
    """Default carriageway width of a road class, from ``routing/data/road_class_defaults.csv``.

    Examples
    --------
    >>> road_class_width_m("primary")
    14.0
    >>> road_class_width_m("no-such-class") == road_class_width_m(None)
    True
    """
    table = _class_defaults()
    return table.get(str(road_class) if road_class is not None else "*", table["*"])


# -- kernel helpers ---------------------------------------------------------------------------


def _check_crs(roads: gpd.GeoDataFrame) -> None:
    if roads.crs is None:
        msg = "road layer has no CRS; set one (e.g. roads.set_crs(32652)) before building a graph"
        raise InvalidGraphError(msg)
    if roads.crs.is_geographic:
        msg = (
            f"road layer is in a geographic CRS ({roads.crs.to_string()}); lengths need metres: "
            "reproject it first (roads.to_crs(roads.estimate_utm_crs()))"
        )
        raise InvalidGraphError(msg)


def _column(roads: gpd.GeoDataFrame, key: str) -> pd.Series | None:
    for name in _ALIASES[key]:
        if name in roads.columns:
            return roads[name]
    return None


def _truthy(values: pd.Series | None, n: int) -> np.ndarray:
    if values is None:
        return np.zeros(n, dtype=bool)
    if values.dtype == bool:
        return np.array(values.to_numpy(dtype=bool), dtype=bool)
    text = values.astype("string").fillna("").str.strip().str.lower()
    return np.asarray(~text.isin(_FALSE_TAGS).to_numpy(dtype=bool), dtype=bool)


def _normalised_levels(
    roads: gpd.GeoDataFrame, bridges: gpd.GeoDataFrame | None
) -> dict[str, np.ndarray]:
    n = len(roads)
    ids = _column(roads, "segment_id")
    segment_id = ids.to_numpy() if ids is not None else roads.index.to_numpy()
    bridge = _truthy(_column(roads, "bridge"), n)
    tunnel = _truthy(_column(roads, "tunnel"), n)
    if bridges is not None and len(bridges) and n:
        bridge |= _on_bridge(roads, bridges)
    raw = _column(roads, "level")
    level = np.zeros(n, dtype=np.int64)
    if raw is not None:
        numeric = pd.to_numeric(raw, errors="coerce").fillna(0).to_numpy()
        level = np.round(numeric).astype(np.int64)
    level = np.where((level == 0) & bridge, 1, level)
    level = np.where((level == 0) & tunnel, -1, level).astype(np.int16)
    return {"segment_id": segment_id, "bridge": bridge, "level": level}


def _on_bridge(roads: gpd.GeoDataFrame, bridges: gpd.GeoDataFrame) -> np.ndarray:
    if bridges.crs != roads.crs:
        msg = f"bridge layer CRS {bridges.crs} differs from road layer CRS {roads.crs}: reproject"
        raise RoadLayerError(msg)
    geoms = np.asarray(roads.geometry.values)
    decks = np.asarray(bridges.geometry.values)
    tree = shapely.STRtree(decks)
    pairs = tree.query(geoms, predicate="intersects")
    inside = np.zeros(len(roads))
    if pairs.shape[1]:
        lens = shapely.length(shapely.intersection(geoms[pairs[0]], decks[pairs[1]]))
        np.add.at(inside, pairs[0], lens)
    total = shapely.length(geoms)
    return np.asarray(inside >= _BRIDGE_SHARE * np.where(total > 0, total, np.inf))


def _edge_attributes(roads: gpd.GeoDataFrame) -> dict[str, np.ndarray]:
    n = len(roads)
    none = np.full(n, None, dtype=object)
    cls = _column(roads, "road_class")
    road_class = none.copy() if cls is None else _objects(cls)
    width = _column(roads, "width_m")
    width_m = np.full(n, np.nan)
    if width is not None:
        text = width.astype("string").str.extract(r"([0-9]+(?:\.[0-9]+)?)")[0]
        width_m = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    missing = ~np.isfinite(width_m) | (width_m <= 0)
    if missing.any():
        width_m[missing] = [road_class_width_m(c) for c in road_class[missing]]
    name = _column(roads, "name")
    pav = _column(roads, "pavement")
    return {
        "road_class": road_class,
        "width_m": width_m,
        "name": none.copy() if name is None else _objects(name),
        "pavement": none.copy() if pav is None else _objects(pav),
        "protected_until": _protected_until(roads),
        "last_dug_on": np.array(_dates(_column(roads, "last_dug_on"), n), dtype=object),
    }


def _objects(values: pd.Series) -> np.ndarray:
    out = np.array(values.astype(object).to_numpy(), dtype=object)
    out[pd.isna(out)] = None
    return out


def _protected_until(roads: gpd.GeoDataFrame) -> np.ndarray:
    n = len(roads)
    out = np.full(n, None, dtype=object)
    given = _column(roads, "protected_until")
    built = _column(roads, "built_on")
    overhauled = _column(roads, "overhauled_on")
    if given is None and built is None and overhauled is None:
        return out
    cols = [_dates(c, n) for c in (given, built, overhauled)]
    for i in np.flatnonzero([any(c[j] is not None for c in cols) for j in range(n)]):
        end = protection_end(cols[1][i], cols[2][i])
        candidates = [d for d in (cols[0][i], end) if d is not None]
        out[i] = max(candidates) if candidates else None
    return np.asarray(out, dtype=object)


def _dates(values: pd.Series | None, n: int) -> list[dt.date | None]:
    if values is None:
        return [None] * n
    parsed = pd.to_datetime(values, errors="coerce")
    return [None if pd.isna(v) else v.date() for v in parsed]


def _ends(part_of: np.ndarray) -> np.ndarray:
    is_end = np.zeros(part_of.size, dtype=bool)
    if part_of.size:
        change = np.flatnonzero(part_of[1:] != part_of[:-1])
        is_end[0] = is_end[-1] = True
        is_end[change] = True
        is_end[change + 1] = True
    return is_end


def _location_ids(xy: np.ndarray) -> np.ndarray:
    """One id per distinct location (to 1 mm), via a single int64 key and one hash pass."""
    if not len(xy):
        return np.zeros(0, dtype=np.int64)
    qx = np.round(xy[:, 0] / _GRID_M).astype(np.int64)
    qx -= qx.min()
    qy = np.round(xy[:, 1] / _GRID_M).astype(np.int64)
    qy -= qy.min()
    span = int(qy.max()) + 1
    if int(qx.max()) < np.iinfo(np.int64).max // span:
        # a hash table (pandas factorize) is O(n); np.unique would sort
        qx *= span
        qx += qy
        del qy
        inverse, _ = pd.factorize(qx, sort=False)
    else:
        _, inverse = np.unique(np.stack([qx, qy], axis=1), axis=0, return_inverse=True)
    return np.asarray(inverse, dtype=np.int32).ravel()


def _snap(  # noqa: PLR0915, PLR0917 - one pass over the arrays, kept together
    xy: np.ndarray,
    part_of: np.ndarray,
    level: np.ndarray,
    loc: np.ndarray,
    parts: np.ndarray,
    part_level: np.ndarray,
    tol: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Join dangling ends to a vertex or line of the same level within ``tol``."""
    if tol <= 0 or not len(xy):
        return xy, part_of, level, 0
    is_end = _ends(part_of)
    count = np.bincount(loc)
    dangling = np.flatnonzero(is_end & (count[loc] == 1))
    if not dangling.size:
        return xy, part_of, level, 0
    pos = np.arange(len(xy), dtype=np.float64)
    points = shapely.points(xy[dangling])
    xy = xy.copy()
    snapped = np.zeros(dangling.size, dtype=bool)
    # 1. onto another vertex: nearest same-level vertex of another part
    tree = shapely.STRtree(shapely.points(xy))
    src, dst = tree.query(points, predicate="dwithin", distance=tol)
    ok = (part_of[dst] != part_of[dangling[src]]) & (level[dst] == level[dangling[src]])
    src, dst = src[ok], dst[ok]
    if src.size:
        d = np.hypot(*(xy[dst] - xy[dangling[src]]).T)
        order = np.lexsort((d, src))
        src, dst = src[order], dst[order]
        first = np.ones(src.size, dtype=bool)
        first[1:] = src[1:] != src[:-1]
        src, dst = src[first], dst[first]
        # mutual snaps (two dangling ends near each other) meet at the lower index
        target = dangling[src]
        mutual = np.isin(dst, dangling) & (dst > target)
        xy[target[~mutual]] = xy[dst[~mutual]]
        xy[dst[mutual]] = xy[target[mutual]]
        snapped[src] = True
    # 2. onto the interior of another line: insert a vertex there
    rest = np.flatnonzero(~snapped)
    if rest.size:
        lines = shapely.STRtree(parts)
        src, dst = lines.query(points[rest], predicate="dwithin", distance=tol)
        v = dangling[rest[src]]
        ok = (dst != part_of[v]) & (part_level[dst] == level[v])
        src, dst, v = src[ok], dst[ok], v[ok]
        if src.size:
            d = shapely.distance(parts[dst], points[rest[src]])
            order = np.lexsort((d, src))
            src, dst, v = src[order], dst[order], v[order]
            first = np.ones(src.size, dtype=bool)
            first[1:] = src[1:] != src[:-1]
            src, dst, v = src[first], dst[first], v[first]
            m = shapely.line_locate_point(parts[dst], points[rest[src]])
            proj = shapely.get_coordinates(shapely.line_interpolate_point(parts[dst], m))
            xy[v] = proj
            new_pos = _position_of_measure(xy, part_of, dst, m)
            xy = np.concatenate([xy, proj])
            part_of = np.concatenate([part_of, dst])
            level = np.concatenate([level, level[v]])
            pos = np.concatenate([pos, new_pos])
            order = np.lexsort((pos, part_of))
            xy, part_of, level = xy[order], part_of[order], level[order]
            snapped[rest[src]] = True
    return xy, part_of, level, int(snapped.sum())


def _position_of_measure(
    xy: np.ndarray, part_of: np.ndarray, parts_idx: np.ndarray, m: np.ndarray
) -> np.ndarray:
    """Fractional vertex position (sort key) where measure ``m`` falls on each part.

    ``part_of`` is sorted (vertices come part by part), so a part's vertices are one slice.
    """
    seg = np.hypot(*np.diff(xy, axis=0).T)
    seg = np.where(part_of[1:] == part_of[:-1], seg, 0.0)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    starts = np.searchsorted(part_of, parts_idx, side="left")
    ends = np.searchsorted(part_of, parts_idx, side="right")
    out = np.empty(parts_idx.size)
    for i, (s, e, mi) in enumerate(zip(starts.tolist(), ends.tolist(), m.tolist(), strict=True)):
        local = cum[s:e] - cum[s]
        k = int(np.searchsorted(local, mi, side="right"))
        k = min(max(k, 1), e - s - 1)
        # strictly between vertex k-1 and k so the inserted vertex sorts between them
        frac = 0.5 if local[k] == local[k - 1] else (mi - local[k - 1]) / (local[k] - local[k - 1])
        out[i] = s + (k - 1) + min(max(frac, 1e-6), 1 - 1e-6)
    return out


def _node_keys(loc: np.ndarray, level: np.ndarray, is_end: np.ndarray) -> tuple[np.ndarray, int]:
    """Node key per vertex (-1: not a node) and the count of grade-separated shared vertices."""
    n = loc.size
    # node keys are 2 * location (+1): int32 unless there are a billion locations
    big = n and int(loc.max()) >= 2**30 - 1
    key = np.full(n, -1, dtype=np.int64 if big else np.int32)
    if not n:
        return key, 0
    count = np.bincount(loc)
    mids_at = np.bincount(loc, weights=~is_end)
    # locations with ends only (dead ends, plain junctions of split centrelines): one node
    # each. They get even keys and mixed locations odd ones, so the two never collide.
    ends_only = is_end & (mids_at[loc] == 0)
    key[ends_only] = loc[ends_only] * 2
    idx = np.flatnonzero((count[loc] > 1) & (mids_at[loc] > 0))
    if not idx.size:
        return key, 0
    df = pd.DataFrame(
        {"v": idx, "loc": loc[idx], "level": level[idx].astype(np.int64), "end": is_end[idx]}
    )
    mids = df[~df["end"]]
    ends = df[df["end"]]
    eff = pd.Series(ends["level"].to_numpy(), index=ends["v"].to_numpy(), dtype=np.int64)
    if len(ends) and len(mids):
        mid_levels = mids[["loc", "level"]].drop_duplicates()
        pair = ends[["v", "loc", "level"]].merge(mid_levels, on="loc", suffixes=("", "_mid"))
        pair["gap"] = (pair["level"] - pair["level_mid"]).abs()
        best = pair.sort_values(["v", "gap", "level_mid"]).drop_duplicates("v")
        eff.loc[best["v"].to_numpy()] = best["level_mid"].to_numpy()
        # ends with no interior vertex at their location all join one node
        no_mid = ~ends["v"].isin(best["v"]).to_numpy()
        eff.loc[ends["v"].to_numpy()[no_mid]] = np.iinfo(np.int32).min
    elif len(ends):
        eff[:] = np.iinfo(np.int32).min
    df["eff"] = df["level"]
    df.loc[df["end"], "eff"] = eff.loc[df.loc[df["end"], "v"].to_numpy()].to_numpy()
    grp = df.groupby(["loc", "eff"], sort=False)
    size = grp["v"].transform("size").to_numpy()
    has_end = grp["end"].transform("any").to_numpy()
    is_node = (size > 1) | has_end
    codes = grp.ngroup().to_numpy()
    key[df["v"].to_numpy()[is_node]] = codes[is_node] * 2 + 1
    # several level groups at one location and no joint: an overpass kept apart
    per_loc = df.loc[~df["end"]].groupby("loc")["eff"].nunique()
    grade_separated = int((per_loc > 1).sum())
    return key, grade_separated


def _split_edges(
    xy: np.ndarray, part_of: np.ndarray, is_node: np.ndarray, node_of_vertex: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cut every part at its node vertices; node vertices end one edge and start the next.

    No sort: the output is the vertex sequence with every interior node vertex written
    twice (the end of one edge, then the start of the next).
    """
    n = len(xy)
    is_first = np.ones(n, dtype=bool)
    is_first[1:] = part_of[1:] != part_of[:-1]
    is_last = np.ones(n, dtype=bool)
    is_last[:-1] = is_first[1:]
    rep = (1 + (is_node & ~is_first & ~is_last)).astype(np.int8)
    del is_first
    starts = np.flatnonzero(is_node & ~is_last).astype(np.int32)
    del is_last
    first_copy = np.cumsum(rep, dtype=np.int64)
    first_copy -= rep
    offsets = np.concatenate([first_copy[starts] + rep[starts] - 1, [int(rep.sum())]])
    del first_copy
    vert = np.repeat(np.arange(n, dtype=np.int32), rep)
    del rep
    coords = xy[vert]
    src = node_of_vertex[vert[offsets[:-1]]]
    tgt = node_of_vertex[vert[offsets[1:] - 1]]
    edge_part = part_of[vert[offsets[:-1]]]
    return src, tgt, edge_part, coords, offsets


def _components(n_nodes: int, src: np.ndarray, tgt: np.ndarray) -> tuple[int, np.ndarray]:
    if not n_nodes:
        return 0, np.zeros(0, dtype=np.int64)
    ones = np.ones(src.size, dtype=np.int8)
    adj = coo_array((ones, (src.astype(np.int32), tgt.astype(np.int32))), shape=(n_nodes, n_nodes))
    n, labels = connected_components(adj, directed=False)
    return int(n), labels.astype(np.int64)


# node k-d trees of live graphs (weak keys: a dropped graph drops its tree)
_NODE_TREES: weakref.WeakKeyDictionary[nx.MultiGraph, tuple[np.ndarray, cKDTree]] = (
    weakref.WeakKeyDictionary()
)
_NODE_TREES_LOCK = threading.Lock()


def _node_tree(G: nx.MultiGraph) -> tuple[np.ndarray, cKDTree]:  # noqa: N803
    with _NODE_TREES_LOCK:
        hit = _NODE_TREES.get(G)
    if hit is not None and len(hit[0]) == G.number_of_nodes():
        return hit
    if not G.number_of_nodes():
        msg = "nearest_nodes: the road graph has no nodes"
        raise InvalidGraphError(msg)
    node_list = list(G.nodes)
    nodes = np.empty(len(node_list), dtype=object)
    nodes[:] = node_list
    if all(isinstance(n, int) for n in node_list):
        nodes = np.asarray(node_list, dtype=np.int64)
    data = G.nodes
    xy = np.array([(data[n]["x"], data[n]["y"]) for n in node_list], dtype=float)
    out = (nodes, cKDTree(xy))
    with _NODE_TREES_LOCK:
        _NODE_TREES[G] = out
    return out


@functools.cache
def _class_defaults() -> dict[str, float]:
    with ROAD_CLASS_DEFAULTS.open(encoding="utf-8", newline="") as fh:
        table = {row["road_class"]: float(row["width_m"]) for row in csv.DictReader(fh)}
    if "*" not in table:
        msg = f"{ROAD_CLASS_DEFAULTS.name}: needs a '*' fallback row"
        raise RoadLayerError(msg)
    return table
