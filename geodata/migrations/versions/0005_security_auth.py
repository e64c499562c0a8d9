"""security-auth: a city per user (GIS roles) and the login attempts throttling reads

Revision ID: 0005_security_auth
Revises: 0004
Create Date: 2026-12-02 16:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_security_auth"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # the city whose GIS data a user works on (data administrator, designer, reviewer,
    # auditor); NULL = none (applicants, the user administrator)
    op.add_column("appr_users", sa.Column("city", sa.String(length=80), nullable=True))
    op.create_table(
        "appr_login_attempts",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("username", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_appr_login_attempts_username_at", "appr_login_attempts", ["username", "at"])
    op.create_index("ix_appr_login_attempts_address_at", "appr_login_attempts", ["address", "at"])


def downgrade() -> None:
    op.drop_table("appr_login_attempts")
    op.drop_column("appr_users", "city")
