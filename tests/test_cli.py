"""The command line: import a file, load the demo cities (twice), refuse bad files."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import create_engine
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from api import cli
from api.main import create_app
from geodata.db import session_scope
from geodata.layers import save_layer
from geodata.pgcluster import _free_port
from geodata.pgcluster import default_cluster
from geodata.storage import create_city
from tests.conftest import SAMPLE_DATA
from tests.conftest import Users
from tests.conftest import table_counts
from tests.geodata.bad_inputs import BAD_CASES
from tests.helpers import read_sample
from tests.helpers import sample_path

pytestmark = pytest.mark.db

runner = CliRunner()


@pytest.fixture
def db_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", database_url)
    return database_url


@pytest.fixture
def city(engine: Engine) -> Iterator[str]:
    name = f"harbin_cli_{uuid.uuid4().hex[:8]}"
    with session_scope(engine) as session:
        create_city(
            session, name=name, crs="EPSG:32652", extent=read_sample("city").geometry.iloc[0]
        )
    yield name
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM cities WHERE name = :n"), {"n": name})


def test_help_lists_the_commands() -> None:
    result = runner.invoke(cli.app, ["--help"])
    assert result.exit_code == 0
    for command in ("import", "demo", "serve", "db"):
        assert command in result.output


def test_import_with_progress_bar(
    db_env: str, engine: Engine, city: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "PROGRESS_MIN_FEATURES", 1)
    with engine.connect() as conn:
        before = table_counts(conn)
    result = runner.invoke(
        cli.app,
        [
            "import",
            str(sample_path("roads")),
            "--kind",
            "roads",
            "--city",
            city,
            "--layer",
            "roads",
        ],
    )
    assert result.exit_code == 0, result.output
    n = len(read_sample("roads"))
    assert f"imported {n} roads into {city}" in result.output
    assert "EPSG:4326 -> EPSG:32652" in result.output
    assert "features" in result.output  # the tqdm bar
    with engine.connect() as conn:
        after = table_counts(conn)
    assert after["road_segments"] == before["road_segments"] + n
    assert after["layers"] == before["layers"] + 1


def test_import_gbk_shapefile_with_encoding(
    db_env: str, engine: Engine, city: str, tmp_path: Path
) -> None:
    roads = read_sample("roads").head(20)[["osm_id", "name", "highway", "geometry"]]
    path = save_layer(roads, tmp_path / "gbk.shp", encoding="GBK")
    path.with_suffix(".cpg").unlink()
    refused = runner.invoke(cli.app, ["import", str(path), "--kind", "roads", "--city", city])
    assert refused.exit_code == 1
    assert "gbk.shp" in refused.output
    assert "is not valid utf-8" in refused.output
    accepted = runner.invoke(
        cli.app, ["import", str(path), "--kind", "roads", "--city", city, "--encoding", "gbk"]
    )
    assert accepted.exit_code == 0, accepted.output
    with engine.connect() as conn:
        names = set(
            conn.execute(
                text(
                    "SELECT r.name FROM road_segments r JOIN cities c ON c.id = r.city_id "
                    "WHERE c.name = :c AND r.name IS NOT NULL"
                ),
                {"c": city},
            ).scalars()
        )
    assert names == set(roads["name"].dropna())


@pytest.mark.parametrize("case_id", ["reversed_dates", "dxf_without_crs", "unknown_city"])
def test_import_refuses_bad_files_and_stores_nothing(
    db_env: str, engine: Engine, city: str, tmp_path: Path, case_id: str
) -> None:
    case = next(c for c in BAD_CASES if c.id == case_id)
    path, options = case.build(tmp_path)
    args = ["import", str(path), "--kind", case.kind, "--city", options.pop("city", city)]
    for key, value in options.items():
        args += [f"--{key}", value]
    with engine.connect() as conn:
        before = table_counts(conn)
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 1
    assert path.name in result.output or "atlantis" in result.output
    with engine.connect() as conn:
        assert table_counts(conn) == before


def test_demo_load_is_idempotent(db_env: str, engine: Engine, tmp_path: Path) -> None:
    name = f"demo_{uuid.uuid4().hex[:8]}"
    package = tmp_path / f"{name}.gpkg"
    city_layer = read_sample("city").assign(name=name, title="测试城市")
    save_layer(city_layer, package, layer="city")
    save_layer(read_sample("roads"), package, layer="roads")
    save_layer(read_sample("trees"), package, layer="trees")
    save_layer(read_sample("nagaoka_lines"), package, layer="nagaoka_lines")  # not a kind
    try:
        first = runner.invoke(cli.app, ["demo", "load", "--data-dir", str(tmp_path)])
        assert first.exit_code == 0, first.output
        assert first.output.count("(loaded)") == 2
        with engine.connect() as conn:
            counts = table_counts(conn)
        second = runner.invoke(cli.app, ["demo", "load", "--data-dir", str(tmp_path)])
        assert second.exit_code == 0, second.output
        assert second.output.count("(already there)") == 2
        with engine.connect() as conn:
            assert table_counts(conn) == counts
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM cities WHERE name = :n"), {"n": name})


def test_demo_load_needs_packages(db_env: str, tmp_path: Path) -> None:
    result = runner.invoke(cli.app, ["demo", "load", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "no city GeoPackage" in result.output


def test_city_add_then_import_then_list(db_env: str, engine: Engine, tmp_path: Path) -> None:
    name = f"hegang_{uuid.uuid4().hex[:8]}"
    trees = read_sample("trees")
    try:
        missing = runner.invoke(
            cli.app,
            [
                "import",
                str(sample_path("trees")),
                "--kind",
                "trees",
                "--city",
                name,
                "--layer",
                "trees",
            ],
        )
        assert missing.exit_code == 1
        assert "cotrench city add" in missing.output
        added = runner.invoke(
            cli.app,
            [
                "city",
                "add",
                name,
                "--crs",
                "EPSG:32652",
                "--extent",
                "126.4,45.55,126.88,45.94",
                "--title",
                "测试",
            ],
        )
        assert added.exit_code == 0, added.output
        assert f"added city {name} (EPSG:32652)" in added.output
        again = runner.invoke(
            cli.app,
            ["city", "add", name, "--crs", "EPSG:32652", "--extent", "126.4,45.55,126.88,45.94"],
        )
        assert again.exit_code == 1
        assert "exists already" in again.output
        imported = runner.invoke(
            cli.app,
            [
                "import",
                str(sample_path("trees")),
                "--kind",
                "trees",
                "--city",
                name,
                "--layer",
                "trees",
            ],
        )
        assert imported.exit_code == 0, imported.output
        listed = runner.invoke(cli.app, ["city", "list"])
        assert f"{name}\tEPSG:32652\t测试\ttrees #" in listed.output
        assert f"({len(trees)})" in listed.output
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM cities WHERE name = :n"), {"n": name})


@pytest.mark.parametrize(
    ("crs", "extent", "message"),
    [
        ("EPSG:4326", "126.4,45.5,126.9,45.9", "metres"),
        ("EPSG:32652", "45.5,126.4,45.9,126.9", "not a lon/lat box"),
        ("EPSG:32652", "126.4,45.5", "must be minlon,minlat,maxlon,maxlat"),
        # issue 14: a CRS that distorts every length, a distant zone, a lat,lon extent
        ("EPSG:3857", "129.9,47.2,130.6,47.5", "use EPSG:4552"),
        ("EPSG:32633", "126.4,45.5,126.9,45.9", "does not cover the city's extent"),
        ("EPSG:4538", "43.7,87.5,43.9,87.7", "looks like lat,lon"),  # Urumqi
    ],
)
def test_city_add_refuses_bad_input(db_env: str, crs: str, extent: str, message: str) -> None:
    result = runner.invoke(cli.app, ["city", "add", "nowhere", "--crs", crs, "--extent", extent])
    assert result.exit_code == 1
    assert message in result.output


def test_demo_load_matches_and_groups_the_sample_proposals(
    db_env: str, engine: Engine, users: Users, tmp_path: Path
) -> None:
    """The sample city's proposed lines go through import -> match -> group -> warn: after
    ``demo load`` the groups endpoint has groups, and a new line on P02's road joins P02's."""
    name = f"harbin_groups_{uuid.uuid4().hex[:8]}"
    package = tmp_path / f"{name}.gpkg"
    shutil.copy(SAMPLE_DATA / "harbin.gpkg", package)
    save_layer(gpd.read_file(package, layer="city").assign(name=name), package, layer="city")
    try:
        loaded = runner.invoke(cli.app, ["demo", "load", "--data-dir", str(tmp_path)])
        assert loaded.exit_code == 0, loaded.output
        assert "24 proposed lines matched" in loaded.output
        # a telecom company's designer on the city
        designer = users.headers("designer", city=name, organisation="telecom-1")
        with TestClient(create_app(engine=engine), headers=designer) as client:
            groups = client.get(f"/proposals/{name}/groups").json()["features"]
            assert groups, "the sample proposals form co-location groups"
            sample = gpd.read_file(package, layer="proposed_lines")
            with engine.connect() as conn:
                p02 = set(
                    conn.execute(
                        text(
                            "SELECT p.id FROM proposed_lines p JOIN cities c ON c.id = p.city_id"
                            " WHERE c.name = :n AND p.source_id LIKE 'P02-%'"
                        ),
                        {"n": name},
                    ).scalars()
                )
            assert len(p02) == 2
            new = sample[sample["id"] == "P02-heat"].assign(
                id="NEW-telecom",
                utility="通信",
                subtype="光缆",
                diameter_mm=100.0,
                project="新项目：沿 P02 道路的通信管线",
                applicant="示例通信公司（合成）",
                planned_start="2027-07-01",
                planned_end="2027-07-20",
            )
            body = json.loads(new.to_json(drop_id=True))
            added = client.post(f"/proposals/{name}", json=body)
            assert added.status_code == 201, added.text
            (line,) = added.json()["lines"]
            joined = [
                g["properties"]
                for g in added.json()["groups"]
                if line["proposed_line_id"] in g["properties"]["proposed_line_ids"]
            ]
            assert joined, "the new line overlapping P02 is in a group"
            assert p02 <= set(joined[0]["proposed_line_ids"])
            assert "telecom" in joined[0]["utilities"]
        again = runner.invoke(cli.app, ["demo", "load", "--data-dir", str(tmp_path)])
        assert again.exit_code == 0, again.output
        assert "proposed lines matched" not in again.output
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM cities WHERE name = :n"), {"n": name})


def test_import_of_proposed_lines_matches_and_groups_them(
    db_env: str, engine: Engine, city: str
) -> None:
    def run(kind: str) -> str:
        args = ["import", str(sample_path(kind)), "--kind", kind, "--city", city, "--layer", kind]
        result = runner.invoke(cli.app, args)
        assert result.exit_code == 0, result.output
        return result.output

    run("roads")
    out = run("proposed_lines")
    assert "matched 8 proposed lines" in out
    with engine.connect() as conn:
        groups = conn.execute(
            text(
                "SELECT count(*) FROM colocation_groups g JOIN cities c ON c.id = g.city_id"
                " WHERE c.name = :n"
            ),
            {"n": city},
        ).scalar_one()
    assert groups >= 1


# --- backup and restore (issue 13) ----------------------------------------------------


@pytest.fixture
def own_cluster_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The project's own cluster (backup/restore as ``cotrench_owner``), not DATABASE_URL."""
    if os.environ.get("DATABASE_URL"):
        pytest.skip("with DATABASE_URL the restore's database is the operator's to make")
    monkeypatch.delenv("DATABASE_URL", raising=False)


