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
import sys
import time

from bench_warehouse import OUT, open_bench_warehouse
from dagster_runs import follow, layers, print_layers, running_ui


def _scheduled(instance) -> tuple[str, float]:
    """Submit nightly_refresh to a running ``gmoda ui`` and follow it: (run id, seconds from submission to end)."""
    with running_ui(OUT / "gmoda-ui.log") as (client, _, _):
        started = time.perf_counter()
        run_id = client.submit_job_execution("nightly_refresh", run_config={})
        follow(instance, run_id)
        return run_id, time.perf_counter() - started


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
        print_layers(layers(instance, run.dagster_run.run_id))
    if not args.skip_scheduled:
        run_id, scheduled = _scheduled(instance)
        status = instance.get_run_by_id(run_id).status.value
        print(f"as scheduled (daemon, run worker, multiprocess executor): {status} in {scheduled:.1f} s "
              f"from submission")
        print_layers(layers(instance, run_id))
    if in_process and scheduled:
        print(f"orchestration share of the scheduled run: {1 - in_process / scheduled:.0%} "
              f"(scheduled {scheduled:.1f} s, in process {in_process:.1f} s, ratio {scheduled / in_process:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
