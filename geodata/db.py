"""Create engines and sessions for the PostGIS database."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from geodata.pgcluster import default_cluster

__all__ = ["database_url", "make_engine", "session_scope"]


def database_url() -> str:
    """Return ``DATABASE_URL``, or start the project's own cluster and return its URL."""
    url = os.environ.get("DATABASE_URL")
    if url:
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        return url
    return default_cluster().start()


def make_engine(url: str) -> Engine:
    """Return an engine with pre-ping, so a restarted server does not break the pool."""
    return create_engine(url, pool_pre_ping=True, future=True)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """Yield a session in one transaction: commit on success, roll back on any error."""
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session
