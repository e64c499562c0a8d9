"""layer digest: the same file is imported into a city as the same kind once

Revision ID: 0007_layer_digest
Revises: 0002, 0003, 0005_analysis, 0005_graph, 0005_security_auth, 0006_flow
Create Date: 2026-12-04 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_layer_digest"
# one head again: this revision follows every branch (0002, 0003, 0005 and 0006)
down_revision: str | Sequence[str] | None = (
    "0002",
    "0003",
    "0005_analysis",
    "0005_graph",
    "0005_security_auth",
    "0006_flow",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("layers", sa.Column("source_sha256", sa.String(length=64), nullable=True))
    # two imports of one file at once: the second waits for the first and then fails here
    op.create_index(
        "uq_layers_source_digest",
        "layers",
        ["city_id", "kind", "source_sha256", sa.text("coalesce(source_layer, '')")],
        unique=True,
        postgresql_where=sa.text("source_sha256 IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_layers_source_digest", table_name="layers")
    op.drop_column("layers", "source_sha256")
