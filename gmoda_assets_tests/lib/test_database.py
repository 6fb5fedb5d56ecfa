"""Warehouse set-up: idempotent schemas, roles and functions, on the embedded server and on a real
PostgreSQL 15 server reached through GMODA_DATABASE_URL."""

import glob
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from gmoda_assets.lib import database
from gmoda_assets.lib.pseudonymise import HmacPads

CATALOG = """
SELECT 'schema', nspname, '' FROM pg_namespace WHERE nspname NOT LIKE 'pg_%' AND nspname <> 'information_schema'
UNION ALL SELECT 'column', table_schema || '.' || table_name || '.' || column_name, data_type || coalesce(column_default, '')
  FROM information_schema.columns WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
UNION ALL SELECT 'function', p.oid::regprocedure::text, md5(p.prosrc) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'ops'
UNION ALL SELECT 'role', rolname, rolcanlogin::text FROM pg_roles WHERE rolname LIKE 'gmoda_%'
UNION ALL SELECT 'grant', grantee || ' ' || table_schema || '.' || table_name, privilege_type
  FROM information_schema.role_table_grants WHERE grantee LIKE 'gmoda_%'
UNION ALL SELECT 'schema grant', n.nspname, coalesce(array_to_string(n.nspacl, ','), '') FROM pg_namespace n WHERE n.nspname NOT LIKE 'pg_%'
UNION ALL SELECT 'comment', c.oid::regclass::text, obj_description(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('raw', 'ops')
ORDER BY 1, 2, 3
"""


def catalog(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(CATALOG).fetchall()


def test_schema_setup_is_idempotent(warehouse_url):
    from gmoda_assets.cli import _setup_warehouse

    before = catalog(warehouse_url)
    _setup_warehouse()
    _setup_warehouse()
    assert catalog(warehouse_url) == before
    schemas = {name for kind, name, _ in before if kind == "schema"}
    assert {"raw", "staging", "conformed", "linked", "synthetic", "model", "signposting", "mart", "ops"} <= schemas
    roles = {name for kind, name, _ in before if kind == "role"}
    from gmoda_assets.signposting.agencies import agencies, role

    assert roles == {"gmoda_loader", "gmoda_transformer", "gmoda_analyst", "gmoda_linkage_reviewer",
                     "gmoda_school_readiness",
                     *map(role, agencies())}


def test_set_up_never_lets_analysts_read_a_candidate(warehouse_url):
    """A candidate that failed its checks stays for inspection; setting the warehouse up again (every `gmoda`
    command does) grants analysts the published tables of synthetic and mart, never a candidate."""
    from gmoda_assets.cli import _setup_warehouse

    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE mart.probe__candidate (cell integer)")
        conn.execute("CREATE TABLE mart.probe (cell integer)")
        conn.execute("REVOKE ALL ON mart.probe FROM gmoda_analyst")
        try:
            _setup_warehouse()
            readable = conn.execute("SELECT has_table_privilege('gmoda_analyst', 'mart.probe__candidate', 'SELECT'), "
                                    "has_table_privilege('gmoda_analyst', 'mart.probe', 'SELECT')").fetchone()
        finally:
            conn.execute("DROP TABLE mart.probe__candidate, mart.probe")
    assert readable == (False, True)

def test_check_functions_in_sql(warehouse_url):
    with psycopg.connect(warehouse_url) as conn:
        row = conn.execute(
            "SELECT ops.nhs_number_is_valid('943 476 5919'), ops.nhs_number_is_valid('9434765918'), "
            "ops.nhs_number_is_valid('943476591'), ops.postcode_is_valid('sk41ab'), ops.postcode_is_valid('SK4 1AB9'), "
            "ops.nhs_number_is_valid('401 023 2137'), ops.nhs_number_is_valid(NULL)"
        ).fetchone()
    assert row == (True, False, False, True, False, True, False)


def test_soundex_and_hmac_in_sql(warehouse_url):
    # American Soundex's published examples, including H/W not separating same-coded letters (Ashcraft).
    names = {"Robert": "R163", "Rupert": "R163", "Ashcraft": "A261", "Tymczak": "T522", "Pfister": "P236",
             "Honeyman": "H555", "Lee": "L000", "o'neil": "O540", "": None}
    key = b"a test key"
    pads = HmacPads.from_key(key)
    with psycopg.connect(warehouse_url) as conn:
        coded = {n: conn.execute("SELECT ops.soundex(%s)", [n]).fetchone()[0] for n in names}
        keyed = conn.execute("SELECT ops.hmac_sha256(%s, %s, 'nhs:9434765919')", [pads.ipad, pads.opad]).fetchone()[0]
    assert coded == names
    assert keyed == hmac.new(key, b"nhs:9434765919", hashlib.sha256).hexdigest()


def test_analyst_role_cannot_read_raw(warehouse_url):
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS test_analyst")
        conn.execute("CREATE ROLE test_analyst LOGIN IN ROLE gmoda_analyst")
        try:
            conn.execute("SET ROLE test_analyst")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT count(*) FROM raw.nhs__births")
        finally:
            conn.execute("RESET ROLE")
            conn.execute("DROP ROLE test_analyst")


# In a new process, several threads ask for the warehouse's URL at once, while pgserver takes its time to find the
# running server (slowed down here, so that the threads are sure to meet), as the code server's sensor threads do
# at start-up; prints what they got.
_THREADS_ASK_AT_ONCE = """
import json, threading, time
from pgserver import postgres_server
from gmoda_assets.lib import database

finding = postgres_server.PostgresServer.ensure_postgres_running
def slowly(server):
    time.sleep(0.5)
    finding(server)
postgres_server.PostgresServer.ensure_postgres_running = slowly
start, urls, errors = threading.Barrier(4), [], []
def ask():
    start.wait()
    try:
        urls.append(database.warehouse_url())
    except Exception as exc:
        errors.append(type(exc).__name__)
threads = [threading.Thread(target=ask) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps({"urls": urls, "errors": errors}))
"""


def test_threads_find_the_embedded_server_at_once(warehouse_url):
    """The code server evaluates sensors on several threads, and each sensor's first step finds the warehouse: all
    threads get its URL, none a handle that has not found the server yet (a partner's first tick failed so, and
    its drops waited 30 s for the next)."""
    found = subprocess.run([sys.executable, "-c", _THREADS_ASK_AT_ONCE], capture_output=True, text=True, timeout=120)
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout.splitlines()[-1]) == {"urls": [warehouse_url] * 4, "errors": []}

