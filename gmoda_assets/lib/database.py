"""The PostgreSQL server behind the warehouse and Dagster's own storage.

With ``GMODA_DATABASE_URL`` unset the platform starts (or reuses) its own cluster under ``$GMODA_HOME/pgdata``
with pgserver, listening on a Unix socket only; the cluster outlives the process that started it, so the
webserver, the daemon, runs and the command line all share it. With ``GMODA_DATABASE_URL`` set, that server is
used: the warehouse lives in the database the URL names, Dagster's run storage in database ``dagster`` on the
same server (or ``GMODA_DAGSTER_DATABASE_URL``).
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from gmoda_assets.lib.settings import home_dir, sql_dir

WAREHOUSE_DB = "gmoda"
DAGSTER_DB = "dagster"
# The group roles of sql/040_roles.sql that the platform's steps act as.
LOADER = "gmoda_loader"
TRANSFORMER = "gmoda_transformer"
_SERVER_LOCK = threading.Lock()
_FOUND: set[str] = set()  # the databases this process has found (or made): not looked for again
_KEPT = threading.local()  # connections: URL -> this thread's connection kept open (``kept_connection``)


def pgdata_dir() -> Path:
    return home_dir() / "pgdata"


def is_embedded() -> bool:
    return not os.environ.get("GMODA_DATABASE_URL")


def _pgserver():
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset; pgserver copes
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
        import pgserver
    return pgserver


def _embedded_server():
    """The embedded server, started only if it is not already running on this pgdata.

    One thread at a time: pgserver lists its handle of a server before the handle has found the server's address,
    so a second thread could take the handle without it and fail (the code server evaluates sensors on several
    threads: at start-up a partner's first tick failed and its drops waited 30 s for the next)."""
    with _SERVER_LOCK:
        pgdata_dir().parent.mkdir(parents=True, exist_ok=True)
        return _pgserver().get_server(pgdata_dir(), cleanup_mode=None)


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def libpq_url(url: str) -> str:
    """A URL that libpq and psycopg accept (no SQLAlchemy driver suffix)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql"))


def sqlalchemy_url(url: str) -> str:
    """The same URL for SQLAlchemy with psycopg2: a bare postgresql:// maps to psycopg 3 in SQLAlchemy 2.1,
    which dagster-postgres cannot use."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql+psycopg2"))


def as_role(url: str, role: str) -> str:
    """The URL with a libpq startup option that makes the session act as ``role`` from its first statement, as
    SET ROLE would, for psycopg and psycopg2 (SQLAlchemy) alike; options already in the URL are kept."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    options = " ".join(filter(None, [v for k, v in query if k == "options"] + [f"-c role={role}"]))
    query = [(k, v) for k, v in query if k != "options"] + [("options", options)]
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def warehouse_url() -> str:
    """libpq URL of the warehouse database; starts the embedded server and creates the database if needed."""
    configured = os.environ.get("GMODA_DATABASE_URL")
    url = libpq_url(configured) if configured else _embedded_server().get_uri(WAREHOUSE_DB)
    ensure_database(url)
    return url


def dagster_url() -> str:
    """libpq URL of the database that holds Dagster's runs, events and schedules."""
    configured = os.environ.get("GMODA_DAGSTER_DATABASE_URL")
    url = libpq_url(configured) if configured else _with_database(warehouse_url(), DAGSTER_DB)
    ensure_database(url)
    return url


def ensure_database(url: str) -> None:
    """Create the database the URL names if the server does not have it yet. Looked for once a process: a run, a
    step and a sensor's tick each ask for the warehouse's URL, and looking is a connection, so a new backend."""
    import psycopg
    from psycopg import sql

    if url in _FOUND:
        return
    try:
        psycopg.connect(url, connect_timeout=10).close()
        _FOUND.add(url)
        return
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise
    database = urlsplit(url).path.lstrip("/")
    with psycopg.connect(_with_database(url, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    _FOUND.add(url)


@contextmanager
def kept_connection(url: str) -> Iterator:
    """An autocommit psycopg connection to ``url`` that this thread keeps open for its next use, for work a
    long-lived process repeats (a sensor's tick in the code server, every 30 s a partner): a new connection is a
    new PostgreSQL backend. One found broken (the server restarted) is replaced; one whose use raised is closed."""
    import psycopg

    kept = _KEPT.__dict__.setdefault("connections", {})
    conn = kept.pop(url, None)
    if conn is not None:
        try:
            conn.execute("SELECT 1")
        except psycopg.Error:
            conn.close()
            conn = None
    conn = conn or psycopg.connect(url, autocommit=True)
    try:
        yield conn
    except BaseException:
        conn.close()
        raise
    kept[url] = conn


def apply_sql(url: str) -> list[str]:
    """Apply every ``sql/*.sql`` file in name order. The files are idempotent, so a re-run changes nothing."""
    import psycopg

    files = sorted(sql_dir().glob("*.sql"))
    with psycopg.connect(url) as conn:
        for path in files:
            conn.execute(path.read_text(encoding="utf-8"))
    return [p.name for p in files]


@dataclass
class ServerStatus:
    embedded: bool
    running: bool
    detail: str

    def __str__(self) -> str:
        kind = "embedded PostgreSQL" if self.embedded else "PostgreSQL at GMODA_DATABASE_URL"
        return f"{kind}: {'running' if self.running else 'stopped'} ({self.detail})"


def server_status() -> ServerStatus:
    if not is_embedded():
        import psycopg

        try:
            with psycopg.connect(libpq_url(os.environ["GMODA_DATABASE_URL"]), connect_timeout=5) as conn:
                version = conn.execute("SHOW server_version").fetchone()[0]
            return ServerStatus(False, True, f"server {version}")
        except psycopg.OperationalError as exc:
            return ServerStatus(False, False, str(exc).strip())
    _pgserver()
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata_dir()) if pgdata_dir().exists() else None
    if info is None or not info.is_running():
        return ServerStatus(True, False, f"data in {pgdata_dir()}")
    return ServerStatus(True, True, f"pid {info.pid}, data in {pgdata_dir()}, socket in {info.socket_dir}")


def stop_embedded() -> bool:
    """Stop the embedded server; returns False if it was not running."""
    _pgserver()
    from pgserver._commands import pg_ctl

    if not server_status().running:
        return False
    user = "pgserver" if os.geteuid() == 0 else None  # pgserver runs postgres as this user under root
    pg_ctl(["-w", "stop"], pgdata=pgdata_dir(), user=user)
    return True
