"""Start a throwaway PostGIS database for the test session; roll back each test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import create_engine
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from geodata.migrate import upgrade_database
from geodata.pgcluster import ClusterError
from geodata.pgcluster import default_cluster

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DATA = REPO_ROOT / "data"
TEST_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """Create a fresh database with PostGIS and the whole schema; drop it afterwards.

    With ``DATABASE_URL`` set the throwaway database is made on that server; otherwise the
    project's own cluster is started. A missing PostgreSQL fails the run, never skips.
    """
    name = f"cotrench_test_{uuid.uuid4().hex[:8]}"
    server = os.environ.get("DATABASE_URL")
    if server:
        server = server.replace("postgresql://", "postgresql+psycopg://", 1)
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(server).set(database=name).render_as_string(hide_password=False)
        with create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    else:
        cluster = default_cluster()
        try:
            cluster.start()
        except ClusterError as exc:
            pytest.exit(f"PostGIS is needed for the tests (run `make db-start`): {exc}", 3)
        cluster.create_database(name)
        url = cluster.url(name)
    upgrade_database(url)
    yield url
    if server:
        with create_engine(server, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        default_cluster().drop_database(name)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = create_engine(database_url, future=True)
    yield eng
    eng.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """A connection inside an outer transaction that is rolled back after the test."""
    with engine.connect() as conn:
        outer = conn.begin()
        yield conn
        if outer.is_active:
            outer.rollback()


@pytest.fixture
def db_session(connection: Connection) -> Iterator[Session]:
    """A session whose commits become savepoints of the rolled-back outer transaction."""
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        yield session


def table_counts(conn: Connection) -> dict[str, int]:
    """Row count of every table in the public schema (for 'nothing half-stored' checks)."""
    names = conn.execute(
        text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename NOT IN ('spatial_ref_sys', 'alembic_version')"
        )
    ).scalars()
    return {n: conn.execute(text(f'SELECT count(*) FROM "{n}"')).scalar_one() for n in names}
