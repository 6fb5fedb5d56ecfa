"""Tables past raw, declared by specs (gmoda_assets.lib.tables) and built by write, check, publish
(gmoda_assets.lib.publish), with real Dagster runs against the test's embedded PostgreSQL.

A table is added here the way the README says: a CREATE TABLE, one spec and one suite file, nothing else. It
is handed to gmoda_transformer (the role that owns and builds every table past raw) and built by a login in
that role, not by the administrator. So is a product whose rows are computed in Python."""

from datetime import date
from urllib.parse import urlsplit, urlunsplit

import pandas as pd
import psycopg
import pytest
from dagster import AssetCheckKey, AssetSelection, Definitions, materialize
from psycopg import sql

from gmoda_assets.conform.dimensions import dimension_assets
from gmoda_assets.definitions import TABLE_SPECS
from gmoda_assets.lib import governance, suites
from gmoda_assets.lib.governance import AgreementError, check_agreements
from gmoda_assets.lib.table_assets import table_asset
from gmoda_assets.lib.tables import Column, Computed, Lookup, Query, TableSpec, Written
from gmoda_assets.resources import Warehouse
from gmoda_assets_tests.conform.helpers import failure_message
from gmoda_assets_tests.helpers import catalog_columns

LOGIN = "test_tables_transformer"
CREATE_TABLE = """
    CREATE TABLE conformed.test_council_areas (
        lad19cd        text PRIMARY KEY,
        council_name   text NOT NULL,
        lsoas          integer NOT NULL,
        children_0_15  integer,
        partner_key    integer NOT NULL REFERENCES conformed.dim_partner (partner_key)
    )"""
SUITE = """
- name: one_row_per_council
  description: The ten councils of Greater Manchester, once each.
  blocking: true
  expectations:
    - type: expect_column_values_to_be_unique
      kwargs: {column: lad19cd}
    - type: unexpected_rows_expectation
      kwargs:
        unexpected_rows_query: SELECT count(*) AS councils FROM {batch} HAVING count(*) <> 10
      about: ten councils
- name: children_plausible
  description: Between 10,000 and 200,000 children aged 0-15 live in each council area.
  blocking: false
  expectations:
    - type: expect_column_values_to_be_between
      kwargs: {column: children_0_15, min_value: 10000, max_value: 200000}
"""
GEOGRAPHY = ("conformed", "dim_geography")
COUNCILS = "SELECT lad19cd, min(lad19nm) AS lad19nm, count(*) AS lsoas, sum(children_0_15_mid2015) AS children " \
           "FROM conformed.dim_geography WHERE geography_key <> -1 GROUP BY lad19cd"


def council_areas(query: str, parallel: bool = False) -> TableSpec:
    """The spec of the added table, its rows from ``query`` (computed by CREATE TABLE AS when ``parallel``)."""
    return TableSpec("conformed", "test_council_areas", "One row per council area of Greater Manchester, with its "
                     "LSOAs and children, and the council as a partner.", {
        "lad19cd": Column("text", "Council area ONS code.", sources=("lad19cd",)),
        "council_name": Column("text", "Council area name.", "s.lad19nm", ("lad19nm",)),
        "lsoas": Column("integer", "LSOAs (2011) in the council area.", sources=("lsoas",)),
        "children_0_15": Column("integer", "Children aged 0-15, mid-2015.", "s.children", ("children",)),
        "partner_key": Column("integer", "The council in dim_partner; -1 when it is not a partner.",
                              lookup=Lookup("conformed.dim_partner", "council_code", "s.lad19cd", "partner_key")),
    }, Query(sql.SQL(query), (GEOGRAPHY,), {"lad19cd": ((GEOGRAPHY, "lad19cd"),), "council_name": ((GEOGRAPHY, "lad19nm"),),
                                             "children_0_15": ((GEOGRAPHY, "children_0_15_mid2015"),)}, parallel))


