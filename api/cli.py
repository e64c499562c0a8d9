"""Command-line entry point: ``cotrench db|serve|import|demo``."""

from __future__ import annotations

import logging

import typer

from geodata.pgcluster import default_cluster

app = typer.Typer(help="cotrench: shared utility trenches and the joint approval flow")
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
    """Apply all migrations to the database."""
    from geodata.db import database_url
    from geodata.migrate import upgrade_database

    upgrade_database(database_url())


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, help="port to listen on"),
) -> None:
    """Serve the API and the review workbench."""
    import uvicorn

    from api.main import create_app
    from geodata.db import database_url
    from geodata.migrate import upgrade_database

    upgrade_database(database_url())
    uvicorn.run(create_app(), host=host, port=port)


if __name__ == "__main__":
    app()
