"""Benchmark: the raw checks' Great Expectations validation of every drop a home holds, as each drop's run makes it.

    .venv/bin/python bench/raw_validation.py [--home DIR] [--rounds 2]

For each loaded drop in the ledger, validates the feed's raw checks on the drop's rows (``validate_in_postgres`` on
what ``ingest.checks.drop_rows`` gives, as the raw asset does), in one process: prints the first validation's seconds apart (a run's worker
makes one, with GE imported but nothing else done yet), the others' seconds and CPU seconds a validation, and an
md5 over every check result's metadata (``bench/validation.py``'s digest), to show a change leaves them as they
were. ``--home``: the platform home whose drops to validate (default: the bench warehouse's, which
``bench/raw_load.py`` fills; a month of small drops is ``gmoda simulate --scale small`` then ``gmoda ingest``).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time

from bench_warehouse import OUT
from validation import metadata_digest


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", default=str(OUT / "home"))
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    os.environ["GMODA_HOME"] = args.home
    os.environ.pop("GMODA_DATABASE_URL", None)
    import psycopg

    from gmoda_assets.cli import _setup_warehouse
    from gmoda_assets.ingest.checks import drop_rows, raw_checks
    from gmoda_assets.lib import database
    from gmoda_assets.lib.contracts import feed_contracts
    from gmoda_assets.lib.quality import validate_in_postgres
    from gmoda_assets.resources import Warehouse

    contracts = {c.feed_id: c for c in feed_contracts()}
    with psycopg.connect(_setup_warehouse()) as conn:
        drops = [(drop_id, contracts[feed_id], rows, drop_rows(conn, contracts[feed_id], drop_id, number))
                 for drop_id, feed_id, rows, number in conn.execute(
                     "SELECT drop_id, feed_id, rows_delivered, drop_number FROM ops.drops WHERE status = 'loaded' "
                     "ORDER BY drop_id")]
    if len(drops) < 2:
        print(f"{args.home} holds {len(drops)} loaded drop(s): load some first")
        return 1
    url = Warehouse().as_role(database.LOADER).sqlalchemy_url

    import great_expectations  # noqa: F401  a run's worker is forked with it imported

    for round_ in range(1, args.rounds + 1):
        load, seconds, digests = os.getloadavg()[0], [], []
        for i, (drop_id, contract, rows, checked) in enumerate(drops):
            if i == 1:
                cpu = time.process_time()
            started = time.perf_counter()
            results = validate_in_postgres(url, checked, raw_checks(contract, rows), contract.asset_key,
                                           metadata={"drop": drop_id})
            seconds.append(time.perf_counter() - started)
            digests += [f"{drop_id} {r.check_name} {r.passed} {metadata_digest(r)}" for r in results]
        cpu, others = time.process_time() - cpu, len(drops) - 1
        print(f"round {round_}: {len(drops)} drops, {len(digests)} check results; first validation {seconds[0]:.3f} s; "
              f"the others {sum(seconds[1:]) / others:.3f} s and {cpu / others:.3f} CPU s each; "
              f"load {load:.2f} -> {os.getloadavg()[0]:.2f}; md5 of every result "
              f"{hashlib.md5(chr(10).join(digests).encode()).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
