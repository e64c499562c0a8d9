"""qgis: geometry_columns works, and a road topology pgRouting routes on

PostGIS's ``geometry_columns`` view reads a CHECK of the form ``st_srid(geom) = <number>``
as the column's SRID; ours compare with the ``srid`` column (several cities, several
SRIDs in one table), and the view failed on every query (``invalid input syntax for type
integer: "srid"``). Written ``srid = ST_SRID(geom)`` the check is the same rule and the
view reads it as it should: SRID 0, mixed; the per-city views give each city's SRID.

Revision ID: 0008_qgis
Revises: 0007_layer_digest
Create Date: 2026-12-04 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision: str = "0008_qgis"
down_revision: str | Sequence[str] | None = "0007_layer_digest"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> whether its geometry may be NULL
_CHECKED = {
    "poles": False,
    "proposed_lines": False,
    "protected_areas": False,
    "road_segments": False,
    "trees": False,
    "underground_lines": False,
    "colocation_crossings": False,
    "colocation_groups": False,
    "colocation_warnings": True,
    "trench_plans": True,
}


def _swap(new: bool) -> None:
    for table, nullable in _CHECKED.items():
        name = f"ck_{table}_srid"
        rule = "srid = ST_SRID(geom)" if new else "ST_SRID(geom) = srid"
        if nullable:
            rule = f"geom IS NULL OR {rule}"
        op.drop_constraint(name, table, type_="check")
        op.create_check_constraint(name, table, rule)


def upgrade() -> None:
    _swap(new=True)
    op.create_table(
        "road_topology",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("city_id", sa.Integer(), nullable=False),
        sa.Column("edge_id", sa.Integer(), nullable=False),
        sa.Column("segment_id", sa.BigInteger(), nullable=True),
        sa.Column("source", sa.BigInteger(), nullable=False),
        sa.Column("target", sa.BigInteger(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("reverse_cost", sa.Float(), nullable=False),
        sa.Column("srid", sa.Integer(), nullable=False),
        sa.Column("geom", Geometry("LINESTRING", srid=-1, spatial_index=False), nullable=False),
        sa.CheckConstraint("srid = ST_SRID(geom)", name="ck_road_topology_srid"),
        sa.ForeignKeyConstraint(["city_id"], ["cities.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("city_id", "edge_id", name="uq_road_topology_edge"),
    )
    op.create_index("ix_road_topology_city_id", "road_topology", ["city_id"])
    op.create_index("idx_road_topology_geom", "road_topology", ["geom"], postgresql_using="gist")


def downgrade() -> None:
    op.drop_table("road_topology")
    _swap(new=False)
