"""Run a private PostGIS cluster for development, tests and the demo.

The cluster is locked down as a city's server would be: every connection (socket and
loopback TCP) authenticates with scram-sha-256, the superuser's password is generated at
``initdb`` and kept with the roles' passwords in a 0600 ``pgpass`` file in the cluster's base
folder, and the server writes durably (``fsync`` and ``full_page_writes`` on).

Three roles: the bootstrap superuser (creates databases, roles and the PostGIS extension,
nothing else), ``cotrench_owner`` (owns the databases and their schema, runs the
migrations, dumps and restores) and ``cotrench_app`` (what the service connects as: no
superuser, no createrole, no createdb; its table rights are granted by
:func:`geodata.migrate.grant_app_role`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL

__all__ = [
    "APP_ROLE",
    "OWNER_ROLE",
    "ClusterError",
    "PgCluster",
    "default_cluster",
]

logger = logging.getLogger(__name__)

DB_NAME = "cotrench"
SUPERUSER = "postgres"
OWNER_ROLE = "cotrench_owner"
APP_ROLE = "cotrench_app"
DEFAULT_PORT = 55432
REPO_ROOT = Path(__file__).resolve().parent.parent

# the server's durability and size settings (synchronous_commit stays at its default: on)
SERVER_OPTIONS = (
    "-c listen_addresses=127.0.0.1 -c fsync=on -c full_page_writes=on "
    "-c synchronous_commit=on -c password_encryption=scram-sha-256 "
    "-c max_connections=200 -c shared_buffers=256MB"
)
# a pg_hba.conf rule line that lets anyone in without a password
_TRUST_LINE = re.compile(r"^\s*(local|host\w*)\s.*\btrust\s*$", re.M)


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
    def passfile(self) -> Path:
        """The roles' passwords (libpq's pgpass format, mode 0600)."""
        return self.base / "pgpass"

    @property
    def hba_file(self) -> Path:
        return self.data_dir / "pg_hba.conf"

    @property
    def port(self) -> int:
        port_file = self.base / "port"
        if port_file.exists():
            return int(port_file.read_text().strip())
        return DEFAULT_PORT

    def url(self, dbname: str = DB_NAME, *, role: str = OWNER_ROLE) -> str:
        """Return the SQLAlchemy URL of a database as ``role``: by default its owner
        (migrations, dumps, restores, benchmarks' own tables); the app uses :meth:`app_url`.

        The URL carries no password: libpq reads it from :attr:`passfile`.
        """
        return URL.create(
            "postgresql+psycopg",
            username=role,
            host="127.0.0.1",
            port=self.port,
            database=dbname,
            query={"passfile": str(self.passfile)},
        ).render_as_string(hide_password=False)

    def app_url(self, dbname: str = DB_NAME) -> str:
        """The URL the service connects with (``cotrench_app``: table rights only)."""
        return self.url(dbname, role=APP_ROLE)

    def libpq_env(self) -> dict[str, str]:
        """Environment for PostgreSQL's client programs (pg_dump, psql) to find the passwords."""
        return {
            **os.environ,
            "PGPASSFILE": str(self.passfile),
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.port),
        }

    def is_running(self) -> bool:
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        result = self._run([_pg_bin("pg_ctl"), "-D", str(self.data_dir), "status"], check=False)
        return result.returncode == 0

    def start(self) -> str:
        """Initialise the cluster if needed, start it, create the database; return the app's
        URL of it."""
        self._retire_trusting_cluster()
        if not self.is_running():
            self._init()
            self._choose_port()
            self.socket_dir.mkdir(parents=True, exist_ok=True)
            self._chown(self.socket_dir)
            opts = f"-p {self.port} -k {self.socket_dir} {SERVER_OPTIONS}"
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
        self._ensure_roles()
        self.create_database(DB_NAME)
        return self.app_url()

    def stop(self, *, mode: str = "fast") -> None:
        """Stop the server if it runs (``fast``: roll back open transactions; ``immediate``:
        no shutdown checkpoint, as a crash)."""
        if self.is_running():
            self._run([_pg_bin("pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop"])

    def create_database(self, dbname: str) -> None:
        """Create ``dbname`` owned by ``cotrench_owner``, with PostGIS, unless it exists.

        Only the app role (and the owner) may connect to it.
        """
        with self.superuser_connection() as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)
            ).fetchone()
            if exists is None:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(dbname), sql.Identifier(OWNER_ROLE)
                    )
                )
            db = sql.Identifier(dbname)
            conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
            conn.execute(
                sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, sql.Identifier(APP_ROLE))
            )
        # PostGIS and pgRouting are not trusted extensions: only a superuser may create them
        with self.superuser_connection(dbname) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            conn.execute("CREATE EXTENSION IF NOT EXISTS pgrouting")

    def drop_database(self, dbname: str) -> None:
        with self.superuser_connection() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
            )

    def superuser_connection(
        self, dbname: str = "postgres"
    ) -> psycopg.Connection[tuple[object, ...]]:
        """An autocommit connection as the bootstrap superuser (for setting up, never the app)."""
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=SUPERUSER,
            dbname=dbname,
            passfile=str(self.passfile),
            connect_timeout=10,
            autocommit=True,
        )

    # -- helpers -------------------------------------------------------------------------

    def _init(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.base.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._chown(self.base)
        self._chown(self.data_dir)
        self.passfile.unlink(missing_ok=True)
        password = self._password(SUPERUSER)
        # initdb reads the password from a file the server's user can read; removed at once
        pwfile = self.base / "initdb.pw"
        pwfile.touch(mode=0o600)
        pwfile.write_text(password + "\n")
        self._chown(pwfile)
        logger.info("initialising PostgreSQL cluster in %s", self.data_dir)
        try:
            self._run(
                [
                    _pg_bin("initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth-local=scram-sha-256",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)

    def _retire_trusting_cluster(self) -> None:
        """A cluster made by an older cotrench (``--auth=trust``, superuser ``cotrench``,
        fsync off) is stopped and moved aside; a fresh, locked-down one replaces it.

        Its data (a dev or demo database; tests make throwaway ones) stays in
        ``data-trust-<time>`` until deleted; ``cotrench demo load`` refills the new cluster.
        """
        if not self.hba_file.exists() or not _TRUST_LINE.search(self.hba_file.read_text()):
            return
        if self.is_running():
            self.stop()
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
        aside = self.base / f"data-trust-{stamp}"
        self.data_dir.rename(aside)
        self.passfile.unlink(missing_ok=True)
        logger.warning(
            "旧集群使用 trust 认证，已移至 %s 并重新初始化 / the cluster used trust "
            "authentication: moved to %s and initialised anew (delete it when not needed)",
            aside,
            aside,
        )

    def _ensure_roles(self) -> None:
        """Create the owner and app roles (or reset their attributes and passwords)."""
        attributes = {
            OWNER_ROLE: "LOGIN CREATEDB NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS",
            APP_ROLE: "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS",
        }
        with self.superuser_connection() as conn:
            for role, attrs in attributes.items():
                exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
                verb = "ALTER" if exists.fetchone() else "CREATE"
                conn.execute(
                    sql.SQL(f"{verb} ROLE {{}} {attrs} PASSWORD {{}}").format(
                        sql.Identifier(role), sql.Literal(self._password(role))
                    )
                )

    def _password(self, role: str) -> str:
        """The role's password from :attr:`passfile`, generated and stored the first time."""
        lines = self.passfile.read_text().splitlines() if self.passfile.exists() else []
        for line in lines:
            fields = line.split(":", 4)
            if len(fields) == 5 and fields[:4] == ["*", "*", "*", role]:
                return fields[4]
        password = secrets.token_urlsafe(24)  # no ':' nor '\\' (pgpass syntax)
        self.base.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.passfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as out:
            out.write(f"*:*:*:{role}:{password}\n")
        self.passfile.chmod(0o600)
        return password

    def _choose_port(self) -> None:
        port_file = self.base / "port"
        wanted = int(os.environ.get("COTRENCH_PG_PORT", self.port))
        port = wanted if _port_free(wanted) else _free_port()
        port_file.write_text(f"{port}\n")

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


def pg_bin(name: str) -> str:
    """The path of a PostgreSQL program (pg_dump, pg_restore, ...) of the newest install."""
    return _pg_bin(name)


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
