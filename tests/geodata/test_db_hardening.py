"""The app's database role can do its work and nothing more (issue 13, item 5).

Every refusal is checked for being a permission error (SQLSTATE 42501) of the right object,
not just any error. The own cluster only: with DATABASE_URL the roles are the operator's.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from api.settings import DatabaseSettings
from geodata.db import make_engine
from geodata.migrate import grant_app_role
from geodata.pgcluster import APP_ROLE
from geodata.pgcluster import default_cluster

pytestmark = pytest.mark.db

INSUFFICIENT_PRIVILEGE = "42501"
QUERY_CANCELED = "57014"


@pytest.fixture(scope="module", autouse=True)
def _own_cluster() -> None:
    if not (default_cluster().data_dir / "postmaster.pid").exists():
        pytest.skip("DATABASE_URL: the app's role is the operator's")


@pytest.fixture
def app_conn(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        yield conn


@pytest.fixture
def audit_id(engine: Engine) -> int:
    """An audit row (written by the app's role, which may INSERT)."""
    return _insert_audit_row(engine)


def _insert_audit_row(eng: Engine) -> int:
    with eng.begin() as conn:
        return int(
            conn.execute(
                text(
                    "INSERT INTO appr_audit_log (at, actor_name, actor_role, entity_kind, "
                    "entity_id, action) VALUES (now(), '测试', 'admin', 'test', 0, 'test') "
                    "RETURNING id"
                )
            ).scalar_one()
        )


def refused(conn: Connection, sql: str, match: str, **params: object) -> None:
    """``sql`` fails with a permission error whose message matches ``match``."""
    with pytest.raises(DBAPIError) as info, conn.begin():
        conn.execute(text(sql), params)
    assert getattr(info.value.orig, "sqlstate", None) == INSUFFICIENT_PRIVILEGE, info.value
    assert match in str(info.value.orig), info.value


def test_the_app_connects_as_its_role_without_privileges(app_conn: Connection) -> None:
    row = app_conn.execute(
        text(
            "SELECT current_user, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls "
            "FROM pg_roles WHERE rolname = current_user"
        )
    ).one()
    assert tuple(row) == (APP_ROLE, False, False, False, False)


def test_the_app_cannot_run_programs_on_the_server(app_conn: Connection) -> None:
    refused(app_conn, "COPY appr_audit_log FROM PROGRAM 'id'", "external program")
    refused(app_conn, "SELECT pg_read_file('/etc/passwd')", "pg_read_file")


def test_the_app_cannot_switch_off_the_audit_trigger(app_conn: Connection) -> None:
    refused(
        app_conn,
        "ALTER TABLE appr_audit_log DISABLE TRIGGER appr_audit_no_change",
        "must be owner of table appr_audit_log",
    )
    refused(app_conn, "SET session_replication_role = replica", "session_replication_role")
    refused(app_conn, "DROP TRIGGER appr_audit_no_change ON appr_audit_log", "must be owner")


def test_the_app_cannot_rewrite_nor_delete_an_audit_row(
    app_conn: Connection, audit_id: int
) -> None:
    denied = "permission denied for table appr_audit_log"
    refused(app_conn, "UPDATE appr_audit_log SET reason = 'x' WHERE id = :i", denied, i=audit_id)
    refused(app_conn, "DELETE FROM appr_audit_log WHERE id = :i", denied, i=audit_id)
    refused(app_conn, "TRUNCATE appr_audit_log", denied)
    # the row is still there, unchanged
    reason = app_conn.execute(
        text("SELECT reason FROM appr_audit_log WHERE id = :i"), {"i": audit_id}
    ).scalar_one()
    assert reason is None


def test_the_app_adds_and_reads_audit_rows(engine: Engine) -> None:
    new = _insert_audit_row(engine)
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT action FROM appr_audit_log WHERE id = :i"), {"i": new}
            ).scalar_one()
            == "test"
        )


def test_the_owner_is_stopped_by_the_trigger(owner_engine: Engine, audit_id: int) -> None:
    """Behind the missing right, the trigger still refuses the table's owner."""
    with owner_engine.connect() as conn, pytest.raises(DBAPIError, match="append-only"):
        conn.execute(text("UPDATE appr_audit_log SET reason = 'x' WHERE id = :i"), {"i": audit_id})


def test_the_app_cannot_change_the_schema(app_conn: Connection) -> None:
    refused(app_conn, "CREATE TABLE app_made (x int)", "permission denied for schema public")
    refused(app_conn, "ALTER TABLE layers ADD COLUMN x int", "must be owner of table layers")
    refused(app_conn, "DROP TABLE cities CASCADE", "must be owner of table cities")
    refused(
        app_conn,
        "UPDATE alembic_version SET version_num = 'x'",
        "permission denied for table alembic_version",
    )
    refused(app_conn, "CREATE ROLE intruder LOGIN", "permission denied to create role")


def test_the_app_engine_has_the_timeouts(app_conn: Connection) -> None:
    shown = {
        name: app_conn.execute(text(f"SHOW {name}")).scalar_one()
        for name in ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")
    }
    assert shown == {
        "statement_timeout": "30s",
        "lock_timeout": "10s",
        "idle_in_transaction_session_timeout": "1min",
    }


def test_a_slow_statement_is_cancelled(database_url: str) -> None:
    eng = make_engine(database_url, DatabaseSettings(statement_timeout_s=0.5))
    try:
        started = time.monotonic()
        with eng.connect() as conn, pytest.raises(DBAPIError) as info:
            conn.execute(text("SELECT pg_sleep(10)"))
        assert getattr(info.value.orig, "sqlstate", None) == QUERY_CANCELED
        assert "statement timeout" in str(info.value.orig)
        assert time.monotonic() - started < 5
    finally:
        eng.dispose()


def test_a_table_of_a_later_migration_gets_the_app_rights(
    owner_engine: Engine, owner_database_url: str, database_url: str, engine: Engine
) -> None:
    """The grants run after every upgrade: a new table is usable by the app at once."""
    table = f"later_{uuid.uuid4().hex[:8]}"
    with owner_engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {table} (id serial PRIMARY KEY, x int)"))
    try:
        with engine.connect() as conn:
            refused(conn, f"SELECT * FROM {table}", f"permission denied for table {table}")
        assert grant_app_role(owner_database_url) is True
        with engine.begin() as conn:
            conn.execute(text(f"INSERT INTO {table} (x) VALUES (1)"))  # uses its sequence
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 1
        # the app's own URL owns nothing: it grants nothing (and does not fail)
        assert grant_app_role(database_url) is False
    finally:
        with owner_engine.begin() as conn:
            conn.execute(text(f"DROP TABLE {table}"))
