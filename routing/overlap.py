"""Find which road segments a proposed line runs along, and where it crosses roads."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from routing.errors import InvalidGraphError
from routing.errors import ProposalError
from routing.graph import RoadNetwork
from routing.graph import edge_attributes

__all__ = [
    "ALONG_COLUMNS",
    "CROSSING_COLUMNS",
    "LineMatching",
    "RoadIndex",
    "match_lines",
]

logger = logging.getLogger(__name__)

ALONG_COLUMNS = (
    "line",
    "edge_id",
    "segment_id",
    "side",
    "overlap_m",
    "share",
    "from_m",
    "to_m",
    "offset_m",
)
CROSSING_COLUMNS = ("line", "edge_id", "segment_id", "x", "y", "angle_deg")
OFF_NETWORK_COLUMNS = ("line", "part", "from_m", "to_m", "length_m", "geometry")
# a line this close to the centreline (either side) is "on" it
_CENTRE_M = 0.5
# crossing points closer than this on one line are one crossing (a line through a node)
_SAME_POINT_M = 0.01


@dataclass(frozen=True, slots=True)
class _GridHash:
    """Road pieces registered in the square cells their grown envelopes cover."""

    cell_m: float
    origin: np.ndarray
    keys: np.ndarray  # sorted cell keys, one per (cell, piece) registration
    pieces: np.ndarray
    n_cols: int

    @classmethod
    def build(cls, a: np.ndarray, b: np.ndarray, reach_m: float) -> _GridHash:
        cell = max(2.0 * reach_m, 1.0)
        lo = np.minimum(a, b) - reach_m
        hi = np.maximum(a, b) + reach_m
        origin = lo.min(axis=0) if len(lo) else np.zeros(2)
        c0 = np.floor((lo - origin) / cell).astype(np.int64)
        c1 = np.floor((hi - origin) / cell).astype(np.int64)
        n_cols = int(c1[:, 0].max()) + 2 if len(c1) else 1
        nx_ = c1[:, 0] - c0[:, 0] + 1
        ny_ = c1[:, 1] - c0[:, 1] + 1
        count = nx_ * ny_
        piece = np.repeat(np.arange(len(a)), count)
        k = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
        ix = c0[piece, 0] + k % nx_[piece]
        iy = c0[piece, 1] + k // nx_[piece]
        keys = iy * n_cols + ix
        order = np.argsort(keys, kind="stable")
        return cls(cell, origin, keys[order], piece[order], n_cols)

    def query(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cx = np.floor((points - self.origin) / self.cell_m).astype(np.int64)
        inside = (cx[:, 0] >= 0) & (cx[:, 1] >= 0) & (cx[:, 0] < self.n_cols)
        key = np.where(inside, cx[:, 1] * self.n_cols + cx[:, 0], -1)
        lo = np.searchsorted(self.keys, key, side="left")
        hi = np.searchsorted(self.keys, key, side="right")
        count = hi - lo
        sub = np.repeat(np.arange(len(points)), count)
        at = np.repeat(lo, count) + (
            np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
        )
        return sub, self.pieces[at]


@dataclass(frozen=True, slots=True)
class RoadIndex:
    """Road edges cut into straight pieces with a spatial index, built once per graph.

    Build with :meth:`from_graph`; matching many lines (or one new line at a time) reuses it.
    """

    crs: Any
    edge_id: np.ndarray
    segment_id: np.ndarray
    length_m: np.ndarray
    half_width_m: np.ndarray
    geometry: np.ndarray
    piece_a: np.ndarray
    piece_b: np.ndarray
    piece_edge: np.ndarray
    piece_from_m: np.ndarray
    piece_dx: np.ndarray
    piece_dy: np.ndarray
    piece_len: np.ndarray
    piece_inv_len2: np.ndarray
    pieces: shapely.STRtree
    edges: shapely.STRtree
    # grid hashes of the piece envelopes grown by a reach (m), built on first use per reach
    _grids: dict[float, _GridHash] = field(default_factory=dict, repr=False, compare=False)

    def near_pieces(self, points: np.ndarray, reach_m: float) -> tuple[np.ndarray, np.ndarray]:
        """Pairs (point, piece) with the piece's envelope grown by ``reach_m`` covering the
        point: every piece within ``reach_m`` is among them. Pure numpy (a uniform grid), so
        no shapely point objects are made for the queries."""
        grid = self._grids.get(reach_m)
        if grid is None:
            grid = _GridHash.build(self.piece_a, self.piece_b, reach_m)
            self._grids[reach_m] = grid
        return grid.query(points)

    @classmethod
    def from_graph(cls, G: nx.MultiGraph) -> RoadIndex:  # noqa: N803 - networkx's name
        """Index the edges of a road graph from :func:`routing.graph.build_road_graph`.

        Raises
        ------
        InvalidGraphError
            The graph has no CRS, a geographic one, or an edge lacks its geometry.
        """
        crs = G.graph.get("crs")
        if crs is None:
            msg = "road graph has no G.graph['crs']; build it with routing.graph.build_road_graph"
            raise InvalidGraphError(msg)
        if getattr(crs, "is_geographic", False):
            msg = f"road graph is in a geographic CRS ({crs}); matching needs metres"
            raise InvalidGraphError(msg)
        rows = sorted((d.get("edge_id", i), d) for i, (_, _, d) in enumerate(G.edges(data=True)))
        if any("geometry" not in d for _, d in rows):
            msg = "road graph edges need a 'geometry' attribute (LineString in the graph CRS)"
            raise InvalidGraphError(msg)
        return cls.from_arrays(
            crs,
            edge_id=np.array([e for e, _ in rows], dtype=np.int64),
            segment_id=np.array([d.get("segment_id") for _, d in rows], dtype=object),
            width_m=np.array([d.get("width_m") or 0.0 for _, d in rows], dtype=float),
            geometry=np.array([d["geometry"] for _, d in rows], dtype=object),
        )

    @classmethod
    def from_network(cls, net: RoadNetwork, roads: gpd.GeoDataFrame) -> RoadIndex:
        """Index a :class:`routing.graph.RoadNetwork` directly (no networkx objects): the
        fast path for batch matching; edge ids are the network's edge numbers, as in
        :func:`routing.graph.build_road_graph`."""
        table = edge_attributes(net, roads)
        return cls.from_arrays(
            net.crs,
            edge_id=np.arange(net.source.size),
            segment_id=table["segment_id"],
            width_m=table["width_m"].astype(float),
            geometry=net.edge_geometries(),
        )

    @classmethod
    def from_arrays(
        cls,
        crs: Any,
        *,
        edge_id: np.ndarray,
        segment_id: np.ndarray,
        width_m: np.ndarray,
        geometry: np.ndarray,
    ) -> RoadIndex:
        """Index edges given as arrays (the fast path for large networks)."""
        xy, owner = shapely.get_coordinates(geometry, return_index=True)
        same = owner[1:] == owner[:-1]
        a, b = xy[:-1][same], xy[1:][same]
        piece_edge = owner[:-1][same]
        seg = np.hypot(*(b - a).T)
        cum = np.cumsum(seg)
        start = np.searchsorted(piece_edge, piece_edge, side="left")
        base = np.where(start > 0, cum[np.maximum(start - 1, 0)], 0.0)
        piece_from = cum - seg - base
        lines = shapely.linestrings(np.stack([a, b], axis=1))
        return cls(
            crs=crs,
            edge_id=np.asarray(edge_id),
            segment_id=np.asarray(segment_id, dtype=object),
            length_m=shapely.length(geometry),
            half_width_m=np.asarray(width_m, dtype=float) / 2,
            geometry=np.asarray(geometry, dtype=object),
            piece_a=a,
            piece_b=b,
            piece_edge=piece_edge,
            piece_from_m=piece_from,
            piece_dx=b[:, 0] - a[:, 0],
            piece_dy=b[:, 1] - a[:, 1],
            piece_len=seg,
            piece_inv_len2=1.0 / np.where(seg > 0, seg * seg, 1.0),
            pieces=shapely.STRtree(lines),
            edges=shapely.STRtree(geometry),
        )


@dataclass(frozen=True, slots=True)
class LineMatching:
    """How proposed lines sit on the road network.

    Attributes
    ----------
    along
        One row per (line, edge, side) the line runs along: ``overlap_m`` (length of line
        beside the edge), ``share`` (part of the edge's length covered, 0-1), ``from_m`` /
        ``to_m`` (covered stretch, measured along the edge's geometry), ``offset_m`` (mean
        distance from the centreline) and ``side`` (``left``/``right`` of the edge's
        digitised direction, or ``centre``).
    crossings
        One row per place a line crosses a road centreline: point and angle (0-90 degrees).
    off_network
        Stretches of lines farther than any road's corridor (half width plus verge). Never
        dropped silently: a line entirely off the network appears here with its full length.
    line_length_m
        Length of each input line, by input index label.
    """

    along: pd.DataFrame
    crossings: pd.DataFrame
    off_network: gpd.GeoDataFrame
    line_length_m: pd.Series

    def off_network_m(self) -> pd.Series:
        """Length off the network per line (0 where the whole line is on roads)."""
        off = self.off_network.groupby("line")["length_m"].sum()
        return off.reindex(self.line_length_m.index, fill_value=0.0)


def match_lines(
    index: RoadIndex,
    lines: gpd.GeoDataFrame,
    *,
    verge_m: float = 5.0,
    max_angle_deg: float = 30.0,
    step_m: float = 4.0,
    min_overlap_m: float = 1.0,
) -> LineMatching:
    """Match proposed lines to road edges: runs along, crossings and stretches off the network.

    Parameters
    ----------
    index
        The road edges (:meth:`RoadIndex.from_graph`).
    lines
        Proposed lines (LineString or MultiLineString) in the graph's CRS. Output rows name
        them by their index label in ``line``.
    verge_m
        How far beyond the carriageway edge (``width_m / 2``) a line still runs along the
        road: sidewalks and verges, where most lines are laid.
    max_angle_deg
        A stretch runs along an edge only if it is within this angle of the centreline;
        a crossing is a centreline intersection at a larger angle.
    step_m
        Lines are cut into pieces of at most this length; each piece goes to its nearest
        parallel edge. Coverage ends are projected, so they are exact except where a
        piece straddles a node: there up to ``step_m / 2`` goes to the neighbouring edge.
    min_overlap_m
        Runs shorter than this are dropped (a line brushing the end of a side street).

    Returns
    -------
    LineMatching

    Raises
    ------
    ProposalError
        ``lines`` has no CRS or another CRS than the graph.

    Notes
    -----
    Either side of the road, dual carriageways (each side goes to its nearest carriageway),
    reversed digitising (angles are undirected) and multi-part lines are handled piece by
    piece. Cost is O(P log E) for P pieces and E edge pieces (one STRtree query, then numpy).
    """
    _check_crs(index, lines)
    geoms = np.asarray(lines.geometry.values)
    labels = lines.index.to_numpy()
    parts, line_of_part = shapely.get_parts(geoms, return_index=True)
    part_no = np.arange(parts.size) - np.searchsorted(line_of_part, line_of_part, side="left")
    dense = shapely.segmentize(parts, step_m)
    xy, part_of = shapely.get_coordinates(dense, return_index=True)
    same = part_of[1:] == part_of[:-1]
    a, b = xy[:-1][same], xy[1:][same]
    sub_part = part_of[:-1][same]
    sub_len = np.hypot(*(b - a).T)
    keep = sub_len > 0
    a, b, sub_part, sub_len = a[keep], b[keep], sub_part[keep], sub_len[keep]
    sub_from = _measures(sub_part, sub_len)
    best_piece, dist, signed, near = _nearest_parallel(index, a, b, verge_m, max_angle_deg)
    along = _along(index, labels, line_of_part, sub_part, a, b, sub_len, best_piece, dist, signed)
    along = along[along["overlap_m"] >= min_overlap_m].reset_index(drop=True)
    off = _off_network(
        lines, labels, line_of_part, part_no, sub_part, a, b, sub_from, sub_len, near
    )
    crossings = _crossings(index, parts, labels[line_of_part], max_angle_deg)
    line_length = pd.Series(shapely.length(geoms), index=lines.index, name="length_m")
    logger.info(
        "matched %d lines: %d along rows, %d crossings, %.0f m off the network",
        len(lines),
        len(along),
        len(crossings),
        float(off["length_m"].sum()) if len(off) else 0.0,
    )
    return LineMatching(
        along=along, crossings=crossings, off_network=off, line_length_m=line_length
    )


# -- helpers ----------------------------------------------------------------------------------


def _check_crs(index: RoadIndex, lines: gpd.GeoDataFrame) -> None:
    if lines.crs is None:
        msg = "proposed lines have no CRS; set the CRS they were drawn in"
        raise ProposalError(msg)
    if index.crs is not None and lines.crs != index.crs:
        msg = (
            f"proposed lines are in {lines.crs.to_string()} but the road graph in "
            f"{index.crs.to_string()}: reproject the lines (lines.to_crs(G.graph['crs']))"
        )
        raise ProposalError(msg)


def _measures(owner: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Start measure of each piece along its owner (owners are contiguous)."""
    cum = np.cumsum(length)
    start = np.searchsorted(owner, owner, side="left")
    base = np.where(start > 0, cum[np.maximum(start - 1, 0)], 0.0)
    return np.asarray(cum - length - base)


def _candidates(
    index: RoadIndex, a: np.ndarray, b: np.ndarray, reach_m: float
) -> tuple[np.ndarray, np.ndarray]:
    return index.near_pieces((a + b) / 2, reach_m)


def _project(
    index: RoadIndex, piece: np.ndarray, p: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distance, signed offset (left +) and measure of points ``p`` on pieces ``piece``."""
    ax, ay = index.piece_a[:, 0][piece], index.piece_a[:, 1][piece]
    dx, dy = index.piece_dx[piece], index.piece_dy[piece]
    px, py = p[:, 0] - ax, p[:, 1] - ay
    t = np.clip((px * dx + py * dy) * index.piece_inv_len2[piece], 0.0, 1.0)
    dist = np.hypot(px - t * dx, py - t * dy)
    signed = np.where(dx * py - dy * px >= 0, dist, -dist)
    measure = index.piece_from_m[piece] + t * index.piece_len[piece]
    return dist, signed, measure


def _nearest_parallel(
    index: RoadIndex, a: np.ndarray, b: np.ndarray, verge_m: float, max_angle_deg: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per line piece: nearest road piece within its corridor and angle (-1 if none), its
    distance and signed offset, and whether the piece lies in any road's corridor at all."""
    n = len(a)
    best = np.full(n, -1, dtype=np.int64)
    dist_out = np.full(n, np.inf)
    signed_out = np.zeros(n)
    near = np.zeros(n, dtype=bool)
    if not n or not index.piece_edge.size:
        return best, dist_out, signed_out, near
    reach = float(index.half_width_m.max()) + verge_m
    sub, piece = _candidates(index, a, b, reach)  # grouped by sub, ascending
    dist, signed, _ = _project(index, piece, ((a + b) / 2)[sub])
    edge = index.piece_edge[piece]
    inside = dist <= index.half_width_m[edge] + verge_m
    near[sub[inside]] = True
    ux, uy = (b - a)[:, 0], (b - a)[:, 1]
    ulen = np.hypot(ux, uy)
    dot = np.abs(ux[sub] * index.piece_dx[piece] + uy[sub] * index.piece_dy[piece])
    cos = dot / (ulen[sub] * index.piece_len[piece] + np.finfo(float).tiny)
    ok = inside & (cos >= np.cos(np.radians(max_angle_deg)))
    sub, piece, dist, signed = sub[ok], piece[ok], dist[ok], signed[ok]
    if not sub.size:
        return best, dist_out, signed_out, near
    # nearest per line piece; ties go to the lower edge id so no order matters (no sort:
    # the pairs come grouped by line piece)
    starts = np.flatnonzero(np.r_[True, sub[1:] != sub[:-1]])
    least = np.minimum.reduceat(dist, starts)
    block = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, sub.size]))
    tied = dist == least[block]
    eid = np.where(tied, index.edge_id[index.piece_edge[piece]], np.iinfo(np.int64).max)
    low = np.minimum.reduceat(eid, starts)
    # keep the first winning pair of each block (several if an edge has two nearest pieces)
    idx = np.flatnonzero(tied & (eid == low[block]))
    idx = idx[np.r_[True, block[idx][1:] != block[idx][:-1]]]
    best[sub[idx]] = piece[idx]
    dist_out[sub[idx]] = dist[idx]
    signed_out[sub[idx]] = signed[idx]
    return best, dist_out, signed_out, near


