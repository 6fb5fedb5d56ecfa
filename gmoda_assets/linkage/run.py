"""One run of the linkage: records out of PostgreSQL, people linked in DuckDB, stable keys, results back.

``run_linkage`` reads every record of ``staging.linkage_features`` (with the exact identifiers of its feed's
staging table), links them (``gmoda_assets.linkage.engine``), gives each person their stable key
(``gmoda_assets.linkage.keys``) against the live ``linked.person_records``, and writes, in one transaction,
the run (``linked.model_runs``: trained model and figures) and its output (``linked.linkage_output``, each
record's person, ``linked.household_output``, each person's household, and ``linked.review_output``, the pairs
to review), from which the linked tables are built, checked and published. Reviewers' decisions
(``linked.review_decisions``) are read first and applied (``gmoda_assets.linkage.review``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from psycopg import Connection, sql

from gmoda_assets.linkage import engine, households, keys, records, review
from gmoda_assets.linkage.config import LinkageConfig

HOUSEHOLD_COLUMNS = ["person_key", "household_key", "evidence", "run_id"]
OUTPUT_COLUMNS = ["record_key", "feed_id", "person_key", "previous_person_key", "match_probability", "match_method",
                  "run_id"]
# The highest person key ever given: live, retired into the dimension, or named in a change.
_HIGHEST_KEY = """SELECT greatest((SELECT max(person_key) FROM linked.person_records),
                                 (SELECT max(person_key) FROM conformed.dim_person),
                                 (SELECT max(greatest(old_person_key, new_person_key)) FROM linked.person_key_changes),
                                 0)"""


@dataclass
class Run:
    run_id: int
    model: dict
    figures: dict
    seconds: float


def run_linkage(conn: Connection, config: LinkageConfig, dagster_run: str) -> Run:
    """Link every record and write the run and its output through ``conn`` (in one transaction)."""
    import duckdb

    conn.execute("SELECT pg_advisory_lock(hashtext('linked.linkage_output'))")
    started, clock = datetime.now(timezone.utc), time.monotonic()
    duck = duckdb.connect()
    try:
        records.load_records(conn, duck, config)
        records.load(conn, duck, review.LATEST_DECISIONS, review.DECISIONS, review.DECISION_COLUMNS)
        linkage = engine.link(duck, config, review.DECISIONS)
        queued = review.queue(duck, config, linkage.model)
        records.load(conn, duck, sql.SQL("SELECT feed_id, record_key, person_key FROM linked.person_records"),
                     keys.PREVIOUS, {"feed_id": "text", "record_key": "text", "person_key": "integer"})
        figures = {**linkage.figures, **queued, **keys.assign(duck, conn.execute(_HIGHEST_KEY).fetchone()[0]),
                   **households.households(duck, config)}
        outputs = [sql.Identifier("linked", t) for t in ("linkage_output", "household_output", "review_output")]
        with conn.transaction(), records.foreign_keys_checked_once(conn, outputs):
            # One linkage at a time (the caller holds the lock), so the next number is free.
            run_id = conn.execute("SELECT coalesce(max(run_id), 0) + 1 FROM linked.model_runs").fetchone()[0]
            conn.execute("INSERT INTO linked.model_runs (run_id, dagster_run, started_at, finished_at, model, figures) "
                         "VALUES (%s, %s, %s, now(), %s, %s)",
                         (run_id, dagster_run, started, json.dumps(linkage.model), json.dumps(figures)))
            conn.execute("TRUNCATE linked.linkage_output")
            # In key order: each row then extends the primary key's index at its end, where random order made
            # every row a lookup and a page write (41 s at Greater Manchester scale, a third of the run).
            records.store(duck, f"SELECT record_key, feed_id, person_key, previous_person_key, match_probability, "
                                f"match_method, {run_id} FROM {keys.KEYED} ORDER BY record_key",
                          conn, sql.Identifier("linked", "linkage_output"), OUTPUT_COLUMNS)
            conn.execute("TRUNCATE linked.household_output")
            records.store(duck, f"SELECT person_key, household_key, evidence, {run_id} FROM {households.HOUSEHOLDS}",
                          conn, sql.Identifier("linked", "household_output"), HOUSEHOLD_COLUMNS)
            conn.execute("TRUNCATE linked.review_output")
            records.store(duck, f"""SELECT q.record_key_l, q.feed_id_l, kl.person_key, q.record_key_r, q.feed_id_r,
                                           kr.person_key, q.match_probability, q.match_weight, q.linked, q.evidence,
                                           {run_id}
                                    FROM {review.REVIEW} q JOIN {keys.KEYED} kl ON kl.record_key = q.record_key_l
                                    JOIN {keys.KEYED} kr ON kr.record_key = q.record_key_r""",
                          conn, sql.Identifier("linked", "review_output"), review.OUTPUT_COLUMNS)
    finally:
        duck.close()
    return Run(run_id, linkage.model, figures, time.monotonic() - clock)
