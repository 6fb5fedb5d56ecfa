"""Benchmark: from an empty platform to the last layer at Greater Manchester scale, as the platform runs it and in
process.

    .venv/bin/python bench/from_empty.py [--scale gm|small] [--skip-in-process] [--skip-scheduled] [--ingest-only] [--keep]

The drops `bench/raw_load.py` simulated (`bench/out/<scale>-seed42-months3/landing`; simulated here if missing) are
copied whole into the landing zone of a new platform home with an empty warehouse, once per way of running:

- **as scheduled**: ``gmoda ui`` starts the code server, webserver and daemon. The partners' sensors find the files
  (settled: not written for the settle time, 0 s here) and request a run per drop, which the daemon
  starts (at most four at once); each run loads its drop and checks it. When every drop has loaded, nightly_refresh
  is submitted through the webserver, as its 02:00 schedule submits it, and a run worker runs it with the job's
  multiprocess executor.
- **in process**: the same work with no orchestration around it: each drop's run executed in this process (what
  ``gmoda ingest`` does), then the refresh's steps in turn (``gmoda refresh --in-process``).

The files are copied before the services start, so ``GMODA_SETTLE_SECONDS=0``: the settle time waits out a
partner's slow upload, and is not work. Set-up of an empty warehouse (``gmoda db init``, once per deployment) is
timed apart. Prints each phase's seconds, the drops by outcome, rows per second per layer, the slowest steps, and
the orchestration's share of the scheduled wall time: 1 - (in process / as scheduled). Each way runs in a process
of its own, with its own home under `bench/out/`, removed afterwards unless ``--keep``. ``--ingest-only`` stops
each way once its drops have loaded (no refresh).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from bench_warehouse import OUT, tree_cpu_seconds
from dagster_runs import RUN_ENDS, follow, layers, print_layers, running_ui, services, slowest_steps

from gmoda_assets.lib import database

WAYS = ("in-process", "scheduled")
QUIET_SECONDS = 75  # two sensor intervals and more with no new drop run: every sensor has seen every file settle


def _drops(scale: str) -> Path:
    drops = OUT / f"{scale}-seed42-months3" / "landing"
    if not drops.exists():
        from gmoda_assets.simulate import simulate

        print(simulate(drops, scale=scale, seed=42, months=3))
    return drops


def _ledger(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT status, count(*), sum(rows_loaded) FROM ops.drops GROUP BY 1 ORDER BY 1").fetchall()
    return ", ".join(f"{count} {status} ({loaded:,} rows)" for status, count, loaded in rows)


def _await_ingest(instance, since: float, files: int, cpu=None) -> tuple[list, float, dict | None]:
    """The drop runs the sensors requested since ``since`` (a time.time()), once all have ended and either there is
    one for each of the ``files`` landed or no new one has come for QUIET_SECONDS; the time the last one ended; and
    what ``cpu()`` returned when all were first seen ended (at most a poll's two seconds after the last ended)."""
    from dagster import RunsFilter

    created_after = datetime.fromtimestamp(since, timezone.utc)
    deadline, at_end = time.monotonic() + 3600, None
    while time.monotonic() < deadline:
        sample = cpu() if cpu else None
        records = [r for r in instance.get_run_records(filters=RunsFilter(created_after=created_after))
                   if r.dagster_run.job_name != "nightly_refresh"]
        ended = all(r.dagster_run.status.value in RUN_ENDS for r in records)
        at_end = (at_end or sample) if records and ended else None
        if records and ended and (len(records) >= files or time.time() - max(
                r.create_timestamp.timestamp() for r in records) > QUIET_SECONDS):
            return records, max(r.end_time for r in records), at_end
        time.sleep(2)
    raise SystemExit("the drops' runs did not all end within an hour")


def _sessions(url: str) -> dict[str, int]:
    """Sessions opened so far on each database of the server (each a backend process started)."""
    import psycopg

    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT datname, sessions FROM pg_stat_database WHERE datname IS NOT NULL").fetchall())


def _cpu_of(ui_pid: int):
    """A function that returns the CPU seconds so far of each service of ``gmoda ui`` and of PostgreSQL."""
    roots = {**services(ui_pid), "PostgreSQL": int((database.pgdata_dir() / "postmaster.pid").read_text().split()[0])}
    return lambda: tree_cpu_seconds(roots)


def _way(way: str, scale: str, keep: bool, ingest_only: bool) -> dict:
    """Run one way from empty in this process; print its figures and return its seconds."""
    home = OUT / f"empty-{way}"
    os.environ.update(GMODA_HOME=str(home), GMODA_SETTLE_SECONDS="0")
    os.environ.pop("GMODA_DATABASE_URL", None)
    if home.exists():
        if database.pgdata_dir().exists():
            database.stop_embedded()
        shutil.rmtree(home)
    shutil.copytree(_drops(scale), home / "landing")
    from gmoda_assets.cli import _setup_warehouse
    from gmoda_assets.lib.instance import get_instance

    started = time.perf_counter()
    url = _setup_warehouse()
    instance = get_instance()
    figures = {"set-up": time.perf_counter() - started}
    if way == "in-process":
        from gmoda_assets.definitions import defs
        from gmoda_assets.ingest.runner import ingest_landing_zone, refresh
        from gmoda_assets.resources import LocalLandingZone

        started = time.perf_counter()
        report = ingest_landing_zone(instance, defs, LocalLandingZone.from_settings(), settle_seconds=0)
        figures["ingest"] = time.perf_counter() - started
        drop_runs = report.tally.runs
        if not ingest_only:
            started = time.perf_counter()
            refresh(instance, defs, in_process=True)
            figures["refresh"] = time.perf_counter() - started
            run_id = instance.get_run_records(limit=1)[0].dagster_run.run_id
    else:
        files = sum(1 for path in (home / "landing").rglob("*") if path.is_file())  # a run each, loaded or not
        launched = time.time()  # the sensors may request runs before the webserver answers: count those too
        with running_ui(home / "gmoda-ui.log") as (client, ready, ui_pid):
            figures["services ready"] = ready
            cpu = _cpu_of(ui_pid)
            since, used, load, opened = time.time(), cpu(), os.getloadavg()[0], _sessions(url)
            records, last_end, used_at_end = _await_ingest(instance, launched, files, cpu)
            opened = {db: n - opened.get(db, 0) for db, n in _sessions(url).items()}
            figures["ingest"] = last_end - since
            first = min(r.create_timestamp.timestamp() for r in records) - since
            first_start = min(r.start_time for r in records) - since
            drop_runs = len(records)
            if not ingest_only:
                started, before, load_before, opened_before = time.perf_counter(), cpu(), os.getloadavg()[0], _sessions(url)
                run_id = client.submit_job_execution("nightly_refresh", run_config={})
                follow(instance, run_id)
                figures["refresh"] = time.perf_counter() - started
                after, refresh_opened = cpu(), _sessions(url)
        print(f"  the services were ready {figures['services ready']:.1f} s after gmoda ui started (ingest from its start: "
              f"{figures['services ready'] + figures['ingest']:.1f} s); the sensors requested the first drop's run "
              f"{first:.1f} s after the services were ready; it started at {first_start:.1f} s")
        print(f"  CPU seconds from the services being ready to the drops' end (load average {load:.1f} -> "
              f"{os.getloadavg()[0]:.1f}): " + ", ".join(f"{name} {used_at_end[name] - used[name]:.1f}" for name in used)
              + f"; in all {sum(used_at_end.values()) - sum(used.values()):.1f}")
        print("  PostgreSQL sessions opened, by database, until the drops' runs were all seen: "
              + ", ".join(f"{db} {n}" for db, n in sorted(opened.items()) if n))
        if not ingest_only:
            print(f"  nightly_refresh: CPU seconds (load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}): "
                  + ", ".join(f"{name} {after[name] - before[name]:.1f}" for name in after)
                  + f"; in all {sum(after.values()) - sum(before.values()):.1f}; PostgreSQL sessions opened: "
                  + ", ".join(f"{db} {n - opened_before.get(db, 0)}" for db, n in sorted(refresh_opened.items())
                              if n - opened_before.get(db, 0)))
        longest = sorted(records, key=lambda r: r.start_time - r.end_time)[:5]  # what can make the ingest's tail
        print("  longest drop runs (start, seconds from the services being ready; partition): " + ", ".join(
            f"{r.start_time - since:.0f}+{r.end_time - r.start_time:.0f} {r.dagster_run.tags.get('dagster/partition', '')}"
            for r in longest))
    if ingest_only:
        figures["refresh"] = 0.0
        print(f"{way}: set-up {figures['set-up']:.1f} s (not counted); ingest {figures['ingest']:.1f} s ({drop_runs} "
              f"drop runs: {_ledger(url)})")
    else:
        status = instance.get_run_by_id(run_id).status.value
        print(f"{way}: set-up {figures['set-up']:.1f} s (not counted); ingest {figures['ingest']:.1f} s ({drop_runs} "
              f"drop runs: {_ledger(url)}); nightly_refresh {status} in {figures['refresh']:.1f} s; "
              f"ingest + refresh {figures['ingest'] + figures['refresh']:.1f} s")
        print_layers(layers(instance, run_id))
        print("  slowest steps: " + ", ".join(f"{step} {seconds:.1f} s" for step, seconds in slowest_steps(instance, run_id)))
    database.stop_embedded()
    if not keep:
        shutil.rmtree(home)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=["small", "gm"], default="gm")
    parser.add_argument("--skip-in-process", action="store_true")
    parser.add_argument("--skip-scheduled", action="store_true")
    parser.add_argument("--ingest-only", action="store_true", help="stop once the drops have loaded: no refresh")
    parser.add_argument("--keep", action="store_true", help="keep each way's home (a warehouse of several GB at GM)")
    parser.add_argument("--way", choices=WAYS, help=argparse.SUPPRESS)  # the child process that runs one way
    args = parser.parse_args()

    if args.way:
        print("FIGURES " + json.dumps(_way(args.way, args.scale, args.keep, args.ingest_only)), flush=True)
        return 0
    totals = {}
    for way in (w for w in WAYS if not getattr(args, f"skip_{w.replace('-', '_')}")):
        command = [sys.executable, __file__, "--way", way, "--scale", args.scale] + (["--keep"] if args.keep else []) \
            + (["--ingest-only"] if args.ingest_only else [])
        child = subprocess.run(command, stdout=subprocess.PIPE, text=True)
        lines = child.stdout.splitlines()
        print("\n".join(line for line in lines if not line.startswith("FIGURES ")), flush=True)
        if child.returncode:
            return child.returncode
        figures = json.loads(next(line for line in lines if line.startswith("FIGURES "))[len("FIGURES "):])
        totals[way] = figures["ingest"] + figures["refresh"]
    if len(totals) == 2:
        print(f"orchestration share of the scheduled run, ingest to the last layer: "
              f"{1 - totals['in-process'] / totals['scheduled']:.0%} (as scheduled {totals['scheduled']:.1f} s, "
              f"in process {totals['in-process']:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
