"""How good the linkage is, measured against a simulation's truth: for tests, ``bench/linkage.py`` and the
linkage quality asset where a truth folder is configured (``GMODA_TRUTH_DIR``); production never needs, nor
reads, the truth.

``true_people`` reads the simulator's ``record_links.csv.gz`` (the true person of every delivered row) beside a
landing zone and places it on the staged records; ``pairwise``, ``clusters``, ``by_partner_pair`` and
``measures`` are the arithmetic. A pair is two records of one person; a linkage's pairs are those its people
make. Pairwise precision is the share of its pairs that are true, recall the share of true pairs it makes.
Cluster precision is the share of the people it finds that are exactly a true person (all their records and
no other), cluster recall the share of true people it finds exactly.
"""

from __future__ import annotations

from pathlib import Path

from psycopg import sql

from gmoda_assets.conform.staging import staging_table
from gmoda_assets.lib.contracts import feed_contracts
from gmoda_assets.linkage import records

TRUTH = "truth"  # DuckDB table: feed_id, record_key, true_person


def true_people(conn, duck, truth_dir: Path) -> int:
    """``TRUTH``: each staged record's true person, from the file and row it was staged from (the row's drop
    names its file in ops.drops)."""
    rows = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {feed} AS feed_id, s.record_key, d.file_name, s._row_number FROM {staged} s "
                "JOIN ops.drops d ON d.drop_id = s._drop_id").format(
            feed=sql.Literal(c.feed_id), staged=sql.Identifier("staging", staging_table(c)))
        for c in feed_contracts())
    records.load(conn, duck, rows, "staged_rows", {"feed_id": "text", "record_key": "text", "file_name": "text",
                                                   "row": "integer"})
    duck.execute(f"""CREATE OR REPLACE TABLE {TRUTH} AS
        SELECT s.feed_id, s.record_key, t.person_id AS true_person FROM staged_rows s
        JOIN read_csv('{truth_dir / "record_links.csv.gz"}', header = true, all_varchar = true) t
          ON t.feed_id = s.feed_id AND t.file_name = s.file_name AND t.row::INTEGER = s.row""")
    return duck.execute(f"SELECT count(*) FROM {TRUTH}").fetchone()[0]


def _ratio(part, whole):
    return part / whole if whole else None


def pairwise(duck, labelled: str) -> dict:
    """Pairwise precision, recall and F1 of ``labelled`` (a DuckDB query: true_person, person per record)."""
    tp, predicted, true = duck.execute(f"""
        WITH l AS ({labelled}),
        cells AS (SELECT count(*) AS n FROM l GROUP BY person, true_person),
        people AS (SELECT count(*) AS n FROM l GROUP BY person),
        truths AS (SELECT count(*) AS n FROM l GROUP BY true_person)
        SELECT (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM cells),
               (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM people),
               (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM truths)""").fetchone()
    precision, recall = _ratio(tp, predicted), _ratio(tp, true)
    return {"precision": precision, "recall": recall, "f1": _f1(precision, recall), "pairs": int(predicted),
            "true_pairs": int(true), "true_positive_pairs": int(tp)}


def _f1(precision, recall):
    return 2 * precision * recall / (precision + recall) if precision and recall else None


def clusters(duck, labelled: str) -> dict:
    """Cluster precision and recall of ``labelled`` (true_person, person per record): people found exactly."""
    exact, found, true = duck.execute(f"""
        WITH l AS ({labelled}),
        cells AS (SELECT person, true_person, count(*) AS n FROM l GROUP BY ALL),
        people AS (SELECT person, count(*) AS n FROM l GROUP BY ALL),
        truths AS (SELECT true_person, count(*) AS n FROM l GROUP BY ALL)
        SELECT (SELECT count(*) FROM cells c JOIN people p USING (person) JOIN truths t USING (true_person)
                WHERE c.n = p.n AND c.n = t.n),
               (SELECT count(*) FROM people), (SELECT count(*) FROM truths)""").fetchone()
    return {"precision": _ratio(exact, found), "recall": _ratio(exact, true), "people": found, "true_people": true}


def _pairs_between(group_by: str) -> str:
    """Pairs of records in the same ``group_by`` (person or true_person) by their partners' classes."""
    return f"""SELECT a.class AS a, b.class AS b,
                      sum(CASE WHEN a.class = b.class THEN a.n * (a.n - 1) / 2 ELSE a.n * b.n END) AS pairs
               FROM (SELECT {group_by}_g AS g, class, count(*) AS n FROM cells GROUP BY ALL) a
               JOIN (SELECT {group_by}_g AS g, class, count(*) AS n FROM cells GROUP BY ALL) b
                 ON a.g = b.g AND a.class <= b.class GROUP BY ALL"""


def by_partner_pair(duck, labelled: str) -> dict[str, dict]:
    """``pairwise`` per pair of partner classes (``class`` in ``labelled``: nhs, council, police, housing)."""
    found = duck.execute(f"""
        WITH l AS ({labelled}),
        cells AS (SELECT person AS person_g, true_person AS true_person_g, person::VARCHAR || '|' || true_person AS cell_g,
                         class FROM l),
        tp AS ({_pairs_between("cell")}), predicted AS ({_pairs_between("person")}),
        truth AS ({_pairs_between("true_person")})
        SELECT a, b, coalesce(tp.pairs, 0), coalesce(predicted.pairs, 0), coalesce(truth.pairs, 0)
        FROM truth FULL JOIN predicted USING (a, b) LEFT JOIN tp USING (a, b) ORDER BY a, b""").fetchall()
    out = {}
    for a, b, tp, predicted, true in found:
        precision, recall = _ratio(tp, predicted), _ratio(tp, true)
        out[f"{a}-{b}"] = {"precision": precision, "recall": recall, "f1": _f1(precision, recall),
                           "pairs": int(predicted), "true_pairs": int(true)}
    return out


def measures(duck, labelled: str) -> dict[str, dict]:
    """Scope (``all``, or a pair of partner classes) -> pairwise precision, recall and F1, pairs found and true,
    and cluster precision and recall among the records of the scope's classes (``labelled``: true_person,
    person and class per record)."""
    overall = pairwise(duck, labelled)
    out = {"all": {**overall, "clusters": clusters(duck, labelled)}}
    for pair, found in by_partner_pair(duck, labelled).items():
        a, b = pair.split("-")
        out[pair] = {**found, "clusters": clusters(duck, f"SELECT * FROM ({labelled}) WHERE class IN ('{a}', '{b}')")}
    return out


PARTNER_CLASS = ("CASE WHEN feed_id LIKE 'nhs.%' THEN 'nhs' WHEN feed_id LIKE 'gmp.%' THEN 'police' "
                 "WHEN feed_id LIKE 'stockport_homes.%' THEN 'housing' ELSE 'council' END")
