"""Benchmark: load a Greater-Manchester-scale set of partner drops into raw, and compare the platform's loader
(hash, header check, streamed COPY, lineage columns, all-or-nothing, ledger) with a bare ``COPY`` of the same
files into tables of text columns, file by file in the same run, against the same embedded PostgreSQL.

    .venv/bin/python bench/raw_load.py [--scale gm] [--months 3] [--seed 42] [--dagster] [--to-sql]

Prints rows per second for each, and the ratio, in wall time and in CPU seconds (this process's and the
PostgreSQL backend's that served it, read from /proc: the embedded server runs on this machine), which a
shared machine's load disturbs less. ``--dagster`` also times ingesting the drops through Dagster
runs with their Great Expectations checks (the way sensors and ``gmoda ingest`` do it); ``--to-sql`` times
pandas ``read_csv`` + ``DataFrame.to_sql`` on the same files.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from bench_warehouse import OUT, cpu_seconds


def bare_copy(conn, contract, path: Path) -> int:
    """The least any load of ``path`` costs: the file streamed as it is into a table of text columns, nothing
    else (no hash, no header check, no lineage, no index, no ledger), in a transaction of its own."""
    from psycopg import sql

    table = sql.Identifier("bench", contract.raw_table)
    columns = sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c.db_name)) for c in contract.columns)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(table, columns))
        with path.open(encoding=contract.encoding, newline="") as text:
            header = next(csv.reader(text, delimiter=contract.delimiter, quotechar=contract.quote))
        by_name = {c.name: c.db_name for c in contract.columns}
        file_columns = [by_name[name.strip().removeprefix("\ufeff")] for name in header]
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, HEADER true, DELIMITER {}, QUOTE {}, ENCODING {})").format(
            table, sql.SQL(", ").join(map(sql.Identifier, file_columns)), sql.Literal(contract.delimiter),
            sql.Literal(contract.quote), sql.Literal(contract.pg_encoding))
        with path.open("rb") as stream, cur.copy(copy_sql) as copy:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                copy.write(chunk)
        return cur.rowcount


def dagster_breakdown(instance, since: float, wall: float, until: float | None = None) -> str:
    """Where the wall time of ingesting through Dagster runs went, from the runs' own records and events: the
    loader (its ``load_seconds``), the Great Expectations checks (``validation_seconds``), the rest of each step,
    each run outside its step, and between runs (scanning, planning, creating runs)."""
    from dagster import DagsterEventType, RunsFilter

    kinds = {DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE,
             DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.ASSET_CHECK_EVALUATION}
    runs = steps = load = checks = 0.0
    records = instance.get_run_records(RunsFilter(
        created_after=datetime.fromtimestamp(since, timezone.utc),
        created_before=datetime.fromtimestamp(until, timezone.utc) if until else None))
    for record in records:
        runs += (record.end_time or record.start_time) - record.start_time
        step_started, validated = None, False
        for event in instance.get_records_for_run(record.dagster_run.run_id, of_type=kinds, limit=1000).records:
            entry, data = event.event_log_entry, event.event_log_entry.dagster_event.event_specific_data
            kind = entry.dagster_event.event_type
            if kind == DagsterEventType.STEP_START:
                step_started = entry.timestamp
            elif kind in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE) and step_started:
                steps += entry.timestamp - step_started
            elif kind == DagsterEventType.ASSET_MATERIALIZATION and "load_seconds" in data.materialization.metadata:
                load += data.materialization.metadata["load_seconds"].value
            elif kind == DagsterEventType.ASSET_CHECK_EVALUATION and not validated and "validation_seconds" in data.metadata:
                checks += data.metadata["validation_seconds"].value  # one validation serves all of a drop's checks
                validated = True
    share = lambda part: f"{part:6.1f} s ({part / wall:4.0%})"  # noqa: E731
    return "\n".join([
        f"  {len(records)} runs; of the {wall:.1f} s:",
        f"  loader (load_drop)                {share(load)}",
        f"  checks (GE validation)            {share(checks)}",
        f"  rest of the steps                 {share(steps - load - checks)}",
        f"  runs outside their step           {share(runs - steps)}",
        f"  between runs (scan, plan, create) {share(wall - runs)}",
        f"  orchestration (all but loader):   {1 - load / wall:.0%}; all but loader and checks: {1 - (load + checks) / wall:.0%}",
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=["small", "gm"], default="gm", help="small: to try the benchmarks out")
    parser.add_argument("--months", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dagster", action="store_true", help="also ingest through Dagster runs with checks")
    parser.add_argument("--to-sql", action="store_true", help="also load the files with read_csv + DataFrame.to_sql")
    args = parser.parse_args()

    os.environ["GMODA_HOME"] = str(OUT / "home")
    os.environ.pop("GMODA_DATABASE_URL", None)
    from gmoda_assets.cli import _setup_warehouse
    from gmoda_assets.ingest.drops import Drop
    from gmoda_assets.ingest.loader import load_drop
    from gmoda_assets.lib import settings
    from gmoda_assets.lib.contracts import match_file
    from gmoda_assets.resources import LocalLandingZone
    from gmoda_assets.simulate import simulate

    drops = OUT / f"{args.scale}-seed{args.seed}-months{args.months}"
    if not drops.exists():
        started = time.perf_counter()
        print(simulate(drops / "landing", scale=args.scale, seed=args.seed, months=args.months))
        print(f"simulated in {time.perf_counter() - started:.1f} s")
    files = sorted((drops / "landing").glob("*/*"))
    size = sum(f.stat().st_size for f in files)
    print(f"{len(files)} files, {size / 1e6:.1f} MB")

    import psycopg
    from psycopg import sql

    url = _setup_warehouse()

    def empty_raw(conn) -> None:
        """Every drop's table dropped (each load makes its own), the ledger emptied."""
        for (table,) in conn.execute("SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent IN "
                                     "(SELECT oid FROM pg_class WHERE relnamespace = 'raw'::regnamespace)").fetchall():
            conn.execute(f"DROP TABLE {table}")
        conn.execute("TRUNCATE ops.drops")

    with psycopg.connect(url, autocommit=True) as conn:
        empty_raw(conn)
        conn.execute("DROP SCHEMA IF EXISTS bench CASCADE; CREATE SCHEMA bench")

    landing = LocalLandingZone(root=str(drops / "landing"), quarantine_root=str(OUT / "quarantine"))
    # File by file, the platform's load and then a bare COPY of the same file, so that both meet the same load
    # on a shared machine.
    rows, bare_rows, loaded_files, platform_s, bare_s = 0, 0, [], 0.0, 0.0
    platform_cpu, bare_cpu = [0.0, 0.0], [0.0, 0.0]  # this process's and its backend's
    load = [os.getloadavg()[0]]
    with psycopg.connect(url, autocommit=True) as conn:
        cpu = lambda: (cpu_seconds(os.getpid()), cpu_seconds(conn.info.backend_pid))  # noqa: E731
        spent = lambda total, used: [t + now - then for t, now, then in zip(total, cpu(), used)]  # noqa: E731
        for path in files:
            contract = match_file(path.parent.name, path.name)
            digest = landing.sha256(contract.partner, path.name)  # the sensor's, when it registers the drop
            started, used = time.perf_counter(), cpu()
            outcome = load_drop(conn, landing, contract, Drop(contract.partner, path.name, contract.feed_id, digest).drop_id)
            platform_s, platform_cpu = platform_s + time.perf_counter() - started, spent(platform_cpu, used)
            rows += outcome.rows_loaded
            if outcome.status == "loaded":
                loaded_files.append(path)
                started, used = time.perf_counter(), cpu()
                bare_rows += bare_copy(conn, contract, path)
                bare_s, bare_cpu = bare_s + time.perf_counter() - started, spent(bare_cpu, used)
    load.append(os.getloadavg()[0])
    print(f"platform loader (COPY):        {rows:>10,} rows in {platform_s:7.2f} s = {rows / platform_s:>10,.0f} rows/s"
          f"  ({len(loaded_files)} files loaded, {len(files) - len(loaded_files)} re-deliveries recognised); "
          f"{sum(platform_cpu):.2f} CPU s ({platform_cpu[0]:.2f} this process, {platform_cpu[1]:.2f} its backend)")
    print(f"bare COPY into text tables:    {bare_rows:>10,} rows in {bare_s:7.2f} s = {bare_rows / bare_s:>10,.0f} rows/s"
          f"; {sum(bare_cpu):.2f} CPU s ({bare_cpu[0]:.2f} this process, {bare_cpu[1]:.2f} its backend)")
    assert bare_rows == rows, f"both loads must see the same rows ({rows} vs {bare_rows})"
    print(f"loader / bare COPY: {bare_s / platform_s:.2f}x the rows per second; {sum(bare_cpu) / sum(platform_cpu):.2f}x by CPU "
          f"seconds (load average {load[0]:.1f} -> {load[1]:.1f})")

    if args.to_sql:
        import pandas as pd
        from sqlalchemy import create_engine

        from gmoda_assets.lib.database import sqlalchemy_url

        engine = create_engine(sqlalchemy_url(url))
        pandas_rows, to_sql_s = 0, 0.0
        started = time.perf_counter()
        for path in loaded_files:  # the same data: re-delivered snapshots are not loaded by either
            contract = match_file(path.parent.name, path.name)
            frame = pd.read_csv(path, sep=contract.delimiter, encoding=contract.encoding, dtype=str, keep_default_na=False)
            t = time.perf_counter()
            frame.to_sql(f"{contract.raw_table}_pandas", engine, schema="bench", if_exists="append", index=False,
                         chunksize=10_000)
            to_sql_s += time.perf_counter() - t
            pandas_rows += len(frame)
        pandas_s = time.perf_counter() - started
        print(f"read_csv + DataFrame.to_sql:   {pandas_rows:>10,} rows in {pandas_s:7.2f} s = "
              f"{pandas_rows / pandas_s:>10,.0f} rows/s  (to_sql alone {pandas_rows / to_sql_s:,.0f} rows/s)")
        print(f"speed-up: {pandas_s / platform_s:.1f}x over read_csv + to_sql, {to_sql_s / platform_s:.1f}x over to_sql alone")

    if args.dagster:
        from gmoda_assets.definitions import defs
        from gmoda_assets.ingest.drops import feed_partitions
        from gmoda_assets.ingest.runner import ingest_landing_zone
        from gmoda_assets.lib.instance import get_instance

        with psycopg.connect(url, autocommit=True) as conn:
            empty_raw(conn)
        instance = get_instance()
        for partitions in feed_partitions.values():
            for key in instance.get_dynamic_partitions(partitions.name):
                instance.delete_dynamic_partition(partitions.name, key)
        shutil.rmtree(settings.landing_dir(), ignore_errors=True)
        shutil.copytree(drops / "landing", settings.landing_dir())
        started, since = time.perf_counter(), time.time()
        report = ingest_landing_zone(instance, defs, LocalLandingZone.from_settings(), settle_seconds=0)  # copied whole
        seconds = time.perf_counter() - started
        print(f"through Dagster runs + GE checks: {report.tally.runs} runs in {seconds:.1f} s = "
              f"{rows / seconds:,.0f} rows/s ({seconds / max(report.tally.runs, 1):.2f} s per drop)")
        print(dagster_breakdown(instance, since, seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
