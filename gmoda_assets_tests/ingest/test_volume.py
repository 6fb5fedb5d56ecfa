"""The volume guard and feed freshness, through real Dagster runs into the test's PostgreSQL: a snapshot that
shrinks past its contract's threshold is held back (in raw, out of staging and conformed) until a person
accepts it; an overdue feed is reported from its contract's cadence."""


import psycopg
import pytest
from dagster import AssetCheckKey, AssetKey, materialize

from gmoda_assets.cli import main
from gmoda_assets.conform.dimensions import dimension_assets
from gmoda_assets.conform.facts_council import council_assets
from gmoda_assets.conform.postcode_lookup import postcode_lookup
from gmoda_assets.conform.staging import staging_assets
from gmoda_assets.ingest.feed_deliveries import SPEC as FEED_DELIVERIES
from gmoda_assets.ingest.feed_deliveries import feed_deliveries
from gmoda_assets.ingest.runner import ingest_landing_zone
from gmoda_assets.ingest.volume import CHECK_NAME
from gmoda_assets.lib import settings
from gmoda_assets.lib.contracts import contract_for, feed_contracts
from gmoda_assets.resources import Warehouse
from gmoda_assets_tests.helpers import catalog_columns, deliver, read_delivery

EYFSP = contract_for("stockport.eyfsp")
# Staging of every council feed (the fact reads all ten councils, dim_setting their settings), the dimensions and
# the EYFSP fact: what the nightly refresh builds Stockport's outcomes with.
COUNCIL_KINDS = ("eyfsp", "funded_early_education", "social_care")
EYFSP_BUILD = [postcode_lookup, *[a for a in staging_assets if contract_for(".".join(a.key.path[1:])).kind in COUNCIL_KINDS],
               *dimension_assets, *[a for a in council_assets if a.key.path[1] in ("dim_setting", "fact_early_years_outcomes")]]




def _latest_volume_check(instance, contract):
    """The newest ``volume_as_expected`` evaluation recorded in the instance for the feed's raw asset."""
    key = AssetCheckKey(AssetKey(contract.asset_key), CHECK_NAME)
    record = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
    return record.event.dagster_event.event_specific_data


