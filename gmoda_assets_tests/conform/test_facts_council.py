"""The council side of the conformed layer, built by a real Dagster run from a simulated month loaded into raw
and staged (the shared ``staged_month``), into the test's embedded PostgreSQL, and checked by its suites and
against the catalog."""

import psycopg
import pytest
from dagster import materialize

from gmoda_assets.conform.facts_council import SETTING, SPECS, council_assets
from gmoda_assets.lib.quality import validate_in_postgres
from gmoda_assets.lib.suites import load_suite
from gmoda_assets.resources import Warehouse
from gmoda_assets_tests.conform.helpers import asset_of

FACTS = [s for s in SPECS if s is not SETTING]


def _settings(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT setting_key, setting_urn, setting_type FROM conformed.dim_setting "
                            "ORDER BY setting_key").fetchall()


@pytest.fixture(scope="module")
def built(warehouse_url, staged_month):
    """The shared build of the simulated month (the council assets among it); dim_setting is built a second time
    after the first build's keys are noted."""
    first_keys = _settings(warehouse_url)
    again = materialize([asset_of(council_assets, "dim_setting")], resources={"warehouse": Warehouse()})
    return {"result": staged_month.build, "again": again, "first_keys": first_keys}


def test_one_row_per_staged_record(built, warehouse_url):
    counts = {e.asset_key.path[1]: e.materialization.metadata["dagster/row_count"].value
              for e in built["result"].get_asset_materialization_events() if e.asset_key.path[0] == "conformed"}
    with psycopg.connect(warehouse_url) as conn:
        for fact in FACTS:
            tables = [t.table[1] for t in fact.source.tables]
            staged = sum(conn.execute(f"SELECT count(*) FROM staging.{t}").fetchone()[0] for t in tables)
            assert len(tables) == 10 and counts[fact.name] == staged > 100, fact.name
            councils = conn.execute(f"SELECT count(DISTINCT partner_key) FROM conformed.{fact.name}").fetchone()[0]
            assert councils == 10, fact.name


def test_every_check_passes(built):
    mine = {a.key.path[1] for a in council_assets}
    evaluations = [e for e in built["result"].get_asset_check_evaluations() if e.asset_key.path[1] in mine]
    assert len(evaluations) == sum(len(list(a.check_specs)) for a in council_assets)
    failed = {(e.asset_key.path[1], e.check_name): e.metadata["failures"].value for e in evaluations if not e.passed}
    assert not failed


def test_setting_keys_stable_and_schools_win(built, warehouse_url):
    again = built["again"].get_asset_materialization_events()[0].materialization.metadata
    assert again["members_added"].value == again["members_updated"].value == again["members_retired"].value == 0
    assert _settings(warehouse_url) == built["first_keys"]
    with psycopg.connect(warehouse_url) as conn:
        # A URN both assessed at (EYFSP) and claimed for (funded early education) is a school.
        both = conn.execute("""
            SELECT count(*), count(*) FILTER (WHERE st.setting_type = 'school')
            FROM conformed.dim_setting st
            WHERE EXISTS (SELECT FROM conformed.fact_early_years_outcomes e WHERE e.setting_key = st.setting_key)
              AND EXISTS (SELECT FROM conformed.fact_funded_early_education f WHERE f.setting_key = st.setting_key)
        """).fetchone()
        assert both[0] > 0 and both[0] == both[1]
        types = dict(conn.execute("SELECT setting_type, count(*) FROM conformed.dim_setting GROUP BY 1").fetchall())
        assert types["unknown"] == 1 and types["school"] > 10 and types["early_years"] > 10


def test_column_lineage_names_staging_columns(built, warehouse_url):
    with psycopg.connect(warehouse_url) as conn:
        for asset in council_assets:
            lineage = asset.specs_by_key[asset.key].metadata["dagster/column_lineage"].deps_by_column
            assert lineage
            for deps in lineage.values():
                for dep in deps:
                    _, partner, feed = dep.asset_key.path
                    columns = {r[0] for r in conn.execute(
                        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'staging' "
                        "AND table_name = %s", (f"{partner}__{feed}",))}
                    assert dep.column_name in columns, (asset.key, dep)


def test_facts_conformed(built, warehouse_url):
    with psycopg.connect(warehouse_url) as conn:
        eyfsp = conn.execute("""
            SELECT bool_and(f.gld = (s.gld = 'yes')), bool_and(st.setting_urn = s.school_urn),
                   bool_and(g.lsoa11cd = s.lsoa11cd OR f.geography_key = -1),
                   avg((f.age_months_at_year_end BETWEEN 60 AND 71)::integer)
            FROM conformed.fact_early_years_outcomes f JOIN staging.stockport__eyfsp s USING (record_key)
            JOIN conformed.dim_setting st USING (setting_key) JOIN conformed.dim_geography g USING (geography_key)
        """).fetchone()
        assert eyfsp[:3] == (True, True, True) and eyfsp[3] > 0.95
        care = conn.execute("""
            SELECT bool_and(f.is_open = (f.end_date_key = -1)), bool_and(ds.date = s.start_date),
                   bool_and(f.is_open OR f.duration_days = s.end_date - s.start_date), count(*) FILTER (WHERE f.is_open)
            FROM conformed.fact_social_care_episodes f JOIN staging.manchester__social_care s USING (record_key)
            JOIN conformed.dim_date ds ON ds.date_key = f.start_date_key""").fetchone()
        assert care[:3] == (True, True, True) and care[3] > 0
        funded = conn.execute("""
            SELECT bool_and(d.date = s.start_date), bool_and(p.partner_id = 'wigan')
            FROM conformed.fact_funded_early_education f JOIN staging.wigan__funded_early_education s USING (record_key)
            JOIN conformed.dim_date d ON d.date_key = f.start_date_key JOIN conformed.dim_partner p USING (partner_key)
        """).fetchone()
        assert funded == (True, True)


def test_cross_partner_check_catches_a_lost_year(built, warehouse_url):
    """The non-blocking births check passes on the simulated data but fails once a council's extract loses
    most of a year's children (checked in a rolled-back copy, so other tests see the full table)."""
    key = ["conformed", "fact_early_years_outcomes"]
    check = [c for c in load_suite(key) if c.name == "assessed_match_resident_births"]
    with psycopg.connect(warehouse_url) as conn:
        conn.execute("""
            CREATE TABLE public.eyfsp_lost_year AS SELECT f.* FROM conformed.fact_early_years_outcomes f
            JOIN conformed.dim_partner p USING (partner_key)
            WHERE NOT (p.partner_id = 'manchester' AND f.academic_year = '2022/23' AND f.record_key < 'c')""")
        conn.commit()
        try:
            [result] = validate_in_postgres(Warehouse().sqlalchemy_url, "SELECT * FROM public.eyfsp_lost_year", check,
                                            key)
        finally:
            conn.execute("DROP TABLE public.eyfsp_lost_year")
            conn.commit()
    assert not result.passed
