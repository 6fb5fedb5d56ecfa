"""``gmoda ui`` runs Dagster as production does: a code server (``dagster api grpc``), the webserver and the daemon,
separate processes that share only the PostgreSQL storage. A drop is loaded by the run the daemon's sensor
launches through the code server; ``nightly_refresh``, launched by a program through the webserver's GraphQL API
and polled to its end, builds every asset of the job and evaluates every check, running each step in a process of
its own with warehouse builds held to their pool's limit; and ``gmoda ui``, started with no
terminal, leaves no process behind after SIGTERM, nor after SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import pytest
from dagster import AssetsDefinition, DagsterEventType, DagsterRunStatus, RunsFilter

from gmoda_assets.lib import settings
from gmoda_assets.lib.services import free_port
from gmoda_assets.resources import WAREHOUSE_POOL
from gmoda_assets.schedules import REFRESH_EXECUTION
from gmoda_assets_tests.helpers import copy_drops

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
REQUESTED_BY = {"gmoda/requested_by": "graphql-client-test"}


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid``, from /proc."""
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = {int(c) for c in (task / "children").read_text().split()}
            except OSError:
                continue
            todo += children - found
            found |= children
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _start_ui(log: Path, port: int, env: dict | None = None, ignore_sigint: bool = False) -> subprocess.Popen:
    """``gmoda ui`` with no terminal: no stdin, output to a file, a session of its own (no controlling tty)."""
    return subprocess.Popen(
        [sys.executable, "-m", "gmoda_assets.cli", "ui", "--port", str(port)],
        stdin=subprocess.DEVNULL, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, **(env or {})},
        # A shell's `&` starts a background job ignoring SIGINT: gmoda ui must still stop on it.
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_sigint else None)