def _staged_drops(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT _drop_id, count(*) FROM staging.stockport__eyfsp GROUP BY 1").fetchall())


def _conformed_stockport(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM conformed.fact_early_years_outcomes f JOIN conformed.dim_partner p "
                            "USING (partner_key) WHERE p.partner_id = 'stockport'").fetchone()[0]


def _build() -> None:
    result = materialize(EYFSP_BUILD, resources={"warehouse": Warehouse()}, raise_on_error=False)
    assert result.success


def _ingest(instance, defs, landing):
    return ingest_landing_zone(instance, defs, landing, ["stockport"])


def _drop_of(url: str, file_name: str) -> str:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT drop_id FROM ops.drops WHERE file_name = %s", (file_name,)).fetchone()[0]


@pytest.mark.slow
def test_a_shrunken_snapshot_is_held_back_until_a_person_accepts_it(platform, instance, defs, warehouse_url,
                                                                   simulated_month, capsys):
    """97 children, then 8: the 8-row snapshot is loaded to raw but fails the blocking volume check with the
    counts, and staging and conformed keep the 97; once accepted, the next build stages the 8."""
    [source] = (simulated_month / "stockport").glob("Stockport EYFSP *.csv")
    header, rows = read_delivery(source)
    deliver("stockport", "Stockport EYFSP October 2025.csv", header, rows)
    assert _ingest(instance, defs, platform).tally.runs_failed == 0
    assert _latest_volume_check(instance, EYFSP).passed  # the first delivery: nothing to compare with
    _build()
    good = _drop_of(warehouse_url, "Stockport EYFSP October 2025.csv")
    staged_before, conformed_before = _staged_drops(warehouse_url), _conformed_stockport(warehouse_url)
    assert set(staged_before) == {good} and conformed_before == sum(staged_before.values()) > 50

    deliver("stockport", "Stockport EYFSP November 2025.csv", header, rows[:8])
    report = _ingest(instance, defs, platform)
    assert report.tally.runs_failed == 1 and "blocking asset check failed" in report.tally.failures[0]
    assert f"raw/stockport/eyfsp {CHECK_NAME} (error)" in report.tally.checks_failed
    shrunk = _drop_of(warehouse_url, "Stockport EYFSP November 2025.csv")
    check = _latest_volume_check(instance, EYFSP)
    meta = {k: v.value for k, v in check.metadata.items()}
    assert not check.passed and check.blocking
    assert (meta["drop"], meta["value"], meta["previous_drop"], meta["previous_value"], meta["held_back"]) == \
        (shrunk, 8, good, len(rows), True)
    assert meta["change_percent"] == round(100 * (8 / len(rows) - 1), 1)
    with psycopg.connect(warehouse_url) as conn:  # nothing lost: the drop is in raw and the ledger
        assert conn.execute("SELECT status, rows_loaded FROM ops.drops WHERE drop_id = %s", (shrunk,)).fetchone() == ("loaded", 8)
        assert conn.execute("SELECT count(*) FROM raw.stockport__eyfsp r JOIN ops.drops d ON d.drop_number = r._drop "
                            "WHERE d.drop_id = %s", (shrunk,)).fetchone()[0] == 8

    _build()  # the next refresh: staging and conformed keep the last good snapshot
    assert _staged_drops(warehouse_url) == staged_before
    assert _conformed_stockport(warehouse_url) == conformed_before
    assert main(["summary"]) == 0
    assert f"{shrunk}: 8 against {len(rows)}" in capsys.readouterr().out
    assert main(["drops", "held"]) == 0
    assert shrunk in capsys.readouterr().out

    assert main(["drops", "accept", shrunk, "--reason", " "]) == 2  # a reason is required
    assert main(["drops", "accept", good, "--reason", "fine"]) == 1  # only a held drop can be accepted
    assert main(["drops", "accept", shrunk, "--by", "a.analyst", "--reason", "pilot schools only this term"]) == 0
    assert main(["drops", "accept", shrunk, "--reason", "again"]) == 1
    capsys.readouterr()
    with psycopg.connect(warehouse_url) as conn:
        assert conn.execute("SELECT accepted_by, reason, recorded_by, accepted_at > now() - interval '1 minute' "
                            "FROM ops.drop_acceptances WHERE drop_id = %s", (shrunk,)).fetchone() == \
            ("a.analyst", "pilot schools only this term", "gmoda_loader", True)
    _build()
    staged = _staged_drops(warehouse_url)
    assert set(staged) == {shrunk} and 0 < staged[shrunk] <= 8
    assert _conformed_stockport(warehouse_url) == staged[shrunk]


def test_a_normal_delivery_passes_and_is_staged(platform, instance, defs, warehouse_url, simulated_month):
    """A snapshot a few children smaller (within the 10% allowed) and an increment far smaller than the backfill
    before it (increments are not guarded by default) both pass and are built from."""
    [source] = (simulated_month / "stockport").glob("Stockport EYFSP *.csv")
    header, rows = read_delivery(source)
    deliver("stockport", "Stockport EYFSP October 2025.csv", header, rows)
    assert _ingest(instance, defs, platform).tally.runs_failed == 0
    deliver("stockport", "Stockport EYFSP November 2025.csv", header, rows[:-5])
    report = _ingest(instance, defs, platform)
    assert report.tally.runs_failed == 0 and not report.tally.checks_failed
    check = _latest_volume_check(instance, EYFSP)
    assert check.passed and check.metadata["value"].value == len(rows) - 5
    with psycopg.connect(warehouse_url) as conn:
        assert _drop_of(warehouse_url, "Stockport EYFSP November 2025.csv") in [
            r[0] for r in conn.execute("SELECT drop_id FROM ops.drop_volumes WHERE NOT held")]

    funded = contract_for("stockport.funded_early_education")
    [backfill] = (simulated_month / "stockport").glob("STO_FEE_Headcount_*.csv")
    lines = backfill.read_bytes().splitlines(keepends=True)
    (settings.landing_dir() / "stockport" / "STO_FEE_Headcount_20251001.csv").write_bytes(b"".join(lines))
    (settings.landing_dir() / "stockport" / "STO_FEE_Headcount_20251201.csv").write_bytes(b"".join(lines[:3]))
    report = _ingest(instance, defs, platform)
    assert report.tally.runs_failed == 0 and not report.tally.checks_failed
    check = _latest_volume_check(instance, funded)
    meta = {k: v.value for k, v in check.metadata.items()}
    # Two rows over the two months since the backfill: one a month.
    assert check.passed and (meta["measure"], meta["value"], meta["previous_value"]) == ("rows_per_month", 1, len(lines) - 1)
    stockport = [a for a in staging_assets if a.key.path[1:] in (["stockport", "eyfsp"], ["stockport", "funded_early_education"])]
    assert materialize([postcode_lookup, *stockport], resources={"warehouse": Warehouse()}).success
    assert set(_staged_drops(warehouse_url)) == {_drop_of(warehouse_url, "Stockport EYFSP November 2025.csv")}
    with psycopg.connect(warehouse_url) as conn:  # both increments staged
        assert conn.execute("SELECT count(DISTINCT _drop_id) FROM staging.stockport__funded_early_education").fetchone()[0] == 2


def test_an_overdue_feed_is_reported_from_its_cadence(platform, instance, defs, warehouse_url, simulated_month):
    """A monthly feed is overdue after its cadence plus a week's grace (38 days): at 20 days it is not, at 40 it is."""
    [source] = (simulated_month / "stockport").glob("Stockport EYFSP *.csv")
    (settings.landing_dir() / "stockport").mkdir(parents=True, exist_ok=True)
    (settings.landing_dir() / "stockport" / source.name).write_bytes(source.read_bytes())
    assert _ingest(instance, defs, platform).tally.runs_failed == 0
    assert EYFSP.cadence == "monthly" and EYFSP.overdue_after_days == 38

    def overdue_after(days: int) -> set[str]:
        with psycopg.connect(warehouse_url, autocommit=True) as conn:
            conn.execute("UPDATE ops.drops SET processed_at = now() - make_interval(days => %s) WHERE feed_id = %s",
                         (days, EYFSP.feed_id))
        result = materialize([feed_deliveries], resources={"warehouse": Warehouse()})
        [check] = [c for c in result.get_asset_check_evaluations() if c.check_name == "feeds_delivering"]
        assert not check.passed  # the feeds that never delivered are reported too
        [result] = check.metadata["results"].value
        with psycopg.connect(warehouse_url) as conn:
            assert conn.execute("SELECT cadence, overdue_after_days FROM ops.feed_deliveries WHERE feed_id = %s",
                                (EYFSP.feed_id,)).fetchone() == ("monthly", 38)
            # Rebuilt by its own asset, the table still has its spec's columns, types and descriptions.
            assert catalog_columns(conn, FEED_DELIVERIES.qualified_name) == [
                (n, c.type, c.description) for n, c in FEED_DELIVERIES.columns.items()]
        return result["failing_rows"], result["sample"][0]

    never_delivered = len(feed_contracts()) - 1
    assert overdue_after(20) == (never_delivered, "feed_id=bolton.eyfsp, cadence=monthly, last_drop_at=None, "
                                                  "days_since_last_drop=None")
    failing, first = overdue_after(40)
    assert failing == never_delivered + 1
    assert first.startswith(f"feed_id={EYFSP.feed_id}, cadence=monthly, last_drop_at=") and first.endswith("days_since_last_drop=40")
