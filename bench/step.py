"""Benchmark: one asset above raw built alone, in process, on the bench warehouse as the last refresh left it.

    .venv/bin/python bench/step.py conformed/fact_births [synthetic/children ...] [--md5-only]

Materialises each named asset on its own (one in-process Dagster run each, its checks included) and prints the
step's seconds, the seconds of its one Great Expectations validation, its rows, the load average, and an md5 of
each table it writes (of every row's md5, as text, in sorted order), so a change can be shown to leave the rows as they
were. Great Expectations is imported before the clock starts, as an earlier step of a refresh has imported
it. ``--md5-only`` prints the digests of the live tables without building anything.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from bench_warehouse import open_bench_warehouse

# The tables an asset writes besides its own.
ALSO_WRITES = {"synthetic.children": ("synthetic.children_quality",),
               "staging.nhs__hv_reviews": ("staging.nhs__hv_reviews__rejects",),
               "staging.nhs__births": ("staging.nhs__births__rejects",)}


def digests(url: str, table: str) -> list[tuple[str, int, str]]:
    """(table, rows, md5 of its rows in sorted text order) of ``table`` and the tables its asset also writes."""
    import psycopg
    from psycopg import sql

    found = []
    with psycopg.connect(url) as conn:
        for name in (table, *ALSO_WRITES.get(table, ())):
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
    failed = False
    for name in args.assets:
        key = AssetKey(name.split("/"))
        table = graph.get(key).metadata["dagster/table_name"]
        if not args.md5_only:
            started = time.perf_counter()
            result = materialize([a for a in defs.assets if key in a.keys], resources={"warehouse": Warehouse()},
                                 selection=AssetSelection.assets(key),
                                 run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
                                 raise_on_error=False)
            total = time.perf_counter() - started
            step = next((e.event_specific_data.duration_ms / 1000 for e in result.all_events if e.is_step_success),
                        float("nan"))
            checks = next((e.event_specific_data.metadata["validation_seconds"].value for e in result.all_events
                           if e.event_type_value == "ASSET_CHECK_EVALUATION"
                           and "validation_seconds" in e.event_specific_data.metadata), float("nan"))
            failed |= not result.success
            print(f"{name}: {'succeeded' if result.success else 'FAILED'}; step {step:.1f} s (validation {checks:.1f} s), "
                  f"run {total:.1f} s; load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for table_name, rows, digest in digests(url, table):
            print(f"  {table_name}: {rows:,} rows, md5 {digest}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
