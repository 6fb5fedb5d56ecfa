"""Stable person keys: a person keeps their key from one run to the next, whatever arrives meanwhile.

The model's clusters are numbered afresh at each run; a key is what everything downstream stores. So each
cluster takes the key its records held before (in the live ``linked.person_records``):

* a key goes to the cluster holding most of its records (ties: the lower cluster number), so when a person's
  records split, the larger part keeps the key and the rest gets a new one (a **split**);
* a cluster that wins several keys keeps the one with most of its records (ties: the older, lower key), and
  the others are retired into it (a **merge**);
* a cluster that wins none (a new person, or the smaller part of a split) gets a new key, above every key ever
  given, so a retired key is never reused.

Each record carries the key it held before (``previous_person_key``), so the change of key of every record,
and hence each merge and split, is on the record (``linked.person_key_changes`` keeps them all).
"""

from __future__ import annotations

from gmoda_assets.linkage.engine import RESULT

PREVIOUS = "previous_keys"  # DuckDB table: feed_id, record_key, person_key of the live linked.person_records
KEYED = "keyed_records"  # DuckDB table: RESULT's columns, person_key and previous_person_key


def assign(duck, highest_key: int) -> dict:
    """``KEYED``: each record of ``RESULT`` with its stable person key; returns the run's key figures."""
    duck.execute(f"""CREATE OR REPLACE TABLE overlap AS
        SELECT r.cluster_id, p.person_key, count(*) AS n
        FROM {RESULT} r JOIN {PREVIOUS} p USING (feed_id, record_key) GROUP BY ALL""")
    duck.execute(f"""CREATE OR REPLACE TABLE cluster_keys AS
        WITH won AS (SELECT DISTINCT ON (person_key) person_key, cluster_id, n FROM overlap
                     ORDER BY person_key, n DESC, cluster_id),
        kept AS (SELECT DISTINCT ON (cluster_id) cluster_id, person_key FROM won
                 ORDER BY cluster_id, n DESC, person_key),
        fresh AS (SELECT cluster_id, {highest_key} + row_number() OVER (ORDER BY cluster_id) AS person_key
                  FROM (SELECT DISTINCT cluster_id FROM {RESULT}) WHERE cluster_id NOT IN (SELECT cluster_id FROM kept))
        SELECT * FROM kept UNION ALL SELECT * FROM fresh""")
    duck.execute(f"""CREATE OR REPLACE TABLE {KEYED} AS
        SELECT r.*, k.person_key, p.person_key AS previous_person_key
        FROM {RESULT} r JOIN cluster_keys k USING (cluster_id) LEFT JOIN {PREVIOUS} p USING (feed_id, record_key)""")
    one = lambda q: duck.execute(q).fetchone()[0]  # noqa: E731
    return {
        "people_kept": one(f"SELECT count(*) FROM cluster_keys WHERE person_key <= {highest_key}"),
        "people_new": one(f"SELECT count(*) FROM cluster_keys WHERE person_key > {highest_key}"),
        "keys_merged": one(f"SELECT count(DISTINCT previous_person_key) FROM {KEYED} WHERE previous_person_key "
                           f"NOT IN (SELECT person_key FROM cluster_keys)"),
        "keys_split": one(f"SELECT count(DISTINCT previous_person_key) FROM {KEYED} WHERE previous_person_key <> "
                          f"person_key AND previous_person_key IN (SELECT person_key FROM cluster_keys)"),
        "keys_retired": one(f"SELECT count(DISTINCT person_key) FROM {PREVIOUS} WHERE person_key NOT IN "
                            f"(SELECT previous_person_key FROM {KEYED} WHERE previous_person_key IS NOT NULL)"),
    }
