"""proposed lines for an application: proposed_lines.application_id

Each utility company's designer submits the company's proposed lines for one approval
application; city-wide proposals (imports, the sample packages) keep it NULL. Depends on
0004 for the foreign key to appr_applications.

Revision ID: 0005_graph
Revises: 0004
Create Date: 2026-12-02 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_graph"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("proposed_lines", sa.Column("application_id", sa.Integer(), nullable=True))
    op.create_foreign_key(
        "fk_proposed_lines_application",
        "proposed_lines",
        "appr_applications",
        ["application_id"],
        ["id"],
    )
    op.create_index("ix_proposed_lines_application_id", "proposed_lines", ["application_id"])


def downgrade() -> None:
    op.drop_index("ix_proposed_lines_application_id", table_name="proposed_lines")
    op.drop_constraint("fk_proposed_lines_application", "proposed_lines", type_="foreignkey")
    op.drop_column("proposed_lines", "application_id")
