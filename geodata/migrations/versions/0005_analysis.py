"""analysis: a fixed route version's city, input hash and frozen documents

Revision ID: 0005_analysis
Revises: 0004
Create Date: 2026-12-02 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_analysis"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DOCUMENTS_FROZEN = """
CREATE FUNCTION appr_route_documents_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a fixed route version''s documents are frozen: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER appr_route_documents_frozen BEFORE UPDATE OR DELETE ON appr_route_documents
    FOR EACH ROW EXECUTE FUNCTION appr_route_documents_frozen();
"""


def upgrade() -> None:
    # the city a version was analysed in, by name (cities may be renamed or dropped later;
    # the frozen documents do not depend on it any more), and the hash of what it was fixed
    # from, so an identical re-fix is recognised
    op.add_column("appr_route_versions", sa.Column("city", sa.String(100), nullable=True))
    op.add_column("appr_route_versions", sa.Column("inputs_sha256", sa.String(64), nullable=True))
    op.create_table(
        "appr_route_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("route_version_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("permit_type", sa.String(30), nullable=True),
        sa.Column("edge", sa.String(255), nullable=True),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('sheet', 'packet', 'section', 'quantities')", name="ck_appr_route_doc_kind"
        ),
        sa.ForeignKeyConstraint(["route_version_id"], ["appr_route_versions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("route_version_id", "name"),
    )
    op.execute(_DOCUMENTS_FROZEN)


def downgrade() -> None:
    op.execute("DROP TRIGGER appr_route_documents_frozen ON appr_route_documents")
    op.execute("DROP FUNCTION appr_route_documents_frozen()")
    op.drop_table("appr_route_documents")
    op.drop_column("appr_route_versions", "inputs_sha256")
    op.drop_column("appr_route_versions", "city")