def _along(  # noqa: PLR0917 - private, arrays in one pass
    index: RoadIndex,
    labels: np.ndarray,
    line_of_part: np.ndarray,
    sub_part: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    sub_len: np.ndarray,
    best: np.ndarray,
    dist: np.ndarray,
    signed: np.ndarray,
) -> pd.DataFrame:
    hit = best >= 0
    if not hit.any():
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ALONG_COLUMNS})
    piece = best[hit]
    edge_pos = index.piece_edge[piece]
    # project both ends of each line piece onto its road piece (exact coverage ends)
    ends = np.concatenate([a[hit], b[hit]])
    _, _, m_ends = _project(index, np.concatenate([piece, piece]), ends)
    k = int(hit.sum())
    side_sign = np.where(np.abs(signed[hit]) <= _CENTRE_M, 0, np.sign(signed[hit])).astype(int)
    line_pos = line_of_part[sub_part[hit]]
    length = sub_len[hit]
    m0 = np.minimum(m_ends[:k], m_ends[k:])
    m1 = np.maximum(m_ends[:k], m_ends[k:])
    wd = dist[hit] * length
    # one sort by (line, edge, side, start); groups are runs of equal keys (numpy only)
    order = np.lexsort((m0, side_sign, edge_pos, line_pos))
    line_pos, edge_pos, side_sign = line_pos[order], edge_pos[order], side_sign[order]
    length, m0, m1, wd = length[order], m0[order], m1[order], wd[order]
    new = np.ones(order.size, dtype=bool)
    new[1:] = (
        (line_pos[1:] != line_pos[:-1])
        | (edge_pos[1:] != edge_pos[:-1])
        | (side_sign[1:] != side_sign[:-1])
    )
    starts = np.flatnonzero(new)
    grp = np.cumsum(new) - 1
    overlap = np.add.reduceat(length, starts)
    covered = _covered_length(grp, m0, m1, new)
    g_edge = edge_pos[starts]
    edge_len = index.length_m[g_edge]
    sides = np.array(["right", "centre", "left"], dtype=object)
    return pd.DataFrame(
        {
            "line": labels[line_pos[starts]],
            "edge_id": index.edge_id[g_edge],
            "segment_id": index.segment_id[g_edge],
            "side": sides[side_sign[starts] + 1],
            "overlap_m": overlap,
            "share": np.clip(covered / np.where(edge_len > 0, edge_len, np.inf), 0, 1),
            "from_m": np.minimum.reduceat(m0, starts),
            "to_m": np.maximum.reduceat(m1, starts),
            "offset_m": np.add.reduceat(wd, starts) / overlap,
        }
    )


