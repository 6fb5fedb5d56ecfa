"""Partner drops into raw through real Dagster runs: a whole month, bad files, re-deliveries."""

import json
import re
import shutil

import psycopg
import pytest
from dagster import AssetKey

from gmoda_assets.ingest.runner import ingest_landing_zone
from gmoda_assets.lib import settings
from gmoda_assets.lib.contracts import feed_contracts
from gmoda_assets_tests.helpers import FILE_OF_DROP, contract_of, copy_drops, file_rows


def raw_rows_by_drop(url: str) -> dict[str, int]:
    """Rows in raw by their drop's file (rows of a drop the ledger lacks are counted under None)."""
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute("SELECT format('raw.%I', tablename) FROM pg_tables WHERE schemaname = 'raw'")]
        union = " UNION ALL ".join(f"SELECT {FILE_OF_DROP}, count(*) FROM {t} GROUP BY 1" for t in tables)
        return dict(conn.execute(union).fetchall())


def ledger(url: str) -> list[dict]:
    with psycopg.connect(url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute("SELECT * FROM ops.drops ORDER BY drop_id").fetchall()


def test_a_month_of_drops_loads_into_raw(staged_month, instance, defs, warehouse_url):
    """The shared month, every drop loaded by its own Dagster run on a clean platform."""
    files = sorted(staged_month.drops.glob("*/*"))
    assert len({contract_of(f).feed_id for f in files}) == 34, "the simulated month covers every feed"
    report = staged_month.ingest

    assert report.tally.failures == [] and report.files_seen == len(files)
    assert report.tally.runs == len(files) and report.tally.materialisations == len(files)
    loaded = raw_rows_by_drop(warehouse_url)
    for path in files:
        assert loaded.get(path.name, 0) == file_rows(path), path.name
    rows = ledger(warehouse_url)
    assert {r["status"] for r in rows} == {"loaded"}
    assert all(r["rows_delivered"] == r["rows_loaded"] + r["rows_quarantined"] for r in rows)
    # The runs are Dagster runs recorded in the PostgreSQL instance, with their materialisation metadata.
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    event = instance.get_latest_materialization_event(AssetKey(["raw", "nhs", "births"]))
    meta = event.asset_materialization.metadata
    assert meta["rows_delivered"].value == meta["rows_loaded"].value + meta["rows_quarantined"].value > 0
    births = [f for f in files if contract_of(f).asset_key == ["raw", "nhs", "births"]]
    assert meta["table_rows_total"].value == sum(loaded[f.name] for f in births) > 0, "the feed's rows in raw"
    # Each raw asset's partitions, read from the instance through its own definition, are exactly its feed's
    # drops, all materialised (none "missing"); no two feeds share a key.
    graph, claimed = defs.resolve_asset_graph(), set()
    for contract in feed_contracts():
        key = AssetKey(contract.asset_key)
        partitions = set(graph.get(key).partitions_def.get_partition_keys(dynamic_partitions_store=instance))
        assert partitions == {r["drop_id"] for r in rows if r["feed_id"] == contract.feed_id} != set(), contract.feed_id
        assert partitions <= instance.get_materialized_partitions(key) and not partitions & claimed
        claimed |= partitions


def test_checks_pass_on_clean_rows_and_flag_bad_ones(platform, instance, defs, simulated_month):
    births = copy_drops(simulated_month, settings.landing_dir(), ["nhs"])
    path = next(p for p in births if contract_of(p).feed == "births")
    contract = contract_of(path)
    lines = path.read_text(encoding=contract.encoding).splitlines()
    header = lines[0].split(",")
    bad = lines[1].split(",")
    bad[header.index("NHSNumber")] = "1234567890"  # fails the modulus-11 check
    bad[header.index("DateOfBirth")] = "2019-02-31"
    bad[header.index("Sex")] = "7"
    bad[header.index("Postcode")] = ""
    # The same bad date on a later row too: values are tested once each, and every row holding one is flagged.
    again = lines[3].split(",")
    again[header.index("DateOfBirth")] = "2019-02-31"
    path.write_text("\n".join([lines[0], ",".join(bad), lines[2], ",".join(again), *lines[4:]]) + "\n",
                    encoding=contract.encoding)

    report = ingest_landing_zone(instance, defs, platform, ["nhs"])

    assert report.tally.runs_failed == 0, "bad values are loaded and flagged, not rejected"
    failed = sorted(c for c in report.tally.checks_failed if c.startswith("raw/nhs/births"))
    assert failed == [
        "raw/nhs/births codes_known (warn)",
        "raw/nhs/births dates_parse (warn)",
        "raw/nhs/births identifiers_well_formed (warn)",
        "raw/nhs/births required_values_present (warn)",
    ]
    checks = {
        r.key.name: r
        for r in instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [k for k in defs.resolve_asset_graph().asset_check_keys if k.asset_key == AssetKey(["raw", "nhs", "births"])]
        ).values()
    }
    metadata = {name: r.event.dagster_event.event_specific_data.metadata for name, r in checks.items()}
    # A failing identifier is shown by its drop, row, column and kind of fault, never by its value; a code is
    # shown, so that the partner can mend the extract.
    identifiers, dates, codes = metadata["identifiers_well_formed"], metadata["dates_parse"], metadata["codes_known"]
    assert "_row_number=1, fault=nhs_number: check digit does not match" in identifiers["failures"].value
    for row in (1, 3):
        assert f"_row_number={row}, fault=date_of_birth: no such calendar date" in dates["failures"].value
    assert dates["failing_rows"].value >= 2
    for shown in (identifiers, dates):
        assert shown["drop"].value.startswith("nhs.births/")
        assert not {"1234567890", "2019-02-31"} & set(re.findall(r"[\w-]+", str([m.value for m in shown.values()])))
    assert "7" in codes["failures"].value.rsplit("|", 2)[-2]
    # A check over several columns is one expectation, one pass over the drop, naming each column it covers.
    for shown, columns in ((identifiers, ["nhs_number", "mother_nhs_number", "postcode"]), (dates, ["date_of_birth"])):
        [result] = shown["results"].value
        assert shown["expectations"].value == 1 and all(f"{c}: " in result["about"] for c in columns), result["about"]
    assert checks["row_count_matches_file"].event.dagster_event.event_specific_data.passed



