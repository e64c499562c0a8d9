"""Declare the tables that hold matches, co-location groups and warnings of proposed lines."""

from __future__ import annotations

import datetime as dt
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger
from sqlalchemy import CheckConstraint
from sqlalchemy import Date
from sqlalchemy import DateTime
from sqlalchemy import Float
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from geodata.tables import Base

__all__ = [
    "ColocationCrossingRow",
    "ColocationGroupEdgeRow",
    "ColocationGroupMemberRow",
    "ColocationGroupRow",
    "ColocationMatchRow",
    "ColocationWarningRow",
]

_LINE_FK = "proposed_lines.id"


class ColocationMatchRow(Base):
    """One stretch of a proposed line running along one road edge (one side)."""

    __tablename__ = "colocation_matches"
    __table_args__ = (Index("ix_colocation_matches_city_edge", "city_id", "edge_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"))
    proposed_line_id: Mapped[int] = mapped_column(
        ForeignKey(_LINE_FK, ondelete="CASCADE"), index=True
    )
    edge_id: Mapped[int] = mapped_column(Integer)
    road_segment_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    side: Mapped[str] = mapped_column(String(10))
    overlap_m: Mapped[float] = mapped_column(Float)
    share: Mapped[float] = mapped_column(Float)
    from_m: Mapped[float] = mapped_column(Float)
    to_m: Mapped[float] = mapped_column(Float)
    offset_m: Mapped[float] = mapped_column(Float)


class ColocationCrossingRow(Base):
    """A place where a proposed line crosses a road centreline."""

    __tablename__ = "colocation_crossings"
    __table_args__ = (CheckConstraint("srid = ST_SRID(geom)", name="ck_colocation_crossings_srid"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"), index=True)
    proposed_line_id: Mapped[int] = mapped_column(
        ForeignKey(_LINE_FK, ondelete="CASCADE"), index=True
    )
    edge_id: Mapped[int] = mapped_column(Integer)
    road_segment_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    angle_deg: Mapped[float] = mapped_column(Float)
    srid: Mapped[int] = mapped_column(Integer)
    geom: Mapped[Any] = mapped_column(Geometry("POINT", srid=-1, spatial_index=True))


class ColocationGroupRow(Base):
    """A co-location group: a run of road edges shared by several utilities' lines."""

    __tablename__ = "colocation_groups"
    __table_args__ = (
        CheckConstraint("srid = ST_SRID(geom)", name="ck_colocation_groups_srid"),
        CheckConstraint("window_end >= window_start", name="ck_colocation_groups_window"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(32))
    horizon_days: Mapped[int] = mapped_column(Integer)
    utilities: Mapped[list[str]] = mapped_column(ARRAY(String(20)))
    projects: Mapped[list[str]] = mapped_column(ARRAY(Text))
    applicants: Mapped[list[str]] = mapped_column(ARRAY(Text))
    shared_length_m: Mapped[float] = mapped_column(Float)
    window_start: Mapped[dt.date] = mapped_column(Date, index=True)
    window_end: Mapped[dt.date] = mapped_column(Date, index=True)
    srid: Mapped[int] = mapped_column(Integer)
    geom: Mapped[Any] = mapped_column(Geometry("MULTILINESTRING", srid=-1, spatial_index=True))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class ColocationGroupMemberRow(Base):
    """A proposed line in a group."""

    __tablename__ = "colocation_group_members"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("colocation_groups.id", ondelete="CASCADE"), primary_key=True
    )
    proposed_line_id: Mapped[int] = mapped_column(
        ForeignKey(_LINE_FK, ondelete="CASCADE"), primary_key=True, index=True
    )


class ColocationGroupEdgeRow(Base):
    """A road edge of a group's run."""

    __tablename__ = "colocation_group_edges"
    __table_args__ = (Index("ix_colocation_group_edges_edge", "edge_id"),)

    group_id: Mapped[int] = mapped_column(
        ForeignKey("colocation_groups.id", ondelete="CASCADE"), primary_key=True
    )
    edge_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    road_segment_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ColocationWarningRow(Base):
    """A warning about a proposed line, with the rule it cites."""

    __tablename__ = "colocation_warnings"
    __table_args__ = (
        CheckConstraint("geom IS NULL OR srid = ST_SRID(geom)", name="ck_colocation_warnings_srid"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"), index=True)
    proposed_line_id: Mapped[int] = mapped_column(
        ForeignKey(_LINE_FK, ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(30))
    rule: Mapped[str] = mapped_column(Text)
    verification: Mapped[str] = mapped_column(String(30))
    message: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    srid: Mapped[int] = mapped_column(Integer)
    geom: Mapped[Any | None] = mapped_column(
        Geometry("GEOMETRY", srid=-1, spatial_index=False), nullable=True
    )
