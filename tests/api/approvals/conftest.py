"""Fixtures for the approval-flow tests: the seeded sample city, a client, tokens per user.

These tests commit (the flow runs over HTTP, one transaction per request, and the audit log
cannot be rolled back by design), so every test makes its own applications and never
relies on counts left by another.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.approvals.auth import issue_token
from api.approvals.models import User
from api.approvals.seed import SeedResult
from api.approvals.seed import seed_sample_city
from api.main import create_app
from tests.api.approvals.flow import Flow


@pytest.fixture(scope="session")
def seeded(engine: Engine) -> SeedResult:
    with Session(engine) as session, session.begin():
        return seed_sample_city(session)


@pytest.fixture(scope="session")
def tokens(engine: Engine, seeded: SeedResult) -> dict[str, str]:
    """A bearer token per demo user (issued directly: argon2 logins are tested once)."""
    now = dt.datetime.now(dt.UTC)
    out = {}
    with Session(engine) as session, session.begin():
        for user in session.scalars(select(User).where(User.username.in_(list(seeded.users)))):
            out[user.username], _ = issue_token(
                session=session, user=user, now=now, ttl_minutes=60 * 24 * 30
            )
    return out


@pytest.fixture(scope="session")
def client(engine: Engine, seeded: SeedResult) -> Iterator[TestClient]:
    with TestClient(create_app(engine=engine)) as c:
        yield c


@pytest.fixture
def flow(client: TestClient, tokens: dict[str, str]) -> Flow:
    return Flow(client, tokens)