def test_a_drop_is_checked_as_its_own_table_with_its_querys_results(platform, instance, defs, simulated_month,
                                                                     warehouse_url):
    """A loaded drop's checks validate the drop's own table, whose columns Great Expectations reads from the catalog
    (for a query it fetches every row to read them), with the verdicts, counts and samples of the query that
    selects the drop's rows from its feed's table, failing rows included."""
    from psycopg import sql

    from gmoda_assets.ingest.checks import drop_rows, raw_checks
    from gmoda_assets.ingest.loader import raw_table_ident
    from gmoda_assets.lib.database import sqlalchemy_url
    from gmoda_assets.lib.quality import Table, validate_in_postgres

    copy_drops(simulated_month, settings.landing_dir(), ["nhs"])  # simulated with values the checks flag
    assert ingest_landing_zone(instance, defs, platform, ["nhs"]).tally.runs_failed == 0
    contracts = {c.feed_id: c for c in feed_contracts()}
    with psycopg.connect(warehouse_url) as conn:
        drops = conn.execute("SELECT drop_id, feed_id, rows_delivered, drop_number FROM ops.drops").fetchall()
        checked = [(drop_rows(conn, contracts[feed_id], drop_id, number), sql.SQL("SELECT * FROM {} WHERE _drop = {}").format(
            raw_table_ident(contracts[feed_id]), sql.Literal(number)).as_string(conn), contracts[feed_id], rows)
            for drop_id, feed_id, rows, number in drops]
    failing = 0
    for table, query, contract, rows in checked:
        assert isinstance(table, Table) and table.name.startswith(f"{contract.raw_table}__")
        as_table, as_query = ([(r.check_name, r.passed, {k: v for k, v in r.metadata.items() if k != "validation_seconds"})
                               for r in validate_in_postgres(sqlalchemy_url(warehouse_url), batch,
                                                             raw_checks(contract, rows), contract.asset_key)]
                              for batch in (table, query))
        assert as_table == as_query
        failing += sum(not passed for _, passed, _ in as_table)
    assert len(checked) == 2 and failing > 0