def _documents(conn: Connection) -> dict[str, list[tuple[object, ...]]]:
    """Every stored document's id, recorded SHA-256 and the SHA-256 of its bytes."""
    return {
        table: [
            tuple(row)
            for row in conn.execute(
                text(f"SELECT id, sha256, encode(sha256(data), 'hex') FROM {table} ORDER BY id")
            )
        ]
        for table in ("appr_attachments", "appr_route_documents")
    }


def test_backup_then_restore_gives_the_same_data(
    own_cluster_env: None, owner_database_url: str, engine: Engine, tmp_path: Path
) -> None:
    payload = os.urandom(4096)
    with engine.begin() as conn:  # a document, so the hashes compare something
        conn.execute(
            text(
                "INSERT INTO appr_attachments (owner_kind, filename, content_type, size_bytes, "
                "sha256, data, created_at) VALUES ('test', '协议.pdf', 'application/pdf', "
                ":n, :h, :d, now())"
            ),
            {"n": len(payload), "h": hashlib.sha256(payload).hexdigest(), "d": payload},
        )
    source = make_url(owner_database_url).database
    dump = tmp_path / "cotrench.dump"
    result = runner.invoke(cli.app, ["db", "backup", str(dump), "--database", str(source)])
    assert result.exit_code == 0, result.output
    assert dump.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format

    restored = f"cotrench_restore_{uuid.uuid4().hex[:8]}"
    cluster = default_cluster()
    try:
        result = runner.invoke(cli.app, ["db", "restore", str(dump), "--database", restored])
        assert result.exit_code == 0, result.output
        originals = create_engine(owner_database_url)
        copies = create_engine(cluster.url(restored))
        try:
            with originals.connect() as a, copies.connect() as b:
                assert table_counts(b) == table_counts(a)
                assert table_counts(a)["appr_attachments"] >= 1
                docs = _documents(a)
                assert _documents(b) == docs
                assert all(row[1] == row[2] for rows in docs.values() for row in rows)
        finally:
            originals.dispose()
            copies.dispose()
        # a second restore over it needs --replace, and then gives the same again
        result = runner.invoke(cli.app, ["db", "restore", str(dump), "--database", restored])
        assert result.exit_code == 1
        assert "--replace" in result.output
        result = runner.invoke(
            cli.app, ["db", "restore", str(dump), "--database", restored, "--replace"]
        )
        assert result.exit_code == 0, result.output
        copies = create_engine(cluster.url(restored))
        try:
            with copies.connect() as b:
                assert _documents(b) == docs
        finally:
            copies.dispose()
        # the app's role has its rights on the restored database, the audit log still closed
        app = create_engine(cluster.app_url(restored))
        try:
            with app.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM layers")).scalar_one() >= 0
                with pytest.raises(DBAPIError, match="permission denied for table appr_audit"):
                    conn.execute(text("DELETE FROM appr_audit_log"))
        finally:
            app.dispose()
    finally:
        cluster.drop_database(restored)


