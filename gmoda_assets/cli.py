"""``gmoda``: what the platform team runs by hand (Dagster's own UI and CLI do the rest).

  gmoda db start|stop|status|url|init   the warehouse server (embedded unless GMODA_DATABASE_URL is set)
  gmoda simulate --out DIR              realistic partner drops for demos and tests
  gmoda ingest                          load every new file in the landing zone, as Dagster runs
  gmoda refresh                         run the nightly_refresh job now
  gmoda run                             the whole thing on simulated data, with a summary (make run)
  gmoda summary                         rows per table, drops and quarantined files
  gmoda drops held|accept               drops the volume guard holds back from staging; accept one
  gmoda ui                              code server, webserver and daemon; the UI on localhost:3000 (make ui)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from gmoda_assets.ingest import drop_review
from gmoda_assets.lib import database, settings
from gmoda_assets.lib.contracts import partners

TRUTH_DIR = "GMODA_TRUTH_DIR"  # read by gmoda_assets.lib.settings.truth_dir


def _setup_warehouse() -> str:
    """Schemas, roles, functions and tables (sql/), every feed's raw table and the comments of the tables past
    raw; idempotent."""
    from gmoda_assets.ingest.loader import ensure_raw_table
    from gmoda_assets.lib.contracts import feed_contracts

    from gmoda_assets.definitions import TABLE_SPECS
    from gmoda_assets.lib.tables import comment_changes, shape_changes

    url = database.warehouse_url()
    database.apply_sql(url)
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        for contract in feed_contracts():
            ensure_raw_table(conn, contract)
        for table in (t for spec in TABLE_SPECS for t in (spec, *spec.companions)):
            # A table whose CREATE TABLE is its spec's is made here once, by the role that builds and owns it.
            # One of another shape is left to its next build, which remakes it when it publishes.
            if table.primary_key and (changes := shape_changes(conn, table)):
                if conn.execute("SELECT to_regclass(%s)", (table.qualified_name,)).fetchone()[0]:
                    continue
                conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(database.TRANSFORMER)))
                for change in changes:
                    conn.execute(change)
                conn.execute("RESET ROLE")
            # The tables' comments are their specs' descriptions.
            for change in comment_changes(conn, table):
                conn.execute(change)
    return url


def cmd_db(args) -> int:
    if args.action == "start":
        url = _setup_warehouse()
        print(f"{database.server_status()}\nwarehouse: {url}")
    elif args.action == "init":
        from gmoda_assets.lib.instance import get_instance

        url = _setup_warehouse()
        get_instance()  # drops of an older Dagster instance moved to their feeds' partitions definitions
        print(f"schemas, roles and raw tables are in place in {url}")
    elif args.action == "stop":
        if not database.is_embedded():
            print("GMODA_DATABASE_URL is set: that server is not the platform's to stop.", file=sys.stderr)
            return 1
        print("stopped" if database.stop_embedded() else "not running")
    elif args.action == "status":
        status = database.server_status()
        print(status)
        return 0 if status.running else 3
    elif args.action == "url":
        print(database.sqlalchemy_url(database.dagster_url()) if args.dagster else database.warehouse_url())
    return 0


def cmd_simulate(args) -> int:
    from gmoda_assets.simulate import simulate

    summary = simulate(Path(args.out), scale=args.scale, seed=args.seed, months=args.months,
                       truth_dir=Path(args.truth) if args.truth else None)
    print(summary)
    return 0


def _definitions():
    from gmoda_assets.definitions import defs

    return defs


def cmd_ingest(args) -> int:
    from gmoda_assets.ingest.runner import ingest_landing_zone
    from gmoda_assets.lib.instance import get_instance
    from gmoda_assets.resources import LocalLandingZone

    _setup_warehouse()
    report = ingest_landing_zone(get_instance(), _definitions(), LocalLandingZone.from_settings(), args.partner)
    _print_ingest(report)
    return 0 if not report.tally.failures or args.allow_quarantine else 1


def _print_ingest(report) -> None:
    t = report.tally
    print(f"Landing zone {settings.landing_dir()}: {report.files_seen} files, {t.runs} new drops run "
          f"({t.runs - t.runs_failed} succeeded, {t.runs_failed} failed), "
          f"{len(report.already_held)} already held")
    notes = (
        ("RUN {}: its process had died; marked failed", report.dead_runs),
        ("LOADED AGAIN (registered before, never recorded): {}", report.retried),
        ("FAILED: {}", t.failures),
        ("NOT LOADED (no live data-sharing agreement; left in the landing zone): {}", report.held_back),
        ("NOT YET (still being written; left for the next ingest): {}", report.unsettled),
        ("NOT NOW (another run is loading it): {}", report.in_flight),
        ("REFUSED (never read or moved): {}", report.refused),
    )
    for template, items in notes:
        for item in items:
            print("  " + template.format(item))


def cmd_refresh(args) -> int:
    from gmoda_assets.ingest.runner import refresh
    from gmoda_assets.lib.instance import get_instance

    tally = refresh(get_instance(), _definitions(), in_process=args.in_process)
    print(f"nightly_refresh: {'succeeded' if not tally.runs_failed else 'FAILED'}; {tally.materialisations} assets materialised")
    for message in tally.failures:
        print(f"  FAILED: {message}")
    return 1 if tally.runs_failed else 0


def cmd_run(args) -> int:
    """The main job: simulate partner drops, ingest them, refresh everything downstream, and summarise."""
    from gmoda_assets.ingest.runner import ingest_landing_zone, refresh
    from gmoda_assets.lib.instance import get_instance
    import psycopg

    from gmoda_assets.lib.summary import print_summary
    from gmoda_assets.linkage.quality import print_quality
    from gmoda_assets.resources import LocalLandingZone
    from gmoda_assets.simulate import simulate

    _setup_warehouse()
    print(f"Warehouse: {database.server_status()}")
    sim = simulate(settings.landing_dir(), scale=args.scale, seed=args.seed, months=args.months)
    print(sim)
    instance = get_instance()
    defs = _definitions()
    # The simulator has written and closed every file it made: they have settled, so no need to wait.
    report = ingest_landing_zone(instance, defs, LocalLandingZone.from_settings(), settle_seconds=0)
    _print_ingest(report)
    # A simulation has a truth: the linkage quality asset measures the linkage against it, in this run.
    before = os.environ.get(TRUTH_DIR)
    os.environ[TRUTH_DIR] = str(sim.truth_dir)
    try:
        tally = refresh(instance, defs, in_process=args.in_process)
    finally:
        if before is None:
            del os.environ[TRUTH_DIR]
        else:
            os.environ[TRUTH_DIR] = before
    print_summary(database.warehouse_url(), [report.tally, tally])
    with psycopg.connect(database.warehouse_url()) as conn:
        print_quality(conn)
    return 1 if tally.runs_failed else 0


def cmd_summary(args) -> int:
    from gmoda_assets.lib.summary import print_summary

    print_summary(database.warehouse_url(), [])
    return 0


def cmd_ui(args) -> int:
    from gmoda_assets.lib import services
    from gmoda_assets.lib.instance import get_instance

    _setup_warehouse()
    get_instance()  # the Dagster environment, and drops of an older instance moved to their feeds
    os.chdir(settings.project_dir())
    return services.run(args.host, args.port, code_port=args.code_port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gmoda", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="the warehouse PostgreSQL server")
    db.add_argument("action", choices=["start", "stop", "status", "url", "init"])
    db.add_argument("--dagster", action="store_true", help="with url: print the Dagster storage URL")
    db.set_defaults(func=cmd_db)

    sim = sub.add_parser("simulate", help="write realistic partner drops into a landing zone")
    sim.add_argument("--out", required=True, help="landing zone folder to write drops into")
    sim.add_argument("--scale", choices=["small", "gm"], default="small")
    sim.add_argument("--seed", type=int, default=42)
    sim.add_argument("--months", type=int, default=3, help="monthly delivery rounds to simulate")
    sim.add_argument("--truth", help="folder for the ground truth (default: beside --out, never inside it)")
    sim.set_defaults(func=cmd_simulate)

    ingest = sub.add_parser("ingest", help="load every new file in the landing zone through Dagster runs")
    ingest.add_argument("--partner", action="append", choices=list(partners()), metavar="PARTNER",
                        help="only this partner, an id in partners.yaml (repeatable)")
    ingest.add_argument("--allow-quarantine", action="store_true", help="exit 0 even if files were quarantined")
    ingest.set_defaults(func=cmd_ingest)

    in_process = {"action": "store_true", "help": "run the refresh's steps in turn in this process, not each in its own "
                                                  "as the schedule does (quicker on small data)"}
    refresh = sub.add_parser("refresh", help="run the nightly_refresh job now")
    refresh.add_argument("--in-process", **in_process)
    refresh.set_defaults(func=cmd_refresh)

    run = sub.add_parser("run", help="simulate, ingest, refresh and summarise (the main job)")
    run.add_argument("--scale", choices=["small", "gm"], default="small")
    run.add_argument("--seed", type=int, default=42)
    run.add_argument("--months", type=int, default=3)
    run.add_argument("--in-process", **in_process)
    run.set_defaults(func=cmd_run)

    sub.add_parser("summary", help="rows per table, drops, quarantined files").set_defaults(func=cmd_summary)

    drop_review.add_parser(sub)

    ui = sub.add_parser("ui", help="Dagster code server, webserver and daemon, each its own process")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.add_argument("--code-port", type=int, help="the code server's port (default: a free one)")
    ui.set_defaults(func=cmd_ui)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
