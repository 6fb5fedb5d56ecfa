"""The short report printed after a run: assets materialised, checks, rows per table, files quarantined."""

from __future__ import annotations

from collections import Counter

from gmoda_assets.lib import settings

LAYERS = ("raw", "staging", "conformed", "linked", "synthetic", "model", "signposting", "mart", "ops")


def table_rows(conn) -> list[tuple[str, int]]:
    """Exact row counts of every table in the warehouse layers (a partitioned fact's rows counted once, as its own,
    not again as its partition's)."""
    from psycopg import sql

    tables = conn.execute(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
        "AND table_schema = ANY(%s) AND NOT (SELECT relispartition FROM pg_class "
        "WHERE oid = format('%%I.%%I', table_schema, table_name)::regclass) "
        "ORDER BY array_position(%s, table_schema::text), table_name",
        (list(LAYERS), list(LAYERS)),
    ).fetchall()
    return [
        (f"{schema}.{name}", conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, name))).fetchone()[0])
        for schema, name in tables
    ]


def print_summary(url: str, tallies: list) -> None:
    import psycopg

    from gmoda_assets.synthetic.release import summary_lines
    from gmoda_assets.school_readiness.evaluation import model_summary

    print("\n=== GM ODA run summary ===")
    if tallies:
        runs = sum(t.runs for t in tallies)
        failed_runs = sum(t.runs_failed for t in tallies)
        materialised = sum(t.materialisations for t in tallies)
        passed = sum(t.checks_passed for t in tallies)
        failed = [c for t in tallies for c in t.checks_failed]
        print(f"Dagster runs: {runs} ({failed_runs} failed)")
        print(f"Assets materialised: {materialised}")
        print(f"Checks: {passed} passed, {len(failed)} failed")
        # By layer: raw warnings flag bad rows a partner sent; a failure above raw is the platform's to fix.
        for (layer, check), n in sorted(Counter((c.split("/", 1)[0], c.split(" ", 1)[1]) for c in failed).items()):
            print(f"  {n:4d} x {layer} {check}")
    with psycopg.connect(url) as conn:
        print("Rows per table:")
        for table, rows in table_rows(conn):
            print(f"  {table:<56} {rows:>10,}")
        ledger = conn.execute(
            "SELECT status, count(*), coalesce(sum(rows_delivered), 0) FROM ops.drops GROUP BY status ORDER BY status"
        ).fetchall()
        print("Drops: " + (", ".join(f"{n} {status} ({rows:,} rows)" for status, n, rows in ledger) or "none yet"))
        held = conn.execute("SELECT drop_id, value, previous_value FROM ops.drops_held_back ORDER BY checked_at").fetchall()
        families = conn.execute("SELECT agency, count(*) FROM signposting.family_involvement GROUP BY agency "
                                "ORDER BY agency").fetchall()
        raised = conn.execute("SELECT lead_agency, alert, count(*) FROM signposting.alerts GROUP BY 1, 2 "
                              "ORDER BY 1, 2").fetchall()
        quarantined = conn.execute(
            "SELECT partner, file_name, reason->>'message' FROM ops.drops WHERE status = 'quarantined' ORDER BY processed_at"
        ).fetchall()
        synthetic = summary_lines(conn)
        model = model_summary(conn)
    for line in model:
        print(line)
    print(f"Drops held back from staging (shrank past the volume guard; `gmoda drops accept` to let through): {len(held)}")
    for drop_id, value, previous in held:
        print(f"  {drop_id}: {value:g} against {previous:g}")
    print("Signposting, households with children known to each agency: "
          + (", ".join(f"{agency} {n:,}" for agency, n in families) or "none yet"))
    print("Signposting alerts raised: " + (", ".join(f"{n:,} {alert} for {lead}" for lead, alert, n in raised)
                                           or "none"))
    print(f"Files quarantined: {len(quarantined)} (in {settings.quarantine_dir()}, each beside <file>.reason.json)")
    for partner, file_name, message in quarantined:
        print(f"  {partner}/{file_name}: {message}")
    print("\n".join(synthetic))
