"""flow: an application names its city

Revision ID: 0005_flow
Revises: 0004
Create Date: 2026-12-02 16:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_flow"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("appr_applications", sa.Column("city_id", sa.Integer(), nullable=True))
    op.create_foreign_key(
        "fk_appr_applications_city_id",
        "appr_applications",
        "cities",
        ["city_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_index(
        op.f("ix_appr_applications_city_id"), "appr_applications", ["city_id"], unique=False
    )
    # applications filed before cities were named: the city whose extent covers the site,
    # when exactly one does (otherwise left NULL for the coordinator to set on resubmission)
    op.execute(
        """
        UPDATE appr_applications a SET city_id = c.id
        FROM cities c
        WHERE a.city_id IS NULL AND ST_CoveredBy(a.site, c.extent)
          AND (SELECT count(*) FROM cities c2 WHERE ST_CoveredBy(a.site, c2.extent)) = 1
        """
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_appr_applications_city_id"), table_name="appr_applications")
    op.drop_constraint("fk_appr_applications_city_id", "appr_applications", type_="foreignkey")
    op.drop_column("appr_applications", "city_id")
