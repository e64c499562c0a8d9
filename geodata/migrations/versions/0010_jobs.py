"""jobs: procrastinate's tables in the same database (background jobs, the overdue sweep)

The schema is procrastinate's own (``procrastinate.schema.SchemaManager.get_schema``),
applied by the schema's owner; the app role gets its rights with every other table's.

Revision ID: 0010_jobs
Revises: 0008_qgis
Create Date: 2026-12-04 03:30:00
"""

from collections.abc import Sequence

from alembic import op
from procrastinate.schema import SchemaManager

revision: str = "0010_jobs"
down_revision: str | Sequence[str] | None = "0008_qgis"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # the schema holds %-signs and $$-quoted functions: run it as the driver's plain SQL
    op.get_bind().exec_driver_sql(SchemaManager.get_schema().replace("%", "%%"))


def downgrade() -> None:
    op.execute(
        "DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers, "
        "procrastinate_jobs, procrastinate_workers CASCADE"
    )
    op.execute("DROP TYPE IF EXISTS procrastinate_job_status, procrastinate_job_event_type CASCADE")
