"""Store the matching, co-location groups and warnings of proposed lines, incrementally.

Adding proposals matches only those lines against the city's road graph (built once and
cached per city), stores their matches, crossings and warnings, and recomputes only the
groups their road edges and lines touch. :func:`rebuild_groups` recomputes a whole city;
the two give the same groups (tested).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from typing import cast

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from geoalchemy2.shape import from_shape
from geoalchemy2.shape import to_shape
from sqlalchemy import BigInteger
from sqlalchemy import Integer
from sqlalchemy import Table
from sqlalchemy import any_
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import literal
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from geodata.colocation_tables import ColocationCrossingRow
from geodata.colocation_tables import ColocationGroupEdgeRow
from geodata.colocation_tables import ColocationGroupMemberRow
from geodata.colocation_tables import ColocationGroupRow
from geodata.colocation_tables import ColocationMatchRow
from geodata.colocation_tables import ColocationWarningRow
from geodata.storage import CityInfo
from geodata.storage import get_city
from geodata.storage import read_features
from geodata.tables import Layer
from geodata.tables import ProposedLineRow
from geodata.tables import UndergroundLineRow
from routing.checks import DUG_RECENTLY_DAYS
from routing.checks import Finding
from routing.checks import check_clearances
from routing.checks import check_protection
from routing.checks import check_recent_digs
from routing.checks import validate_proposals
from routing.colocation import ColocationGroup
from routing.colocation import find_colocations
from routing.errors import ProposalError
from routing.graph import build_road_graph
from routing.overlap import LineMatching
from routing.overlap import RoadIndex
from routing.overlap import match_lines

__all__ = [
    "HORIZON_DAYS",
    "CityRoads",
    "ProposalOutcome",
    "add_proposals",
    "groups_geojson",
    "load_city_roads",
    "rebuild_groups",
]

logger = logging.getLogger(__name__)

HORIZON_DAYS = 90
_PROPOSAL_COLUMNS = (
    "source_id",
    "utility",
    "subtype",
    "diameter_mm",
    "project",
    "applicant",
    "planned_start",
    "planned_end",
)
_CACHE: dict[tuple[str, int], tuple[tuple[Any, ...], CityRoads]] = {}
_CACHE_LOCK = threading.Lock()


@dataclass(frozen=True)
class CityRoads:
    """A city's road graph, its spatial index and edge table (cached per road state)."""

    city: CityInfo
    G: nx.MultiGraph
    index: RoadIndex
    endpoints: dict[int, tuple[Any, Any]]
    edges: pd.DataFrame

    dated: pd.DataFrame  # the edges with a protection end or a last dig, for the checks