def _wait_for(what: str, ready, timeout: float, ui: subprocess.Popen, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert ui.poll() is None, f"gmoda ui exited ({ui.returncode}) waiting for {what}:\n{log.read_text()[-3000:]}"
        if value := ready():
            return value
        time.sleep(1)
    raise AssertionError(f"no {what} within {timeout} s:\n{log.read_text()[-3000:]}")


def _webserver_up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def _services(ui: subprocess.Popen) -> dict[str, int]:
    """The service processes gmoda ui started, by what they run."""
    names = {}
    for pid in _descendants(ui.pid):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        text = " ".join(part.decode() for part in command)
        for name, marker in (("code server", " api grpc "), ("webserver", "dagster-webserver"),
                             ("daemon", " gmoda_assets.lib.daemon "), ("fork server", "multiprocessing.forkserver")):
            if marker in f" {text} ":
                names[name] = pid
    return names


def _stop_and_check(ui: subprocess.Popen, sig: int, log: Path) -> None:
    """Send ``sig``; gmoda ui must exit 0 and no process it started may be left."""
    before = _descendants(ui.pid)
    assert before, "gmoda ui started no process"
    ui.send_signal(sig)
    assert ui.wait(timeout=90) == 0, log.read_text()[-3000:]
    survivors = {pid for pid in before if _alive(pid)}
    assert not survivors, f"left running after {signal.Signals(sig).name}: {survivors}"


def _kill_all(ui: subprocess.Popen) -> None:
    """After a failure: SIGKILL to gmoda ui and every process below it. Its services run in sessions of their own,
    so a signal to its process group alone would leave them running, orphaned."""
    for pid in [*_descendants(ui.pid), ui.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    ui.wait()


def _step_spans(instance, run_id: str) -> dict[str, tuple[float, float, int]]:
    """Each step's (start, end, process id) from the run's events."""
    spans: dict[str, list] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type == DagsterEventType.STEP_START:
            spans[event.step_key] = [entry.timestamp, None, event.pid]
        elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            spans[event.step_key][1] = entry.timestamp
    return {k: tuple(v) for k, v in spans.items()}


def _most_at_once(spans: list[tuple[float, float]]) -> int:
    """The most spans running at one moment (an end before a start at the same instant)."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans], key=lambda e: (e[0], e[1]))
    running = most = 0
    for _, change in edges:
        running += change
        most = max(most, running)
    return most


@pytest.mark.slow
def test_ingest_and_refresh_run_across_separate_processes_and_sigterm_stops_them_all(
        platform, instance, defs, simulated_month, tmp_path):
    from dagster_graphql import DagsterGraphQLClient

    port, log, started = free_port("127.0.0.1"), tmp_path / "ui.log", datetime.now(timezone.utc)
    ui = _start_ui(log, port, {"GMODA_WAREHOUSE_POOL_LIMIT": "2"})
    try:
        _wait_for("webserver", lambda: _webserver_up(port), 300, ui, log)
        services = _services(ui)
        # The daemon's fork server is up before any run, and has imported the code location before the code server
        # and webserver start (their imports at the same time made the first drop runs wait for it).
        fork_server = services.pop("fork server", None)
        assert fork_server in _descendants(services.get("daemon", -1)), services
        text = log.read_text()
        assert 0 <= text.find("fork server has imported") < text.find("Starting Dagster code server"), text[-3000:]
        assert set(services) == {"code server", "webserver", "daemon"}, services
        assert len(set(services.values())) == 3  # three processes, not one
        pool = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
        assert (pool.limit, pool.using_default_limit) == (2, False)  # set from the environment

        # An ingest: the daemon's sensor registers the drop and its run is launched through the code server.
        [drop] = copy_drops(simulated_month, settings.landing_dir(), ["stockport_homes"])
        job = "ingest__stockport_homes__tenancies"

        def ingested():
            runs = instance.get_runs(RunsFilter(job_name=job, created_after=started))
            return runs and runs[0].is_finished and runs[0]
        run = _wait_for(f"a finished run of {job}", ingested, 300, ui, log)
        assert run.status == DagsterRunStatus.SUCCESS, run.run_id
        assert run.tags.get("dagster/partition", "").startswith(f"stockport_homes.tenancies/{drop.name}@")
        launched_by = {e.dagster_event.pid for e in instance.all_logs(run.run_id) if e.dagster_event}
        assert not launched_by & {ui.pid, *services.values()}  # a run worker of its own, not a service

        # A refresh, launched by a program through the webserver's GraphQL API with the caller's tags (README
        # "Driving the platform from other programs") and polled to its end: every asset of the job materialised
        # and every check of theirs evaluated, each step in a process of its own, up to four at once, so that the
        # pool, not the executor, is what holds warehouse builds to two.
        client = DagsterGraphQLClient("127.0.0.1", port_number=port)
        execution = {"config": {"multiprocess": {**REFRESH_EXECUTION["config"]["multiprocess"], "max_concurrent": 4}}}
        run_id = client.submit_job_execution("nightly_refresh", run_config={"execution": execution}, tags=REQUESTED_BY)
        _wait_for("the refresh to finish", lambda: client.get_run_status(run_id) in (
            DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED), 900, ui, log)
        assert client.get_run_status(run_id) == DagsterRunStatus.SUCCESS, log.read_text()[-3000:]
        assert REQUESTED_BY.items() <= instance.get_run_by_id(run_id).tags.items()
        job = defs.resolve_job_def("nightly_refresh")
        events = [e.dagster_event for e in instance.all_logs(run_id) if e.dagster_event]
        materialised = {e.asset_key for e in events if e.event_type == DagsterEventType.ASSET_MATERIALIZATION}
        assert materialised == set(job.asset_layer.selected_asset_keys)
        assert {e.event_specific_data.asset_check_key for e in events
                if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION} == set(
            job.asset_layer.asset_graph.get_check_keys_for_assets(materialised))
        spans = _step_spans(instance, run_id)
        # Nothing shared in memory: each step ran in a worker process started for it alone (the worker announces
        # its step and pid; pids alone can repeat, since the machine reuses them within a long run).
        workers = [(e.step_key, int(e.event_specific_data.metadata["pid"].value)) for e in events
                   if e.event_type == DagsterEventType.STEP_WORKER_STARTED]
        assert sorted(workers) == sorted((step, pid) for step, (_, _, pid) in spans.items()) and len(spans) > 40
        # Nor through files: Dagster's storage holds captured logs (of steps and sensor ticks) and no output of any
        # step (an IO manager would write one file per asset, named by its key, without a suffix).
        storage = Path(os.environ["DAGSTER_HOME"]) / "storage"
        assert not [p for p in storage.rglob("*") if p.is_file() and p.suffix not in (".out", ".err", ".complete")]
        pool_of = {a.node_def.name: a.node_def.pool for a in defs.assets if isinstance(a, AssetsDefinition)}
        pooled = [(start, end) for step, (start, end, _) in spans.items() if pool_of[step] == WAREHOUSE_POOL]
        assert len(pooled) > 30 and _most_at_once(pooled) == 2

        _stop_and_check(ui, signal.SIGTERM, log)
    finally:
        instance.event_log_storage.delete_concurrency_limit(WAREHOUSE_POOL)
        if ui.poll() is None:
            _kill_all(ui)


def test_sigint_stops_every_process_without_a_terminal(warehouse_url, tmp_path):
    port, log = free_port("127.0.0.1"), tmp_path / "ui.log"
    ui = _start_ui(log, port, ignore_sigint=True)
    try:
        _wait_for("webserver", lambda: _webserver_up(port), 300, ui, log)
        _wait_for("all three services and the daemon's fork server", lambda: len(_services(ui)) == 4, 60, ui, log)
        _stop_and_check(ui, signal.SIGINT, log)
    finally:
        if ui.poll() is None:
            _kill_all(ui)
