"""flow: bundles, one joint route for co-located applications (dig once)

Revision ID: 0006_flow
Revises: 0005_flow
Create Date: 2026-12-02 17:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_flow"
down_revision: str | Sequence[str] | None = "0005_flow"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "appr_bundles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=30), nullable=False),
        sa.Column("city_id", sa.Integer(), nullable=True),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("plan_key", sa.String(length=40), nullable=False),
        sa.Column("plan_version", sa.Integer(), nullable=False),
        sa.Column("total_cost_cny", sa.Float(), nullable=False),
        sa.Column("alone_cost_cny", sa.Float(), nullable=False),
        sa.Column("window_start", sa.Date(), nullable=False),
        sa.Column("window_end", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("window_end >= window_start", name="ck_appr_bundles_window"),
        sa.ForeignKeyConstraint(["city_id"], ["cities.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["created_by_id"], ["appr_users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
    )
    op.create_index(op.f("ix_appr_bundles_city_id"), "appr_bundles", ["city_id"], unique=False)
    op.create_table(
        "appr_bundle_members",
        sa.Column("bundle_id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("shares", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("alone_cost_cny", sa.Float(), nullable=False),
        sa.Column("window_start", sa.Date(), nullable=False),
        sa.Column("window_end", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["application_id"], ["appr_applications.id"]),
        sa.ForeignKeyConstraint(["bundle_id"], ["appr_bundles.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("bundle_id", "application_id"),
    )
    op.create_index(
        op.f("ix_appr_bundle_members_application_id"),
        "appr_bundle_members",
        ["application_id"],
        unique=False,
    )
    op.add_column("appr_route_versions", sa.Column("bundle_id", sa.Integer(), nullable=True))
    op.create_foreign_key(
        "fk_appr_route_versions_bundle_id",
        "appr_route_versions",
        "appr_bundles",
        ["bundle_id"],
        ["id"],
    )
    op.create_index(op.f("ix_appr_route_versions_bundle_id"), "appr_route_versions", ["bundle_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_appr_route_versions_bundle_id"), table_name="appr_route_versions")
    op.drop_constraint(
        "fk_appr_route_versions_bundle_id", "appr_route_versions", type_="foreignkey"
    )
    op.drop_column("appr_route_versions", "bundle_id")
    op.drop_index(op.f("ix_appr_bundle_members_application_id"), table_name="appr_bundle_members")
    op.drop_table("appr_bundle_members")
    op.drop_index(op.f("ix_appr_bundles_city_id"), table_name="appr_bundles")
    op.drop_table("appr_bundles")
