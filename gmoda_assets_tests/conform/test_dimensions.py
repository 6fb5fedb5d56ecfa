"""Conformed dimensions, built by real Dagster runs into the test's embedded PostgreSQL and checked by their
Great Expectations suites: row counts, stable surrogate keys, foreign keys, and a failing blocking check that
leaves the live dimension as it was."""

from types import SimpleNamespace

import psycopg
import pytest
from dagster import AssetCheckKey, AssetSelection, materialize

from gmoda_assets.conform import dimensions
from gmoda_assets.conform.dimensions import dimension_assets
from gmoda_assets.resources import Warehouse
from gmoda_assets_tests.conform.helpers import asset_of, failure_message

# Each dimension's natural key (SQL) and surrogate key.
TABLES = {
    "dim_date": ("date_key", "date_key"),
    "dim_geography": ("lsoa11cd", "geography_key"),
    "dim_postcode_sector": ("postcode_sector || '/' || lsoa11cd", "geography_key"),
    "dim_partner": ("partner_id", "partner_key"),
}
DIM_PARTNER = asset_of(dimension_assets, "dim_partner")
PARTNER_ROW = "SELECT partner_id, partner_key, partner_name, is_current FROM conformed.dim_partner"


def keys(url: str) -> dict[str, dict]:
    """Each table's surrogate key by natural key."""
    with psycopg.connect(url) as conn:
        return {table: dict(conn.execute(f"SELECT {natural}, {surrogate} FROM conformed.{table}").fetchall())
                for table, (natural, surrogate) in TABLES.items()}


def build(assets=dimension_assets, succeed: bool = True):
    result = materialize(assets, resources={"warehouse": Warehouse()}, raise_on_error=False)
    assert result.success == succeed
    return result


@pytest.fixture(scope="module")
def built(warehouse_url):
    """The dimensions built twice; the surrogate keys after each build."""
    first = build()
    after_first = keys(warehouse_url)
    second = build()
    return first, after_first, second, keys(warehouse_url)


def test_tables_built_with_expected_rows(built, warehouse_url):
    from gmoda_assets.lib.geography import postcode_directory

    first, *_ = built
    counts = {e.asset_key.path[1]: e.event_specific_data.materialization.metadata["dagster/row_count"].value
              for e in first.get_asset_materialization_events()}
    assert counts["dim_date"] == 7670 + 1  # 2010-01-01..2030-12-31 and the unknown date
    assert counts["dim_geography"] == 1673 + 1
    assert counts["dim_partner"] == 13 + 1
    with psycopg.connect(warehouse_url) as conn:
        row = conn.execute("""
            SELECT (SELECT count(DISTINCT lad19cd) FROM conformed.dim_geography),
                   (SELECT count(*) FROM conformed.dim_geography WHERE is_current AND geography_key <> -1),
                   (SELECT count(DISTINCT postcode_sector) FROM conformed.dim_postcode_sector),
                   (SELECT count(*) FROM conformed.dim_partner WHERE kind = 'council' AND council_code LIKE 'E08%')
        """).fetchone()
        assert row == (10, 1673, postcode_directory().postcode_sector.nunique(), 10)
        # Postcode sector -> LSOA -> ward -> council, from the bridge.
        assert conn.execute("""
            SELECT g.lsoa11cd, g.ward17nm, g.lad19nm FROM conformed.dim_postcode_sector s
            JOIN conformed.dim_geography g USING (geography_key)
            WHERE s.lsoa11cd = 'E01004766'
        """).fetchall() == [("E01004766", "Astley Bridge", "Bolton")]
        day = conn.execute("""
            SELECT month_name, weekday_name, is_weekend, academic_year, school_term, birth_term, financial_year, iso_week
            FROM conformed.dim_date WHERE date = '2025-04-30'
        """).fetchone()
        assert day == ("April", "Wednesday", False, "2024/25", "summer", "spring", "2025/26", 18)
        assert conn.execute("SELECT feeds FROM conformed.dim_partner WHERE partner_id = 'stockport'").fetchone() == (
            "eyfsp, funded_early_education, social_care",)


def test_every_check_passes(built):
    for result in built[0], built[2]:
        evaluations = result.get_asset_check_evaluations()
        assert len(evaluations) == sum(len(list(a.check_specs)) for a in dimension_assets)
        failed = {(e.asset_key.path[1], e.check_name): e.metadata["failures"].value for e in evaluations if not e.passed}
        assert not failed


def test_rebuild_keeps_every_surrogate_key(built):
    _, before, second, after = built
    assert after == before
    assert before["dim_geography"]["unknown"] == before["dim_partner"]["unknown"] == -1
    assert before["dim_date"][-1] == -1
    changes = {e.asset_key.path[1]: e.event_specific_data.materialization.metadata
               for e in second.get_asset_materialization_events()}
    for table in "dim_geography", "dim_partner":
        assert [changes[table][m].value for m in ("members_added", "members_updated", "members_retired")] == [0, 0, 0]


def partner_rows(url: str) -> dict[str, tuple]:
    with psycopg.connect(url) as conn:
        return {r[0]: r[1:] for r in conn.execute(PARTNER_ROW)}


