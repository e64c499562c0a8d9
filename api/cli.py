"""Command-line entry point: ``cotrench db|serve|import|demo``."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated
from typing import Any

import typer

from geodata.pgcluster import default_cluster


class _Cli(typer.Typer):
    """The command line; a database that cannot be reached is one line, not a traceback."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from sqlalchemy.exc import OperationalError

        try:
            return super().__call__(*args, **kwargs)
        except OperationalError as exc:
            cause = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            typer.echo(
                f"错误：数据库不可用 / error: the database is unavailable ({cause}); is it "
                "running (`cotrench db start`) and is DATABASE_URL right?",
                err=True,
            )
            raise SystemExit(1) from None


app = _Cli(
    help="cotrench: shared utility trenches and the joint approval flow",
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The project's own PostGIS cluster (used when DATABASE_URL is unset)")
app.add_typer(db_app, name="db")


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v")) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@db_app.command("start")
def db_start() -> None:
    """Initialise (once) and start the cluster, create the database; print its URL."""
    typer.echo(default_cluster().start())


@db_app.command("stop")
def db_stop() -> None:
    """Stop the cluster."""
    default_cluster().stop()


@db_app.command("url")
def db_url() -> None:
    """Print the URL of the database (starting the cluster if needed)."""
    from geodata.db import database_url

    typer.echo(database_url())


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply all migrations to the database (as its owner) and grant the app role its rights."""
    from geodata.db import owner_database_url
    from geodata.migrate import upgrade_database

    upgrade_database(owner_database_url())


@db_app.command("backup")
def db_backup(
    file: Annotated[Path, typer.Argument(dir_okay=False, help="the dump to write (pg_dump -Fc)")],
    *,
    database: Annotated[
        str | None, typer.Option(help="dump this database (default: the configured one)")
    ] = None,
) -> None:
    """Dump the whole database (schema, layers, applications, documents) as its owner."""
    from geodata.db import libpq_target
    from geodata.pgcluster import ClusterError
    from geodata.pgcluster import pg_bin

    uri, env = libpq_target(_owner_url(database))
    partial = file.with_name(file.name + ".partial")
    try:
        _run_pg([pg_bin("pg_dump"), "-Fc", "--no-password", "-f", str(partial), "-d", uri], env)
    except ClusterError as exc:
        partial.unlink(missing_ok=True)
        typer.echo(f"错误 / error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    partial.replace(file)  # a failed dump never leaves a file that looks complete
    typer.echo(f"已备份 / backed up the database to {file} ({file.stat().st_size} bytes)")


@db_app.command("restore")
def db_restore(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="a dump of `cotrench db backup`")
    ],
    *,
    database: Annotated[
        str | None,
        typer.Option(help="restore into this database (default: the configured one)"),
    ] = None,
    replace: Annotated[
        bool, typer.Option(help="drop and re-create the database first if it holds tables")
    ] = False,
) -> None:
    """Restore a dump into an empty database as its owner, in one transaction (all or nothing)."""
    from geodata.db import libpq_target
    from geodata.migrate import grant_app_role
    from geodata.pgcluster import ClusterError
    from geodata.pgcluster import pg_bin

    target = _owner_url(database)
    try:
        _prepare_restore_target(target, replace=replace)
        uri, env = libpq_target(target)
        listing = _run_pg([pg_bin("pg_restore"), "-l", str(file)], env)
        tmp_list = file.with_name(file.name + ".restore-list")
        tmp_list.write_text("\n".join(_restorable(listing.splitlines())) + "\n")
        try:
            _run_pg(
                [
                    pg_bin("pg_restore"),
                    "--no-owner",
                    "--no-acl",
                    "--no-password",
                    "--single-transaction",
                    "--exit-on-error",
                    "-L",
                    str(tmp_list),
                    "-d",
                    uri,
                    str(file),
                ],
                env,
            )
        finally:
            tmp_list.unlink(missing_ok=True)
    except ClusterError as exc:
        typer.echo(f"错误 / error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    grant_app_role(target)
    typer.echo(f"已恢复 / restored {file} into database {_database_name(target)!r}")


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, help="port to listen on"),
) -> None:
    """Serve the API and the review workbench."""
    import uvicorn

    from api.main import create_app

    _migrated_app_url()
    uvicorn.run(create_app(), host=host, port=port)


demo_app = typer.Typer(help="The sample cities in the repository's data/ folder")
app.add_typer(demo_app, name="demo")

# the sample city packages (GeoPackages with a ``city`` layer); see data/README.md
DATA_DIR = Path(__file__).resolve().parent.parent / "data"
# imports with at least this many features get a progress bar
PROGRESS_MIN_FEATURES = 5000


@app.command("worker")
def worker(
    queues: Annotated[
        list[str] | None, typer.Option("--queue", help="only these queues (default: all)")
    ] = None,
) -> None:
    """Run the background jobs (the scheduled deadline sweep, ...) until stopped.

    The schema is not migrated here (``serve``, ``demo load`` and ``db migrate`` do): a
    worker started beside the server must not run the same migration at the same moment.
    """
    from api.jobs import make_jobs
    from geodata.db import database_url
    from geodata.db import make_engine

    url = database_url()
    engine = make_engine(url)
    jobs = make_jobs(url, engine)
    typer.echo("cotrench worker: 正在运行定时任务 / running the scheduled jobs (Ctrl-C stops)")
    try:
        jobs.run_worker(queues=queues or None, install_signal_handlers=True)
    finally:
        engine.dispose()


@app.command("import")
def import_file(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="the GIS file to import")
    ],
    *,
    kind: Annotated[
        str,
        typer.Option(
            help="roads, underground_lines, trees, poles, protected_areas or proposed_lines"
        ),
    ],
    city: Annotated[str, typer.Option(help="the city to import into, e.g. harbin")],
    crs: Annotated[str | None, typer.Option(help="CRS of the coordinates, e.g. EPSG:4552")] = None,
    encoding: Annotated[str | None, typer.Option(help="text encoding, e.g. gbk")] = None,
    layer: Annotated[
        str | None, typer.Option(help="the layer to read from a multi-layer file")
    ] = None,
    name: Annotated[str | None, typer.Option(help="name of the stored layer")] = None,
    field_map: Annotated[
        list[str] | None,
        typer.Option(
            "--map", help="SOURCE_FIELD=column for names not recognised, e.g. 管线类别=utility"
        ),
    ] = None,
    unplanned: Annotated[
        str,
        typer.Option(help="keep (as utility 'other') or skip lines of 路灯, 信号, 工业, 不明"),
    ] = "keep",
    vocabulary: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="a city's extra survey codes (CSV)"),
    ] = None,
    offset_from: Annotated[
        str | None,
        typer.Option(
            "--from", help="gcj02 or bd09: lon/lat from Chinese web maps, converted to WGS 84"
        ),
    ] = None,
    duplicates: Annotated[
        str,
        typer.Option(help="refuse or drop twin (also reversed) and covered lines"),
    ] = "refuse",
) -> None:
    """Validate a GIS file and import it into a city's tables (all or nothing)."""
    from api.services.colocation import add_layer_proposals
    from api.services.graphs import RoadGraphs
    from geodata.db import make_engine
    from geodata.db import session_scope
    from geodata.errors import CityNotFoundError
    from geodata.errors import GeodataError
    from geodata.errors import LayerValidationError
    from geodata.importer import import_layer
    from geodata.utilities import load_vocabulary
    from geodata.validate import parse_field_map

    try:
        mapping = parse_field_map(field_map)
        terms = load_vocabulary(vocabulary) if vocabulary else None
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    engine = make_engine(_migrated_app_url())
    matched = None
    try:
        with _progress(f"import {file.name}") as progress, session_scope(engine) as session:
            result = import_layer(
                session,
                file,
                kind=kind,
                city=city,
                crs=crs,
                encoding=encoding,
                layer=layer,
                name=name,
                progress=progress,
                field_map=mapping,
                unplanned=unplanned,
                vocabulary=terms,
                offset_from=offset_from,
                duplicates=duplicates,
            )
            if kind == "proposed_lines":
                # proposals are matched, checked and grouped in the same transaction
                matched = add_layer_proposals(
                    session, RoadGraphs(), city=city, layer_id=result.layer.id
                )
    except LayerValidationError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from None
    except CityNotFoundError as exc:
        typer.echo(f"error: {exc}; add it with `cotrench city add`", err=True)
        raise typer.Exit(code=1) from None
    except (GeodataError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    finally:
        engine.dispose()
    info = result.layer
    typer.echo(
        f"imported {info.feature_count} {info.kind} into {info.city} as layer {info.id} "
        f"({info.source_crs} -> {info.crs})"
    )
    for warning in result.report.warnings:
        typer.echo(f"warning: {warning.message}", err=True)
    if matched is not None:
        typer.echo(
            f"matched {len(matched.line_ids)} proposed lines: {len(matched.groups)} co-location "
            f"groups, {len(matched.findings)} warnings"
        )


@demo_app.command("load")
def demo_load(
    data_dir: Annotated[Path, typer.Option(help="folder with the city GeoPackages")] = DATA_DIR,
    base_url: Annotated[
        str, typer.Option(help="where `cotrench serve` listens, for the printed links")
    ] = "http://127.0.0.1:8000",
) -> None:
    """Load the sample cities and the demo applications; running it again adds nothing."""
    from api.approvals.demo import DEMO_CITY
    from api.approvals.demo import create_demo_applications
    from api.approvals.demo import describe_demo
    from api.approvals.errors import PreconditionError
    from api.approvals.seed import DEMO_PASSWORD
    from api.approvals.seed import seed_sample_city
    from api.services.colocation import load_city_package
    from api.services.graphs import RoadGraphs
    from geodata.db import make_engine
    from geodata.db import session_scope
    from geodata.errors import CityNotFoundError
    from geodata.storage import list_cities

    engine = make_engine(_migrated_app_url())
    packages = sorted(data_dir.glob("*.gpkg"))
    if not packages:
        typer.echo(f"error: no city GeoPackage in {data_dir}", err=True)
        raise typer.Exit(code=1)
    try:
        graphs = RoadGraphs()
        for package in packages:
            # load, then match and group the package's proposed lines (import -> match ->
            # group -> warn, as every submission)
            with session_scope(engine) as session:
                loaded, matched = load_city_package(session, graphs, package)
            for layer, info, new in loaded:
                state = "loaded" if new else "already there"
                typer.echo(
                    f"{package.name}: {layer}: {info.feature_count} features, layer "
                    f"{info.id} ({state})"
                )
            for outcome in matched:
                typer.echo(
                    f"{package.name}: {len(outcome.line_ids)} proposed lines matched: "
                    f"{len(outcome.groups)} co-location groups, {len(outcome.findings)} warnings"
                )
        with session_scope(engine) as session:
            # the GIS demo users (designers, data administrator) work on the sample city
            gis_city = DEMO_CITY if DEMO_CITY in {c.name for c in list_cities(session)} else None
            seeded = seed_sample_city(session, password=DEMO_PASSWORD, city=gis_city)
        typer.echo(
            f"approval flow: {len(seeded.organisations)} organisations, "
            f"{len(seeded.users)} demo users (password {seeded.password!r}; e.g. "
            "'applicant', 'acceptor', 'cgj-chief', 'water-1-staff', 'water-1-designer', "
            "'data-admin')"
        )
        if seeded.admin_password:
            typer.echo(
                f"user administrator: 'admin', password {seeded.admin_password!r} "
                "(shown once; not the demo password)"
            )
        try:
            with session_scope(engine) as session:
                demo = create_demo_applications(session)
        except CityNotFoundError:
            typer.echo(f"no demo applications: the sample city {DEMO_CITY!r} is not loaded")
        except PreconditionError as exc:
            typer.echo(f"warning: no demo applications: {exc}", err=True)
        else:
            for line in describe_demo(demo, base_url=base_url, password=seeded.password):
                typer.echo(line)
    finally:
        engine.dispose()
    _refresh_views()


city_app = typer.Typer(help="Cities: each has a metric CRS and an extent")
app.add_typer(city_app, name="city")


@city_app.command("add")
def city_add(
    name: Annotated[str, typer.Argument(help="short name used by import, e.g. hegang")],
    *,
    crs: Annotated[str, typer.Option(help="metric CRS to store it in, e.g. EPSG:32653")],
    extent: Annotated[str, typer.Option(help="lon/lat box minlon,minlat,maxlon,maxlat (WGS 84)")],
    title: Annotated[str, typer.Option(help="display name, e.g. 鹤岗市")] = "",
    frost_depth_m: Annotated[
        float | None, typer.Option(help="standard frost depth, from the local design rules")
    ] = None,
) -> None:
    """Add a city so layers can be imported into it."""
    import shapely
    from sqlalchemy.exc import IntegrityError

    from geodata.db import make_engine
    from geodata.db import session_scope
    from geodata.errors import GeodataError
    from geodata.storage import create_city

    try:
        west, south, east, north = (float(v) for v in extent.split(","))
    except ValueError:
        typer.echo(f"error: --extent {extent!r} must be minlon,minlat,maxlon,maxlat", err=True)
        raise typer.Exit(code=1) from None
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        typer.echo(f"error: --extent {extent!r} is not a lon/lat box (min < max)", err=True)
        raise typer.Exit(code=1)
    engine = make_engine(_migrated_app_url())
    try:
        with session_scope(engine) as session:
            info = create_city(
                session,
                name=name,
                crs=crs,
                extent=shapely.box(west, south, east, north),
                title=title,
                frost_depth_m=frost_depth_m,
            )
    except GeodataError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    except IntegrityError:
        typer.echo(f"error: city {name!r} exists already", err=True)
        raise typer.Exit(code=1) from None
    finally:
        engine.dispose()
    _refresh_views()
    typer.echo(f"added city {info.name} ({info.crs})")


@city_app.command("list")
def city_list() -> None:
    """List the cities with their CRS and layers."""
    from geodata.db import make_engine
    from geodata.db import session_scope
    from geodata.storage import find_layers
    from geodata.storage import list_cities

    engine = make_engine(_migrated_app_url())
    try:
        with session_scope(engine) as session:
            for city in list_cities(session):
                layers = find_layers(session, city=city.name)
                kinds = ", ".join(f"{x.kind} #{x.id} ({x.feature_count})" for x in layers)
                typer.echo(f"{city.name}\t{city.crs}\t{city.title}\t{kinds or 'no layers'}")
    finally:
        engine.dispose()


export_app = typer.Typer(
    help="Write a layer, a city's co-location groups, a plan or a fixed route as a GIS/CAD file"
)
app.add_typer(export_app, name="export")

_FORMAT_HELP = "gpkg, shp (a .zip), kml, geojson, csv or dxf (default: by the file's suffix)"
# the options every export command takes
_Out = Annotated[Path, typer.Argument(dir_okay=False, help="the file to write")]
_Format = Annotated[str | None, typer.Option("--format", help=_FORMAT_HELP)]
_Crs = Annotated[str | None, typer.Option(help="output CRS (default: the city's)")]
_Encoding = Annotated[str, typer.Option(help="Shapefile text encoding: utf-8 or gbk")]


@export_app.command("layer")
def export_layer_cmd(
    layer_id: Annotated[int, typer.Argument(help="the stored layer's id (cotrench city list)")],
    out: _Out,
    *,
    format: _Format = None,
    crs: _Crs = None,
    encoding: _Encoding = "utf-8",
) -> None:
    """Write a stored layer."""
    from api.services import exports

    _export(
        out,
        format,
        lambda s, fmt: exports.export_layer(s, layer_id, fmt=fmt, crs=crs, encoding=encoding),
    )


@export_app.command("groups")
def export_groups_cmd(
    city: Annotated[str, typer.Argument(help="the city's name")],
    out: _Out,
    *,
    format: _Format = None,
    crs: _Crs = None,
    encoding: _Encoding = "utf-8",
) -> None:
    """Write a city's co-location groups."""
    from api.services import exports
    from geodata.storage import get_city

    _export(
        out,
        format,
        lambda s, fmt: exports.export_groups(
            s, get_city(s, city), fmt=fmt, crs=crs, encoding=encoding
        ),
    )


@export_app.command("plan")
def export_plan_cmd(
    plan_key: Annotated[str, typer.Argument(help="the plan's key")],
    out: _Out,
    *,
    version: Annotated[int | None, typer.Option(help="default: the latest")] = None,
    format: _Format = None,
    crs: _Crs = None,
    encoding: _Encoding = "utf-8",
) -> None:
    """Write a plan's trench edges."""
    from api.services import exports

    _export(
        out,
        format,
        lambda s, fmt: exports.export_plan(
            s, plan_key, version=version, fmt=fmt, crs=crs, encoding=encoding
        ),
    )


@export_app.command("route")
def export_route_cmd(
    application_id: Annotated[int, typer.Argument(help="the application's id")],
    out: _Out,
    *,
    format: _Format = None,
    crs: _Crs = None,
    encoding: _Encoding = "utf-8",
) -> None:
    """Write an application's fixed route (its latest version)."""
    from api.services import exports

    _export(
        out,
        format,
        lambda s, fmt: exports.export_route(s, application_id, fmt=fmt, crs=crs, encoding=encoding),
    )


def _export(out: Path, fmt: str | None, write: Callable[[Any, str], Any]) -> None:
    """Open a session, let ``write`` make the export, save it to ``out``; errors are one line."""
    from api.approvals.errors import ApprovalError
    from api.services.exports import format_of
    from geodata.db import make_engine
    from geodata.db import session_scope
    from geodata.errors import GeodataError
    from geodata.plan_store import PlanNotFoundError

    try:
        chosen = format_of(out, fmt)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    engine = make_engine(_migrated_app_url())
    try:
        with session_scope(engine) as session:
            written = write(session, chosen)
    except (GeodataError, ApprovalError, PlanNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    finally:
        engine.dispose()
    out.write_bytes(written.data)
    typer.echo(f"已写出 / wrote {out} ({chosen}, {len(written.data):,} bytes)")


def _migrated_app_url() -> str:
    """Migrate the database as its owner; return the URL the work is done with (the app's)."""
    from geodata.db import database_url
    from geodata.db import owner_database_url
    from geodata.migrate import upgrade_database

    upgrade_database(owner_database_url())
    return database_url()


def _refresh_views() -> None:
    """A new city's QGIS views, made by the owner (the app role may not create views)."""
    from geodata.db import owner_database_url
    from geodata.migrate import refresh_views

    refresh_views(owner_database_url())


def _owner_url(database: str | None) -> str:
    """The owner's URL of the configured database, or of ``database`` on the same server."""
    from sqlalchemy.engine import make_url

    from geodata.db import owner_database_url

    url = make_url(owner_database_url())
    if database:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


def _database_name(url: str) -> str:
    from sqlalchemy.engine import make_url

    return str(make_url(url).database)


def _run_pg(cmd: list[str], env: dict[str, str]) -> str:
    """Run a PostgreSQL client program; its error output (never the password) on failure."""
    import subprocess

    from geodata.pgcluster import ClusterError

    result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        msg = f"{Path(cmd[0]).name} 失败 / failed: {result.stderr.strip()}"
        raise ClusterError(msg)
    return result.stdout


# entries of a dump the database's owner does not restore: the PostGIS extension (made by a
# superuser when the database is created) and its spatial_ref_sys table
_NOT_RESTORED = re.compile(r" EXTENSION |\bspatial_ref_sys\b")


def _restorable(listing: list[str]) -> list[str]:
    return [line for line in listing if not _NOT_RESTORED.search(line)]


def _prepare_restore_target(url: str, *, replace: bool) -> None:
    """Make the restore's database exist, empty, with PostGIS (or refuse: it holds tables)."""
    from sqlalchemy import create_engine
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from geodata.pgcluster import ClusterError

    name = _database_name(url)
    cluster = None if os.environ.get("DATABASE_URL") else default_cluster()
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            tables = conn.execute(
                text(
                    "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'spatial_ref_sys'"
                )
            ).scalar_one()
    except OperationalError:
        tables = None  # no such database (yet)
    finally:
        engine.dispose()
    if tables and not replace:
        msg = (
            f"数据库 {name!r} 已有 {tables} 张表，恢复需要空数据库（加 --replace 先删除重建，"
            f"或用 --database 指定新库） / database {name!r} holds {tables} tables; restore "
            "needs an empty one (--replace drops and re-creates it, --database names another)"
        )
        raise ClusterError(msg)
    if cluster is not None:
        if tables:
            cluster.drop_database(name)
        cluster.create_database(name)
    elif tables is None or tables:
        msg = (
            f"使用 DATABASE_URL 时请先建好空数据库 {name!r}（含 PostGIS） / with DATABASE_URL, "
            f"create the empty database {name!r} with PostGIS first"
        )
        raise ClusterError(msg)


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int], None]]:
    """Yield a callback that advances a tqdm bar, shown once an import is long."""
    from tqdm import tqdm

    bar: tqdm[None] | None = None
    count = 0

    def advance(n: int) -> None:
        nonlocal bar, count
        count += n
        if bar is None and count >= PROGRESS_MIN_FEATURES:
            bar = tqdm(desc=label, unit=" features", initial=count - n)
        if bar is not None:
            bar.update(n)

    try:
        yield advance
    finally:
        if bar is not None:
            bar.close()


if __name__ == "__main__":
    app()