@dataclass(frozen=True)
class ProposalOutcome:
    """What adding proposals found: matching, the groups they are in, and warnings."""

    line_ids: tuple[int, ...]
    source_ids: dict[int, str]
    matching: LineMatching
    groups: list[dict[str, Any]]
    findings: list[Finding]
    crossings_of_existing: dict[int, int]

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output, lines named by stored id and source id."""
        along = self.matching.along.rename(columns={"line": "proposed_line_id"})
        crossings = self.matching.crossings.rename(columns={"line": "proposed_line_id"})
        off = self.matching.off_network.rename(columns={"line": "proposed_line_id"})
        return {
            "lines": [
                {
                    "proposed_line_id": i,
                    "source_id": self.source_ids[i],
                    "length_m": float(self.matching.line_length_m[i]),
                    "off_network_m": float(self.matching.off_network_m()[i]),
                    "existing_lines_crossed": self.crossings_of_existing.get(i, 0),
                }
                for i in self.line_ids
            ],
            "along": _records(along),
            "crossings": _records(crossings),
            "off_network": _records(off.drop(columns="geometry").assign(wkt=off.geometry.to_wkt())),
            "groups": self.groups,
            "warnings": [f.as_dict() for f in self.findings],
        }


def load_city_roads(session: Session, city: str) -> CityRoads:
    """Build (or reuse) the road graph of a city from its stored road segments.

    Bridge areas (``protected_areas`` with ``area_kind = 'bridge'``) mark bridges. The
    cache is keyed by the database, the city and its road and area layers (count, newest id,
    features), so an import or a deleted layer rebuilds it.

    Raises
    ------
    CityNotFoundError
        No such city.
    ProposalError
        The city has no roads to match against.
    """
    info = get_city(session, city)
    # the layers table is small: its roads and area layers stand for the road state
    roads_only = Layer.kind == "roads"
    state = session.execute(
        select(
            func.count().filter(roads_only),
            func.max(Layer.id).filter(roads_only),
            func.sum(Layer.feature_count).filter(roads_only),
            func.count().filter(Layer.kind == "protected_areas"),
            func.max(Layer.id).filter(Layer.kind == "protected_areas"),
        ).where(Layer.city_id == info.id)
    ).one()
    signature = tuple(state)
    key = (str(session.get_bind().engine.url), info.id)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
    if cached is not None and cached[0] == signature:
        return cached[1]
    if not state[2]:
        msg = f"city {city!r} has no road segments: import a roads layer first"
        raise ProposalError(msg)
    roads = read_features(session, city=city, kind="roads")
    areas = read_features(session, city=city, kind="protected_areas")
    bridges = areas[areas["area_kind"] == "bridge"] if len(areas) else None
    G = build_road_graph(roads, bridges=bridges)  # noqa: N806 - networkx's name
    index = RoadIndex.from_graph(G)
    rows = sorted(G.edges(data=True), key=lambda e: e[2]["edge_id"])
    edges = pd.DataFrame(
        {
            "segment_id": [d["segment_id"] for *_, d in rows],
            "name": [d["name"] for *_, d in rows],
            "protected_until": [d["protected_until"] for *_, d in rows],
            "last_dug_on": [d["last_dug_on"] for *_, d in rows],
        },
        index=pd.Index([d["edge_id"] for *_, d in rows], name="edge_id"),
    )
    dated = edges[edges["protected_until"].notna() | edges["last_dug_on"].notna()]
    out = CityRoads(info, G, index, {d["edge_id"]: (u, v) for u, v, d in rows}, edges, dated)
    with _CACHE_LOCK:
        _CACHE[key] = (signature, out)
    return out


def add_proposals(
    session: Session,
    *,
    city: str,
    line_ids: Sequence[int],
    horizon_days: int = HORIZON_DAYS,
    verge_m: float = 5.0,
    recent_days: int = DUG_RECENTLY_DAYS,
) -> ProposalOutcome:
    """Match stored proposed lines, store matches and warnings, and update their groups.

    Runs in the caller's transaction: on any error nothing of it is kept once the caller
    rolls back (the API session does).

    Parameters
    ----------
    city
        The city the lines belong to.
    line_ids
        ``proposed_lines.id`` values, not yet added.
    horizon_days
        Coordination horizon of the groups; must be the one the city's groups were built with.

    Returns
    -------
    ProposalOutcome

    Raises
    ------
    ProposalError
        A line is unknown, already added, off every road, self-intersecting or has bad dates;
        ``detail`` names each feature.
    """
    roads = load_city_roads(session, city)
    info = roads.city
    lines = _read_lines(session, info, line_ids)
    _check_not_added(session, lines.index.tolist())
    matching = match_lines(roads.index, lines, verge_m=verge_m)
    validate_proposals(lines, matching, id_column="source_id")
    _insert_matching(session, info, matching, roads)
    earlier = _earlier_digs(session, info, matching, lines.index.tolist())
    dated = roads.dated
    findings = check_protection(matching, lines, dated)
    findings += check_recent_digs(
        matching,
        lines,
        _with_edges(dated, roads.edges, earlier),
        earlier=earlier,
        recent_days=recent_days,
    )
    existing = _existing_lines(session, info, lines)
    clearance, crossed = check_clearances(lines, existing)
    findings += clearance
    findings += _off_network_findings(matching, lines)
    _insert_findings(session, info, findings)
    touched = set(matching.along["edge_id"].astype(int).tolist())
    _update_groups(session, roads, touched, horizon_days)
    groups = _groups_of_lines(session, info, lines.index.tolist())
    logger.info(
        "added %d proposals in %s: %d matches, %d warnings, %d groups touched",
        len(lines),
        city,
        len(matching.along),
        len(findings),
        len(groups),
    )
    return ProposalOutcome(
        line_ids=tuple(int(i) for i in lines.index),
        source_ids={int(i): str(s) for i, s in lines["source_id"].items()},
        matching=matching,
        groups=groups,
        findings=findings,
        crossings_of_existing={int(k): int(v) for k, v in crossed.items()},
    )


def rebuild_groups(session: Session, *, city: str, horizon_days: int = HORIZON_DAYS) -> int:
    """Recompute every co-location group of a city from its stored matches; returns the count."""
    roads = load_city_roads(session, city)
    session.execute(delete(ColocationGroupRow).where(ColocationGroupRow.city_id == roads.city.id))
    groups = _compute(session, roads, None, horizon_days)
    _insert_groups(session, roads, groups, horizon_days)
    return len(groups)


def groups_geojson(
    session: Session,
    *,
    city: str,
    bbox: Sequence[float] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> dict[str, Any]:
    """Co-location groups as a GeoJSON FeatureCollection in WGS 84.

    Parameters
    ----------
    bbox
        ``(min_lon, min_lat, max_lon, max_lat)``: groups whose run intersects it.
    start, end
        Groups whose window overlaps ``[start, end]``.
    """
    info = get_city(session, city)
    where = ["g.city_id = :city"]
    params: dict[str, Any] = {"city": info.id}
    if bbox is not None:
        where.append(
            "ST_Intersects(g.geom, ST_Transform(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326), g.srid))"
        )
        params.update(dict(zip(("x0", "y0", "x1", "y1"), map(float, bbox), strict=True)))
    if start is not None:
        where.append("g.window_end >= :start")
        params["start"] = start
    if end is not None:
        where.append("g.window_start <= :end")
        params["end"] = end
    return {"type": "FeatureCollection", "features": _group_features(session, where, params)}


# -- helpers ----------------------------------------------------------------------------------


def _with_edges(dated: pd.DataFrame, edges: pd.DataFrame, earlier: pd.DataFrame) -> pd.DataFrame:
    """The dated edges plus the edges of earlier digs (the recent-dig check needs both)."""
    if earlier.empty:
        return dated
    extra = edges.loc[edges.index.intersection(pd.Index(earlier["edge_id"].unique()))]
    return pd.concat([dated, extra[~extra.index.isin(dated.index)]])


def _table(row_class: Any) -> Table:
    return cast(Table, row_class.__table__)


def _any(column: Any, values: Any) -> Any:
    """``column = ANY(:array)``: one bound array, however many values (IN lists of tens of
    thousands of ids exceed the driver's parameter limit and are slow to compile)."""
    element = BigInteger() if isinstance(column.type, BigInteger) else Integer()
    return column == any_(literal(sorted({int(v) for v in values}), ARRAY(element)))


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def _group_features(
    session: Session, where: list[str], params: dict[str, Any]
) -> list[dict[str, Any]]:
    sql = f"""
        SELECT g.id, g.key, g.horizon_days, g.utilities, g.projects, g.applicants,
               g.shared_length_m, g.window_start, g.window_end,
               ST_AsGeoJSON(ST_Transform(g.geom, 4326), 7)::json AS geometry,
               (SELECT array_agg(m.proposed_line_id ORDER BY m.proposed_line_id)
                  FROM colocation_group_members m WHERE m.group_id = g.id) AS lines,
               (SELECT array_agg(e.road_segment_id ORDER BY e.edge_id)
                  FROM colocation_group_edges e WHERE e.group_id = g.id) AS segments
          FROM colocation_groups g
         WHERE {" AND ".join(where)}
         ORDER BY g.window_start, g.id
    """  # the WHERE parts are fixed strings; values are bound
    rows = session.execute(text(sql), params).mappings().all()
    return [
        {
            "type": "Feature",
            "id": r["id"],
            "geometry": r["geometry"],
            "properties": _group_properties(r),
        }
        for r in rows
    ]


def _group_properties(r: Any) -> dict[str, Any]:
    return {
        "group_id": r["id"],
        "key": r["key"],
        "horizon_days": r["horizon_days"],
        "utilities": list(r["utilities"]),
        "projects": list(r["projects"]),
        "applicants": list(r["applicants"]),
        "shared_length_m": r["shared_length_m"],
        "window_start": r["window_start"].isoformat(),
        "window_end": r["window_end"].isoformat(),
        "proposed_line_ids": list(r["lines"] or []),
        "road_segment_ids": list(r["segments"] or []),
    }


def _read_lines(session: Session, info: CityInfo, line_ids: Sequence[int]) -> gpd.GeoDataFrame:
    t = ProposedLineRow.__table__
    ids = sorted({int(i) for i in line_ids})
    rows = (
        session.execute(select(t).where(_any(t.c.id, ids), t.c.city_id == info.id).order_by(t.c.id))
        .mappings()
        .all()
    )
    missing = sorted(set(ids) - {r["id"] for r in rows})
    if missing:
        msg = f"proposed lines {missing} are not stored for city {info.name!r}"
        raise ProposalError(
            msg, detail=[{"feature": str(m), "problem": "unknown"} for m in missing]
        )
    frame = gpd.GeoDataFrame(
        {c: [r[c] for r in rows] for c in _PROPOSAL_COLUMNS},
        geometry=[to_shape(r["geom"]) for r in rows],
        index=pd.Index([r["id"] for r in rows], name="proposed_line_id"),
        crs=info.srid,
    )
    return frame


def _check_not_added(session: Session, ids: list[int]) -> None:
    done = session.scalars(
        select(ColocationMatchRow.proposed_line_id)
        .where(_any(ColocationMatchRow.proposed_line_id, ids))
        .distinct()
    ).all()
    if done:
        msg = f"proposed lines {sorted(done)} were already added"
        raise ProposalError(msg)


def _insert_matching(
    session: Session, info: CityInfo, matching: LineMatching, roads: CityRoads
) -> None:
    along = matching.along
    if len(along):
        session.execute(
            insert(_table(ColocationMatchRow)),
            [
                {
                    "city_id": info.id,
                    "proposed_line_id": int(r.line),
                    "edge_id": int(r.edge_id),
                    "road_segment_id": _int(r.segment_id),
                    "side": r.side,
                    "overlap_m": float(r.overlap_m),
                    "share": float(r.share),
                    "from_m": float(r.from_m),
                    "to_m": float(r.to_m),
                    "offset_m": float(r.offset_m),
                }
                for r in along.itertuples(index=False)
            ],
        )
    cross = matching.crossings
    if len(cross):
        session.execute(
            insert(_table(ColocationCrossingRow)),
            [
                {
                    "city_id": info.id,
                    "proposed_line_id": int(r.line),
                    "edge_id": int(r.edge_id),
                    "road_segment_id": _int(r.segment_id),
                    "angle_deg": float(r.angle_deg),
                    "srid": info.srid,
                    "geom": from_shape(shapely.Point(r.x, r.y), srid=info.srid),
                }
                for r in cross.itertuples(index=False)
            ],
        )
    del roads


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _earlier_digs(
    session: Session, info: CityInfo, matching: LineMatching, new_ids: list[int]
) -> pd.DataFrame:
    edges = sorted(set(matching.along["edge_id"].astype(int)))
    if not edges:
        return pd.DataFrame(columns=["edge_id", "line", "project", "planned_end"])
    p = ProposedLineRow.__table__
    m = ColocationMatchRow.__table__
    rows = session.execute(
        select(m.c.edge_id, m.c.proposed_line_id, p.c.project, p.c.planned_end)
        .join(p, p.c.id == m.c.proposed_line_id)
        .where(
            m.c.city_id == info.id,
            _any(m.c.edge_id, edges),
            ~_any(m.c.proposed_line_id, new_ids),
        )
        .distinct()
    ).all()
    return pd.DataFrame(rows, columns=["edge_id", "line", "project", "planned_end"])


def _existing_lines(session: Session, info: CityInfo, lines: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    t = UndergroundLineRow.__table__
    x0, y0, x1, y1 = lines.total_bounds
    reach = 10.0  # wider than any clearance in the table we compare against
    rows = session.execute(
        select(t.c.id, t.c.utility, t.c.subtype, t.c.diameter_mm, t.c.geom).where(
            t.c.city_id == info.id,
            func.ST_Intersects(
                t.c.geom,
                func.ST_MakeEnvelope(x0 - reach, y0 - reach, x1 + reach, y1 + reach, info.srid),
            ),
        )
    ).all()
    return gpd.GeoDataFrame(
        {
            "utility": [r.utility for r in rows],
            "subtype": [r.subtype for r in rows],
            "diameter_mm": [r.diameter_mm for r in rows],
        },
        geometry=[to_shape(r.geom) for r in rows],
        index=pd.Index([r.id for r in rows], name="underground_line_id"),
        crs=info.srid,
    )


def _off_network_findings(matching: LineMatching, lines: gpd.GeoDataFrame) -> list[Finding]:
    out = []
    for r in matching.off_network.itertuples(index=False):
        out.append(
            Finding(
                kind="off_network",
                line=r.line,
                rule="routing.overlap corridor (road half width + verge)",
                verification="n/a",
                message=(
                    f"line {lines.loc[r.line, 'source_id']} leaves the road network for "
                    f"{r.length_m:.0f} m (from {r.from_m:.0f} m to {r.to_m:.0f} m along it)"
                ),
                values={"length_m": float(r.length_m), "from_m": float(r.from_m)},
                geometry=r.geometry,
            )
        )
    return out


def _insert_findings(session: Session, info: CityInfo, findings: list[Finding]) -> None:
    if not findings:
        return
    session.execute(
        insert(_table(ColocationWarningRow)),
        [
            {
                "city_id": info.id,
                "proposed_line_id": int(f.line),
                "kind": f.kind,
                "rule": f.rule,
                "verification": f.verification,
                "message": f.message,
                "detail": {"where": f.where, "values": f.values},
                "srid": info.srid,
                "geom": None if f.geometry is None else from_shape(f.geometry, srid=info.srid),
            }
            for f in findings
        ],
    )


def _update_groups(
    session: Session, roads: CityRoads, touched: set[int], horizon_days: int
) -> None:
    """Replace the groups that new matches on the ``touched`` edges can change.

    Only the touched edges gained matches, so clusters elsewhere are as they were. A group
    can change only if it has a touched edge or contains a line that runs along one (that
    line is how a new cluster joins it). Those groups are dissolved and recomputed from
    every match on the touched edges and on their own edges; of the result, only groups
    with a touched edge or such a line are kept: any other group found there is an old,
    unchanged one (still stored) seen through part of its edges.
    """
    if not touched:
        return
    city_id = roads.city.id
    edges = sorted(touched)
    lines = set(
        session.scalars(
            select(ColocationMatchRow.proposed_line_id)
            .where(ColocationMatchRow.city_id == city_id, _any(ColocationMatchRow.edge_id, edges))
            .distinct()
        )
    )
    old = set(
        session.scalars(
            select(ColocationGroupEdgeRow.group_id)
            .join(ColocationGroupRow, ColocationGroupRow.id == ColocationGroupEdgeRow.group_id)
            .where(
                ColocationGroupRow.city_id == city_id, _any(ColocationGroupEdgeRow.edge_id, edges)
            )
            .union(
                select(ColocationGroupMemberRow.group_id).where(
                    _any(ColocationGroupMemberRow.proposed_line_id, sorted(lines))
                )
            )
        )
    )
    work = set(touched)
    if old:
        work |= set(
            session.scalars(
                select(ColocationGroupEdgeRow.edge_id).where(
                    _any(ColocationGroupEdgeRow.group_id, sorted(old))
                )
            )
        )
        session.execute(delete(ColocationGroupRow).where(_any(ColocationGroupRow.id, sorted(old))))
    found = _compute(session, roads, work, horizon_days)
    keep = tuple(
        g for g in found if touched.intersection(g.edge_ids) or lines.intersection(g.lines)
    )
    _insert_groups(session, roads, keep, horizon_days)


def _compute(
    session: Session, roads: CityRoads, edges: set[int] | None, horizon_days: int
) -> tuple[ColocationGroup, ...]:
    m = ColocationMatchRow.__table__
    p = ProposedLineRow.__table__
    query = (
        select(
            m.c.proposed_line_id.label("line"),
            m.c.edge_id,
            m.c.road_segment_id.label("segment_id"),
            m.c.from_m,
            m.c.to_m,
            p.c.utility,
            p.c.project,
            p.c.applicant,
            p.c.planned_start,
            p.c.planned_end,
        )
        .join(p, p.c.id == m.c.proposed_line_id)
        .where(m.c.city_id == roads.city.id)
    )
    if edges is not None:
        query = query.where(_any(m.c.edge_id, sorted(edges)))
    result = session.execute(query)
    columns = list(result.keys())
    rows = result.all()
    if not rows:
        return ()
    frame = pd.DataFrame.from_records(rows, columns=columns)
    proposals = frame.drop_duplicates("line").set_index("line")
    return find_colocations(
        frame[["line", "edge_id", "segment_id", "from_m", "to_m"]],
        proposals,
        roads.endpoints,
        horizon_days=horizon_days,
    )


def _insert_groups(
    session: Session, roads: CityRoads, groups: tuple[ColocationGroup, ...], horizon_days: int
) -> None:
    if not groups:
        return
    info = roads.city
    geoms = roads.index.geometry
    table = _table(ColocationGroupRow)
    ids = session.scalars(
        insert(table).returning(table.c.id, sort_by_parameter_order=True),
        [
            {
                "city_id": info.id,
                "key": g.key,
                "horizon_days": horizon_days,
                "utilities": list(g.utilities),
                "projects": list(g.projects),
                "applicants": list(g.applicants),
                "shared_length_m": g.shared_length_m,
                "window_start": g.start,
                "window_end": g.end,
                "srid": info.srid,
                "geom": from_shape(
                    shapely.MultiLineString(list(geoms[list(g.edge_ids)])), srid=info.srid
                ),
            }
            for g in groups
        ],
    ).all()
    session.execute(
        insert(_table(ColocationGroupMemberRow)),
        [
            {"group_id": gid, "proposed_line_id": int(line)}
            for gid, g in zip(ids, groups, strict=True)
            for line in g.lines
        ],
    )
    session.execute(
        insert(_table(ColocationGroupEdgeRow)),
        [
            {"group_id": gid, "edge_id": e, "road_segment_id": _int(s)}
            for gid, g in zip(ids, groups, strict=True)
            for e, s in zip(g.edge_ids, g.segment_ids, strict=True)
        ],
    )


def _groups_of_lines(session: Session, info: CityInfo, line_ids: list[int]) -> list[dict[str, Any]]:
    where = [
        "g.city_id = :city",
        "g.id IN (SELECT group_id FROM colocation_group_members"
        " WHERE proposed_line_id = ANY(:ids))",
    ]
    return _group_features(session, where, {"city": info.id, "ids": [int(i) for i in line_ids]})
