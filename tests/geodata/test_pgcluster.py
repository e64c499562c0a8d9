"""The project's own cluster: durable, password-protected, and the app without privileges."""

from __future__ import annotations

import stat

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy import text

from geodata.pgcluster import APP_ROLE
from geodata.pgcluster import OWNER_ROLE
from geodata.pgcluster import PgCluster
from geodata.pgcluster import default_cluster
from geodata.pgcluster import pg_bin

pytestmark = pytest.mark.db


def own_cluster() -> PgCluster:
    cluster = default_cluster()
    if not (cluster.data_dir / "postmaster.pid").exists():
        pytest.skip("DATABASE_URL: the server is the operator's, not the project's cluster")
    return cluster


def test_schema_is_migrated_with_srid_checks(engine: Engine) -> None:
    with engine.connect() as conn:
        tables = set(
            conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname='public'")
            ).scalars()
        )
        checks = set(
            conn.execute(
                text("SELECT conname FROM pg_constraint WHERE conname LIKE 'ck_%_srid'")
            ).scalars()
        )
    assert {"cities", "layers", "road_segments", "proposed_lines", "trees"} <= tables
    assert "ck_road_segments_srid" in checks


def test_cluster_runs_as_unprivileged_user() -> None:
    cluster = own_cluster()
    assert cluster.is_running()
    assert (cluster.data_dir / "postmaster.pid").stat().st_uid != 0


def test_server_writes_durably() -> None:
    cluster = own_cluster()
    # the project's database (the session's throwaway one turns synchronous_commit off)
    with cluster.superuser_connection("cotrench") as conn:
        settings = {
            name: conn.execute(f"SHOW {name}").fetchone()
            for name in ("fsync", "full_page_writes", "synchronous_commit")
        }
    assert settings == {
        "fsync": ("on",),
        "full_page_writes": ("on",),
        "synchronous_commit": ("on",),
    }


def test_every_connection_needs_a_password() -> None:
    cluster = own_cluster()
    with cluster.superuser_connection() as conn:
        rules = conn.execute(
            "SELECT type, auth_method FROM pg_hba_file_rules WHERE error IS NULL"
        ).fetchall()
    assert rules
    assert {method for _, method in rules} == {"scram-sha-256"}, rules
    assert "trust" not in [line.split()[-1] for line in _rules(cluster)]
    # the passwords are the owner's secret: mode 0600, and no password, no entry
    assert stat.S_IMODE(cluster.passfile.stat().st_mode) == 0o600
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(
            host="127.0.0.1", port=cluster.port, user=APP_ROLE, dbname="cotrench", password="x"
        )


def test_roles_have_only_their_attributes() -> None:
    cluster = own_cluster()
    with cluster.superuser_connection() as conn:
        roles = {
            row[0]: row[1:]
            for row in conn.execute(
                "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolcanlogin, rolbypassrls "
                "FROM pg_roles WHERE rolname = ANY(%s)",
                ([APP_ROLE, OWNER_ROLE],),
            )
        }
        owner = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'cotrench'"
        ).fetchone()
    assert roles[APP_ROLE] == (False, False, False, True, False)
    assert roles[OWNER_ROLE] == (False, False, True, True, False)
    assert owner == (OWNER_ROLE,)


def test_a_trusting_cluster_of_the_old_code_is_replaced(scratch_cluster: PgCluster) -> None:
    """A `.pg/` made by the old code (initdb --auth=trust) is moved aside, not trusted."""
    cluster = scratch_cluster
    cluster.base.mkdir(parents=True)
    cluster._chown(cluster.base)
    cluster._run(
        [
            pg_bin("initdb"),
            "-D",
            str(cluster.data_dir),
            "-U",
            "cotrench",
            "--auth=trust",
        ]
    )
    assert "trust" in cluster.hba_file.read_text()
    cluster.start()
    assert "trust" not in [line.split()[-1] for line in _rules(cluster)]
    assert list(cluster.base.glob("data-trust-*/PG_VERSION"))
    with cluster.superuser_connection("cotrench") as conn:
        assert conn.execute("SHOW fsync").fetchone() == ("on",)
        assert conn.execute("SELECT postgis_lib_version()").fetchone() is not None


def _rules(cluster: PgCluster) -> list[str]:
    lines = cluster.hba_file.read_text().splitlines()
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
