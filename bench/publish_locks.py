"""Benchmark: which locks each way of publishing a rebuilt fact takes on the dimensions it references, and for how long.

    .venv/bin/python bench/publish_locks.py [--rows 100000]

On a scratch database of the bench's PostgreSQL (made and dropped here), a fact of ``--rows`` rows under foreign
keys to two dimensions is published from a candidate each way, in one transaction. After each statement it
prints the statement's seconds, the locks the publishing session then holds on the dimensions (from
``pg_locks``; each is held until the transaction commits) and whether a reader of a dimension (``SELECT`` with a
200 ms ``lock_timeout``) has to wait. The ways:

* the platform's: ``TRUNCATE`` and ``INSERT``, each row's foreign keys checked by a trigger;
* drop the foreign keys, ``INSERT``, add them again (validated by one query each);
* a new table with the foreign keys added after its rows, swapped in by dropping (or renaming) the old one;
* a partition of a partitioned fact, the new one attached (its foreign keys validated) and the old one dropped.
"""

from __future__ import annotations

import argparse
import sys
import time

from bench_warehouse import OUT

DATABASE = "gmoda_publish_locks"
DIMENSIONS = ("dim_a", "dim_b")
SETUP = """
DROP TABLE IF EXISTS fact, fact_new, fact_old, fact__rows, candidate, dim_a, dim_b CASCADE;
CREATE TABLE dim_a (a_key integer PRIMARY KEY, label text);
CREATE TABLE dim_b (b_key integer PRIMARY KEY, label text);
INSERT INTO dim_a SELECT g, 'a' FROM generate_series(-1, 1000) AS g;
INSERT INTO dim_b SELECT g, 'b' FROM generate_series(-1, 1000) AS g;
CREATE UNLOGGED TABLE candidate (fact_key integer NOT NULL, record_key text NOT NULL, a_key integer NOT NULL,
                                 b_key integer NOT NULL);
INSERT INTO candidate SELECT g, md5(g::text), g % 1000, g * 7 % 1000 FROM generate_series(1, %(rows)s) AS g;
"""
PLAIN = """
CREATE TABLE fact (fact_key integer PRIMARY KEY, record_key text NOT NULL UNIQUE,
                   a_key integer NOT NULL REFERENCES dim_a (a_key), b_key integer NOT NULL REFERENCES dim_b (b_key));
INSERT INTO fact SELECT * FROM candidate;
"""
PARTITIONED = """
CREATE TABLE fact (fact_key integer PRIMARY KEY, record_key text NOT NULL,
                   a_key integer NOT NULL REFERENCES dim_a (a_key), b_key integer NOT NULL REFERENCES dim_b (b_key))
    PARTITION BY RANGE (fact_key);
CREATE TABLE fact__rows PARTITION OF fact (UNIQUE (record_key)) FOR VALUES FROM (MINVALUE) TO (MAXVALUE);
INSERT INTO fact SELECT * FROM candidate;
"""
ADD_KEYS = ("ALTER TABLE {} ADD FOREIGN KEY (a_key) REFERENCES dim_a (a_key), "
            "ADD FOREIGN KEY (b_key) REFERENCES dim_b (b_key)")
NEW_TABLE = ["CREATE TABLE fact_new (LIKE fact INCLUDING ALL)", "INSERT INTO fact_new SELECT * FROM candidate",
             ADD_KEYS.format("fact_new")]
WAYS = {
    "truncate and insert (a trigger per row and key)": (PLAIN, [
        "TRUNCATE fact", "INSERT INTO fact SELECT * FROM candidate"]),
    "drop the keys, insert, add the keys": (PLAIN, [
        "TRUNCATE fact", "ALTER TABLE fact DROP CONSTRAINT fact_a_key_fkey, DROP CONSTRAINT fact_b_key_fkey",
        "INSERT INTO fact SELECT * FROM candidate", ADD_KEYS.format("fact")]),
    "new table with its keys, old one dropped": (PLAIN, [
        *NEW_TABLE, "DROP TABLE fact", "ALTER TABLE fact_new RENAME TO fact"]),
    "new table with its keys, old one renamed (to drop later)": (PLAIN, [
        *NEW_TABLE, "ALTER TABLE fact RENAME TO fact_old", "ALTER TABLE fact_new RENAME TO fact"]),
    "(later) the old table dropped": (None, ["DROP TABLE fact_old"]),
    "partition: old one dropped, new one attached": (PARTITIONED, [
        "CREATE TABLE fact_new (LIKE fact INCLUDING DEFAULTS, UNIQUE (record_key))",
        "INSERT INTO fact_new SELECT * FROM candidate", "ALTER TABLE fact_new ADD PRIMARY KEY (fact_key)",
        "DROP TABLE fact__rows", "ALTER TABLE fact ATTACH PARTITION fact_new FOR VALUES FROM (MINVALUE) TO (MAXVALUE)",
        "ALTER TABLE fact_new RENAME TO fact__rows"]),
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    import psycopg

    home = OUT / "home" / "pgdata"
    if not (home / "postmaster.pid").exists():
        print(f"start the bench's PostgreSQL first: GMODA_HOME={OUT / 'home'} .venv/bin/gmoda db start")
        return 1
    server = f"postgresql://postgres:@/{{}}?host={home}"
    with psycopg.connect(server.format("postgres"), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        admin.execute(f"CREATE DATABASE {DATABASE}")
    url = server.format(DATABASE)
    try:
        for way, (table, statements) in WAYS.items():
            if table:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(SETUP.replace("%(rows)s", str(args.rows)) + table)
            print(f"\n{way}")
            with (psycopg.connect(url, autocommit=True) as publisher, psycopg.connect(url, autocommit=True) as watcher,
                  psycopg.connect(url, autocommit=True) as reader):
                reader.execute("SET lock_timeout = '200ms'")
                held = None  # seconds of the statements since the first lock on a dimension (probes not counted)
                with publisher.transaction():
                    for statement in statements:
                        started = time.perf_counter()
                        publisher.execute(statement)
                        seconds = time.perf_counter() - started
                        locks = watcher.execute(
                            "SELECT c.relname || ': ' || string_agg(l.mode, ', ' ORDER BY l.mode) FROM pg_locks AS l "
                            "JOIN pg_class AS c ON c.oid = l.relation WHERE l.pid = %s AND l.granted "
                            "AND c.relname = ANY(%s) GROUP BY c.relname ORDER BY c.relname",
                            (publisher.info.backend_pid, list(DIMENSIONS))).fetchall()
                        try:
                            reader.execute("SELECT count(*) FROM dim_a")
                            waits = "no"
                        except psycopg.errors.LockNotAvailable:
                            waits = "WAITS"
                        if locks or held is not None:
                            held = (held or 0) + seconds
                        print(f"  {statement[:72]:72s} {seconds:6.3f} s | reader of a dimension: {waits:5s} | "
                              f"{'; '.join(r[0] for r in locks) or 'no lock on a dimension'}")
                    if held is not None:
                        print(f"  locks on the dimensions held {held:.3f} s, until commit")
    finally:
        with psycopg.connect(server.format("postgres"), autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