def _sessions_opened(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT sum(sessions) FROM pg_stat_database").fetchone()[0]


def test_the_warehouse_is_looked_for_once_a_process(warehouse_url):
    """Every run, step and sensor tick asks for the warehouse's URL (its resource's first connection): only the
    first asking in a process connects to see that the database is there."""
    before = _sessions_opened(warehouse_url)
    assert [database.warehouse_url() for _ in range(10)] == [warehouse_url] * 10
    assert _sessions_opened(warehouse_url) - before <= 1  # the count's own connection


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@pytest.fixture
def debian_postgres():
    """A throwaway cluster of the machine's own PostgreSQL (not the embedded one), on a Unix socket."""
    bindir = _postgres_bin()
    if bindir is None:
        pytest.skip("no system PostgreSQL under /usr/lib/postgresql (.ci/run installs it)")
    root = Path(tempfile.mkdtemp(prefix="gmoda-pg15-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
    subprocess.run(as_user + [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    subprocess.run(as_user + [str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(root / "log"),
                              "-o", f"-k {sock} -h ''", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@/gmoda_ext?host={sock}"
    finally:
        subprocess.run(as_user + [str(bindir / "pg_ctl"), "-D", str(data), "-w", "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_external_server_via_database_url(debian_postgres, monkeypatch):
    from gmoda_assets.cli import _setup_warehouse

    monkeypatch.setenv("GMODA_DATABASE_URL", debian_postgres)
    assert not database.is_embedded()
    url = _setup_warehouse()
    assert url == debian_postgres
    first = catalog(url)
    _setup_warehouse()
    assert catalog(url) == first
    with psycopg.connect(url) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()[0]
        assert not conn.execute("SELECT count(*) FROM raw.nhs__births").fetchone()[0]
    assert int(version) < 160000  # the system server, not the embedded PostgreSQL 16
    assert database.dagster_url().endswith("/dagster?host=" + debian_postgres.split("host=")[1])
    assert database.server_status().running


def test_external_server_loads_and_checks_a_drop(debian_postgres, monkeypatch, simulated_month, tmp_path):
    """The loader's COPY and the checks' SQL run on PostgreSQL 15 as on the embedded 16, as the loader role."""
    from gmoda_assets.cli import _setup_warehouse
    from gmoda_assets.ingest.checks import raw_checks
    from gmoda_assets.ingest.drops import Drop
    from gmoda_assets.ingest.loader import load_drop
    from gmoda_assets.lib.quality import validate_in_postgres
    from gmoda_assets.resources import LocalLandingZone, Warehouse
    from gmoda_assets_tests.helpers import contract_of, copy_drops, file_rows

    monkeypatch.setenv("GMODA_DATABASE_URL", debian_postgres)
    url = _setup_warehouse()
    [path] = [p for p in copy_drops(simulated_month, tmp_path / "landing", ["bolton"]) if "EYFSP" in p.name]
    contract = contract_of(path)
    landing = LocalLandingZone(root=str(tmp_path / "landing"), quarantine_root=str(tmp_path / "quarantine"))
    drop_id = Drop("bolton", path.name, contract.feed_id, landing.sha256("bolton", path.name)).drop_id
    loader = Warehouse(url=url, role=database.LOADER)  # as ingest connects: the role set at connection start
    with loader.connect(autocommit=True) as conn:
        outcome = load_drop(conn, landing, contract, drop_id)
        assert conn.execute("SELECT processed_by FROM ops.drops").fetchall() == [("gmoda_loader",)]
    assert outcome.rows_loaded == file_rows(path)
    results = validate_in_postgres(loader.sqlalchemy_url, f"SELECT * FROM raw.bolton__eyfsp WHERE _drop = (SELECT drop_number FROM ops.drops WHERE drop_id = '{drop_id}')",
                                   raw_checks(contract, outcome.rows_delivered), contract.asset_key)
    errors = [d for r in results for d in r.metadata["results"].value if d.get("error")]
    assert not errors and results[0].passed