def test_dimension_changes_keep_keys(built, warehouse_url, monkeypatch):
    """A partner that leaves the list keeps its row and key (retired); a changed name is updated in place; a
    new partner gets a new key; a partner back on the list is current again under its old key."""
    _, before, *_ = built
    old = before["dim_partner"]
    listed = dict(dimensions.partners())
    listed.pop("gmp")
    listed["bolton"] = {**listed["bolton"], "name": "Bolton Metropolitan Borough Council"}
    listed["new_partner"] = {"id": "new_partner", "name": "A new partner", "kind": "health"}
    contracts = [*dimensions.feed_contracts(), SimpleNamespace(partner="new_partner", feed="clinics")]
    monkeypatch.setattr(dimensions, "partners", lambda: listed)
    monkeypatch.setattr(dimensions, "feed_contracts", lambda: contracts)
    try:
        changes = build([DIM_PARTNER]).get_asset_materialization_events()[0].materialization.metadata
        assert [changes[m].value for m in ("members_added", "members_updated", "members_retired")] == [1, 1, 1]
        rows = partner_rows(warehouse_url)
        assert rows["gmp"] == (old["gmp"], "Greater Manchester Police", False)
        assert rows["bolton"] == (old["bolton"], "Bolton Metropolitan Borough Council", True)
        assert rows["new_partner"][0] == max(old.values()) + 1
        assert all(rows[p][0] == k for p, k in old.items())
    finally:
        monkeypatch.undo()
        build([DIM_PARTNER])
        with psycopg.connect(warehouse_url, autocommit=True) as conn:
            conn.execute("DELETE FROM conformed.dim_partner WHERE partner_id = 'new_partner'")
    assert keys(warehouse_url)["dim_partner"] == old
    assert partner_rows(warehouse_url)["gmp"] == (old["gmp"], "Greater Manchester Police", True)


def test_failing_blocking_check_keeps_the_live_dimension(built, warehouse_url, monkeypatch):
    """A partner listed without any feed fails the blocking check councils_match_geography on the candidate:
    the run fails naming the check and the partner, and the live dimension stays as it was, readable."""
    live = partner_rows(warehouse_url)
    listed = {**dimensions.partners(), "new_partner": {"id": "new_partner", "name": "A new partner", "kind": "health"}}
    monkeypatch.setattr(dimensions, "partners", lambda: listed)
    result = build([DIM_PARTNER], succeed=False)
    assert not result.get_asset_materialization_events()
    failed = {e.check_name for e in result.get_asset_check_evaluations() if not e.passed}
    assert failed == {"councils_match_geography"}
    message = failure_message(result)
    assert "conformed.dim_partner was not published" in message and "councils_match_geography" in message
    assert "partner_id=new_partner" in message  # the sample of failing rows
    assert partner_rows(warehouse_url) == live
    with psycopg.connect(warehouse_url) as conn:  # the rejected candidate is there to inspect
        assert conn.execute("SELECT count(*) FROM conformed.dim_partner__candidate WHERE partner_id = 'new_partner'"
                            ).fetchone() == (1,)


def test_a_check_run_on_its_own_validates_the_live_table(built, warehouse_url, instance):
    """A run that selects only a check (as the check's Execute button in the UI does) validates the live table:
    it fails while a council is missing from the live dimension and passes once it is back, and builds nothing."""
    check = AssetCheckKey(DIM_PARTNER.key, "councils_match_geography")

    def run_check():
        result = materialize(dimension_assets, selection=AssetSelection.checks(check), instance=instance,
                             resources={"warehouse": Warehouse()}, raise_on_error=False)
        assert not result.get_asset_materialization_events()
        [evaluation] = result.get_asset_check_evaluations()
        assert evaluation.asset_check_key == check
        return evaluation

    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute("UPDATE conformed.dim_partner SET is_current = false WHERE partner_id = 'bolton'")
        try:
            failing = run_check()
        finally:
            conn.execute("UPDATE conformed.dim_partner SET is_current = true WHERE partner_id = 'bolton'")
    assert not failing.passed and "current_councils=9" in failing.metadata["failures"].value
    assert run_check().passed


@pytest.mark.parametrize("table, missing, failing", [
    ("dim_date", "date_key = 20240901", {"one_row_per_day", "calendar_attributes_valid"}),
    ("dim_geography", "lsoa11cd = 'E01004766'", {"all_greater_manchester_lsoas"}),
    ("dim_postcode_sector", "lsoa11cd = 'E01004766'", {"sectors_map_onto_lsoas", "sector_shares_add_up"}),
    ("dim_partner", "partner_id = 'bolton'", {"councils_match_geography"}),
])
def test_suites_catch_a_missing_member(built, table, missing, failing):
    """Each suite, run on its table less one member, fails the checks that guard that member."""
    from gmoda_assets.lib.quality import validate_in_postgres
    from gmoda_assets.lib.suites import load_suite

    key = ["conformed", table]
    results = validate_in_postgres(Warehouse().sqlalchemy_url, f"SELECT * FROM conformed.{table} WHERE NOT ({missing})",
                                   load_suite(key), key)
    assert {r.check_name for r in results if not r.passed} == failing
