"""The main job end to end, as `make run` runs it: simulate, ingest, refresh, summarise; and again."""

import re

import psycopg
import pytest

from gmoda_assets.cli import main
from gmoda_assets.lib.summary import table_rows


@pytest.mark.slow
def test_run_twice_changes_no_row_counts(platform, warehouse_url, capsys):
    assert main(["run", "--months", "2", "--seed", "3", "--in-process"]) == 0
    first_out = capsys.readouterr().out
    with psycopg.connect(warehouse_url) as conn:
        first = table_rows(conn)
        drops = conn.execute("SELECT count(*) FROM ops.drops").fetchone()[0]
    assert sum(n for t, n in first if t.startswith("raw.")) > 1000
    assert dict(first)["ops.feed_deliveries"] == 34
    assert dict(first)["conformed.fact_births"] > 100
    for line in ("Assets materialised:", "Checks:", "Rows per table:", "Files quarantined:",
                 "Linkage against the simulation's truth"):
        assert line in first_out
    # Not on a terminal, each stage, drop and step done is a line, counting up to its total.
    for title, unit, total in (("simulate", "stages", 36), ("ingest", "drops", None), ("refresh", "steps", None)):
        counts = [(int(k), int(n)) for k, n in re.findall(rf"^{title}: (\d+)/(\d+) {unit},", first_out, re.M)]
        assert [k for k, _ in counts] == list(range(1, len(counts) + 1)), first_out
        assert {n for _, n in counts} == {len(counts)} and len(counts) == (total or len(counts)) > 10, first_out
    # The linkage measured against the simulation's truth, NHS-council pairs beside their targets.
    assert re.search(r"council-nhs +precision [01]\.\d{3} \(target >= 0\.99\) +recall [01]\.\d{3} \(target >= 0\.97\)",
                     first_out), first_out
    # Raw checks fail, on the bad rows the simulator puts in; staging and later layers pass on its data. The one
    # allowance is a synthetic utility warning: on a hundred children a council, comparing forty key rates
    # (council_key_rates) can put one past its allowance by chance, and a warning is how that is reported.
    failing = [line.split(" x ")[1].split() for line in first_out.splitlines() if " x " in line]
    assert "raw" in {layer for layer, *_ in failing}, first_out
    assert all(layer == "raw" or (layer == "synthetic" and rest[-1:] == ["(warn)"])
               for layer, _check, *rest in failing), first_out
    # Each step acted as its role: ingest (raw, the ledger) as the loader, staging onward as the transformer,
    # which owns what it built; raw stays the administrator's (sql/040_roles.sql).
    with psycopg.connect(warehouse_url) as conn:
        owners = dict(conn.execute(
            "SELECT schemaname, array_agg(DISTINCT tableowner::text) FROM pg_tables "
            "WHERE schemaname IN ('raw', 'staging', 'conformed') OR tablename = 'feed_deliveries' GROUP BY 1").fetchall())
        assert owners == {"raw": [conn.info.user], "staging": ["gmoda_transformer"], "conformed": ["gmoda_transformer"],
                          "ops": ["gmoda_loader"]}
        assert conn.execute("SELECT array_agg(DISTINCT processed_by) FROM ops.drops").fetchone()[0] == ["gmoda_loader"]

    assert main(["run", "--months", "2", "--seed", "3", "--in-process"]) == 0
    second_out = capsys.readouterr().out
    with psycopg.connect(warehouse_url) as conn:
        second = table_rows(conn)
        assert conn.execute("SELECT count(*) FROM ops.drops").fetchone()[0] == drops
    # Only the log of linkage runs grows: each refresh is one more run, which links no one differently.
    runs = "linked.model_runs"
    assert dict(second)[runs] == dict(first)[runs] + 1
    assert [t for t in second if t[0] != runs] == [t for t in first if t[0] != runs]
    assert "0 new drops run" in second_out


def test_db_commands(warehouse_url, capsys):
    assert main(["db", "status"]) == 0
    assert "embedded PostgreSQL: running" in capsys.readouterr().out
    assert main(["db", "url"]) == 0
    assert capsys.readouterr().out.strip() == warehouse_url
    assert main(["db", "url", "--dagster"]) == 0
    assert capsys.readouterr().out.strip().startswith("postgresql+psycopg2://")
