"""Declare the PostGIS tables that hold cities, layers and their features."""

from __future__ import annotations

import datetime as dt
from typing import Any
from typing import ClassVar

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger
from sqlalchemy import Boolean
from sqlalchemy import CheckConstraint
from sqlalchemy import Date
from sqlalchemy import DateTime
from sqlalchemy import Float
from sqlalchemy import ForeignKey
from sqlalchemy import ForeignKeyConstraint
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy import func
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

__all__ = [
    "FEATURE_TABLES",
    "Base",
    "City",
    "Layer",
    "PoleRow",
    "ProposedLineRow",
    "ProtectedAreaRow",
    "RoadSegmentRow",
    "RoadTopologyRow",
    "TreeRow",
    "UndergroundLineRow",
]

# geometry columns carry the city's metric SRID. The typmod leaves the SRID open so one
# database can hold several cities; a per-row CHECK ties ST_SRID(geom) to the row's
# ``srid`` and a composite foreign key ties that to the city's declared SRID.
LAYER_KINDS = (
    "roads",
    "underground_lines",
    "trees",
    "poles",
    "protected_areas",
    "proposed_lines",
)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSONB}


class City(Base):
    __tablename__ = "cities"
    __table_args__ = (UniqueConstraint("id", "srid", name="uq_cities_id_srid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    srid: Mapped[int] = mapped_column(Integer)
    crs: Mapped[str] = mapped_column(String(50))
    # extent in WGS 84 (EPSG:4326): checks for features far outside the city
    extent: Mapped[Any] = mapped_column(Geometry("POLYGON", srid=4326, spatial_index=True))
    frost_depth_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Layer(Base):
    __tablename__ = "layers"
    __table_args__ = (
        CheckConstraint(
            "kind IN (" + ", ".join(f"'{k}'" for k in LAYER_KINDS) + ")", name="ck_layers_kind"
        ),
        Index(
            "uq_layers_source_digest",
            "city_id",
            "kind",
            "source_sha256",
            text("coalesce(source_layer, '')"),
            unique=True,
            postgresql_where=text("source_sha256 IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    name: Mapped[str] = mapped_column(String(200))
    source_file: Mapped[str] = mapped_column(Text)
    source_layer: Mapped[str | None] = mapped_column(Text, nullable=True)
    source_format: Mapped[str] = mapped_column(String(30))
    source_crs: Mapped[str] = mapped_column(Text)
    source_encoding: Mapped[str | None] = mapped_column(String(30), nullable=True)
    # SHA-256 of the file's bytes (a shapefile's parts together): one import per city and kind
    source_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    feature_count: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class _FeatureMixin:
    """Columns every feature table shares: owner layer and city, source id, geometry SRID."""

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    layer_id: Mapped[int] = mapped_column(ForeignKey("layers.id", ondelete="CASCADE"), index=True)
    city_id: Mapped[int] = mapped_column(Integer, index=True)
    srid: Mapped[int] = mapped_column(Integer)
    source_id: Mapped[str] = mapped_column(Text)
    attrs: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


def _feature_args(table: str) -> tuple[Any, ...]:
    return (
        ForeignKeyConstraint(
            ["city_id", "srid"],
            ["cities.id", "cities.srid"],
            ondelete="CASCADE",
            name=f"fk_{table}_city_srid",
        ),
        CheckConstraint("srid = ST_SRID(geom)", name=f"ck_{table}_srid"),
        CheckConstraint("NOT ST_IsEmpty(geom)", name=f"ck_{table}_not_empty"),
    )


class RoadSegmentRow(_FeatureMixin, Base):
    __tablename__ = "road_segments"
    __table_args__ = _feature_args("road_segments")

    geom: Mapped[Any] = mapped_column(Geometry("LINESTRING", srid=-1, spatial_index=True))
    name: Mapped[str | None] = mapped_column(Text, nullable=True)
    road_class: Mapped[str | None] = mapped_column(String(50), nullable=True)
    width_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    lanes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pavement: Mapped[str | None] = mapped_column(String(50), nullable=True)
    bridge: Mapped[bool] = mapped_column(Boolean, default=False)
    tunnel: Mapped[bool] = mapped_column(Boolean, default=False)
    level: Mapped[int] = mapped_column(Integer, default=0)
    built_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    overhauled_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    last_dug_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)


class UndergroundLineRow(_FeatureMixin, Base):
    __tablename__ = "underground_lines"
    __table_args__ = _feature_args("underground_lines")

    geom: Mapped[Any] = mapped_column(Geometry("LINESTRING", srid=-1, spatial_index=True))
    utility: Mapped[str] = mapped_column(String(20))
    subtype: Mapped[str | None] = mapped_column(String(50), nullable=True)
    diameter_mm: Mapped[float | None] = mapped_column(Float, nullable=True)
    depth_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    material: Mapped[str | None] = mapped_column(String(50), nullable=True)
    owner: Mapped[str | None] = mapped_column(Text, nullable=True)
    installed_year: Mapped[int | None] = mapped_column(Integer, nullable=True)


class TreeRow(_FeatureMixin, Base):
    __tablename__ = "trees"
    __table_args__ = _feature_args("trees")

    geom: Mapped[Any] = mapped_column(Geometry("POINT", srid=-1, spatial_index=True))
    species: Mapped[str | None] = mapped_column(Text, nullable=True)
    dbh_cm: Mapped[float | None] = mapped_column(Float, nullable=True)


class PoleRow(_FeatureMixin, Base):
    __tablename__ = "poles"
    __table_args__ = _feature_args("poles")

    geom: Mapped[Any] = mapped_column(Geometry("POINT", srid=-1, spatial_index=True))
    pole_kind: Mapped[str | None] = mapped_column(String(50), nullable=True)
    owner: Mapped[str | None] = mapped_column(Text, nullable=True)


class ProtectedAreaRow(_FeatureMixin, Base):
    __tablename__ = "protected_areas"
    __table_args__ = _feature_args("protected_areas")

    geom: Mapped[Any] = mapped_column(Geometry("MULTIPOLYGON", srid=-1, spatial_index=True))
    area_kind: Mapped[str] = mapped_column(String(30))  # bridge | protected | green
    name: Mapped[str | None] = mapped_column(Text, nullable=True)
    protected_until: Mapped[dt.date | None] = mapped_column(Date, nullable=True)


class ProposedLineRow(_FeatureMixin, Base):
    __tablename__ = "proposed_lines"
    __table_args__ = (
        *_feature_args("proposed_lines"),
        CheckConstraint("planned_end >= planned_start", name="ck_proposed_lines_dates"),
    )

    geom: Mapped[Any] = mapped_column(Geometry("LINESTRING", srid=-1, spatial_index=True))
    utility: Mapped[str] = mapped_column(String(20))
    subtype: Mapped[str | None] = mapped_column(String(50), nullable=True)
    diameter_mm: Mapped[float | None] = mapped_column(Float, nullable=True)
    project: Mapped[str] = mapped_column(Text)
    applicant: Mapped[str] = mapped_column(Text)
    planned_start: Mapped[dt.date] = mapped_column(Date)
    planned_end: Mapped[dt.date] = mapped_column(Date)
    # the approval application the lines are proposed for (NULL: city-wide); the foreign
    # key to appr_applications is in migration 0005_graph (the approval tables are not in
    # this metadata)
    application_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)


FEATURE_TABLES: dict[str, type[_FeatureMixin]] = {
    "roads": RoadSegmentRow,
    "underground_lines": UndergroundLineRow,
    "trees": TreeRow,
    "poles": PoleRow,
    "protected_areas": ProtectedAreaRow,
    "proposed_lines": ProposedLineRow,
}


class RoadTopologyRow(Base):
    """The city's road graph as pgRouting reads it: one row per graph edge.

    ``source`` and ``target`` are the graph's node ids, ``cost`` and ``reverse_cost``
    the edge's length in metres (the roads are two-way). Written from the product's own
    graph (:mod:`api.services.topology`), so a pgRouting path is the planner's path.
    """

    __tablename__ = "road_topology"
    __table_args__ = (
        CheckConstraint("srid = ST_SRID(geom)", name="ck_road_topology_srid"),
        UniqueConstraint("city_id", "edge_id", name="uq_road_topology_edge"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"), index=True)
    edge_id: Mapped[int] = mapped_column(Integer)
    segment_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    source: Mapped[int] = mapped_column(BigInteger)
    target: Mapped[int] = mapped_column(BigInteger)
    cost: Mapped[float] = mapped_column(Float)
    reverse_cost: Mapped[float] = mapped_column(Float)
    srid: Mapped[int] = mapped_column(Integer)
    geom: Mapped[Any] = mapped_column(Geometry("LINESTRING", srid=-1, spatial_index=True))
