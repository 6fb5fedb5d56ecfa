"""Benchmark: where an asset's Great Expectations validation spends its time, on the bench warehouse's live table.

    .venv/bin/python bench/validation.py conformed/fact_births [staging/linkage_features ...] [--rounds 2]

Runs each named asset's checks alone (a Dagster run that selects only the asset's checks, so they validate the
live table, as a refresh validates the candidate it then publishes) and prints, per round, the validation's
seconds, this process's CPU seconds and the PostgreSQL server's, and each SQL statement Great Expectations sent
that took 0.05 s or more (its seconds and the start of its text), with the rest of the time: GE's own Python.
Also each check's verdict, failing rows and an md5 of its metadata (all but the seconds), to show a change
leaves the results as they were.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time

from bench_warehouse import open_bench_warehouse
from step import cpu_seconds, server_cpu_seconds

SHOWN = 0.05  # seconds: statements quicker than this are summed, not listed


def metadata_digest(evaluation) -> str:
    """md5 of a check result's metadata but the validation's seconds and which failing values the samples show
    (only how many): a sample is the first rows a scan finds, and PostgreSQL starts a scan of a large table where
    the last one left off (synchronized scans), so the same validation shows other rows from run to run."""
    shown = {k: v.value for k, v in evaluation.metadata.items() if k not in ("validation_seconds", "failures")}
    shown["results"] = [{**r, "sample": len(r["sample"])} if "sample" in r else r for r in shown.get("results", [])]
    return hashlib.md5(json.dumps(shown, sort_keys=True, default=str).encode()).hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("assets", nargs="+", help="asset keys, e.g. conformed/fact_births")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    if open_bench_warehouse() is None:
        return 1
    from dagster import AssetKey, AssetSelection, DagsterInvalidDefinitionError, materialize
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from gmoda_assets.definitions import defs
    from gmoda_assets.resources import Warehouse

    import great_expectations  # noqa: F401  imported once per refresh, before any validation

    statements: list[tuple[float, str]] = []

    @event.listens_for(Engine, "before_cursor_execute")
    def _started(conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("started", []).append(time.perf_counter())

    @event.listens_for(Engine, "after_cursor_execute")
    def _ended(conn, cursor, statement, parameters, context, executemany):
        statements.append((time.perf_counter() - conn.info["started"].pop(), statement))

    for name in args.assets:
        key = AssetKey(name.split("/"))
        for round_ in range(1, args.rounds + 1):
            statements.clear()
            load, cpu, server, started = os.getloadavg()[0], cpu_seconds(), server_cpu_seconds(), time.perf_counter()
            try:
                result = materialize([a for a in defs.assets if key in a.keys], resources={"warehouse": Warehouse()},
                                     selection=AssetSelection.checks_for_assets(key),
                                     run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
                                     raise_on_error=False)
            except DagsterInvalidDefinitionError:
                print(f"{name}: its checks cannot run without building it (not subsettable); skipped")
                break
            total, cpu, server = time.perf_counter() - started, cpu_seconds() - cpu, server_cpu_seconds() - server
            evaluations = result.get_asset_check_evaluations()
            seconds = evaluations[0].metadata["validation_seconds"].value if evaluations else float("nan")
            in_sql = sum(s for s, _ in statements)
            print(f"{name} round {round_}: validation {seconds:.2f} s, of which SQL {in_sql:.2f} s in "
                  f"{len(statements)} statements; run {total:.1f} s, CPU {cpu:.1f} s, PostgreSQL CPU {server:.1f} s; "
                  f"load {load:.2f} -> {os.getloadavg()[0]:.2f}")
            for s, text in statements:
                if s >= SHOWN:
                    print(f"  {s:7.2f} s  {' '.join(text.split())[:150]}")
            for e in sorted(evaluations, key=lambda e: e.check_name):
                print(f"  check {e.check_name}: {'passed' if e.passed else 'FAILED'}, "
                      f"failing rows {e.metadata['failing_rows'].value}, md5 of its metadata {metadata_digest(e)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
