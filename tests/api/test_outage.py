"""Database outages (issue 13): down or slow → 503 with Retry-After, no internals; the API
recovers by itself; a database killed mid-import leaves no partial layer.

The kill test runs on a throwaway cluster of its own (``scratch_cluster``), never the
session's shared one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.approvals.seed import seed_sample_city
from api.main import create_app
from api.settings import DatabaseSettings
from api.settings import Settings
from geodata.db import make_engine
from geodata.db import session_scope
from geodata.layers import save_layer
from geodata.migrate import upgrade_database
from geodata.pgcluster import APP_ROLE
from geodata.pgcluster import PgCluster
from geodata.storage import create_city
from tests.conftest import Users
from tests.conftest import table_counts
from tests.helpers import read_sample

pytestmark = pytest.mark.db

# the words of a response that would give the server away
INTERNALS = ("127.0.0.1", "psycopg", "sqlalchemy", "SELECT", "COPY", "INSERT", APP_ROLE)


def assert_outage(response: Any, error: str = "DatabaseUnavailable") -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert body["error"] == error
    assert body["message"].startswith("数据库")  # Chinese first, then English
    assert " / " in body["message"]
    for word in INTERNALS:
        assert word not in response.text


@dataclass
class Scratch:
    cluster: PgCluster
    engine: Engine
    client: TestClient
    city: str


@pytest.fixture(scope="module")
def scratch(scratch_cluster: PgCluster) -> Iterator[Scratch]:
    """The throwaway cluster, migrated, with a city, its data administrator and an app."""
    cluster = scratch_cluster
    cluster.start()
    upgrade_database(cluster.url())
    # a long lock wait must not end the import before the server is stopped
    settings = Settings(
        db=DatabaseSettings(lock_timeout_s=60, retry_after_s=7, connect_timeout_s=2)
    )
    engine = make_engine(cluster.app_url(), settings.db)
    with Session(engine) as session, session.begin():
        seed_sample_city(session, password=uuid.uuid4().hex)
    city = "harbin_outage"
    with session_scope(engine) as session:
        create_city(
            session, name=city, crs="EPSG:32652", extent=read_sample("city").geometry.iloc[0]
        )
    headers = Users(engine).headers("data_admin", city=city)
    with TestClient(create_app(settings, engine=engine), headers=headers) as client:
        yield Scratch(cluster, engine, client, city)
    engine.dispose()


def _wait_for(cluster: PgCluster, sql: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    with cluster.superuser_connection("cotrench") as conn:
        while time.monotonic() < deadline:
            if conn.execute(sql).fetchone():
                return
            time.sleep(0.05)
    pytest.fail(f"never true: {sql}")


def test_database_killed_mid_import(scratch: Scratch, tmp_path: Path) -> None:
    cluster, client = scratch.cluster, scratch.client
    path = save_layer(read_sample("trees"), tmp_path / "trees.gpkg", layer="trees")
    with scratch.engine.connect() as conn:
        before = table_counts(conn)
    answer: dict[str, Any] = {}

    def upload() -> None:
        files = [("file", (path.name, path.read_bytes()))]
        form = {"kind": "trees", "city": scratch.city, "name": "killed import"}
        answer["import"] = client.post("/layers", files=files, data=form)

    # the owner holds back writes to the trees table: the import stops inside its COPY,
    # its layer row already written (uncommitted), and the server is killed right there
    blocker = cluster.superuser_connection("cotrench")
    blocker.autocommit = False
    blocker.execute("LOCK TABLE trees IN SHARE MODE")
    worker = threading.Thread(target=upload)
    worker.start()
    try:
        _wait_for(
            cluster,
            f"SELECT 1 FROM pg_stat_activity WHERE usename = '{APP_ROLE}' "
            "AND wait_event_type = 'Lock' AND query LIKE 'COPY%trees%' "
            "AND backend_xid IS NOT NULL",  # it has written already (the layer row)
        )
        cluster.stop(mode="immediate")  # as a power cut: no shutdown, no checkpoint
    finally:
        worker.join(timeout=120)
        blocker.close()
    assert not worker.is_alive()
    assert_outage(answer["import"])
    # while it is down: every database-backed answer is a 503, the liveness check is not
    assert_outage(client.get("/layers", params={"city": scratch.city}))
    assert_outage(client.get("/health/ready"))
    assert client.get("/health").json() == {"status": "ok"}

    cluster.start()
    # the same app, not restarted: its pool reconnects
    assert client.get("/health/ready").status_code == 200
    listed = client.get("/layers", params={"city": scratch.city})
    assert listed.status_code == 200, listed.text
    assert "killed import" not in listed.text
    with scratch.engine.connect() as conn:
        assert table_counts(conn) == before
        assert (
            conn.execute(
                text("SELECT count(*) FROM layers WHERE name = 'killed import'")
            ).scalar_one()
            == 0
        )
    # and an import works again
    again = client.post(
        "/layers",
        files=[("file", (path.name, path.read_bytes()))],
        data={"kind": "trees", "city": scratch.city, "name": "after the outage"},
    )
    assert again.status_code == 201, again.text


def test_a_locked_table_answers_503_not_a_hang(
    engine: Engine, owner_engine: Engine, users: Users, database_url: str
) -> None:
    """A slow database (here: a lock held elsewhere) ends in a 503 after the lock timeout."""
    settings = Settings(db=DatabaseSettings(lock_timeout_s=0.5, retry_after_s=3))
    slow = make_engine(database_url, settings.db)
    headers = users.headers("data_admin")
    try:
        with (
            TestClient(create_app(settings, engine=slow), headers=headers) as client,
            owner_engine.connect() as holder,
        ):
            holder.execute(text("LOCK TABLE layers IN ACCESS EXCLUSIVE MODE"))
            started = time.monotonic()
            response = client.get("/layers")
            holder.rollback()
        assert time.monotonic() - started < 10
        assert_outage(response, "DatabaseTimeout")
        assert response.headers["retry-after"] == "3"
        assert response.json()["message"].startswith("数据库繁忙")
    finally:
        slow.dispose()


def test_a_frozen_database_makes_readiness_answer_503(scratch: Scratch) -> None:
    """Every server process stopped (SIGSTOP): the readiness check does not hang."""
    pids = _server_pids(scratch.cluster)
    assert len(pids) > 1
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        response = scratch.client.get("/health/ready")
        took = time.monotonic() - started
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    assert_outage(response)
    assert response.headers["retry-after"] == "7"
    assert took < 10
    assert scratch.client.get("/health/ready").status_code == 200


def test_a_full_pool_answers_503(database_url: str, users: Users) -> None:
    """Every pooled connection busy: a request waits pool_timeout, then gets a 503."""
    settings = Settings(db=DatabaseSettings(pool_timeout_s=0.3))
    eng = make_engine(database_url, settings.db)
    held = []
    try:
        with TestClient(create_app(settings, engine=eng)) as client:
            # the pool's size plus its overflow, all checked out
            while True:
                try:
                    held.append(eng.connect())
                except sa_exc.TimeoutError:
                    break
            response = client.get("/layers", headers=users.headers("data_admin"))
        assert_outage(response, "DatabaseTimeout")
    finally:
        for conn in held:
            conn.close()
        eng.dispose()


def _server_pids(cluster: PgCluster) -> list[int]:
    """The postmaster and its children."""
    postmaster = int((cluster.data_dir / "postmaster.pid").read_text().split()[0])
    children = subprocess.run(
        ["pgrep", "-P", str(postmaster)], capture_output=True, text=True, check=False
    ).stdout.split()
    return [postmaster, *(int(p) for p in children)]
