"""Bring a database's schema up to date with the Alembic migrations; grant the app its rights."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy import create_engine
from sqlalchemy import text

from geodata.pgcluster import APP_ROLE

__all__ = [
    "APPEND_ONLY_TABLES",
    "READ_ONLY_TABLES",
    "alembic_config",
    "grant_app_role",
    "refresh_views",
    "upgrade_database",
]

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# tables the app may only add to and read (their triggers refuse changes, too)
APPEND_ONLY_TABLES = ("appr_audit_log",)
# tables the app may only read (the schema's version belongs to the migrations)
READ_ONLY_TABLES = ("alembic_version",)


def alembic_config(url: str) -> Config:
    """Return an Alembic config for ``url`` that uses the packaged migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_database(url: str, *, revision: str = "heads") -> None:
    """Apply every migration up to ``revision`` (all branch heads by default), as the
    schema's owner, then grant the app role its rights on what the migrations made."""
    logger.info("migrating database to %s", revision)
    command.upgrade(alembic_config(url), revision)
    refresh_views(url)


def refresh_views(owner_url: str) -> None:
    """(Re)make every city's QGIS views (:mod:`geodata.city_views`), then the app's grants.

    Runs as the schema's owner after every upgrade and after a city is added (the app role
    may not create views).
    """
    from geodata.city_views import refresh_city_views  # noqa: PLC0415 - tables import late

    engine = create_engine(owner_url)
    try:
        with engine.begin() as conn:
            may_create = conn.execute(
                text("SELECT has_schema_privilege('public', 'CREATE')")
            ).scalar_one()
            if may_create:
                refresh_city_views(conn)
            else:
                # a DATABASE_URL of the app's own role: the views are the owner's to make
                logger.info("this URL's user may not create views: city views left as they are")
    finally:
        engine.dispose()
    grant_app_role(owner_url)


def grant_app_role(owner_url: str, *, role: str = APP_ROLE) -> bool:
    """Give ``role`` only what the service needs on the public schema's tables.

    SELECT, INSERT, UPDATE, DELETE on every table, USAGE and SELECT on every sequence; on
    the append-only tables (:data:`APPEND_ONLY_TABLES`) INSERT and SELECT only. Runs as the
    owner of the tables (``owner_url``); the grants are replaced on every run, so a table a
    new migration adds gets its rights too. Returns False (and grants nothing) when the role
    does not exist or the URL's user owns no table: with a ``DATABASE_URL`` of one's own the
    app role is the operator's job (see README "Database security").
    """
    engine = create_engine(owner_url)
    try:
        with engine.begin() as conn:  # one transaction: the app never sees half the grants
            known = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
            if known.first() is None:
                logger.info("no role %s: the app's rights are the operator's job", role)
                return False
            tables = _owned_tables(conn)
            views = set(_owned_tables(conn, kinds="'v', 'm'"))
            if not tables:
                logger.info("the user of this URL owns no table: no rights granted to %s", role)
                return False
            who = _quote(conn, role)
            conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {who}"))
            for table in tables:
                name = f"public.{_quote(conn, table)}"
                conn.execute(text(f"REVOKE ALL ON TABLE {name} FROM {who}"))
                rights = "SELECT, INSERT, UPDATE, DELETE"
                if table in views:
                    rights = "SELECT"  # the per-city views are for reading
                elif table in APPEND_ONLY_TABLES:
                    rights = "SELECT, INSERT"
                elif table in READ_ONLY_TABLES:
                    rights = "SELECT"
                conn.execute(text(f"GRANT {rights} ON TABLE {name} TO {who}"))
            for sequence in _owned_sequences(conn):
                name = f"public.{_quote(conn, sequence)}"
                conn.execute(text(f"GRANT USAGE, SELECT ON SEQUENCE {name} TO {who}"))
    finally:
        engine.dispose()
    logger.info("granted %s its rights on %d tables", role, len(tables))
    return True


def _owned_tables(conn: Connection, kinds: str = "'r', 'p', 'v', 'm'") -> list[str]:
    rows = conn.execute(
        text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE n.nspname = 'public' AND c.relkind IN ({kinds}) "
            "AND pg_get_userbyid(c.relowner) = current_user ORDER BY c.relname"
        )
    )
    return list(rows.scalars())


def _owned_sequences(conn: Connection) -> list[str]:
    rows = conn.execute(
        text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'S' "
            "AND pg_get_userbyid(c.relowner) = current_user ORDER BY c.relname"
        )
    )
    return list(rows.scalars())


def _quote(conn: Connection, name: str) -> str:
    return str(conn.execute(text("SELECT quote_ident(:n)"), {"n": name}).scalar_one())
