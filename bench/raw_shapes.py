"""Benchmark: what each part of a raw table's shape costs COPY. One delivered file is copied, as the loader
copies it, into variants of its raw table (and into a bare table of text columns), in alternating rounds on the
bench warehouse, each variant emptied before its copy.

    .venv/bin/python bench/raw_shapes.py [FILE] [--rounds 5]

FILE defaults to the GM health-visiting reviews drop (735,339 rows), simulated by ``bench/raw_load.py``. Prints
for each variant its best and median wall seconds, the best CPU seconds of the PostgreSQL backend that ran the
COPY (read from /proc: the embedded server runs on this machine; steadier than wall time on a shared machine),
each as a ratio to the bare table's, the table's size, and the load average over the rounds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from bench_warehouse import OUT, cpu_seconds

DROP_ID = "nhs.hv_reviews/GM_CHIS_HV_Reviews_20250901.csv@0123456789ab"
DROP_ID_COLUMN = ", _drop_id text NOT NULL DEFAULT current_setting('gmoda.drop_id')"
DROP_NUMBER_COLUMN = ", _drop integer NOT NULL DEFAULT current_setting('gmoda.drop')::integer"
ROW_NUMBER_COLUMN = ", _row_number integer NOT NULL DEFAULT nextval('bench_shapes.row_seq')"
# name: (lineage columns, what finds a drop's rows: a BRIN index on a column, a partition per drop, or nothing).
# A partition per drop is a table made in the load's transaction, copied into directly and then attached; its
# options: "check" (a CHECK constraint on the drop id spares the attach its scan), "constant" (the drop id is the
# new table's constant default rather than read from a setting for every row), "freeze" (COPY FREEZE), "first"
# (attached while still empty, so the attach has nothing to scan, and then copied into), "identity" (row numbers
# from an identity column of the drop's own table, counting from 1, rather than the feed's sequence through
# nextval), "number" (partitioned by a 4-byte drop number rather than the drop id).
VARIANTS = {
    "bare text columns": ("", None),
    "raw table (drop id, row number, BRIN on drop id)": (DROP_ID_COLUMN + ROW_NUMBER_COLUMN, "brin:_drop_id"),
    "drop id, row number, no index": (DROP_ID_COLUMN + ROW_NUMBER_COLUMN, None),
    "drop id alone, no index": (DROP_ID_COLUMN, None),
    "row number alone, no index": (ROW_NUMBER_COLUMN, None),
    "4-byte drop number, row number, BRIN on it": (DROP_NUMBER_COLUMN + ROW_NUMBER_COLUMN, "brin:_drop"),
    "4-byte drop number, row number, no index": (DROP_NUMBER_COLUMN + ROW_NUMBER_COLUMN, None),
    "partition per drop, attach scans it, FREEZE": (DROP_ID_COLUMN + ROW_NUMBER_COLUMN, "partition:freeze"),
    "partition per drop, CHECK, FREEZE": (DROP_ID_COLUMN + ROW_NUMBER_COLUMN, "partition:check:freeze"),
    "partition per drop, CHECK": (DROP_ID_COLUMN + ROW_NUMBER_COLUMN, "partition:check"),
    "partition per drop, constant drop id, CHECK": (DROP_ID_COLUMN + ROW_NUMBER_COLUMN, "partition:check:constant"),
    "partition per drop, constant drop id, CHECK, FREEZE": (DROP_ID_COLUMN + ROW_NUMBER_COLUMN,
                                                            "partition:check:constant:freeze"),
    "partition per drop, constant drop id, attach scans it": (DROP_ID_COLUMN + ROW_NUMBER_COLUMN,
                                                              "partition:constant"),
    "partition per drop attached empty, constant drop id": (DROP_ID_COLUMN + ROW_NUMBER_COLUMN, "partition:constant:first"),
    "partition per drop attached empty, constant drop id, FREEZE": (DROP_ID_COLUMN + ROW_NUMBER_COLUMN,
                                                                    "partition:constant:first:freeze"),
    "that, row numbers from the drop table's identity": (DROP_ID_COLUMN + ROW_NUMBER_COLUMN,
                                                         "partition:constant:first:freeze:identity"),
    "that, no row number": (DROP_ID_COLUMN, "partition:constant:first:freeze"),
    "that, by a 4-byte drop number (no drop id), identity": (DROP_NUMBER_COLUMN + ROW_NUMBER_COLUMN,
                                                             "partition:constant:first:freeze:identity:number"),
    "that, by a 4-byte drop number (no drop id), no row number": (DROP_NUMBER_COLUMN,
                                                                   "partition:constant:first:freeze:number"),
    "that, by a 4-byte drop number (no drop id), row numbers from the feed's sequence (the loader's)": (
        DROP_NUMBER_COLUMN + ROW_NUMBER_COLUMN, "partition:constant:first:freeze:number"),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", nargs="?", type=Path,
                        default=OUT / "gm-seed42-months3" / "landing" / "nhs" / "GM_CHIS_HV_Reviews_20250901.csv")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", help="copy only into the variants whose names contain one of these comma-separated "
                                       "words (and the bare table)")
    args = parser.parse_args()
    variants = {name: shape for name, shape in VARIANTS.items() if name == "bare text columns" or not args.only
                or any(word in name for word in args.only.split(","))}

    os.environ["GMODA_HOME"] = str(OUT / "home")
    os.environ.pop("GMODA_DATABASE_URL", None)
    import psycopg
    from psycopg import sql

    from gmoda_assets.cli import _setup_warehouse
    from gmoda_assets.ingest.loader import SNIFF_BYTES, check_header
    from gmoda_assets.lib.contracts import match_file

    contract = match_file(args.file.parent.name, args.file.name)
    data = args.file.read_bytes()
    file_columns = check_header(contract, DROP_ID, args.file.name, data[:SNIFF_BYTES])
    text_columns = sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c.db_name)) for c in contract.columns)
    short = {name: f"v{i}" for i, name in enumerate(variants)}
    table = {name: sql.Identifier("bench_shapes", short[name]) for name in variants}
    url = _setup_warehouse()
    wall = {name: [] for name in variants}
    cpu = {name: [] for name in variants}
    loads = [os.getloadavg()[0]]
    with psycopg.connect(url, autocommit=True) as conn:
        backend = conn.info.backend_pid
        conn.execute("DROP SCHEMA IF EXISTS bench_shapes CASCADE")
        conn.execute("CREATE SCHEMA bench_shapes")
        conn.execute("CREATE SEQUENCE bench_shapes.row_seq CACHE 10000")  # as the loader draws row numbers
        for name, (lineage, finder) in variants.items():
            conn.execute(sql.SQL("CREATE TABLE {} ({}{}){}").format(
                table[name], text_columns, sql.SQL(lineage),
                sql.SQL("" if not finder or not finder.startswith("partition")
                        else " PARTITION BY LIST (_drop)" if "number" in finder else " PARTITION BY LIST (_drop_id)")))
            if finder and finder.startswith("brin:"):
                conn.execute(sql.SQL("CREATE INDEX ON {} USING brin ({}) WITH (pages_per_range = 16, autosummarize = on)")
                             .format(table[name], sql.Identifier(finder.removeprefix("brin:"))))
        for round_ in range(args.rounds):
            for name in list(variants) if round_ % 2 == 0 else list(variants)[::-1]:
                finder = variants[name][1] or ""
                options = finder.split(":")[1:]
                partitioned = finder.startswith("partition")
                conn.execute(sql.SQL("TRUNCATE {}").format(table[name]))
                target, drop_id = table[name], f"{DROP_ID}#{round_}"
                key, drop_key = ("_drop", round_ + 1) if "number" in options else ("_drop_id", drop_id)
                if partitioned:
                    target = sql.Identifier("bench_shapes", f"{short[name]}_drop")  # the drop's partition
                    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(target))
                started, used = time.perf_counter(), cpu_seconds(backend)
                with conn.transaction(), conn.cursor() as cur:
                    cur.execute("SELECT set_config('gmoda.drop_id', %s, true), set_config('gmoda.drop', '123', true), "
                                "setval('bench_shapes.row_seq', 1, false)", (drop_id,))
                    attach = sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES IN ({})").format(
                        table[name], target, sql.Literal(drop_key))
                    if partitioned:  # made in the load's transaction, so COPY may write its rows frozen
                        cur.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS{})").format(
                            target, table[name], sql.SQL(", CHECK (_drop_id = {})").format(sql.Literal(drop_id))
                            if "check" in options else sql.SQL("")))
                        if "constant" in options:
                            cur.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}").format(
                                target, sql.Identifier(key), sql.Literal(drop_key)))
                        if "identity" in options:  # cached as the feed's sequence is: no sequence page per row
                            cur.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN _row_number DROP DEFAULT").format(target))
                            cur.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN _row_number ADD GENERATED ALWAYS AS "
                                                "IDENTITY (CACHE 10000)").format(target))
                        if "first" in options:
                            cur.execute(attach)
                    copy_sql = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, HEADER true, DELIMITER {}, QUOTE {}, "
                                       "ENCODING {}{})").format(
                        target, sql.SQL(", ").join(map(sql.Identifier, file_columns)), sql.Literal(contract.delimiter),
                        sql.Literal(contract.quote), sql.Literal(contract.pg_encoding),
                        sql.SQL(", FREEZE true" if "freeze" in options else ""))
                    with cur.copy(copy_sql) as copy:
                        for at in range(0, len(data), 1 << 20):
                            copy.write(data[at:at + (1 << 20)])
                    rows = cur.rowcount
                    if partitioned and "first" not in options:  # proves the rows are the drop's: by a scan,
                        cur.execute(attach)  # or by the CHECK each row passed
                wall[name].append(time.perf_counter() - started)
                cpu[name].append(cpu_seconds(backend) - used)
            loads.append(os.getloadavg()[0])
        print(f"{args.file.name}: {rows:,} rows, {len(data) / 1e6:.1f} MB, {args.rounds} alternating rounds")
        bare_wall, bare_cpu = min(wall["bare text columns"]), min(cpu["bare text columns"])
        ratio = lambda bare, this: f"{bare / this:4.2f}x" if this else "   -"  # noqa: E731 (CPU is counted in ticks)
        for name in variants:
            size = conn.execute("SELECT pg_total_relation_size(%s) + (SELECT coalesce(sum(pg_total_relation_size(relid)), 0) "
                                "FROM pg_partition_tree(%s) WHERE level > 0)",
                                (table[name].as_string(conn),) * 2).fetchone()[0]
            print(f"  {name:<55} wall best {min(wall[name]):5.2f} s (median {sorted(wall[name])[len(wall[name]) // 2]:5.2f})"
                  f" {ratio(bare_wall, min(wall[name]))} | backend CPU best {min(cpu[name]):5.2f} s "
                  f"{ratio(bare_cpu, min(cpu[name]))} | {float(size) / 1e6:6.1f} MB")
        print("  ratios: the bare table's best over the variant's (1.00x: as fast as bare)")
        print("  load average (1 min) over the rounds: " + " ".join(f"{load:.1f}" for load in loads))
        conn.execute("DROP SCHEMA bench_shapes CASCADE")
    return 0


if __name__ == "__main__":
    sys.exit(main())
