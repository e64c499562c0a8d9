"""Store and read the matching, co-location groups and warnings of proposed lines.

Only storage: the matching, checks and grouping are computed in ``routing/`` and put
together by ``api/services/colocation.py``, which hands this module plain frames and
records. Everything runs in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import cast

import geopandas as gpd
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
from sqlalchemy import update
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
from geodata.tables import ProposedLineRow
from geodata.tables import UndergroundLineRow

__all__ = [
    "PROPOSAL_COLUMNS",
    "added_line_ids",
    "delete_groups",
    "group_edge_ids",
    "groups_geojson",
    "groups_of_lines",
    "groups_touching",
    "link_layer_to_application",
    "match_rows",
    "read_application_lines",
    "read_existing_lines",
    "read_proposed_lines",
    "store_groups",
    "store_matching",
    "store_warnings",
    "stored_digs",
    "unmatched_line_ids",
]

logger = logging.getLogger(__name__)

PROPOSAL_COLUMNS = (
    "source_id",
    "utility",
    "subtype",
    "diameter_mm",
    "project",
    "applicant",
    "planned_start",
    "planned_end",
    "application_id",
)


def read_proposed_lines(
    session: Session, info: CityInfo, line_ids: Iterable[int]
) -> gpd.GeoDataFrame:
    """The city's stored proposed lines with these ids (unknown ids are left out).

    The frame is indexed by ``proposed_line_id`` and has :data:`PROPOSAL_COLUMNS`.
    """
    t = ProposedLineRow.__table__
    ids = sorted({int(i) for i in line_ids})
    rows = (
        session.execute(select(t).where(_any(t.c.id, ids), t.c.city_id == info.id).order_by(t.c.id))
        .mappings()
        .all()
    )
    return gpd.GeoDataFrame(
        {c: [r.get(c) for r in rows] for c in PROPOSAL_COLUMNS},
        geometry=[to_shape(r["geom"]) for r in rows],
        index=pd.Index([r["id"] for r in rows], name="proposed_line_id"),
        crs=info.srid,
    )


def link_layer_to_application(session: Session, *, layer_id: int, application_id: int) -> None:
    """Mark every proposed line of a layer as proposed for an approval application."""
    session.execute(
        update(ProposedLineRow)
        .where(ProposedLineRow.layer_id == layer_id)
        .values(application_id=application_id)
    )


def read_application_lines(session: Session, application_id: int) -> gpd.GeoDataFrame:
    """The proposed lines submitted for an application, in id order, in their city's CRS.

    Columns: ``proposed_line_id``, ``layer_id`` and :data:`PROPOSAL_COLUMNS`.
    """
    t = ProposedLineRow.__table__
    rows = (
        session.execute(select(t).where(t.c.application_id == application_id).order_by(t.c.id))
        .mappings()
        .all()
    )
    srids = {r["srid"] for r in rows}
    return gpd.GeoDataFrame(
        {
            "proposed_line_id": [r["id"] for r in rows],
            "layer_id": [r["layer_id"] for r in rows],
            **{c: [_plain_value(r[c]) for r in rows] for c in PROPOSAL_COLUMNS},
        },
        geometry=[to_shape(r["geom"]) for r in rows],
        crs=srids.pop() if len(srids) == 1 else None,
    )


def added_line_ids(session: Session, line_ids: Iterable[int]) -> list[int]:
    """Those of ``line_ids`` whose matching is already stored."""
    ids = sorted({int(i) for i in line_ids})
    done = session.scalars(
        select(ColocationMatchRow.proposed_line_id)
        .where(_any(ColocationMatchRow.proposed_line_id, ids))
        .union(
            select(ColocationCrossingRow.proposed_line_id).where(
                _any(ColocationCrossingRow.proposed_line_id, ids)
            )
        )
    ).all()
    return sorted({int(d) for d in done})


def unmatched_line_ids(session: Session, *, layer_id: int) -> list[int]:
    """The proposed lines of a layer that have no stored matching yet, in id order."""
    p = ProposedLineRow.__table__
    m = ColocationMatchRow.__table__
    c = ColocationCrossingRow.__table__
    rows = session.scalars(
        select(p.c.id)
        .where(
            p.c.layer_id == layer_id,
            ~select(m.c.id).where(m.c.proposed_line_id == p.c.id).exists(),
            ~select(c.c.id).where(c.c.proposed_line_id == p.c.id).exists(),
        )
        .order_by(p.c.id)
    ).all()
    return [int(r) for r in rows]


def store_matching(
    session: Session, info: CityInfo, along: pd.DataFrame, crossings: pd.DataFrame
) -> None:
    """Store runs along roads and crossings of roads.

    Parameters
    ----------
    along
        Rows with ``line`` (stored id), ``edge_id``, ``segment_id``, ``side``, ``overlap_m``,
        ``share``, ``from_m``, ``to_m``, ``offset_m``.
    crossings
        Rows with ``line``, ``edge_id``, ``segment_id``, ``angle_deg``, ``x``, ``y``.
    """
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
    if len(crossings):
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
                for r in crossings.itertuples(index=False)
            ],
        )


def stored_digs(
    session: Session, info: CityInfo, edge_ids: Iterable[int], *, exclude: Iterable[int]
) -> pd.DataFrame:
    """Stored lines on these edges (runs along or crossings), other than ``exclude``.

    Returns rows ``edge_id``, ``line``, ``project``, ``planned_start``, ``planned_end``.
    """
    columns = ["edge_id", "line", "project", "planned_start", "planned_end"]
    edges = sorted({int(e) for e in edge_ids})
    if not edges:
        return pd.DataFrame(columns=columns)
    p = ProposedLineRow.__table__
    out: list[Any] = []
    for t in (ColocationMatchRow.__table__, ColocationCrossingRow.__table__):
        out += session.execute(
            select(
                t.c.edge_id, t.c.proposed_line_id, p.c.project, p.c.planned_start, p.c.planned_end
            )
            .join(p, p.c.id == t.c.proposed_line_id)
            .where(
                t.c.city_id == info.id,
                _any(t.c.edge_id, edges),
                ~_any(t.c.proposed_line_id, exclude),
            )
            .distinct()
        ).all()
    return pd.DataFrame(out, columns=columns).drop_duplicates(ignore_index=True)


def read_existing_lines(
    session: Session, info: CityInfo, bounds: Sequence[float], *, reach_m: float
) -> gpd.GeoDataFrame:
    """Existing underground lines within ``reach_m`` of the box ``bounds`` (city CRS)."""
    t = UndergroundLineRow.__table__
    x0, y0, x1, y1 = bounds
    rows = session.execute(
        select(t.c.id, t.c.utility, t.c.subtype, t.c.diameter_mm, t.c.geom).where(
            t.c.city_id == info.id,
            func.ST_Intersects(
                t.c.geom,
                func.ST_MakeEnvelope(
                    x0 - reach_m, y0 - reach_m, x1 + reach_m, y1 + reach_m, info.srid
                ),
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


def store_warnings(session: Session, info: CityInfo, warnings: Sequence[Mapping[str, Any]]) -> None:
    """Store warnings: ``proposed_line_id``, ``kind``, ``rule``, ``verification``,
    ``message``, ``where``, ``values`` and ``geometry`` (shapely or None) each."""
    if not warnings:
        return
    session.execute(
        insert(_table(ColocationWarningRow)),
        [
            {
                "city_id": info.id,
                "proposed_line_id": int(w["proposed_line_id"]),
                "kind": w["kind"],
                "rule": w["rule"],
                "verification": w["verification"],
                "message": w["message"],
                "detail": {"where": w["where"], "values": w["values"]},
                "srid": info.srid,
                "geom": None
                if w["geometry"] is None
                else from_shape(w["geometry"], srid=info.srid),
            }
            for w in warnings
        ],
    )


def groups_touching(
    session: Session, info: CityInfo, edge_ids: Iterable[int]
) -> tuple[set[int], set[int]]:
    """The lines that run along these edges, and the stored groups that hold such an
    edge or such a line: ``(line ids, group ids)``."""
    edges = sorted({int(e) for e in edge_ids})
    lines = {
        int(x)
        for x in session.scalars(
            select(ColocationMatchRow.proposed_line_id)
            .where(ColocationMatchRow.city_id == info.id, _any(ColocationMatchRow.edge_id, edges))
            .distinct()
        )
    }
    groups = {
        int(g)
        for g in session.scalars(
            select(ColocationGroupEdgeRow.group_id)
            .join(ColocationGroupRow, ColocationGroupRow.id == ColocationGroupEdgeRow.group_id)
            .where(
                ColocationGroupRow.city_id == info.id,
                _any(ColocationGroupEdgeRow.edge_id, edges),
            )
            .union(
                select(ColocationGroupMemberRow.group_id).where(
                    _any(ColocationGroupMemberRow.proposed_line_id, sorted(lines))
                )
            )
        )
    }
    return lines, groups


def group_edge_ids(session: Session, group_ids: Iterable[int]) -> set[int]:
    """The edges of these stored groups."""
    return {
        int(e)
        for e in session.scalars(
            select(ColocationGroupEdgeRow.edge_id).where(
                _any(ColocationGroupEdgeRow.group_id, group_ids)
            )
        )
    }


def delete_groups(session: Session, info: CityInfo, group_ids: Iterable[int] | None = None) -> None:
    """Delete these groups of the city (all of them with ``None``); members cascade."""
    query = delete(ColocationGroupRow).where(ColocationGroupRow.city_id == info.id)
    if group_ids is not None:
        query = query.where(_any(ColocationGroupRow.id, group_ids))
    session.execute(query)


def match_rows(session: Session, info: CityInfo, edge_ids: Iterable[int] | None) -> pd.DataFrame:
    """Stored runs along roads (all, or on these edges) with their lines' attributes.

    Columns: ``line``, ``edge_id``, ``segment_id``, ``from_m``, ``to_m``, ``utility``,
    ``project``, ``applicant``, ``planned_start``, ``planned_end``.
    """
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
        .where(m.c.city_id == info.id)
    )
    if edge_ids is not None:
        query = query.where(_any(m.c.edge_id, edge_ids))
    result = session.execute(query)
    columns = list(result.keys())
    return pd.DataFrame.from_records(result.all(), columns=columns)


def store_groups(
    session: Session, info: CityInfo, groups: Sequence[Mapping[str, Any]], *, horizon_days: int
) -> None:
    """Store co-location groups.

    Each group has ``key``, ``utilities``, ``projects``, ``applicants``,
    ``shared_length_m``, ``start``, ``end``, ``geometry`` (a MultiLineString), ``lines``
    (proposed line ids), ``edge_ids`` and ``segment_ids`` (same order as the edges).
    """
    if not groups:
        return
    table = _table(ColocationGroupRow)
    ids = session.scalars(
        insert(table).returning(table.c.id, sort_by_parameter_order=True),
        [
            {
                "city_id": info.id,
                "key": g["key"],
                "horizon_days": horizon_days,
                "utilities": list(g["utilities"]),
                "projects": list(g["projects"]),
                "applicants": list(g["applicants"]),
                "shared_length_m": g["shared_length_m"],
                "window_start": g["start"],
                "window_end": g["end"],
                "srid": info.srid,
                "geom": from_shape(g["geometry"], srid=info.srid),
            }
            for g in groups
        ],
    ).all()
    session.execute(
        insert(_table(ColocationGroupMemberRow)),
        [
            {"group_id": gid, "proposed_line_id": int(line)}
            for gid, g in zip(ids, groups, strict=True)
            for line in g["lines"]
        ],
    )
    session.execute(
        insert(_table(ColocationGroupEdgeRow)),
        [
            {"group_id": gid, "edge_id": int(e), "road_segment_id": _int(s)}
            for gid, g in zip(ids, groups, strict=True)
            for e, s in zip(g["edge_ids"], g["segment_ids"], strict=True)
        ],
    )


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


def groups_of_lines(
    session: Session, info: CityInfo, line_ids: Iterable[int]
) -> list[dict[str, Any]]:
    """The stored groups (GeoJSON features) that hold any of these lines."""
    where = [
        "g.city_id = :city",
        "g.id IN (SELECT group_id FROM colocation_group_members"
        " WHERE proposed_line_id = ANY(:ids))",
    ]
    return _group_features(session, where, {"city": info.id, "ids": [int(i) for i in line_ids]})


# -- helpers ----------------------------------------------------------------------------------


def _table(row_class: Any) -> Table:
    return cast(Table, row_class.__table__)


def _any(column: Any, values: Iterable[Any]) -> Any:
    """``column = ANY(:array)``: one bound array, however many values (IN lists of tens of
    thousands of ids exceed the driver's parameter limit and are slow to compile)."""
    element = BigInteger() if isinstance(column.type, BigInteger) else Integer()
    return column == any_(literal(sorted({int(v) for v in values}), ARRAY(element)))


def _plain_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


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
