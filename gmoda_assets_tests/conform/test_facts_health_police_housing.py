"""Facts of the NHS, police and housing feeds, built by a real Dagster run from a simulated month loaded into
raw and staged (the shared ``staged_month``), into the test's embedded PostgreSQL, and checked by their suites
and against the catalog."""

import pandas as pd
import psycopg
import pytest
from dagster import materialize

from gmoda_assets.conform.facts_health_police_housing import SPECS, fact_assets_hpp
from gmoda_assets.lib.geography import REFERENCE_DIR
from gmoda_assets.resources import Warehouse
from gmoda_assets_tests.conform.helpers import asset_of, failure_message

# Each fact and the staging table it is built from.
FACTS = {s.name: s.source.tables[0].table[1] for s in SPECS}


@pytest.fixture(scope="module")
def built(staged_month):
    """The shared build of the simulated month: staging, the dimensions and the facts in one Dagster run."""
    return staged_month.build


def test_one_row_per_staged_record(built, warehouse_url):
    counts = {e.asset_key.path[1]: e.materialization.metadata["dagster/row_count"].value
              for e in built.get_asset_materialization_events() if e.asset_key.path[0] == "conformed"}
    with psycopg.connect(warehouse_url) as conn:
        for fact, staging in FACTS.items():
            staged = conn.execute(f"SELECT count(*) FROM staging.{staging}").fetchone()[0]
            assert counts[fact] == staged > 20, fact
            missing = conn.execute(f"""
                SELECT count(*) FROM staging.{staging} s
                LEFT JOIN conformed.{fact} f USING (record_key) WHERE f.record_key IS NULL""").fetchone()[0]
            assert missing == 0, fact


def test_every_check_passes(built):
    mine = {a.key for a in fact_assets_hpp}
    evaluations = [e for e in built.get_asset_check_evaluations() if e.asset_key in mine]
    assert len(evaluations) == sum(len(list(a.check_specs)) for a in fact_assets_hpp)
    failed = {(e.asset_key.path[1], e.check_name): e.metadata["failures"].value for e in evaluations if not e.passed}
    assert not failed


def test_column_lineage_names_staging_columns(built, warehouse_url):
    with psycopg.connect(warehouse_url) as conn:
        for spec, asset in zip(SPECS, fact_assets_hpp):
            staging = {r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'staging' AND table_name = %s",
                (FACTS[spec.name],))}
            lineage = asset.specs_by_key[asset.key].metadata["dagster/column_lineage"].deps_by_column
            assert set(lineage) <= set(spec.columns) and "geography_key" in lineage
            assert {d.column_name for deps in lineage.values() for d in deps} <= staging, spec.name


def test_births_conformed(built, warehouse_url):
    with psycopg.connect(warehouse_url) as conn:
        rows = conn.execute("""
            SELECT count(*) FILTER (WHERE d.date = make_date(s.birth_year, s.birth_month, 1)),
                   count(*) FILTER (WHERE g.lsoa11cd = s.lsoa11cd),
                   count(*) FILTER (WHERE p.partner_id = 'nhs'),
                   count(*) FILTER (WHERE f.gestation_band = '37+'), count(*) FILTER (WHERE f.is_low_birth_weight),
                   count(*)
            FROM conformed.fact_births f JOIN staging.nhs__births s USING (record_key)
            JOIN conformed.dim_date d ON d.date_key = f.birth_month_date_key
            JOIN conformed.dim_geography g USING (geography_key) JOIN conformed.dim_partner p USING (partner_key)
        """).fetchone()
        *matched, term, low, total = rows
        assert matched == [total] * 3
        # About 92% of births are at term and 7% under 2,500 g in England.
        assert 0.8 < term / total < 0.99 and 0.02 < low / total < 0.15
        by_council = pd.DataFrame(conn.execute("""
            SELECT g.lad19cd, count(*) FROM conformed.fact_births f JOIN conformed.dim_geography g USING (geography_key)
            GROUP BY 1""").fetchall(), columns=["area_code", "births"]).set_index("area_code").births
    # Births by council in proportion to the children each council assesses at five (the reference).
    reference = pd.read_csv(REFERENCE_DIR / "gm_la_eyfsp_gld.csv")
    reference = reference[reference.area_code.str.startswith("E08")].groupby("area_code").children_assessed.sum()
    shares = pd.concat([by_council / by_council.sum(), reference / reference.sum()], axis=1).fillna(0)
    assert len(by_council) == 10 and (shares.iloc[:, 0] - shares.iloc[:, 1]).abs().max() < 0.04, shares


