"""Conformed dimensions, built by real Dagster runs into the test's embedded PostgreSQL and checked by their
Great Expectations suites: row counts, stable surrogate keys, foreign keys and comments."""

import psycopg
import pytest
from dagster import materialize

from gmoda_assets.conform import dimensions
from gmoda_assets.conform.dimensions import dimension_assets
from gmoda_assets.resources import Warehouse

TABLES = {
    "dim_date": (dimensions.DATE_COLUMNS, "date_key", "date_key"),
    "dim_geography": (dimensions.GEOGRAPHY_COLUMNS, "lsoa11cd", "geography_key"),
    "dim_postcode_sector": (dimensions.POSTCODE_SECTOR_COLUMNS, "postcode_sector || '/' || lsoa11cd", "geography_key"),
    "dim_partner": (dimensions.PARTNER_COLUMNS, "partner_id", "partner_key"),
}


def keys(url: str) -> dict[str, dict]:
    """Each table's surrogate key by natural key."""
    with psycopg.connect(url) as conn:
        return {table: dict(conn.execute(f"SELECT {natural}, {surrogate} FROM conformed.{table}").fetchall())
                for table, (_, natural, surrogate) in TABLES.items()}


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


def test_dimension_changes_keep_keys(built, warehouse_url, monkeypatch):
    """A partner that leaves the list keeps its row and key (retired); a changed name is updated in place; a
    new partner gets a new key."""
    _, before, *_ = built
    listed = dict(dimensions.partners())
    listed.pop("gmp")
    listed["bolton"] = {**listed["bolton"], "name": "Bolton Metropolitan Borough Council"}
    listed["new_partner"] = {"id": "new_partner", "name": "A new partner", "kind": "health"}
    monkeypatch.setattr(dimensions, "partners", lambda: listed)
    try:
        # The new partner has no feed contract: a blocking check fails the run, after the table is written.
        result = build([dimensions.dim_partner], succeed=False)
        with psycopg.connect(warehouse_url) as conn:
            rows = dict((r[0], r[1:]) for r in conn.execute(
                "SELECT partner_id, partner_key, partner_name, is_current FROM conformed.dim_partner"))
        old = before["dim_partner"]
        assert rows["gmp"] == (old["gmp"], "Greater Manchester Police", False)
        assert rows["bolton"] == (old["bolton"], "Bolton Metropolitan Borough Council", True)
        assert rows["new_partner"][0] > max(old.values())
        assert all(rows[p][0] == k for p, k in old.items())
        failed = {e.check_name for e in result.get_asset_check_evaluations() if not e.passed}
        assert failed == {"councils_match_geography"}
    finally:
        with psycopg.connect(warehouse_url, autocommit=True) as conn:
            conn.execute("DELETE FROM conformed.dim_partner WHERE partner_id = 'new_partner'")
        monkeypatch.undo()
        build([dimensions.dim_partner])
    assert keys(warehouse_url)["dim_partner"] == before["dim_partner"]


def test_foreign_keys_and_comments_in_catalog(built, warehouse_url):
    with psycopg.connect(warehouse_url) as conn:
        fks = conn.execute("""
            SELECT conrelid::regclass::text, confrelid::regclass::text, pg_get_constraintdef(oid)
            FROM pg_constraint WHERE contype = 'f' AND connamespace = 'conformed'::regnamespace
        """).fetchall()
        assert ("conformed.dim_postcode_sector", "conformed.dim_geography",
                "FOREIGN KEY (geography_key) REFERENCES conformed.dim_geography(geography_key)") in fks
        for table, (columns, *_) in TABLES.items():
            assert conn.execute("SELECT obj_description(%s::regclass)", (f"conformed.{table}",)).fetchone()[0]
            catalog = conn.execute("""
                SELECT a.attname, format_type(a.atttypid, NULL), col_description(a.attrelid, a.attnum)
                FROM pg_attribute a WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
                ORDER BY a.attnum
            """, (f"conformed.{table}",)).fetchall()
            # The asset's column schema (what the Dagster UI shows) is the table's, comments included.
            assert [(n, t, c) for n, t, c in catalog] == [(n, t, d) for n, (t, d) in columns.items()], table


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
