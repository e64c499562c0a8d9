"""Run a private PostGIS cluster for development, tests and the demo."""

from __future__ import annotations

import hashlib
import logging
import os
import pwd
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ClusterError",
    "PgCluster",
    "default_cluster",
]

logger = logging.getLogger(__name__)

DB_NAME = "cotrench"
DB_USER = "cotrench"
DEFAULT_PORT = 55432
REPO_ROOT = Path(__file__).resolve().parent.parent


class ClusterError(RuntimeError):
    """The private PostgreSQL cluster could not be set up or started."""


@dataclass(frozen=True)
class PgCluster:
    """A PostgreSQL cluster in a project folder, run by an unprivileged system user.

    PostgreSQL refuses to run as root; when we are root the server runs as the
    ``postgres`` system user that Debian's package creates.
    """

    base: Path

    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base / "run"

    @property
    def log_file(self) -> Path:
        return self.base / "server.log"

    @property
    def port(self) -> int:
        port_file = self.base / "port"
        if port_file.exists():
            return int(port_file.read_text().strip())
        return DEFAULT_PORT

    def url(self, dbname: str = DB_NAME) -> str:
        """Return the SQLAlchemy URL of a database in this cluster."""
        return f"postgresql+psycopg://{DB_USER}@127.0.0.1:{self.port}/{dbname}"

    def is_running(self) -> bool:
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        result = self._run([_pg_bin("pg_ctl"), "-D", str(self.data_dir), "status"], check=False)
        return result.returncode == 0

    def start(self) -> str:
        """Initialise the cluster if needed, start it, create the database; return its URL."""
        if not self.is_running():
            self._init()
            self._choose_port()
            self.socket_dir.mkdir(parents=True, exist_ok=True)
            self._chown(self.socket_dir)
            opts = (
                f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=200 -c shared_buffers=256MB"
            )
            logger.info("starting PostgreSQL in %s on port %d", self.data_dir, self.port)
            self._run(
                [
                    _pg_bin("pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-o",
                    opts,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            )
        self.create_database(DB_NAME)
        return self.url()

    def stop(self) -> None:
        """Stop the server if it runs (fast shutdown: roll back open transactions)."""
        if self.is_running():
            self._run([_pg_bin("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"])

    def create_database(self, dbname: str) -> None:
        """Create ``dbname`` with PostGIS unless it exists."""
        exists = self._psql("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{dbname}'")
        if exists.strip() != "1":
            self._psql("postgres", f'CREATE DATABASE "{dbname}" OWNER {DB_USER}')
        self._psql(dbname, "CREATE EXTENSION IF NOT EXISTS postgis")

    def drop_database(self, dbname: str) -> None:
        self._psql("postgres", f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')

    # -- helpers -------------------------------------------------------------------------

    def _init(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.base.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._chown(self.base)
        self._chown(self.data_dir)
        logger.info("initialising PostgreSQL cluster in %s", self.data_dir)
        self._run(
            [
                _pg_bin("initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                DB_USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ]
        )

    def _choose_port(self) -> None:
        port_file = self.base / "port"
        wanted = int(os.environ.get("COTRENCH_PG_PORT", self.port))
        port = wanted if _port_free(wanted) else _free_port()
        port_file.write_text(f"{port}\n")

    def _psql(self, dbname: str, sql: str) -> str:
        result = self._run(
            [
                _pg_bin("psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                DB_USER,
                "-d",
                dbname,
                "-v",
                "ON_ERROR_STOP=1",
                "-qAt",
                "-c",
                sql,
            ]
        )
        return result.stdout

    def _chown(self, path: Path) -> None:
        user = _server_user()
        if user is None:
            return
        info = pwd.getpwnam(user)
        os.chown(path, info.pw_uid, info.pw_gid)

    def _run(self, cmd: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        user = _server_user()
        if user is not None:
            cmd = ["runuser", "-u", user, "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd="/")
        if check and result.returncode != 0:
            log_tail = ""
            if self.log_file.exists():
                log_tail = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-20:])
            msg = (
                f"command failed ({result.returncode}): {' '.join(cmd)}\n"
                f"{result.stdout}{result.stderr}{log_tail}"
            )
            raise ClusterError(msg)
        return result


def default_cluster() -> PgCluster:
    """Return the project's cluster: ``.pg/`` in the checkout, or a folder the server can reach.

    ``COTRENCH_PG_DIR`` overrides the place. When the server's user cannot reach the
    checkout (for example a clone under ``/root``), the cluster lives under
    ``/var/tmp/cotrench-pg-<hash of the checkout path>`` instead.
    """
    override = os.environ.get("COTRENCH_PG_DIR")
    if override:
        return PgCluster(Path(override))
    base = REPO_ROOT / ".pg"
    user = _server_user()
    if user is not None and not _reachable_by(user, REPO_ROOT):
        digest = hashlib.sha1(str(REPO_ROOT).encode()).hexdigest()[:10]
        base = Path("/var/tmp") / f"cotrench-pg-{digest}"
    return PgCluster(base)


def _server_user() -> str | None:
    """Return the user to run the server as, or None to run it as ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        msg = (
            "running as root but there is no 'postgres' system user; install Debian's "
            "postgresql package (make db-start does) or set DATABASE_URL"
        )
        raise ClusterError(msg) from exc
    return "postgres"


def _reachable_by(user: str, path: Path) -> bool:
    result = subprocess.run(
        ["runuser", "-u", user, "--", "test", "-x", str(path)],
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


def _pg_bin(name: str) -> str:
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    if candidates:
        return str(candidates[0])
    found = shutil.which(name)
    if found:
        return found
    msg = (
        f"PostgreSQL program {name!r} not found; install Debian's postgresql and "
        "postgresql-15-postgis-3 packages (make db-start does) or set DATABASE_URL"
    )
    raise ClusterError(msg)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