def test_reviews_incidents_and_tenancies_conformed(built, warehouse_url):
    with psycopg.connect(warehouse_url) as conn:
        reviews = conn.execute("""
            SELECT f.review_type, avg(f.age_at_review_months), avg(f.asq_complete::integer),
                   bool_and(d.date = s.review_date)
            FROM conformed.fact_health_visiting_reviews f JOIN staging.nhs__hv_reviews s USING (record_key)
            JOIN conformed.dim_date d ON d.date_key = f.review_date_key GROUP BY 1""").fetchall()
        by_type = {t: (age, complete, dated) for t, age, complete, dated in reviews}
        assert all(dated for *_, dated in by_type.values())
        assert by_type["new_birth"][0] < 1 and 20 < by_type["two_year"][0] < 32
        assert by_type["two_year"][1] > 0.7 and by_type["one_year"][1] < 0.1
        incidents = conn.execute("""
            SELECT count(DISTINCT f.incident_ref_pseudonym) < count(*), bool_and(d.date = s.incident_datetime),
                   bool_and(p.partner_id = 'gmp')
            FROM conformed.fact_police_incidents f JOIN staging.gmp__incidents s USING (record_key)
            JOIN conformed.dim_date d ON d.date_key = f.incident_date_key JOIN conformed.dim_partner p USING (partner_key)
        """).fetchone()
        assert incidents == (True, True, True)  # several people per incident
        tenancies = conn.execute("""
            SELECT bool_and(g.lad19cd = 'E08000007'), bool_and(f.is_open = (f.tenancy_end_date_key = -1)),
                   bool_and(f.is_overcrowded = (s.overcrowded = 'yes'))
            FROM conformed.fact_tenancies f JOIN staging.stockport_homes__tenancies s USING (record_key)
            JOIN conformed.dim_geography g USING (geography_key)""").fetchone()
        assert tenancies == (True, True, True)


def test_a_fact_is_published_while_its_dimensions_are_read(built, warehouse_url):
    """A rebuilt fact replaces its one partition (lib/publish.py): a session that holds every dimension read in
    an open transaction neither waits for the publish nor makes it wait, as it would were a foreign key or a
    table with one dropped (ACCESS EXCLUSIVE on the dimension); the rows are the same, and the new partition is
    held to the foreign keys and the unique record key."""
    fact_births = asset_of(fact_assets_hpp, "fact_births")
    rows = "SELECT count(*), md5(string_agg(md5(f::text), '' ORDER BY f.record_key)) FROM conformed.fact_births AS f"
    dimensions = [f"conformed.{d}" for d in ("dim_date", "dim_geography", "dim_partner", "dim_person")]
    # A lock that waited for the reader would fail the build at this timeout rather than hang the test.
    impatient = Warehouse(url=warehouse_url + ("&" if "?" in warehouse_url else "?") + "options=-c%20lock_timeout%3D10000")
    copy = ("INSERT INTO conformed.fact_births SELECT (jsonb_populate_record(f, %s::jsonb)).* "
            "FROM conformed.fact_births AS f LIMIT 1")
    with psycopg.connect(warehouse_url) as reader, psycopg.connect(warehouse_url, autocommit=True) as conn:
        before = conn.execute(rows).fetchone()
        for dimension in dimensions:
            reader.execute(f"SELECT count(*) FROM {dimension}")
        result = materialize([fact_births], resources={"warehouse": impatient}, raise_on_error=False)
        for dimension in dimensions:
            reader.execute(f"SELECT count(*) FROM {dimension}")
        reader.rollback()
        assert result.success
        assert conn.execute(rows).fetchone() == before
        assert conn.execute("SELECT inhrelid::regclass::text FROM pg_inherits "
                            "WHERE inhparent = 'conformed.fact_births'::regclass").fetchall() == [
            ("conformed.fact_births__rows",)]
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(copy, ('{"birth_key": 0}',))
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute(copy, ('{"birth_key": 0, "record_key": "new", "geography_key": -999}',))


def test_a_failing_blocking_check_leaves_the_previous_fact_live(built, warehouse_url):
    """Births staged with an unknown sex code make the candidate fact fail codes_allowed: the run fails naming
    the check, the column and the code, and the live fact keeps every row it had, readable throughout."""
    fact_births = asset_of(fact_assets_hpp, "fact_births")
    live = "SELECT count(*), count(*) FILTER (WHERE sex = 'x'), sum(hashtext(record_key)) FROM conformed.fact_births"
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        before = conn.execute(live).fetchone()
        changed = conn.execute("SELECT record_key, sex FROM staging.nhs__births WHERE record_key < '1'").fetchall()
        conn.execute("UPDATE staging.nhs__births SET sex = 'x' WHERE record_key < '1'")
        try:
            result = materialize([fact_births], resources={"warehouse": Warehouse()}, raise_on_error=False)
            assert not result.success and not result.get_asset_materialization_events()
            assert conn.execute(live).fetchone() == before and before[1] == 0
        finally:
            with conn.cursor() as cursor:
                cursor.executemany("UPDATE staging.nhs__births SET sex = %s WHERE record_key = %s",
                                   [(sex, key) for key, sex in changed])
    assert changed
    assert {e.check_name for e in result.get_asset_check_evaluations() if not e.passed} == {"codes_allowed"}
    message = failure_message(result)
    assert "conformed.fact_births was not published: blocking check(s) codes_allowed" in message
    assert f"sex (expect_column_values_to_be_in_set), {len(changed)} failing, e.g. x" in message