def _make_bad(kind: str, path, contract):
    text = path.read_text(encoding=contract.encoding)
    lines = text.splitlines()
    d = contract.delimiter
    if kind == "extra_column":
        lines[0] += f"{d}Comments"
        return "\n".join(lines) + "\n", 0, "Comments"
    if kind == "missing_column":
        return "\n".join(line.rsplit(d, 1)[0] for line in lines) + "\n", 0, contract.columns[-1].name
    if kind == "ragged_row":
        lines[3] = lines[3] + d + "surplus"
        return "\n".join(lines) + "\n", 3, None
    if kind == "empty":
        return "", None, None
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["extra_column", "missing_column", "ragged_row", "empty", "bad_encoding", "binary_junk", "unknown_feed"])
def test_bad_file_is_quarantined_with_its_reason_and_good_drops_load(kind, platform, instance, defs, warehouse_url, simulated_month):
    files = copy_drops(simulated_month, settings.landing_dir(), ["bolton"])
    victim = next(p for p in files if contract_of(p).feed == "funded_early_education")
    contract = contract_of(victim)
    good = [p for p in files if p != victim]
    expected_row = None
    if kind == "bad_encoding":
        data = victim.read_bytes().splitlines(keepends=True)
        data[5] = data[5].replace(b",", b",\xe9t\xe9 ", 1)  # Latin-1 bytes in a UTF-8 feed
        victim.write_bytes(b"".join(data))
        expected_row = 5
    elif kind == "binary_junk":
        victim.write_bytes(bytes(range(256)) * 40)
    elif kind == "unknown_feed":
        victim = victim.rename(victim.with_name("BOL_Attendance_20251001.xlsx"))
    else:
        text, expected_row, expected_column = _make_bad(kind, victim, contract)
        victim.write_text(text, encoding=contract.encoding)
    # Lines after the header (binary junk has no lines to speak of).
    delivered = None if kind == "binary_junk" else max(len(victim.read_bytes().split(b"\n")) - 2, 0)

    report = ingest_landing_zone(instance, defs, platform, ["bolton"])

    # The run for the bad file failed with a message naming the drop and the file; the others loaded.
    assert report.tally.runs == len(files) and report.tally.runs_failed == 1
    [message] = report.tally.failures
    assert victim.name in message and "rejected" in message
    loaded = raw_rows_by_drop(warehouse_url)
    assert victim.name not in loaded
    for path in good:
        assert loaded[path.name] == file_rows(path)
    # Nothing lost: the file sits in quarantine beside a machine-readable reason, and the ledger reconciles.
    assert not victim.exists()
    quarantined = settings.quarantine_dir() / "bolton" / victim.name
    assert quarantined.exists()
    reason = json.loads(quarantined.with_name(victim.name + ".reason.json").read_text())
    assert reason["file"] == victim.name and reason["drop_id"].startswith(("bolton.funded_early_education/", "bolton.unrecognised/"))
    assert reason["message"] == message
    assert reason["rows_delivered"] == reason["rows_quarantined"] and reason["rows_loaded"] == 0
    if delivered is not None:
        assert reason["rows_delivered"] == delivered
    if expected_row is not None:
        assert reason["row"] == expected_row
    if kind in ("extra_column", "missing_column"):
        assert reason["column"] == expected_column and reason["expected"] == [c.name for c in contract.columns]
    [entry] = [r for r in ledger(warehouse_url) if r["status"] == "quarantined"]
    assert entry["file_name"] == victim.name and entry["quarantine_path"] == str(quarantined)


def test_redelivery_is_not_loaded_twice_but_changed_content_is(platform, instance, defs, warehouse_url, simulated_month):
    [path] = [p for p in copy_drops(simulated_month, settings.landing_dir(), ["stockport_homes"])]
    contract = contract_of(path)
    ingest_landing_zone(instance, defs, platform, ["stockport_homes"])
    first = raw_rows_by_drop(warehouse_url)[path.name]

    # Same file again, and the same content under a later date's name: nothing new is loaded.
    again = ingest_landing_zone(instance, defs, platform, ["stockport_homes"])
    shutil.copyfile(path, path.with_name("SH_Tenancy_Members_20991231.csv"))
    resent = ingest_landing_zone(instance, defs, platform, ["stockport_homes"])
    assert again.tally.runs == 0 and resent.tally.runs == 0 and len(resent.already_held) == 2  # the file itself and its copy
    assert sum(raw_rows_by_drop(warehouse_url).values()) == first

    # The partner corrects the file under the same name: new content, a new drop, loaded in full.
    lines = path.read_text(encoding=contract.encoding).splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n", encoding=contract.encoding)
    changed = ingest_landing_zone(instance, defs, platform, ["stockport_homes"])
    assert changed.tally.runs == 1 and changed.tally.runs_failed == 0
    with psycopg.connect(warehouse_url) as conn:
        per_drop = conn.execute("SELECT _drop, count(*) FROM raw.stockport_homes__tenancies GROUP BY 1").fetchall()
    assert sorted(n for _, n in per_drop) == [first - 1, first]


def test_load_is_all_or_nothing(platform, instance, defs, warehouse_url, simulated_month):
    [path] = [p for p in copy_drops(simulated_month, settings.landing_dir(), ["nhs"]) if contract_of(p).feed == "births"]
    with path.open("a", encoding="utf-8") as handle:
        handle.write("only,three,fields\n")  # the very last row is ragged
    report = ingest_landing_zone(instance, defs, platform, ["nhs"])
    assert report.tally.runs_failed == 1
    assert path.name not in raw_rows_by_drop(warehouse_url)
