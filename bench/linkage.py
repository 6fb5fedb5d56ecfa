"""Benchmark: the record linkage at Greater Manchester scale, measured against the simulator's truth.

    .venv/bin/python bench/linkage.py [--months 3] [--seed 42] [--misses]

Uses the warehouse `bench/conform.py` built (run `bench/raw_load.py` and `bench/conform.py` first, or `make
bench`): reads every record of staging.linkage_features, links them as the `linked/model_runs` asset does
(exact identifiers, then the trained Splink model) and prints the wall time, records per second and the
process's peak memory; then, against the truth the simulation wrote beside its landing zone, pairwise precision,
recall and F1 at several thresholds (the configured one marked), per pair of partners at the configured one,
and the people found against the true people; with --misses, where the missed NHS-council links are (the best
score between the two parts of each split child, and the level each comparison agrees at). Nothing is written
to the warehouse.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
THRESHOLDS = (0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999)


def _f(value) -> str:
    return "   -  " if value is None else f"{value:.4f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--months", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--misses", action="store_true", help="where the missed NHS-council links are")
    args = parser.parse_args()
    os.environ["GMODA_HOME"] = str(OUT / "home")
    os.environ.pop("GMODA_DATABASE_URL", None)
    truth_dir = OUT / f"gm-seed{args.seed}-months{args.months}" / "landing_truth"
    if not truth_dir.is_dir():
        print(f"no simulation at {truth_dir}: run bench/raw_load.py and bench/conform.py first")
        return 1

    import duckdb

    from gmoda_assets.cli import _setup_warehouse
    from gmoda_assets.linkage import engine, evaluation, records
    from gmoda_assets.linkage.config import linkage_config
    from gmoda_assets.resources import Warehouse

    _setup_warehouse()
    config = linkage_config()
    duck = duckdb.connect()
    started = time.perf_counter()
    with Warehouse().connect() as conn:
        count = records.load_records(conn, duck, config)
        if not count:
            print("staging.linkage_features is empty: run bench/conform.py first")
            return 1
        loaded = time.perf_counter() - started
        linkage = engine.link(duck, config)
        seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
        figures = linkage.figures
        print(f"linked {count:,} records in {seconds:.1f} s ({count / seconds:,.0f} records/s; reading them from "
              f"PostgreSQL {loaded:.1f} s), peak memory {peak:.2f} GiB")
        print(f"  exact groups {figures['exact_groups']:,}, profiles {figures['profiles']:,}, pairs scored "
              f"{figures['pairs_scored']:,}, pairs at or above {config.match_probability} "
              f"{figures['pairs_matched']:,}, people {figures['people']:,}")
        print(f"  records by method: {figures['records_by_method']}")
        evaluation.true_people(conn, duck, truth_dir)

    labels = (f"SELECT t.true_person, r.cluster_id AS person, {evaluation.PARTNER_CLASS} AS class "
              f"FROM {engine.RESULT} r JOIN {evaluation.TRUTH} t USING (feed_id, record_key)")
    true_people = duck.execute(f"SELECT count(DISTINCT true_person) FROM {evaluation.TRUTH}").fetchone()[0]
    print(f"\n{'threshold':>10} {'precision':>10} {'recall':>10} {'F1':>10} {'people':>10}  (true people {true_people:,})")
    for threshold in sorted({*THRESHOLDS, config.match_probability}):
        engine.people(duck, threshold, config.vetoes)
        found = evaluation.pairwise(duck, labels)
        people = duck.execute(f"SELECT count(DISTINCT cluster_id) FROM {engine.RESULT}").fetchone()[0]
        mark = "  <- configured" if threshold == config.match_probability else ""
        print(f"{threshold:>10} {_f(found['precision']):>10} {_f(found['recall']):>10} {_f(found['f1']):>10} "
              f"{people:>10,}{mark}")
    engine.people(duck, config.match_probability, config.vetoes)
    print(f"\nat {config.match_probability}, by pair of partners:")
    print(f"{'pair':>18} {'precision':>10} {'recall':>10} {'pairs':>12} {'true pairs':>12}")
    for pair, found in evaluation.by_partner_pair(duck, labels).items():
        print(f"{pair:>18} {_f(found['precision']):>10} {_f(found['recall']):>10} {found['pairs']:>12,} "
              f"{found['true_pairs']:>12,}")
    sizes = duck.execute(f"""
        SELECT count(*) FILTER (WHERE n = 1), count(*) FILTER (WHERE n > 1 AND t = 1), count(*) FILTER (WHERE t > 1)
        FROM (SELECT r.cluster_id, count(*) AS n, count(DISTINCT t.true_person) AS t FROM {engine.RESULT} r
              JOIN {evaluation.TRUTH} t USING (feed_id, record_key) GROUP BY 1)""").fetchone()
    print(f"\npeople found {figures['people']:,} against {true_people:,} true people: {sizes[0]:,} of one record, "
          f"{sizes[1]:,} of several records of one true person, {sizes[2]:,} joining two or more true people")
    if args.misses:
        _misses(duck, config, linkage.model)
    return 0


def _misses(duck, config, model) -> None:
    """Where the missed NHS-council links are: per true person split between an NHS and a council fragment,
    the best-scored pair of their profiles (or none: no blocking rule admitted any), and the level each
    comparison of that pair agrees at, weighed by the record pairs missed."""
    from gmoda_assets.linkage import engine, evaluation, review

    levels, _ = review._evidence(config, model)
    duck.execute(f"""CREATE OR REPLACE TABLE fragments AS
        SELECT t.true_person, r.cluster_id, rec.profile_id, {evaluation.PARTNER_CLASS} AS class
        FROM {engine.RESULT} r JOIN {evaluation.TRUTH} t USING (feed_id, record_key)
        JOIN {engine.RECORDS} rec USING (feed_id, record_key)""")
    duck.execute("""CREATE OR REPLACE TABLE missed AS
        WITH n AS (SELECT true_person, cluster_id, class, count(*) AS records FROM fragments
                   WHERE class IN ('nhs', 'council') GROUP BY ALL)
        SELECT a.true_person, a.cluster_id AS cluster_nhs, b.cluster_id AS cluster_council,
               a.records * b.records AS pairs
        FROM n a JOIN n b ON a.true_person = b.true_person AND a.cluster_id <> b.cluster_id
        WHERE a.class = 'nhs' AND b.class = 'council'""")
    duck.execute("""CREATE OR REPLACE TABLE best AS
        SELECT m.true_person, m.cluster_nhs, m.cluster_council, any_value(m.pairs) AS pairs,
               arg_max(p.unique_id_l, p.match_probability) AS uid_l, arg_max(p.unique_id_r, p.match_probability)
               AS uid_r, max(p.match_probability) AS probability,
               min(fa.profile_id) AS any_l, min(fb.profile_id) AS any_r
        FROM missed m
        JOIN fragments fa ON fa.true_person = m.true_person AND fa.cluster_id = m.cluster_nhs AND fa.class = 'nhs'
        JOIN fragments fb ON fb.true_person = m.true_person AND fb.cluster_id = m.cluster_council
             AND fb.class = 'council'
        LEFT JOIN (SELECT unique_id_l, unique_id_r, match_probability FROM predictions
                   UNION ALL SELECT unique_id_r, unique_id_l, match_probability FROM predictions) p
               ON p.unique_id_l = fa.profile_id AND p.unique_id_r = fb.profile_id
        GROUP BY ALL""")
    total = duck.execute("SELECT sum(pairs) FROM best").fetchone()[0] or 0
    print(f"\nmissed NHS-council record pairs: {total:,}, by the best score between the two fragments:")
    for row in duck.execute("""SELECT CASE WHEN probability IS NULL THEN 'never scored (blocking)'
                                          WHEN probability >= 0.99 THEN 'scored >= 0.99 (vetoed)'
                                          WHEN probability >= 0.9 THEN '0.9-0.99' WHEN probability >= 0.5 THEN '0.5-0.9'
                                          ELSE '< 0.5' END AS band, sum(pairs), count(*)
                               FROM best GROUP BY 1 ORDER BY 2 DESC""").fetchall():
        print(f"  {row[0]:<28} {row[1]:>10,} record pairs, {row[2]:>8,} fragment pairs")
    names = [c.name for c in config.comparisons]
    duck.execute(f"""CREATE OR REPLACE TABLE missed_levels AS
        SELECT b.pairs, b.probability IS NULL AS unscored, {levels}
        FROM best b JOIN profiles l ON l.unique_id = coalesce(b.uid_l, b.any_l)
        JOIN profiles r ON r.unique_id = coalesce(b.uid_r, b.any_r)""")
    for name in names:
        found = duck.execute(f"SELECT level_{name}, sum(pairs) FROM missed_levels GROUP BY 1 ORDER BY 2 DESC"
                             ).fetchall()
        print(f"  {name:<14} " + ", ".join(f"{level} {n / total:.0%}" for level, n in found))
    print("  commonest combinations (share of missed record pairs; * never scored):")
    for row in duck.execute(f"""SELECT {', '.join(f'level_{n}' for n in names)}, bool_or(unscored), sum(pairs)
                                FROM missed_levels GROUP BY ALL ORDER BY sum(pairs) DESC LIMIT 12""").fetchall():
        print(f"    {row[-1] / total:6.1%}{'*' if row[-2] else ' '} " + " | ".join(row[:-2]))


if __name__ == "__main__":
    sys.exit(main())
