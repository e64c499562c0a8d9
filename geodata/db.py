"""Create engines and sessions for the PostGIS database."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from geodata.pgcluster import default_cluster

if TYPE_CHECKING:
    from api.settings import DatabaseSettings

__all__ = [
    "database_url",
    "libpq_target",
    "libpq_uri",
    "make_engine",
    "owner_database_url",
    "session_scope",
]


def database_url() -> str:
    """The app's URL: ``DATABASE_URL``, or the project's own cluster as ``cotrench_app``."""
    url = _configured_url()
    return url if url else default_cluster().start()


def owner_database_url() -> str:
    """The URL for migrations, backups and restores: ``DATABASE_URL`` (whoever the operator
    configured), or the project's own cluster as ``cotrench_owner``."""
    url = _configured_url()
    if url:
        return url
    cluster = default_cluster()
    cluster.start()
    return cluster.url()


def make_engine(url: str, settings: DatabaseSettings | None = None) -> Engine:
    """Return an engine with pre-ping (a restarted server does not break the pool) and the
    timeouts of ``settings`` (default: the service's, ``COTRENCH_DB_*``)."""
    if settings is None:
        from api.settings import DatabaseSettings  # noqa: PLC0415 - api builds on geodata

        settings = DatabaseSettings()
    options = " ".join(
        f"-c {name}={int(seconds * 1000)}"
        for name, seconds in (
            ("statement_timeout", settings.statement_timeout_s),
            ("lock_timeout", settings.lock_timeout_s),
            ("idle_in_transaction_session_timeout", settings.idle_in_transaction_timeout_s),
        )
    )
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_timeout=settings.pool_timeout_s,
        connect_args={
            "connect_timeout": settings.connect_timeout_s,
            "options": options,
            # TCP only (ignored on a local socket): notice a dead or unreachable server
            "tcp_user_timeout": int(settings.tcp_user_timeout_s * 1000),
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
        },
    )


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """Yield a session in one transaction: commit on success, roll back on any error."""
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session


def _configured_url() -> str | None:
    url = os.environ.get("DATABASE_URL")
    if url and url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url or None


def libpq_uri(url: str, *, password: bool = True) -> str:
    """A SQLAlchemy URL as libpq's URI (psycopg, procrastinate, GDAL's ``PG:``, pg_dump).

    >>> libpq_uri("postgresql+psycopg://app:pw@127.0.0.1:5432/db", password=False)
    'postgresql://app@127.0.0.1:5432/db'
    """
    parsed = make_url(url).set(drivername="postgresql")
    if not password:
        # URL.set ignores None: replace the field itself
        parsed = parsed._replace(password=None)
    return parsed.render_as_string(hide_password=False)


def libpq_target(url: str) -> tuple[str, dict[str, str]]:
    """``url`` as a libpq URI for PostgreSQL's programs (pg_dump, pg_restore, psql) and the
    environment to run them in: the password, if the URL has one, goes in ``PGPASSWORD``
    (never on a command line, where ``ps`` would show it)."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    return libpq_uri(url, password=False), env
