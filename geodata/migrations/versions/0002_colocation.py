"""colocation matches groups warnings

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 11:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _geom(kind: str) -> sa.Column:
    return Geometry(
        geometry_type=kind,
        dimension=2,
        spatial_index=False,
        from_text="ST_GeomFromEWKT",
        name="geometry",
    )


def _line_fk() -> sa.Column:
    return sa.Column(
        "proposed_line_id",
        sa.BigInteger(),
        sa.ForeignKey("proposed_lines.id", ondelete="CASCADE"),
        nullable=False,
    )


def _city_fk() -> sa.Column:
    return sa.Column(
        "city_id", sa.Integer(), sa.ForeignKey("cities.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "colocation_matches",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        _city_fk(),
        _line_fk(),
        sa.Column("edge_id", sa.Integer(), nullable=False),
        sa.Column("road_segment_id", sa.BigInteger(), nullable=True),
        sa.Column("side", sa.String(length=10), nullable=False),
        sa.Column("overlap_m", sa.Float(), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("from_m", sa.Float(), nullable=False),
        sa.Column("to_m", sa.Float(), nullable=False),
        sa.Column("offset_m", sa.Float(), nullable=False),
    )
    op.create_index("ix_colocation_matches_city_edge", "colocation_matches", ["city_id", "edge_id"])
    op.create_index(
        op.f("ix_colocation_matches_proposed_line_id"), "colocation_matches", ["proposed_line_id"]
    )
    op.create_geospatial_table(
        "colocation_crossings",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        _city_fk(),
        _line_fk(),
        sa.Column("edge_id", sa.Integer(), nullable=False),
        sa.Column("road_segment_id", sa.BigInteger(), nullable=True),
        sa.Column("angle_deg", sa.Float(), nullable=False),
        sa.Column("srid", sa.Integer(), nullable=False),
        sa.Column("geom", _geom("POINT"), nullable=False),
        sa.CheckConstraint("ST_SRID(geom) = srid", name="ck_colocation_crossings_srid"),
    )
    op.create_geospatial_index(
        "idx_colocation_crossings_geom",
        "colocation_crossings",
        ["geom"],
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_colocation_crossings_city_id"), "colocation_crossings", ["city_id"])
    op.create_index(
        op.f("ix_colocation_crossings_proposed_line_id"),
        "colocation_crossings",
        ["proposed_line_id"],
    )
    op.create_geospatial_table(
        "colocation_groups",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        _city_fk(),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("horizon_days", sa.Integer(), nullable=False),
        sa.Column("utilities", postgresql.ARRAY(sa.String(length=20)), nullable=False),
        sa.Column("projects", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("applicants", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("shared_length_m", sa.Float(), nullable=False),
        sa.Column("window_start", sa.Date(), nullable=False),
        sa.Column("window_end", sa.Date(), nullable=False),
        sa.Column("srid", sa.Integer(), nullable=False),
        sa.Column("geom", _geom("MULTILINESTRING"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("ST_SRID(geom) = srid", name="ck_colocation_groups_srid"),
        sa.CheckConstraint("window_end >= window_start", name="ck_colocation_groups_window"),
    )
    op.create_geospatial_index(
        "idx_colocation_groups_geom",
        "colocation_groups",
        ["geom"],
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_colocation_groups_city_id"), "colocation_groups", ["city_id"])
    op.create_index(
        op.f("ix_colocation_groups_window_start"), "colocation_groups", ["window_start"]
    )
    op.create_index(op.f("ix_colocation_groups_window_end"), "colocation_groups", ["window_end"])
    op.create_table(
        "colocation_group_members",
        sa.Column(
            "group_id",
            sa.BigInteger(),
            sa.ForeignKey("colocation_groups.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "proposed_line_id",
            sa.BigInteger(),
            sa.ForeignKey("proposed_lines.id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_index(
        op.f("ix_colocation_group_members_proposed_line_id"),
        "colocation_group_members",
        ["proposed_line_id"],
    )
    op.create_table(
        "colocation_group_edges",
        sa.Column(
            "group_id",
            sa.BigInteger(),
            sa.ForeignKey("colocation_groups.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("edge_id", sa.Integer(), primary_key=True),
        sa.Column("road_segment_id", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_colocation_group_edges_edge", "colocation_group_edges", ["edge_id"])
    op.create_table(
        "colocation_warnings",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        _city_fk(),
        _line_fk(),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("verification", sa.String(length=30), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("srid", sa.Integer(), nullable=False),
        sa.Column("geom", _geom("GEOMETRY"), nullable=True),
        sa.CheckConstraint(
            "geom IS NULL OR ST_SRID(geom) = srid", name="ck_colocation_warnings_srid"
        ),
    )
    op.create_index(op.f("ix_colocation_warnings_city_id"), "colocation_warnings", ["city_id"])
    op.create_index(
        op.f("ix_colocation_warnings_proposed_line_id"),
        "colocation_warnings",
        ["proposed_line_id"],
    )


def downgrade() -> None:
    op.drop_table("colocation_warnings")
    op.drop_table("colocation_group_edges")
    op.drop_table("colocation_group_members")
    op.drop_geospatial_table("colocation_groups")
    op.drop_geospatial_table("colocation_crossings")
    op.drop_table("colocation_matches")
