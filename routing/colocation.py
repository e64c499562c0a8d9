"""Find co-location groups: road runs where several utilities' proposed lines meet in time."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components

from routing.errors import ProposalError

__all__ = [
    "PROPOSAL_COLUMNS",
    "ColocationGroup",
    "edge_endpoints",
    "find_colocations",
]

logger = logging.getLogger(__name__)

PROPOSAL_COLUMNS = ("utility", "project", "applicant", "planned_start", "planned_end")
_EPOCH = np.datetime64("1970-01-01", "D")


@dataclass(frozen=True, slots=True)
class ColocationGroup:
    """A run of road edges along which at least two utilities' lines run in nearby windows.

    Attributes
    ----------
    key
        Stable id: a hash of the edge ids and line labels (same group, same key).
    edge_ids, segment_ids
        The graph edges of the run and the stored road segments they come from.
    lines
        The proposed lines in the group (input labels), sorted.
    utilities, projects, applicants
        Distinct values over those lines, sorted.
    shared_length_m
        Road length along which at least two utilities run together (sum over edges).
    start, end
        The window from the earliest planned start to the latest planned end.
    """

    key: str
    edge_ids: tuple[int, ...]
    segment_ids: tuple[Any, ...]
    lines: tuple[Any, ...]
    utilities: tuple[str, ...]
    projects: tuple[str, ...]
    applicants: tuple[str, ...]
    shared_length_m: float
    start: dt.date
    end: dt.date

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return {
            "key": self.key,
            "edge_ids": list(self.edge_ids),
            "segment_ids": list(self.segment_ids),
            "lines": list(self.lines),
            "utilities": list(self.utilities),
            "projects": list(self.projects),
            "applicants": list(self.applicants),
            "shared_length_m": self.shared_length_m,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
        }


def edge_endpoints(G: nx.MultiGraph) -> dict[int, tuple[Any, Any]]:  # noqa: N803
    """Map each ``edge_id`` of a road graph to its two end nodes (for run adjacency)."""
    return {d["edge_id"]: (u, v) for u, v, d in G.edges(data=True)}


def find_colocations(
    along: pd.DataFrame,
    proposals: pd.DataFrame,
    endpoints: Mapping[int, tuple[Any, Any]],
    *,
    horizon_days: int = 90,
    min_utilities: int = 2,
) -> tuple[ColocationGroup, ...]:
    """Group proposed lines that run along the same road edges at nearby times.

    Parameters
    ----------
    along
        ``LineMatching.along`` rows (``line``, ``edge_id``, ``segment_id``, ``from_m``,
        ``to_m``); several rows per (line, edge) (both sides) are merged.
    proposals
        One row per line, indexed by the same labels, with ``utility``, ``project``,
        ``applicant``, ``planned_start``, ``planned_end`` (dates).
    endpoints
        ``edge_id -> (u, v)`` from :func:`edge_endpoints`; edges sharing a node are adjacent.
    horizon_days
        Two windows are coordinated if they overlap or the gap between them is at most this.
    min_utilities
        A run needs at least this many distinct utilities on each of its edges.

    Returns
    -------
    tuple of ColocationGroup
        Sorted by key. Empty when nothing is co-located.

    Raises
    ------
    ProposalError
        A line in ``along`` has no proposal row, or a window ends before it starts.

    Notes
    -----
    On each edge, lines are chained by time (single linkage: sort by start, a new cluster
    begins where a start lies more than ``horizon_days`` after every earlier end). Clusters
    with ``min_utilities`` utilities are the edge's co-locations. Co-locations on adjacent
    edges that share a line join into one run (connected components). Cost O(n log n) in
    the number of (line, edge) rows.
    """
    occ = _occupancies(along, proposals)
    if occ.empty:
        return ()
    clusters = _edge_clusters(occ, horizon_days, min_utilities)
    if clusters.empty:
        return ()
    comp = _join_runs(clusters, endpoints)
    clusters["group"] = comp[clusters["cluster"].to_numpy()]
    shared = _shared_length(clusters)
    groups = _assemble(clusters, shared)
    logger.info("co-location: %d groups from %d (line, edge) rows", len(groups), len(occ))
    return tuple(sorted(groups, key=lambda grp: grp.key))


def _assemble(clusters: pd.DataFrame, shared: np.ndarray) -> list[ColocationGroup]:
    """One ColocationGroup per component, in plain Python over sorted columns (fast for
    the few groups of an incremental update and linear for a whole city)."""
    order = np.argsort(clusters["group"].to_numpy(), kind="stable")
    col = {c: clusters[c].to_numpy()[order] for c in clusters.columns}
    group = col["group"]
    bounds = np.flatnonzero(np.r_[True, group[1:] != group[:-1], True])
    out = []
    for lo, hi in itertools.pairwise(bounds.tolist()):
        edge_seg = dict(zip(col["edge_id"][lo:hi].tolist(), col["segment_id"][lo:hi], strict=True))
        edges = sorted(edge_seg)
        lines = tuple(sorted(set(col["line"][lo:hi].tolist()), key=str))
        out.append(
            ColocationGroup(
                key=_key(edges, lines),
                edge_ids=tuple(int(e) for e in edges),
                segment_ids=tuple(edge_seg[e] for e in edges),
                lines=lines,
                utilities=tuple(sorted(set(col["utility"][lo:hi].tolist()))),
                projects=tuple(sorted(set(col["project"][lo:hi].tolist()))),
                applicants=tuple(sorted(set(col["applicant"][lo:hi].tolist()))),
                shared_length_m=float(shared[int(group[lo])]),
                start=_date(int(col["start"][lo:hi].min())),
                end=_date(int(col["end"][lo:hi].max())),
            )
        )
    return out


def _occupancies(along: pd.DataFrame, proposals: pd.DataFrame) -> pd.DataFrame:
    if along.empty:
        return pd.DataFrame()
    missing = set(PROPOSAL_COLUMNS) - set(proposals.columns)
    if missing:
        msg = f"proposals lack columns {sorted(missing)}"
        raise ProposalError(msg)
    columns = ["line", "edge_id", "segment_id", "from_m", "to_m"]
    if along.duplicated(["line", "edge_id"]).any():  # both sides of one edge: one row
        occ = along.groupby(["line", "edge_id"], sort=False).agg(
            segment_id=("segment_id", "first"), from_m=("from_m", "min"), to_m=("to_m", "max")
        )
        occ = occ.reset_index()
    else:
        occ = along[columns].reset_index(drop=True)
    unknown = set(occ["line"]) - set(proposals.index)
    if unknown:
        msg = f"lines {sorted(map(str, unknown))[:5]} have matches but no proposal row"
        raise ProposalError(msg)
    attrs = proposals.loc[occ["line"].to_numpy(), list(PROPOSAL_COLUMNS)]
    for col in ("utility", "project", "applicant"):
        occ[col] = attrs[col].astype(str).to_numpy()
    occ["start"] = _days(attrs["planned_start"])
    occ["end"] = _days(attrs["planned_end"])
    bad = occ["end"] < occ["start"]
    if bad.any():
        line = occ.loc[bad, "line"].iloc[0]
        msg = f"proposed line {line!r}: planned_end is before planned_start"
        raise ProposalError(msg, detail=[{"feature": str(line), "problem": "end before start"}])
    return occ


def _edge_clusters(occ: pd.DataFrame, horizon_days: int, min_utilities: int) -> pd.DataFrame:
    edge = occ["edge_id"].to_numpy()
    start = occ["start"].to_numpy()
    end = occ["end"].to_numpy()
    order = np.lexsort((end, start, edge))
    occ = occ.iloc[order].reset_index(drop=True)
    edge, start, end = edge[order], start[order], end[order]
    first = np.ones(edge.size, dtype=bool)
    first[1:] = edge[1:] != edge[:-1]
    # running latest end within each edge: shift edges apart so one accumulate serves all
    run = np.cumsum(first) - 1
    shift = run * (2 * (int(end.max()) - int(start.min())) + 2 * horizon_days + 2)
    reach = np.maximum.accumulate(end + shift) - shift
    prev = np.concatenate([[0], reach[:-1]])
    new = first | (start - prev > horizon_days)
    cluster = np.cumsum(new) - 1
    # distinct utilities per cluster: count distinct (cluster, utility) pairs
    utility = pd.factorize(occ["utility"])[0]
    pairs = np.unique(cluster * (int(utility.max()) + 1) + utility)
    n_util = np.bincount(pairs // (int(utility.max()) + 1), minlength=int(cluster.max()) + 1)
    keep = n_util[cluster] >= min_utilities
    kept = occ[keep].copy()
    kept["cluster"] = np.unique(cluster[keep], return_inverse=True)[1].ravel()
    return kept


def _join_runs(clusters: pd.DataFrame, endpoints: Mapping[int, tuple[Any, Any]]) -> np.ndarray:
    """Component id per cluster: clusters on adjacent edges sharing a line are one run."""
    n = int(clusters["cluster"].max()) + 1
    by_line: dict[Any, list[tuple[int, int]]] = {}
    for line, cluster, edge in zip(
        clusters["line"].tolist(),
        clusters["cluster"].tolist(),
        clusters["edge_id"].tolist(),
        strict=True,
    ):
        by_line.setdefault(line, []).append((cluster, edge))
    src, dst = [], []
    for members in by_line.values():
        for (c1, e1), (c2, e2) in itertools.combinations(members, 2):
            if set(endpoints[e1]) & set(endpoints[e2]):
                src.append(c1)
                dst.append(c2)
    adj = coo_array((np.ones(len(src)), (src, dst)), shape=(n, n))
    _, labels = connected_components(adj, directed=False)
    return np.asarray(labels)


def _shared_length(clusters: pd.DataFrame) -> np.ndarray:
    """Per group: edge length covered by at least two utilities at once (sum over clusters)."""
    cluster = clusters["cluster"].to_numpy()
    group = clusters["group"].to_numpy()
    utility = pd.factorize(clusters["utility"])[0]
    m0 = clusters["from_m"].to_numpy(float)
    m1 = clusters["to_m"].to_numpy(float)
    order = np.lexsort((m0, utility, cluster))
    cluster, group, utility, m0, m1 = (a[order] for a in (cluster, group, utility, m0, m1))
    new = np.ones(cluster.size, dtype=bool)
    new[1:] = (cluster[1:] != cluster[:-1]) | (utility[1:] != utility[:-1])
    # merge overlapping stretches of one utility so it is counted once
    run = np.cumsum(new) - 1
    shift = run * 2 * (float(m1.max() - m0.min()) + 1.0)
    reach = np.maximum.accumulate(m1 + shift) - shift
    prev = np.where(new, -np.inf, np.concatenate([[-np.inf], reach[:-1]]))
    starts = np.flatnonzero(new | (m0 > prev))
    p_cluster, p_group = cluster[starts], group[starts]
    p_m0 = np.minimum.reduceat(m0, starts)
    p_m1 = np.maximum.reduceat(m1, starts)
    # sweep: +1 at each start, -1 at each end; length where the count is >= 2
    ev_cluster = np.concatenate([p_cluster, p_cluster])
    ev_group = np.concatenate([p_group, p_group])
    pos = np.concatenate([p_m0, p_m1])
    delta = np.concatenate([np.ones(starts.size), -np.ones(starts.size)])
    order = np.lexsort((delta, pos, ev_cluster))
    ev_cluster, ev_group, pos, delta = ev_cluster[order], ev_group[order], pos[order], delta[order]
    count = np.cumsum(delta)
    same = np.r_[ev_cluster[1:] == ev_cluster[:-1], False]
    span = np.where(same, np.r_[pos[1:], 0.0] - pos, 0.0)
    n_groups = int(group.max()) + 1
    return np.bincount(ev_group, weights=np.where(count >= 2, span, 0.0), minlength=n_groups)


def _days(values: pd.Series) -> np.ndarray:
    if values.isna().any():
        msg = "a proposal has no planned_start or planned_end"
        raise ProposalError(msg)
    days = pd.to_datetime(values).to_numpy().astype("datetime64[D]") - _EPOCH
    return np.asarray(days, dtype=np.int64)


def _date(days: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=days)


def _key(edges: list[int], lines: tuple[Any, ...]) -> str:
    text = ",".join(map(str, edges)) + "|" + ",".join(map(str, lines))
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]
