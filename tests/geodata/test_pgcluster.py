from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy import text

from geodata.pgcluster import default_cluster


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


def test_cluster_runs_as_unprivileged_user(engine: Engine) -> None:
    with engine.connect() as conn:
        user = conn.execute(text("SELECT current_setting('data_directory')")).scalar_one()
    assert user
    cluster = default_cluster()
    assert cluster.is_running()
    pid_file = cluster.data_dir / "postmaster.pid"
    if pid_file.exists():  # our own cluster (not DATABASE_URL): the server is not root
        assert pid_file.stat().st_uid != 0
