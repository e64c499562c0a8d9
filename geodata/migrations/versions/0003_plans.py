"""trench plans

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-25 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_geospatial_table(
        "trench_plans",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("city_id", sa.Integer(), nullable=False),
        sa.Column("plan_key", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("total_cost_cny", sa.Float(), nullable=False),
        sa.Column("gap", sa.Float(), nullable=True),
        sa.Column("inputs", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("application_ids", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("srid", sa.Integer(), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTILINESTRING",
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("version >= 1", name="ck_trench_plans_version"),
        sa.CheckConstraint("geom IS NULL OR ST_SRID(geom) = srid", name="ck_trench_plans_srid"),
        sa.ForeignKeyConstraint(["city_id"], ["cities.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plan_key", "version", name="uq_trench_plans_key_version"),
    )
    op.create_geospatial_index(
        "idx_trench_plans_geom",
        "trench_plans",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_trench_plans_city_id"), "trench_plans", ["city_id"], unique=False)
    op.create_index(op.f("ix_trench_plans_plan_key"), "trench_plans", ["plan_key"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_trench_plans_plan_key"), table_name="trench_plans")
    op.drop_index(op.f("ix_trench_plans_city_id"), table_name="trench_plans")
    op.drop_geospatial_index(
        "idx_trench_plans_geom",
        table_name="trench_plans",
        postgresql_using="gist",
        column_name="geom",
    )
    op.drop_geospatial_table("trench_plans")