def login_url(url: str, user: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{user}@{parts.hostname or ''}"))


@pytest.fixture(scope="module")
def added(warehouse_url, tmp_path_factory):
    """The dimensions built; the added table created by the administrator (as sql/ would), handed to
    gmoda_transformer, and its asset (and one whose query repeats every council) made with the suite file."""
    assert materialize(dimension_assets, resources={"warehouse": Warehouse()}).success
    suite_dir = tmp_path_factory.mktemp("expectations")
    (suite_dir / "conformed.test_council_areas.yaml").write_text(SUITE, encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(suites, "SUITES_DIR", suite_dir)
        good, doubled = (table_asset(council_areas(q)) for q in (COUNCILS, f"{COUNCILS} UNION ALL {COUNCILS}"))
        parallel, doubled_parallel = (table_asset(council_areas(q, parallel=True))
                                      for q in (COUNCILS, f"{COUNCILS} UNION ALL {COUNCILS}"))
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {LOGIN}")
        conn.execute(f"CREATE ROLE {LOGIN} LOGIN IN ROLE gmoda_transformer")
        conn.execute(CREATE_TABLE)
        conn.execute("ALTER TABLE conformed.test_council_areas OWNER TO gmoda_transformer")
        try:
            yield {"good": good, "doubled": doubled, "parallel": parallel, "doubled_parallel": doubled_parallel,
                   "warehouse": Warehouse(url=login_url(warehouse_url, LOGIN))}
        finally:
            conn.execute("DROP TABLE IF EXISTS conformed.test_council_areas, conformed.test_council_areas__candidate")
            conn.execute(f"DROP OWNED BY {LOGIN}")
            conn.execute(f"DROP ROLE {LOGIN}")


def build(asset, warehouse: Warehouse, succeed: bool = True):
    result = materialize([asset], resources={"warehouse": warehouse}, raise_on_error=False)
    assert result.success == succeed
    return result


@pytest.mark.parametrize("spec", TABLE_SPECS, ids=lambda s: s.name)
def test_catalog_matches_the_spec(warehouse_url, spec):
    """The CREATE TABLE in sql/ has the spec's columns, in order and of its types, with a foreign key for each
    key looked up in a dimension; the set-up gave the table and every column the spec's description."""
    with psycopg.connect(warehouse_url) as conn:
        assert catalog_columns(conn, spec.qualified_name) == [(n, c.type, c.description) for n, c in spec.columns.items()]
        assert conn.execute("SELECT obj_description(%s::regclass, 'pg_class')",
                            (spec.qualified_name,)).fetchone() == (spec.description,)
        references = dict(conn.execute("""
            SELECT a.attname, c.confrelid::regclass::text FROM pg_constraint c
            JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
            WHERE c.contype = 'f' AND c.conrelid = %s::regclass""", (spec.qualified_name,)).fetchall())
        assert references == {n: lookup.dimension for n, lookup in spec.lookups.items()}


def test_adding_a_table_takes_a_create_table_a_spec_and_a_suite(added, warehouse_url):
    result = build(added["good"], added["warehouse"])
    [event] = result.get_asset_materialization_events()
    assert event.materialization.metadata["dagster/row_count"].value == 10
    assert event.materialization.metadata["rows_unknown_partner"].value == 0
    assert {(e.check_name, e.passed) for e in result.get_asset_check_evaluations()} == {
        ("one_row_per_council", True), ("children_plausible", True)}
    spec = added["good"].specs_by_key[added["good"].key]
    assert spec.description.startswith("One row per council area")
    assert [c.name for c in spec.metadata["dagster/column_schema"].columns][:2] == ["lad19cd", "council_name"]
    assert spec.metadata["dagster/column_lineage"].deps_by_column["children_0_15"][0].column_name == \
        "children_0_15_mid2015"
    assert {d.asset_key.path[1] for d in spec.deps} == {"dim_geography", "dim_partner"}
    with psycopg.connect(warehouse_url) as conn:
        rows = conn.execute("SELECT t.lad19cd, t.council_name, p.partner_id FROM conformed.test_council_areas t "
                            "JOIN conformed.dim_partner p USING (partner_key) ORDER BY 1").fetchall()
        assert rows[0] == ("E08000001", "Bolton", "bolton") and len(rows) == 10
        # The comments come from the spec, set by the build; the table is still the transformer's.
        assert catalog_columns(conn, "conformed.test_council_areas")[1] == ("council_name", "text", "Council area name.")
        assert conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'test_council_areas'"
                            ).fetchone() == ("gmoda_transformer",)
        assert conn.execute("SELECT to_regclass('conformed.test_council_areas__candidate')").fetchone() == (None,)


def test_a_table_built_from_empty_is_planned_with_its_new_size(added, warehouse_url):
    """The next step plans its reads of a published table knowing how many rows it now has and what they hold, not
    from the statistics of the empty table it replaced (autovacuum would get to it later, or never for so few
    rows): the table is analysed, though making its indexes again has already set its size, and vacuumed, so
    that its pages are marked all-visible and an index-only scan need not fetch each row from the table."""
    size = "SELECT reltuples FROM pg_class WHERE oid = 'conformed.test_council_areas'::regclass"
    visible = "SELECT relpages, relallvisible FROM pg_class WHERE oid = 'conformed.test_council_areas'::regclass"
    analysed = "SELECT pg_stat_get_analyze_count('conformed.test_council_areas'::regclass)"
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute("TRUNCATE conformed.test_council_areas")
        assert conn.execute(size).fetchone() == (-1,)
        before = conn.execute(analysed).fetchone()[0]
        build(added["good"], added["warehouse"])
        assert conn.execute(size).fetchone() == (10,)
        assert conn.execute(analysed).fetchone()[0] == before + 1
        assert conn.execute(visible).fetchone() == (1, 1)


def test_a_refilled_table_has_its_indexes_made_again_as_they_were(added, warehouse_url):
    """Publishing drops a refilled table's indexes (its primary key's too) before the rows go in and makes them
    after, from all the rows at once: afterwards each is there, new, defined as before, and the key still holds."""
    indexes = ("SELECT i.indexrelid, c.relname, pg_get_indexdef(i.indexrelid), i.indisprimary FROM pg_index AS i "
               "JOIN pg_class AS c ON c.oid = i.indexrelid WHERE i.indrelid = 'conformed.test_council_areas'::regclass "
               "ORDER BY c.relname")
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute("CREATE INDEX IF NOT EXISTS test_council_areas_name ON conformed.test_council_areas (council_name)")
        before = conn.execute(indexes).fetchall()
        build(added["good"], added["warehouse"])
        after = conn.execute(indexes).fetchall()
        assert [r[1:] for r in after] == [r[1:] for r in before] and len(after) == 2 and any(r[3] for r in after)
        assert not {r[0] for r in after} & {r[0] for r in before}
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO conformed.test_council_areas SELECT * FROM conformed.test_council_areas LIMIT 1")
        conn.execute("DROP INDEX conformed.test_council_areas_name")


def test_a_candidate_is_checked_without_reading_its_rows_back(added):
    """Great Expectations learns the candidate's columns from the catalog: no statement of the validation
    returns the candidate's rows to Python (asked for the rows of a query, GE runs it and fetches every row to
    read the column names off the result)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    returned = []

    def rows_returned(conn, cursor, statement, parameters, context, executemany):
        if "test_council_areas" in statement and cursor.description:
            returned.append((cursor.rowcount, statement))

    event.listen(Engine, "after_cursor_execute", rows_returned)
    try:
        result = build(added["good"], added["warehouse"])
    finally:
        event.remove(Engine, "after_cursor_execute", rows_returned)
    assert {(e.check_name, e.passed) for e in result.get_asset_check_evaluations()} == {
        ("one_row_per_council", True), ("children_plausible", True)}
    assert returned and all(rows < 10 for rows, _ in returned), [s for rows, s in returned if rows >= 10]


def test_a_failing_blocking_check_leaves_the_previous_table_live(added, warehouse_url):
    build(added["good"], added["warehouse"])
    with psycopg.connect(warehouse_url, autocommit=True) as reader:
        before = reader.execute("SELECT * FROM conformed.test_council_areas ORDER BY 1").fetchall()
        result = build(added["doubled"], added["warehouse"], succeed=False)
        # Still the previous version, readable by anyone who could read it before.
        assert reader.execute("SELECT * FROM conformed.test_council_areas ORDER BY 1").fetchall() == before
        assert reader.execute("SELECT count(*) FROM conformed.test_council_areas__candidate").fetchone() == (20,)
    assert not result.get_asset_materialization_events()
    assert {e.check_name for e in result.get_asset_check_evaluations() if not e.passed} == {"one_row_per_council"}
    message = failure_message(result)
    assert "conformed.test_council_areas was not published: blocking check(s) one_row_per_council" in message
    assert "E08000001" in message and "councils=20" in message  # failing keys and counts, sampled


def test_a_table_filled_in_parallel_is_the_same_and_checked_the_same(added, warehouse_url):
    """A query marked parallel (computed by CREATE TABLE AS, then copied into the candidate) publishes the rows
    the plain INSERT ... SELECT does, built by the transformer's login; its checks still refuse a bad candidate,
    which leaves the live rows as they were."""
    rows = "SELECT * FROM conformed.test_council_areas ORDER BY lad19cd"
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        build(added["good"], added["warehouse"])
        serial = conn.execute(rows).fetchall()
        conn.execute("TRUNCATE conformed.test_council_areas")
        build(added["parallel"], added["warehouse"])
        assert conn.execute(rows).fetchall() == serial and len(serial) == 10
        result = build(added["doubled_parallel"], added["warehouse"], succeed=False)
        assert "one_row_per_council" in failure_message(result)
        assert conn.execute(rows).fetchall() == serial
        assert conn.execute("SELECT count(*) FROM conformed.test_council_areas__candidate").fetchone() == (20,)


def test_a_check_run_on_its_own_validates_the_live_table(added, warehouse_url, instance):
    build(added["good"], added["warehouse"])
    check = AssetCheckKey(added["good"].key, "one_row_per_council")

    def run_check():
        result = materialize([added["good"]], selection=AssetSelection.checks(check), instance=instance,
                             resources={"warehouse": added["warehouse"]}, raise_on_error=False)
        assert not result.get_asset_materialization_events()
        [evaluation] = result.get_asset_check_evaluations()
        return evaluation

    assert run_check().passed
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute("DELETE FROM conformed.test_council_areas WHERE lad19cd = 'E08000010'")
        failing = run_check()
        assert not failing.passed and "councils=9" in failing.metadata["failures"].value
        # Nothing was built: no candidate, and the live table is as the test left it.
        assert conn.execute("SELECT to_regclass('conformed.test_council_areas__candidate')").fetchone() == (None,)
        assert conn.execute("SELECT count(*) FROM conformed.test_council_areas").fetchone() == (9,)


def release(kept: bool):
    """A table written with a companion of figures (as synthetic.children with its quality), one figure ``kept``
    or not; a check of the table's rows, and a blocking one of the figures' alone."""
    from gmoda_assets.lib.quality import CheckDef, expectation

    def write(context, conn, candidates):
        conn.execute(sql.SQL("INSERT INTO {} SELECT generate_series(1, 3)").format(candidates["test_release"]))
        conn.execute(sql.SQL("INSERT INTO {} VALUES ('a', true), ('b', %s)").format(
            candidates["test_release_figures"]), (kept,))
        return {}

    figures = TableSpec("conformed", "test_release_figures", "The release's figures.", {
        "figure": Column("text", "A figure."), "kept": Column("boolean", "Whether it keeps its limit.")}, None)
    spec = TableSpec("conformed", "test_release", "A release.", {"n": Column("integer", "A number.")}, Written(write),
                     companions=(figures,))
    return table_asset(spec, [
        CheckDef("three_rows", "Three rows.", [expectation(
            "unexpected_rows_expectation", unexpected_rows_query="SELECT count(*) AS n FROM {batch} HAVING count(*) <> 3")]),
        CheckDef("figures_kept", "Every figure keeps its limit.", [expectation(
            "unexpected_rows_expectation", unexpected_rows_query="SELECT figure FROM {batch} WHERE NOT kept")],
            blocking=True, companion="test_release_figures")])


def test_a_check_of_a_companion_validates_its_rows(added, warehouse_url, instance, capfd):
    """A check of a companion's rows alone validates them as its batch, the candidate's in a build and the live
    table's when run on its own; Great Expectations, which prints a warning for every row query that does not
    read ``{batch}`` each time it reads the check, prints nothing."""
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE conformed.test_release (n integer NOT NULL); "
                     "CREATE TABLE conformed.test_release_figures (figure text NOT NULL, kept boolean NOT NULL); "
                     "ALTER TABLE conformed.test_release OWNER TO gmoda_transformer; "
                     "ALTER TABLE conformed.test_release_figures OWNER TO gmoda_transformer")
        try:
            assert all(e.passed for e in build(release(True), added["warehouse"]).get_asset_check_evaluations())
            refused = build(release(False), added["warehouse"], succeed=False)
            assert {e.check_name: e.passed for e in refused.get_asset_check_evaluations()} == {
                "three_rows": True, "figures_kept": False}
            assert "figures_kept" in failure_message(refused) and "figure=b" in failure_message(refused)
            live = materialize([release(False)], selection=AssetSelection.checks_for_assets(release(False)),
                               instance=instance, resources={"warehouse": added["warehouse"]})
            assert {e.check_name: e.passed for e in live.get_asset_check_evaluations()} == {
                "three_rows": True, "figures_kept": True}  # the live figures are the kept ones
        finally:
            conn.execute("DROP TABLE IF EXISTS conformed.test_release, conformed.test_release__candidate, "
                         "conformed.test_release_figures, conformed.test_release_figures__candidate")
    assert "{batch}" not in capfd.readouterr().out


PRODUCT_TABLE = "CREATE TABLE mart.test_children_by_council (lad19cd text PRIMARY KEY, children_0_15 integer NOT NULL)"
GMP_INCIDENTS = ("raw", "gmp", "incidents")


def children_by_council(copies: int, purpose: str = "statistics", feeds: tuple = ()):
    """A product computed in Python (a DataFrame): children per council area, each council ``copies`` times;
    ``made`` counts the times its rows were made."""
    made = []

    def rows(context, conn):
        made.append(copies)
        frame = pd.DataFrame(conn.execute(COUNCILS).fetchall(), columns=["lad19cd", "name", "lsoas", "children"])
        frame = frame.rename(columns={"children": "children_0_15"})[["children_0_15", "lad19cd"]]  # by name
        return pd.concat([frame] * copies), {"councils": len(frame)}

    spec = TableSpec("mart", "test_children_by_council", "Children aged 0-15 per council area, mid-2015.", {
        "lad19cd": Column("text", "Council area ONS code."),
        "children_0_15": Column("integer", "Children aged 0-15, mid-2015."),
    }, Computed(rows, assets=(GEOGRAPHY, *feeds), column_lineage={"lad19cd": ((GEOGRAPHY, "lad19cd"),)}),
        purpose=purpose)
    return table_asset(spec), made


@pytest.fixture(scope="module")
def product(added, warehouse_url, tmp_path_factory):
    """The product's table created as sql/ would, and its suite file (the added table's checks)."""
    suite_dir = tmp_path_factory.mktemp("product_expectations")
    (suite_dir / "mart.test_children_by_council.yaml").write_text(SUITE, encoding="utf-8")
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute(PRODUCT_TABLE)
        try:
            yield suite_dir
        finally:
            conn.execute("DROP TABLE IF EXISTS mart.test_children_by_council, mart.test_children_by_council__candidate")


def computed_product(suite_dir, *args, **kwargs):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(suites, "SUITES_DIR", suite_dir)
        return children_by_council(*args, **kwargs)


def test_a_computed_table_is_checked_before_it_replaces_the_live_one(added, product, warehouse_url):
    (good, _), (doubled, _) = computed_product(product, 1), computed_product(product, 2)
    result = build(good, added["warehouse"])
    [event] = result.get_asset_materialization_events()
    assert event.materialization.metadata["dagster/row_count"].value == 10
    assert event.materialization.metadata["councils"].value == 10
    assert good.specs_by_key[good.key].tags[governance.PURPOSE_TAG] == "statistics"
    with psycopg.connect(warehouse_url, autocommit=True) as reader:
        before = reader.execute("SELECT * FROM mart.test_children_by_council ORDER BY 1").fetchall()
        assert len(before) == 10 and before[0][0] == "E08000001" and all(n > 10000 for _, n in before)
        result = build(doubled, added["warehouse"], succeed=False)
        assert reader.execute("SELECT * FROM mart.test_children_by_council ORDER BY 1").fetchall() == before
        assert reader.execute("SELECT count(*) FROM mart.test_children_by_council__candidate").fetchone() == (20,)
    assert not result.get_asset_materialization_events()
    message = failure_message(result)
    assert "mart.test_children_by_council was not published: blocking check(s) one_row_per_council" in message
    assert "councils=20" in message


def test_a_product_without_a_live_agreement_fails_naming_feed_purpose_and_agreement(added, product, warehouse_url,
                                                                                   monkeypatch):
    readiness, made = computed_product(product, 1, "school_readiness", (GMP_INCIDENTS,))
    naming = ("mart/test_children_by_council (purpose school_readiness) uses feed gmp.incidents without a live "
              "data-sharing agreement for school_readiness")
    with pytest.raises(AgreementError) as raised:  # the code location would not load
        check_agreements(Definitions(assets=[readiness], resources={"warehouse": Warehouse()}),
                         today=date(2026, 1, 15))
    assert naming in str(raised.value) and "GMODA-DSA-004 does not permit school_readiness" in str(raised.value)

    build(computed_product(product, 1)[0], added["warehouse"])
    with psycopg.connect(warehouse_url) as conn:
        before = conn.execute("SELECT * FROM mart.test_children_by_council ORDER BY 1").fetchall()
    monkeypatch.setenv(governance.DRILL_ENV, "1")
    monkeypatch.setenv(governance.TODAY_ENV, "2026-01-15")
    result = build(readiness, added["warehouse"], succeed=False)  # and a run of it fails before making a row
    assert made == [] and naming in failure_message(result)
    assert "GMODA-DSA-004 does not permit school_readiness" in failure_message(result)
    with psycopg.connect(warehouse_url) as conn:
        assert conn.execute("SELECT * FROM mart.test_children_by_council ORDER BY 1").fetchall() == before


def test_a_plain_fact_becomes_one_partition_with_its_rows_keys_and_descriptions(warehouse_url):
    """Set-up makes a fact that is a plain table (as sql/2* creates it, and earlier versions left it) a partitioned
    table whose one partition holds its rows: the primary key, the foreign keys and the comments are the parent's,
    the other unique key the partition's, both keys still refuse what they refused, and a second run changes
    nothing."""
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute("""
            CREATE TABLE conformed.test_dim (dim_key integer PRIMARY KEY);
            INSERT INTO conformed.test_dim VALUES (-1), (1);
            CREATE TABLE conformed.test_fact (fact_key integer PRIMARY KEY, record_key text NOT NULL UNIQUE,
                                              dim_key integer NOT NULL REFERENCES conformed.test_dim (dim_key));
            COMMENT ON TABLE conformed.test_fact IS 'A fact.';
            COMMENT ON COLUMN conformed.test_fact.record_key IS 'Its record.';
            INSERT INTO conformed.test_fact VALUES (1, 'a', 1), (2, 'b', -1);
        """)
        try:
            conn.execute("CALL ops.partition_fact('conformed.test_fact')")
            conn.execute("CALL ops.partition_fact('conformed.test_fact')")
            constraints = "SELECT contype::text, conname::text FROM pg_constraint WHERE conrelid = %s::regclass ORDER BY 1"
            assert conn.execute(constraints, ("conformed.test_fact",)).fetchall() == [
                ("f", "test_fact_dim_key_fkey"), ("p", "test_fact_pkey")]
            assert conn.execute("SELECT inhrelid::regclass::text FROM pg_inherits "
                                "WHERE inhparent = 'conformed.test_fact'::regclass").fetchall() == [
                ("conformed.test_fact__rows",)]
            assert ("u", "test_fact_record_key_key") in conn.execute(constraints, ("conformed.test_fact__rows",)).fetchall()
            assert conn.execute("SELECT * FROM conformed.test_fact ORDER BY 1").fetchall() == [(1, "a", 1), (2, "b", -1)]
            assert conn.execute("SELECT obj_description('conformed.test_fact'::regclass, 'pg_class'), "
                                "col_description('conformed.test_fact'::regclass, 2)").fetchone() == (
                "A fact.", "Its record.")
            with pytest.raises(psycopg.errors.UniqueViolation):
                conn.execute("INSERT INTO conformed.test_fact VALUES (3, 'a', 1)")
            with pytest.raises(psycopg.errors.ForeignKeyViolation):
                conn.execute("INSERT INTO conformed.test_fact VALUES (3, 'c', 2)")
        finally:
            conn.execute("DROP TABLE IF EXISTS conformed.test_fact, conformed.test_dim")
