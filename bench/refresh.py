"""Benchmark: the nightly refresh at Greater Manchester scale, in process and as the daemon runs the schedule.

    .venv/bin/python bench/refresh.py [--skip-in-process] [--skip-scheduled]

Uses the warehouse `bench/raw_load.py` filled (run that first). Runs ``nightly_refresh`` twice over what raw holds:
in this process, its steps in turn (``gmoda refresh --in-process``); then as the 02:00 schedule runs it: ``gmoda ui``
(code server, webserver and daemon, each a process of its own) is started on a free port, the job is submitted
through the webserver with Dagster's GraphQL client, the daemon dequeues it, a run worker executes it with the
job's multiprocess executor (each step a forked process, warehouse builds held by their pool), and it is followed to
its end. Prints each run's wall time, rows per second per layer, and the orchestration's share of the scheduled run:
1 - (in-process wall / scheduled wall), the time the scheduled run spends on anything but the work the in-process
run also does.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from bench_warehouse import OUT, open_bench_warehouse


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _layers(instance, run_id: str) -> dict[str, list]:
    """Per layer (the first part of an asset key): assets, rows written, and seconds of their steps."""
    from dagster import DagsterEventType

    records = instance.get_records_for_run(run_id, of_type={DagsterEventType.STEP_SUCCESS,
                                                            DagsterEventType.ASSET_MATERIALIZATION}).records
    steps = {r.event_log_entry.step_key: r.event_log_entry.dagster_event.event_specific_data.duration_ms / 1000
             for r in records if r.event_log_entry.dagster_event_type == DagsterEventType.STEP_SUCCESS}
    layers: dict[str, list] = defaultdict(lambda: [0, 0, set()])
    for r in records:
        event = r.event_log_entry.dagster_event
        if event.event_type != DagsterEventType.ASSET_MATERIALIZATION:
            continue
        layer = layers[event.asset_key.path[0]]
        layer[0] += 1
        rows = event.event_specific_data.materialization.metadata.get("dagster/row_count")
        layer[1] += rows.value if rows is not None else 0
        layer[2].add(r.event_log_entry.step_key)
    return {name: [assets, rows, sum(steps.get(k, 0.0) for k in keys)] for name, (assets, rows, keys) in layers.items()}


def _print_layers(layers: dict[str, list]) -> None:
    print(f"  {'layer':<12} {'assets':>7} {'rows':>12} {'step s':>9} {'rows/s':>12}")
    for name, (assets, rows, seconds) in sorted(layers.items()):
        print(f"  {name:<12} {assets:>7} {rows:>12,} {seconds:>9.1f} {rows / max(seconds, 1e-9):>12,.0f}")


def _scheduled(instance) -> tuple[str, float]:
    """Submit nightly_refresh to a running ``gmoda ui`` and follow it: (run id, seconds from submission to end)."""
    from dagster import DagsterRunStatus
    from dagster_graphql import DagsterGraphQLClient

    port = _free_port()
    log = (OUT / "gmoda-ui.log").open("w")
    ui = subprocess.Popen([str(Path(sys.executable).with_name("gmoda")), "ui", "--port", str(port)],
                          stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        client = DagsterGraphQLClient("127.0.0.1", port_number=port)
        deadline = time.monotonic() + 600
        while True:  # until the webserver answers with the code location loaded
            try:
                run_id = client.submit_job_execution("nightly_refresh", run_config={})
                break
            except Exception as exc:  # not listening yet, or the code location not loaded yet
                if ui.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"nightly_refresh could not be submitted ({exc}): see {log.name}") from None
                time.sleep(2)
        started = time.perf_counter()
        ends = (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)
        while instance.get_run_by_id(run_id).status not in ends:
            time.sleep(1)
        return run_id, time.perf_counter() - started
    finally:
        os.killpg(ui.pid, signal.SIGTERM)  # gmoda ui stops its services and their runs
        ui.wait(timeout=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-in-process", action="store_true")
    parser.add_argument("--skip-scheduled", action="store_true")
    args = parser.parse_args()

    if open_bench_warehouse() is None:
        return 1
    from gmoda_assets.definitions import defs
    from gmoda_assets.ingest.runner import refresh
    from gmoda_assets.lib.instance import get_instance
    from gmoda_assets.lib.progress import progress

    instance = get_instance()
    in_process = scheduled = None
    if not args.skip_in_process:
        started = time.perf_counter()
        with progress("refresh in process", "steps") as shown:
            tally = refresh(instance, defs, in_process=True, progress=shown)
        in_process = time.perf_counter() - started
        [run] = instance.get_run_records(limit=1)
        print(f"in process: {'succeeded' if not tally.runs_failed else 'FAILED'} in {in_process:.1f} s")
        _print_layers(_layers(instance, run.dagster_run.run_id))
    if not args.skip_scheduled:
        run_id, scheduled = _scheduled(instance)
        status = instance.get_run_by_id(run_id).status.value
        print(f"as scheduled (daemon, run worker, multiprocess executor): {status} in {scheduled:.1f} s "
              f"from submission")
        _print_layers(_layers(instance, run_id))
    if in_process and scheduled:
        print(f"orchestration share of the scheduled run: {1 - in_process / scheduled:.0%} "
              f"(scheduled {scheduled:.1f} s, in process {in_process:.1f} s, ratio {scheduled / in_process:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
