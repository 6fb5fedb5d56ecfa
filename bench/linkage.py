"""Benchmark: the record linkage at Greater Manchester scale, measured against the simulator's truth.

    .venv/bin/python bench/linkage.py [--months 3] [--seed 42]

Uses the warehouse `bench/conform.py` built (run `bench/raw_load.py` and `bench/conform.py` first, or `make
bench`): reads every record of staging.linkage_features, links them as the `linked/model_runs` asset does
(exact identifiers, then the trained Splink model) and prints the wall time, records per second and the
process's peak memory; then, against the truth the simulation wrote beside its landing zone, pairwise precision,
recall and F1 at several thresholds (the configured one marked), per pair of partners at the configured one,
and the people found against the true people. Nothing is written to the warehouse.
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
    args = parser.parse_args()
    os.environ["GMODA_HOME"] = str(OUT / "home")
    os.environ.pop("GMODA_DATABASE_URL", None)
    truth_dir = OUT / f"gm-seed{args.seed}-months{args.months}" / "landing_truth"
    if not truth_dir.is_dir():
        print(f"no simulation at {truth_dir}: run bench/raw_load.py and bench/conform.py first")
        return 1

    import duckdb
    from splink import DuckDBAPI

    from gmoda_assets.cli import _setup_warehouse
    from gmoda_assets.linkage import engine, evaluation, records
    from gmoda_assets.linkage.config import linkage_config
    from gmoda_assets.resources import Warehouse

    _setup_warehouse()
    config = linkage_config()
    duck = duckdb.connect()
    started = time.perf_counter()
    with Warehouse().connect() as conn:
        columns = records.record_columns(config)
        count = records.load(conn, duck, records.records_query(config), "loaded", columns,
                             hashed=tuple(c for c in columns if c.endswith("_pseudonym")))
        if not count:
            print("staging.linkage_features is empty: run bench/conform.py first")
            return 1
        duck.execute(f"CREATE TABLE {engine.RECORDS} AS SELECT row_number() OVER (ORDER BY feed_id, record_key) "
                     "AS record_id, * FROM loaded")
        duck.execute("DROP TABLE loaded")
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
    db_api = DuckDBAPI(connection=duck)
    print(f"\n{'threshold':>10} {'precision':>10} {'recall':>10} {'F1':>10} {'people':>10}  (true people {true_people:,})")
    for threshold in sorted({*THRESHOLDS, config.match_probability}):
        engine.people(duck, db_api, threshold, config.vetoes)
        found = evaluation.pairwise(duck, labels)
        people = duck.execute(f"SELECT count(DISTINCT cluster_id) FROM {engine.RESULT}").fetchone()[0]
        mark = "  <- configured" if threshold == config.match_probability else ""
        print(f"{threshold:>10} {_f(found['precision']):>10} {_f(found['recall']):>10} {_f(found['f1']):>10} "
              f"{people:>10,}{mark}")
    engine.people(duck, db_api, config.match_probability, config.vetoes)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
