"""Start a throwaway PostGIS database for the test session; roll back each test."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import create_engine
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from api.approvals.auth import hash_password
from api.approvals.auth import issue_token
from api.approvals.enums import Role
from api.approvals.models import Organisation
from api.approvals.models import User
from api.approvals.seed import DEMO_PASSWORD
from api.approvals.seed import SeedResult
from api.approvals.seed import seed_sample_city
from api.main import create_app
from geodata.db import make_engine
from geodata.migrate import upgrade_database
from geodata.pgcluster import ClusterError
from geodata.pgcluster import PgCluster
from geodata.pgcluster import default_cluster

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DATA = REPO_ROOT / "data"
TEST_DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class TestDatabase:
    """The session's throwaway database: the owner's URL (create, migrate, drop, dump) and
    the app's (what the service connects as)."""

    owner_url: str
    app_url: str


@pytest.fixture(scope="session")
def test_database() -> Iterator[TestDatabase]:
    """Create a fresh database with PostGIS and the whole schema; drop it afterwards.

    With ``DATABASE_URL`` set the throwaway database is made on that server and both URLs
    are that server's user (its app role is the operator's job); otherwise the project's own
    cluster is started, the database belongs to ``cotrench_owner`` (who migrates it) and the
    app connects as ``cotrench_app``. A missing PostgreSQL fails the run, never skips.
    """
    name = f"cotrench_test_{uuid.uuid4().hex[:8]}"
    server = os.environ.get("DATABASE_URL")
    cluster = None
    if server:
        server = server.replace("postgresql://", "postgresql+psycopg://", 1)
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = make_url(server).set(database=name).render_as_string(hide_password=False)
        with create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pgrouting"))
        database = TestDatabase(owner_url=url, app_url=url)
    else:
        cluster = default_cluster()
        try:
            cluster.start()
        except ClusterError as exc:
            pytest.exit(f"PostGIS is needed for the tests (run `make db-start`): {exc}", 3)
        cluster.create_database(name)
        # a throwaway database need not wait for each commit's WAL flush (the server keeps
        # synchronous_commit on for every other database; fsync stays on, so a crash cannot
        # corrupt it): the approval tests commit a lot and run ~25 % faster
        with cluster.superuser_connection() as conn:
            conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
        database = TestDatabase(owner_url=cluster.url(name), app_url=cluster.app_url(name))
    upgrade_database(database.owner_url)
    yield database
    if cluster is None:
        assert server is not None
        with create_engine(server, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        cluster.drop_database(name)


@pytest.fixture(scope="session")
def database_url(test_database: TestDatabase) -> str:
    """The app's URL of the session's database (``cotrench_app`` in the project's cluster)."""
    return test_database.app_url


@pytest.fixture(scope="session")
def owner_database_url(test_database: TestDatabase) -> str:
    """The owner's URL of the session's database (migrations, dumps, DDL in tests)."""
    return test_database.owner_url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """The app's engine (its role's rights and the service's timeouts)."""
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def owner_engine(owner_database_url: str) -> Iterator[Engine]:
    """An engine as the database's owner, for what the app may not do."""
    eng = create_engine(owner_database_url)
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


# --- users and authenticated clients -------------------------------------------------
# the organisation a test user of each role belongs to unless the test names one
DEFAULT_ORGANISATION: dict[Role, str | None] = {
    Role.applicant: None,
    Role.admin: None,
    Role.acceptor: "cgj",
    Role.responsible_person: "cgj",
    Role.dept_clerk: "cgj",
    Role.dept_chief: "cgj",
    Role.utility_staff: "water-1",
    Role.data_admin: None,
    Role.designer: "water-1",
    Role.auditor: None,
}


@pytest.fixture(scope="session")
def seeded(engine: Engine) -> SeedResult:
    """The sample city's organisations and demo users (committed once per test session)."""
    with Session(engine) as session, session.begin():
        return seed_sample_city(session, password=DEMO_PASSWORD)


class Users:
    """Make committed test users of any role, city and organisation, with a bearer token.

    Users are made once per (role, city, organisation) and kept for the session; their
    password is random and unknown (tests log in with tokens; the login itself is tested
    in tests/api/test_login.py).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._tokens: dict[tuple[Role, str | None, str | None], tuple[str, str]] = {}
        self._hash = hash_password(secrets.token_urlsafe(24))

    def login(
        self, role: str, *, city: str | None = None, organisation: str | None = None
    ) -> tuple[str, str]:
        """Return ``(username, token)`` of the test user with that role, city, organisation.

        ``role`` is a ``Role`` value (``data_admin`` or ``data-admin``); ``organisation``
        is an organisation code (default: ``DEFAULT_ORGANISATION``).
        """
        r = Role(role.replace("-", "_"))
        org = organisation if organisation is not None else DEFAULT_ORGANISATION[r]
        key = (r, city, org)
        if key not in self._tokens:
            username = f"t-{r.value}-{uuid.uuid4().hex[:8]}"
            with Session(self.engine) as session, session.begin():
                org_id = None
                if org is not None:
                    org_id = session.scalars(
                        select(Organisation.id).where(Organisation.code == org)
                    ).one()
                user = User(
                    username=username,
                    password_hash=self._hash,
                    real_name=f"测试{r.value}",
                    role=r.value,
                    organisation_id=org_id,
                    city=city,
                    is_active=True,
                )
                session.add(user)
                session.flush()
                token, _ = issue_token(
                    session=session,
                    user=user,
                    now=dt.datetime.now(dt.UTC),
                    ttl_minutes=60 * 24 * 30,
                )
            self._tokens[key] = (username, token)
        return self._tokens[key]

    def headers(
        self, role: str, *, city: str | None = None, organisation: str | None = None
    ) -> dict[str, str]:
        """``{"Authorization": "Bearer ..."}`` for the test user (see :meth:`login`)."""
        _, token = self.login(role, city=city, organisation=organisation)
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def users(engine: Engine, seeded: SeedResult) -> Users:
    """Test users per role, city and organisation: ``users.headers("data_admin", city=c)``."""
    return Users(engine)


ClientAs = Callable[..., TestClient]


@pytest.fixture(scope="session")
def client_as(engine: Engine, users: Users) -> Iterator[ClientAs]:
    """A TestClient that sends the bearer token of a test user of ``role``.

    ``client_as("data_admin", city="harbin")``, ``client_as("designer", city=c,
    organisation="gas-1")``, ``client_as("dept_clerk", city=c)``; pass ``app=`` to use
    another app (e.g. one bound to a rolled-back connection). ``client_as(None)`` is an
    anonymous client. Clients are closed at the end of the session.
    """
    shared = create_app(engine=engine)
    with ExitStack() as stack:

        def make(
            role: str | None,
            *,
            city: str | None = None,
            organisation: str | None = None,
            app: FastAPI | None = None,
            **kwargs: Any,
        ) -> TestClient:
            headers = (
                {} if role is None else users.headers(role, city=city, organisation=organisation)
            )
            client = TestClient(app or shared, headers=headers, **kwargs)
            return stack.enter_context(client)

        yield make


@pytest.fixture(scope="module")
def scratch_cluster() -> Iterator[PgCluster]:
    """A throwaway cluster of its own (not started), for tests that stop or kill the server.

    It lives under /var/tmp (pytest's tmp_path is not reachable by the ``postgres`` user the
    server runs as when we are root); stopped and removed afterwards.
    """
    parent = Path(tempfile.mkdtemp(prefix="cotrench-scratch-pg-", dir="/var/tmp"))
    parent.chmod(0o755)
    cluster = PgCluster(parent / "pg")
    yield cluster
    try:
        cluster.stop(mode="immediate")
    finally:
        shutil.rmtree(parent, ignore_errors=True)
