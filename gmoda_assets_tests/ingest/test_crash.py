"""A load that dies at any point is loaded exactly once by the next `gmoda ingest` or sensor tick: a real
`kill -9` of `gmoda ingest` in the middle of its COPY, and a database connection cut in the middle of one."""

import os
import signal
import subprocess
import sys
import threading
import time

import psycopg
import pytest
from dagster import DagsterRunStatus

from gmoda_assets.ingest.drops import HASH_CHARS
from gmoda_assets.ingest.recovery import drop_runs
from gmoda_assets.ingest.runner import ingest_landing_zone
from gmoda_assets.lib import settings
from gmoda_assets_tests.helpers import FILE_OF_DROP, all_drop_keys, contract_of
from gmoda_assets_tests.ingest.sensing import launch, tick

ROWS = 100_000  # enough for the COPY to take a second or more, so it can be caught in the middle


def _big_births(simulated_month, rows: int = ROWS) -> tuple[str, str]:
    """A births file of ``rows`` rows (the simulated rows over and over) in the landing zone: (name, drop id)."""
    import hashlib

    source = next(p for p in (simulated_month / "nhs").iterdir() if contract_of(p).feed == "births")
    header, *data = source.read_bytes().splitlines(keepends=True)
    body = b"".join(data) * (rows // len(data) + 1)
    content = header + b"".join(body.splitlines(keepends=True)[:rows])
    (settings.landing_dir() / "nhs").mkdir(exist_ok=True)
    (settings.landing_dir() / "nhs" / source.name).write_bytes(content)
    return source.name, f"nhs.births/{source.name}@{hashlib.sha256(content).hexdigest()[:HASH_CHARS]}"


def _copy_backend(url: str, timeout: float = 180) -> int:
    """Wait until a COPY into raw.nhs__births has rows in flight; return its server process id. The COPY writes
    into the drop's own table, made in the load's transaction, so no other session can name it yet: the test's
    only load is the only COPY FROM."""
    deadline = time.time() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while time.time() < deadline:
            row = conn.execute("SELECT pid FROM pg_stat_progress_copy WHERE datname = current_database() "
                               "AND command = 'COPY FROM' AND tuples_processed > 0").fetchone()
            if row:
                return row[0]
            time.sleep(0.02)
    raise AssertionError("no COPY into raw.nhs__births was seen in progress")


def _held(url: str, file_name: str) -> tuple[int, list]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(f"SELECT count(*) FROM raw.nhs__births WHERE coalesce({FILE_OF_DROP}, %s) = %s",
                            (file_name, file_name)).fetchone()[0]
        ledger = conn.execute("SELECT status, rows_loaded FROM ops.drops WHERE file_name = %s", (file_name,)).fetchall()
    return rows, ledger


@pytest.mark.slow
def test_ingest_killed_mid_copy_is_loaded_exactly_once_by_the_next(platform, instance, defs, warehouse_url,
                                                                   simulated_month, tmp_path):
    name, drop_id = _big_births(simulated_month)
    log = (tmp_path / "ingest.log").open("w")
    ingest = subprocess.Popen([sys.executable, "-m", "gmoda_assets.cli", "ingest", "--partner", "nhs"],
                              env={**os.environ, "GMODA_SETTLE_SECONDS": "0"}, stdout=log, stderr=subprocess.STDOUT)
    try:
        _copy_backend(warehouse_url)
    finally:
        os.kill(ingest.pid, signal.SIGKILL)
        ingest.wait()

    # What the crash left: a registered drop, its run STARTED, nothing in raw and nothing in the ledger.
    assert drop_id in all_drop_keys(instance)
    [dead] = drop_runs(instance, drop_id)
    assert dead.status == DagsterRunStatus.STARTED
    assert _held(warehouse_url, name) == (0, [])

    report = ingest_landing_zone(instance, defs, platform, ["nhs"])

    assert report.dead_runs == [dead.run_id] and report.retried == [drop_id]
    assert report.tally.runs == 1 and report.tally.failures == []
    assert _held(warehouse_url, name) == (ROWS, [("loaded", ROWS)])
    assert instance.get_run_by_id(dead.run_id).status == DagsterRunStatus.FAILURE
    again = ingest_landing_zone(instance, defs, platform, ["nhs"])
    assert again.tally.runs == 0 and _held(warehouse_url, name) == (ROWS, [("loaded", ROWS)])


def test_sensor_requests_again_a_load_whose_connection_was_cut(platform, instance, defs, warehouse_url,
                                                               simulated_month):
    name, drop_id = _big_births(simulated_month, ROWS - 1)  # not the other test's drop
    first = tick(instance, None, platform)
    [request] = first.run_requests
    assert request.partition_key == drop_id == request.run_key

    runs: list = []
    loading = threading.Thread(target=lambda: runs.extend(launch(instance, defs, first)))
    loading.start()
    backend = _copy_backend(warehouse_url)
    # While the run is under way, the sensor does not ask for it again.
    during = tick(instance, first.cursor, platform)
    assert not during.run_requests
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (backend,))
    loading.join()
    [cut] = runs
    assert not cut.success and _held(warehouse_url, name) == (0, [])
    rows = ROWS - 1

    # The next tick asks again, under a fresh run key (Dagster would drop the first one), and it loads once.
    after = tick(instance, during.cursor, platform)
    [retry] = after.run_requests
    assert retry.partition_key == drop_id and retry.run_key != drop_id
    [loaded] = launch(instance, defs, after)
    assert loaded.success and _held(warehouse_url, name) == (rows, [("loaded", rows)])
    assert not tick(instance, after.cursor, platform).run_requests