def test_restore_refuses_a_database_with_tables(
    own_cluster_env: None, owner_database_url: str, tmp_path: Path
) -> None:
    dump = tmp_path / "x.dump"
    dump.write_bytes(b"not looked at")
    source = str(make_url(owner_database_url).database)
    result = runner.invoke(cli.app, ["db", "restore", str(dump), "--database", source])
    assert result.exit_code == 1
    assert "已有" in result.output
    assert "--replace" in result.output


def test_backup_failure_leaves_no_file(own_cluster_env: None, tmp_path: Path) -> None:
    dump = tmp_path / "none.dump"
    result = runner.invoke(cli.app, ["db", "backup", str(dump), "--database", "no_such_db"])
    assert result.exit_code == 1
    assert "pg_dump" in result.output
    assert not dump.exists()
    assert not list(tmp_path.iterdir())


def test_an_unreachable_database_is_one_clear_line(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": f"postgresql://cotrench_app@127.0.0.1:{port}/cotrench"}
    result = subprocess.run(
        [sys.executable, "-m", "api.cli", "city", "list"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
        timeout=120,
    )
    assert result.returncode == 1
    assert "错误：数据库不可用 / error: the database is unavailable" in result.stderr
    assert "Traceback" not in result.stderr


def test_export_a_layer_by_the_files_suffix(
    db_env: str, engine: Engine, city: str, tmp_path: Path
) -> None:
    from geodata.importer import import_layer  # noqa: PLC0415

    with session_scope(engine) as session:
        stored = import_layer(session, sample_path("trees"), kind="trees", city=city, layer="trees")
    layer_id = stored.layer.id
    n = len(read_sample("trees"))
    for name in ("trees.gpkg", "trees.zip", "trees.geojson"):
        out = tmp_path / name
        result = runner.invoke(cli.app, ["export", "layer", str(layer_id), str(out)])
        assert result.exit_code == 0, result.output
        assert f"wrote {out}" in result.output
        path = f"/vsizip/{out}" if name.endswith(".zip") else str(out)
        back = gpd.read_file(path, engine="pyogrio")
        assert len(back) == n
    in_zone = tmp_path / "trees-4551.gpkg"
    result = runner.invoke(
        cli.app, ["export", "layer", str(layer_id), str(in_zone), "--crs", "EPSG:4551"]
    )
    assert result.exit_code == 0, result.output
    assert gpd.read_file(in_zone, engine="pyogrio").crs.to_epsg() == 4551
    unknown_suffix = runner.invoke(cli.app, ["export", "layer", str(layer_id), "x.dat"])
    assert unknown_suffix.exit_code == 2
    assert "no format for this suffix" in unknown_suffix.output
    missing = runner.invoke(cli.app, ["export", "layer", "999999", str(tmp_path / "m.gpkg")])
    assert missing.exit_code == 1
    assert "no layer with id 999999" in missing.output
    no_plan = runner.invoke(cli.app, ["export", "plan", "nope", str(tmp_path / "p.gpkg")])
    assert no_plan.exit_code == 1
