"""The platform as its users meet it: ``gmoda ui`` (webserver and daemon) on a month of simulated drops, in a
GMODA_HOME of its own (so its sensors watch a landing zone no other test touches), on a free port.

One server serves every test of this package: under ``-n`` they all run on one worker (the tests sharing a
package-scoped fixture form one xdist group: see the conftest above), so it starts once. Every process it starts (webserver,
daemon, code servers and run workers share the process group of ``gmoda ui``) and its embedded PostgreSQL are
stopped when the tests end, passed or failed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

GMODA = str(Path(sys.executable).with_name("gmoda"))
# A loaded 2-core machine takes over a minute to start the webserver, daemon and code server.
START_TIMEOUT = 600
# nightly_refresh's steps run one after another in its run's process in these tests: with the job's default
# executor each step runs in a process of its own (gmoda_assets_tests/lib/test_services.py tests that). The one
# place to change when the job's executor changes.
REFRESH_RUN_CONFIG = {"execution": {"config": {"in_process": {}}}}
LOCATION_QUERY = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


@dataclass
class RunningPlatform:
    port: int
    home: Path
    env: dict[str, str]
    warehouse_url: str
    dagster_url: str  # Dagster's run and event storage, to check what the UI shows against what is stored

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def landing(self) -> Path:
        return self.home / "landing"

    @property
    def quarantine(self) -> Path:
        return self.home / "quarantine"

    def warehouse(self, query: str, params=()) -> list[tuple]:
        return _query(self.warehouse_url, query, params)

    def dagster(self, query: str, params=()) -> list[tuple]:
        return _query(self.dagster_url, query, params)

    def run_events(self, run_id: str, event_type: str) -> list:
        """The run's stored events of one type (``ASSET_MATERIALIZATION``, ...), as Dagster event log entries."""
        from dagster import deserialize_value

        rows = self.dagster("SELECT event FROM event_logs WHERE run_id = %s AND dagster_event_type = %s ORDER BY id",
                            (run_id, event_type))
        return [deserialize_value(event) for (event,) in rows]


def _query(url: str, query: str, params) -> list[tuple]:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gmoda(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([GMODA, *args], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if done.returncode:
        pytest.fail(f"gmoda {' '.join(args)} exited {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout


def _graphql(url: str, query: str) -> dict:
    request = urllib.request.Request(f"{url}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["data"]


def _wait_until_loaded(server: subprocess.Popen, url: str, log: Path) -> None:
    """Until the webserver answers and has loaded the code location; fails with the log if it cannot."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"gmoda ui exited {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            entries = _graphql(url, LOCATION_QUERY)["workspaceOrError"]["locationEntries"]
        except OSError:  # not listening yet
            entries = []
        for entry in entries:
            loaded = entry["locationOrLoadError"]
            if loaded and loaded["__typename"] == "PythonError":
                pytest.fail(f"code location {entry['name']} did not load: {loaded['message']}")
        if entries and all(e["loadStatus"] == "LOADED" and e["locationOrLoadError"] for e in entries):
            return
        time.sleep(1)
    pytest.fail(f"gmoda ui did not load its code location within {START_TIMEOUT} s:\n{log.read_text()[-3000:]}")


def _stop(server: subprocess.Popen) -> None:
    """SIGTERM to the whole process group of ``gmoda ui``, then SIGKILL to whatever of it is left after a grace
    period: longer than the 30 s ``gmoda ui`` gives its services (each in a session of its own) before it kills
    them, so that it is never killed while they are still stopping."""
    deadline = time.monotonic() + 45
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(server.pid, sig)
            while sig == signal.SIGTERM and time.monotonic() < deadline:
                time.sleep(0.5)
                server.poll()  # reaped, so that it no longer counts as one of the group
                os.killpg(server.pid, 0)  # ProcessLookupError once no process of the group is left
        except ProcessLookupError:
            break
    server.wait()


@pytest.fixture(scope="package")
def running_ui(simulated_month):
    # A short path: the embedded server's socket lives under it.
    home = Path(tempfile.mkdtemp(prefix="gmoda-ui-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GMODA_", "DAGSTER_"))}
    # Drops written whole by the test need not wait to settle: a new file is registered on its first scan.
    env.update(GMODA_HOME=str(home), GMODA_SETTLE_SECONDS="0")
    shutil.copytree(simulated_month, home / "landing")
    server = None
    try:
        _gmoda(env, "ingest")  # raw loaded in-process: quicker than a run process per drop
        urls = subprocess.run(
            [sys.executable, "-c", "from gmoda_assets.lib import database as d; print(d.warehouse_url()); print(d.dagster_url())"],
            env=env, capture_output=True, text=True, check=True).stdout.split()
        port = _free_port()
        log = home / "ui.log"
        with log.open("wb") as out:
            server = subprocess.Popen([GMODA, "ui", "--port", str(port)], env=env, stdin=subprocess.DEVNULL,
                                      stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        platform = RunningPlatform(port, home, env, *urls)
        _wait_until_loaded(server, platform.url, log)
        yield platform
    finally:
        if server is not None:
            _stop(server)
        subprocess.run([GMODA, "db", "stop"], env=env, stdin=subprocess.DEVNULL, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
