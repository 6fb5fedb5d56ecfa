"""Benchmark: one asset above raw built alone, in process, on the bench warehouse as the last refresh left it.

    .venv/bin/python bench/step.py conformed/fact_births [synthetic/children ...] [--md5-only]

Materialises each named asset on its own (one in-process Dagster run each, its checks included) and prints the
step's seconds, this process's CPU seconds over the run (every thread: on a shared 2-core machine, steadier than
the wall time, and what the step takes from the one beside it in a refresh) and the PostgreSQL server's (where
a SQL step's work is), the seconds of its Great Expectations
validation, the load average before and after, the checks that refused it, and an md5 of each table it writes (of
every row's md5, as text, in sorted order; a staging table's rejects too), so a change can be shown to leave the rows as they were. A refused
step records no duration: the run's own seconds stand in for it. Great Expectations and scikit-learn are imported
before the clock starts, as a refresh's earlier steps have imported them. ``--md5-only`` prints the digests of
the live tables without building anything.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

from bench_warehouse import OUT, open_bench_warehouse

# The tables an asset writes besides its own (and a staging table's rejects, <table>__rejects).
ALSO_WRITES = {"synthetic.children": ("synthetic.children_quality",)}


def cpu_seconds() -> float:
    """CPU seconds of this process so far, every thread included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def server_cpu_seconds() -> float:
    """CPU seconds of the bench's PostgreSQL so far: the postmaster's, its ended backends' (reaped into the
    postmaster's children's times) and its running processes'."""
    postmaster = (OUT / "home" / "pgdata" / "postmaster.pid").read_text().split()[0]
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        if stat.parent.name == postmaster:
            total += sum(map(int, fields[11:15]))  # utime, stime, cutime, cstime
        elif fields[1] == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def digests(url: str, table: str) -> list[tuple[str, int, str]]:
    """(table, rows, md5 of its rows in sorted text order) of ``table`` and the tables its asset also writes."""
    import psycopg
    from psycopg import sql

    found = []
    with psycopg.connect(url) as conn:
        rejects = conn.execute("SELECT to_regclass(%s)::text", (f"{table}__rejects",)).fetchone()[0]
        for name in (table, *ALSO_WRITES.get(table, ()), *([rejects] if rejects else [])):
            rows, digest = conn.execute(sql.SQL("SELECT count(*), md5(coalesce(string_agg(r, '' ORDER BY r COLLATE \"C\"), '')) "
                                                "FROM (SELECT md5(t::text) AS r FROM {} AS t) AS rows").format(
                sql.Identifier(*name.split(".")))).fetchone()
            found.append((name, rows, digest))
    return found


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("assets", nargs="+", help="asset keys, e.g. conformed/fact_births, staging/nhs/births")
    parser.add_argument("--md5-only", action="store_true")
    args = parser.parse_args()
    url = open_bench_warehouse()
    if url is None:
        return 1
    from dagster import AssetKey, AssetSelection, materialize

    from gmoda_assets.definitions import defs
    from gmoda_assets.resources import Warehouse

    graph = defs.resolve_asset_graph()
    import great_expectations  # noqa: F401  imported once per refresh: an earlier step has paid for it
    import sklearn.calibration  # noqa: F401  and so have the synthetic and linkage steps
    failed = False
    for name in args.assets:
        key = AssetKey(name.split("/"))
        table = graph.get(key).metadata["dagster/table_name"]
        if not args.md5_only:
            load, cpu, server, started = os.getloadavg()[0], cpu_seconds(), server_cpu_seconds(), time.perf_counter()
            result = materialize([a for a in defs.assets if key in a.keys], resources={"warehouse": Warehouse()},
                                 selection=AssetSelection.assets(key),
                                 run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
                                 raise_on_error=False)
            total, cpu, server = time.perf_counter() - started, cpu_seconds() - cpu, server_cpu_seconds() - server
            step = next((e.event_specific_data.duration_ms / 1000 for e in result.all_events if e.is_step_success),
                        total)
            checks = next((e.event_specific_data.metadata["validation_seconds"].value for e in result.all_events
                           if e.event_type_value == "ASSET_CHECK_EVALUATION"
                           and "validation_seconds" in e.event_specific_data.metadata), float("nan"))
            refused = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
            failed |= not result.success
            outcome = "succeeded" if result.success else "FAILED" + (f" (refused by {', '.join(refused)})" if refused else "")
            print(f"{name}: {outcome}; step {step:.1f} s, CPU {cpu:.1f} s, PostgreSQL CPU {server:.1f} s (validation "
                  f"{checks:.1f} s), "
                  f"run {total:.1f} s; load {load:.2f} -> {os.getloadavg()[0]:.2f}")
        for table_name, rows, digest in digests(url, table):
            print(f"  {table_name}: {rows:,} rows, md5 {digest}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
