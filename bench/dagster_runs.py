"""What the benchmarks read from Dagster: a run's rows and step seconds per layer, and ``gmoda ui`` started for a
benchmark and stopped after it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

RUN_ENDS = ("SUCCESS", "FAILURE", "CANCELED")
WORKSPACE_QUERY = "{ workspaceOrError { ... on Workspace { locationEntries { locationOrLoadError { __typename } } } } }"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def layers(instance, run_id: str) -> dict[str, list]:
    """Per layer (the first part of an asset key): assets, rows written, and seconds of their steps."""
    from dagster import DagsterEventType

    records = instance.get_records_for_run(run_id, of_type={DagsterEventType.STEP_SUCCESS,
                                                            DagsterEventType.ASSET_MATERIALIZATION}).records
    steps = {r.event_log_entry.step_key: r.event_log_entry.dagster_event.event_specific_data.duration_ms / 1000
             for r in records if r.event_log_entry.dagster_event_type == DagsterEventType.STEP_SUCCESS}
    found: dict[str, list] = defaultdict(lambda: [0, 0, set()])
    for r in records:
        event = r.event_log_entry.dagster_event
        if event.event_type != DagsterEventType.ASSET_MATERIALIZATION:
            continue
        layer = found[event.asset_key.path[0]]
        layer[0] += 1
        rows = event.event_specific_data.materialization.metadata.get("dagster/row_count")
        layer[1] += rows.value if rows is not None else 0
        layer[2].add(r.event_log_entry.step_key)
    return {name: [assets, rows, sum(steps.get(k, 0.0) for k in keys)] for name, (assets, rows, keys) in found.items()}


def print_layers(by_layer: dict[str, list]) -> None:
    print(f"  {'layer':<12} {'assets':>7} {'rows':>12} {'step s':>9} {'rows/s':>12}")
    for name, (assets, rows, seconds) in sorted(by_layer.items()):
        print(f"  {name:<12} {assets:>7} {rows:>12,} {seconds:>9.1f} {rows / max(seconds, 1e-9):>12,.0f}")


def slowest_steps(instance, run_id: str, count: int = 8) -> list[tuple[str, float]]:
    """The run's longest steps, as (step, seconds from its start to its end, as the executor saw them)."""
    from dagster import DagsterEventType

    ends = {DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE}
    records = instance.get_records_for_run(run_id, of_type={DagsterEventType.STEP_START, *ends}).records
    started, spans = {}, {}
    for r in records:
        entry = r.event_log_entry
        if entry.dagster_event_type == DagsterEventType.STEP_START:
            started[entry.step_key] = entry.timestamp
        elif entry.step_key in started:
            spans[entry.step_key] = entry.timestamp - started[entry.step_key]
    return sorted(spans.items(), key=lambda kv: -kv[1])[:count]


@contextmanager
def running_ui(log_path: Path):
    """``gmoda ui`` (code server, webserver and daemon, each a process of its own) on a free port, for the
    ``GMODA_HOME`` this process has set; yields a GraphQL client once the code location is loaded, the seconds
    that took and the pid of ``gmoda ui`` (see ``services``). Stopped with SIGTERM afterwards, as a service manager stops it (its runs are stopped with it)."""
    from dagster_graphql import DagsterGraphQLClient

    port = _free_port()
    log = log_path.open("w")
    started = time.perf_counter()
    ui = subprocess.Popen([str(Path(sys.executable).with_name("gmoda")), "ui", "--port", str(port)],
                          stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        client = DagsterGraphQLClient("127.0.0.1", port_number=port)
        deadline = time.monotonic() + 600
        while True:  # until the webserver answers with the code location loaded
            try:
                entries = client._execute(WORKSPACE_QUERY)["workspaceOrError"]["locationEntries"]
                if entries and all(e["locationOrLoadError"] and e["locationOrLoadError"]["__typename"] == "RepositoryLocation"
                                   for e in entries):
                    break
            except Exception:  # not listening yet
                pass
            if ui.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"gmoda ui did not load the code location: see {log.name}")
            time.sleep(1)
        yield client, time.perf_counter() - started, ui.pid
    finally:
        os.killpg(ui.pid, signal.SIGTERM)
        ui.wait(timeout=120)


def services(ui_pid: int) -> dict[str, int]:
    """The processes ``gmoda ui`` (pid ``ui_pid``) started, by name, and the daemon's run launcher's fork server
    (which the run workers are forked from): each with its other descendants is one service."""
    names = {"gmoda_assets.lib.daemon": "daemon", "api\0grpc": "code server (sensors)",
             "dagster-webserver": "webserver"}
    processes = {}  # pid -> (parent pid, command line)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            processes[int(stat.parent.name)] = (int(stat.read_text().rsplit(")", 1)[1].split()[1]),
                                                (stat.parent / "cmdline").read_text())
        except OSError:
            continue
    found = {"gmoda ui": ui_pid}
    for pid, (ppid, command) in processes.items():
        found.update((name, pid) for marker, name in names.items() if ppid == ui_pid and marker in command)
    found.update(("fork server, run workers", pid) for pid, (ppid, command) in processes.items()
                 if ppid == found.get("daemon") and "multiprocessing.forkserver" in command)
    return found


def follow(instance, run_id: str) -> None:
    """Wait for the run to end."""
    while instance.get_run_by_id(run_id).status.value not in RUN_ENDS:
        time.sleep(1)