def _covered_length(grp: np.ndarray, m0: np.ndarray, m1: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Union length of the [m0, m1] stretches per group (rows sorted by group, then m0)."""
    # shift each group past the previous one so one running max serves all groups
    shift = grp * 2 * (float(m1.max() - m0.min()) + 1.0)
    m0s, m1s = m0 + shift, m1 + shift
    reach = np.maximum.accumulate(m1s)
    prev = np.where(new, -np.inf, np.concatenate([[-np.inf], reach[:-1]]))
    gain = np.clip(m1s - np.maximum(m0s, prev), 0, None)
    return np.bincount(grp, weights=gain)


def _off_network(  # noqa: PLR0917 - private, arrays in one pass
    lines: gpd.GeoDataFrame,
    labels: np.ndarray,
    line_of_part: np.ndarray,
    part_no: np.ndarray,
    sub_part: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    sub_from: np.ndarray,
    sub_len: np.ndarray,
    near: np.ndarray,
) -> gpd.GeoDataFrame:
    off = ~near
    empty = gpd.GeoDataFrame(
        {c: pd.Series(dtype=object) for c in OFF_NETWORK_COLUMNS[:-1]},
        geometry=gpd.GeoSeries([], crs=lines.crs),
    )
    if not off.any():
        return empty
    idx = np.flatnonzero(off)
    # runs: consecutive off pieces of the same part
    new = np.ones(idx.size, dtype=bool)
    new[1:] = (idx[1:] != idx[:-1] + 1) | (sub_part[idx[1:]] != sub_part[idx[:-1]])
    run = np.cumsum(new) - 1
    starts = idx[new]
    ends = idx[np.r_[new[1:], True]]
    coords = np.concatenate([a[idx], b[ends]])
    owner = np.concatenate([run, np.arange(starts.size)])
    order = np.lexsort((np.concatenate([idx, ends + 0.5]), owner))
    geoms = shapely.simplify(shapely.linestrings(coords[order], indices=owner[order]), 0.0)
    part = sub_part[starts]
    return gpd.GeoDataFrame(
        {
            "line": labels[line_of_part[part]],
            "part": part_no[part],
            "from_m": sub_from[starts],
            "to_m": sub_from[ends] + sub_len[ends],
            "length_m": np.bincount(run, weights=sub_len[idx]),
        },
        geometry=gpd.GeoSeries(geoms, crs=lines.crs),
    )


def _crossings(
    index: RoadIndex, parts: np.ndarray, part_label: np.ndarray, max_angle_deg: float
) -> pd.DataFrame:
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in CROSSING_COLUMNS})
    if not parts.size:
        return empty
    part_idx, edge_pos = index.edges.query(parts, predicate="intersects")
    if not part_idx.size:
        return empty
    inter = shapely.intersection(parts[part_idx], index.geometry[edge_pos])
    pts, owner = shapely.get_parts(inter, return_index=True)
    is_point = shapely.get_type_id(pts) == shapely.GeometryType.POINT
    pts, owner = pts[is_point], owner[is_point]
    if not pts.size:
        return empty
    part_idx, edge_pos = part_idx[owner], edge_pos[owner]
    u = _direction(parts, part_idx, pts)
    v = _edge_direction(index, edge_pos, pts)
    cos = np.abs(np.einsum("ij,ij->i", u, v)) / (
        np.hypot(*u.T) * np.hypot(*v.T) + np.finfo(float).tiny
    )
    angle = np.degrees(np.arccos(np.clip(cos, 0, 1)))
    xy = shapely.get_coordinates(pts)
    keep = angle > max_angle_deg
    part_idx, edge_pos, xy, angle = part_idx[keep], edge_pos[keep], xy[keep], angle[keep]
    # a line crossing a road at a node meets two edges there: one crossing (lower edge id)
    qx, qy = np.round(xy[:, 0] / _SAME_POINT_M), np.round(xy[:, 1] / _SAME_POINT_M)
    eid = index.edge_id[edge_pos]
    order = np.lexsort((eid, qy, qx, part_idx))
    part_idx, edge_pos, xy, angle = part_idx[order], edge_pos[order], xy[order], angle[order]
    qx, qy = qx[order], qy[order]
    first = np.ones(order.size, dtype=bool)
    first[1:] = (part_idx[1:] != part_idx[:-1]) | (qx[1:] != qx[:-1]) | (qy[1:] != qy[:-1])
    part_idx, edge_pos, xy, angle = part_idx[first], edge_pos[first], xy[first], angle[first]
    return pd.DataFrame(
        {
            "line": part_label[part_idx],
            "edge_id": index.edge_id[edge_pos],
            "segment_id": index.segment_id[edge_pos],
            "x": xy[:, 0],
            "y": xy[:, 1],
            "angle_deg": angle,
        }
    )


def _direction(parts: np.ndarray, which: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Direction of the straight segment of ``parts[which]`` on which each point lies."""
    uniq, inverse = np.unique(which, return_inverse=True)
    xy, owner = shapely.get_coordinates(parts[uniq], return_index=True)
    seg = np.hypot(*np.diff(xy, axis=0).T)
    seg[owner[1:] != owner[:-1]] = 0.0  # no length across part boundaries
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    first = np.searchsorted(owner, np.arange(uniq.size), side="left")
    m = shapely.line_locate_point(parts[which], pts)
    k = np.searchsorted(cum, cum[first[inverse]] + m, side="right") - 1
    last = np.searchsorted(owner, np.arange(uniq.size), side="right")[inverse] - 2
    k = np.clip(k, first[inverse], last)
    return np.asarray(xy[k + 1] - xy[k])


def _edge_direction(index: RoadIndex, edge_pos: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Direction of the road piece of each edge on which each point lies."""
    m = shapely.line_locate_point(index.geometry[edge_pos], pts)
    first = np.searchsorted(index.piece_edge, edge_pos, side="left")
    last = np.searchsorted(index.piece_edge, edge_pos, side="right") - 1
    # pieces of one edge are contiguous and their from_m increases: search one global measure
    seg = np.hypot(*(index.piece_b - index.piece_a).T)
    start = np.cumsum(seg) - seg
    k = np.searchsorted(start, start[first] + m, side="right") - 1
    k = np.clip(k, first, last)
    return np.asarray(index.piece_b[k] - index.piece_a[k])
