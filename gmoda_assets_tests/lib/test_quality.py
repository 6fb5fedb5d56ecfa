"""Great Expectations validations inside PostgreSQL (gmoda_assets.lib.quality), against the test's embedded
server: failing rows and duplicates counted from their list when GE lists them all (gmoda_assets.lib.ge_metrics),
with the counts GE's own statements give."""

import psycopg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from gmoda_assets.lib.database import sqlalchemy_url
from gmoda_assets.lib.quality import CheckDef, Table, expectation, validate_in_postgres

ROWS = ("CREATE TABLE public.test_quality AS SELECT g AS a, CASE WHEN g % 3 <> 0 THEN 'x' END AS b, "
        "CASE WHEN g <= 4 THEN 0 ELSE g END AS c FROM generate_series(1, 1000) g")


@pytest.fixture
def validated(warehouse_url):
    """``validate(expectations)``: the results of the expectations validated on the table (1,000 rows: ``a`` 1 to
    1,000, ``b`` 'x' but every third null, ``c`` as ``a`` but its first four 0), and each statement GE ran."""
    statements = []

    def executed(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    def validate(expectations: list[dict]) -> list[dict]:
        event.listen(Engine, "after_cursor_execute", executed)
        try:
            [result] = validate_in_postgres(sqlalchemy_url(warehouse_url), Table("public", "test_quality"),
                                            [CheckDef("rows", "Rows.", expectations)], ["public", "test_quality"])
        finally:
            event.remove(Engine, "after_cursor_execute", executed)
        return result.metadata["results"].value

    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute(ROWS)
        try:
            yield validate, statements, conn
        finally:
            conn.execute("DROP TABLE public.test_quality")


def test_a_row_query_is_run_once_unless_its_failing_rows_fill_the_list(validated):
    """GE lists at most 200 failing rows and counts them by running the query again; a shorter list holds them
    all, so only a query with 200 or more is run a second time, and every count is the query's."""
    validate, statements, conn = validated
    failing = {"none": "a < 0", "a few": "b IS NULL AND a < 30", "many": "b IS NULL"}
    queries = {name: f"SELECT a FROM {{batch}} WHERE {where} ORDER BY a" for name, where in failing.items()}
    results = validate([{**expectation("unexpected_rows_expectation", unexpected_rows_query=q), "about": name}
                        for name, q in queries.items()])
    counts = {name: conn.execute(f"SELECT count(*) FROM public.test_quality WHERE {where}").fetchone()[0]
              for name, where in failing.items()}
    assert counts == {"none": 0, "a few": 9, "many": 333}
    assert {d["about"]: d["failing_rows"] for d in results} == counts
    assert {d["about"]: d["sample"][:2] for d in results} == {"none": [], "a few": ["a=3", "a=6"],
                                                             "many": ["a=3", "a=6"]}
    runs = {name: sum(f"WHERE {where} ORDER BY a" in s for s in statements) for name, where in failing.items()}
    assert runs == {"none": 1, "a few": 1, "many": 2}


def test_duplicates_are_counted_apart_only_when_they_fill_the_sample(validated):
    """GE lists a sample of a column's duplicated values (10) and counts them by another window over the whole
    column; a shorter list holds them all, so only a column with 10 or more duplicated rows is counted apart."""
    validate, statements, conn = validated
    results = validate([expectation("expect_column_values_to_be_unique", column=c) for c in ("a", "b", "c")])
    counts = {c: conn.execute(f"SELECT count(*) FROM public.test_quality t WHERE (SELECT count(*) FROM "
                              f"public.test_quality u WHERE u.{c} = t.{c}) > 1").fetchone()[0] for c in "abc"}
    assert counts == {"a": 0, "b": 667, "c": 4}
    assert {d["about"]: (d["failing_rows"], d["rows_checked"], d["sample"]) for d in results} == {
        "a": (0, 1000, []), "b": (667, 1000, ["x"] * 10), "c": (4, 1000, ["0"] * 4)}
    assert {d["about"]: d["failing_percent"] for d in results} == {"a": 0.0, "b": 100.0, "c": 0.4}
    counted = [s for s in statements if "unexpected_count" in s and "OVER (PARTITION BY" in s]
    assert len(counted) == 1 and "PARTITION BY b" in counted[0]


@pytest.mark.parametrize("type_, kwargs", [
    ("expect_column_values_to_not_be_null", {"column": "b"}),
    ("expect_column_values_to_be_in_set", {"column": "c", "value_set": [0, 5], "mostly": 0.9}),
    ("expect_table_row_count_to_equal", {"value": 1000}),
    ("expect_table_columns_to_match_set", {"column_set": ["a", "b", "c"], "exact_match": True}),
    ("unexpected_rows_expectation", {"unexpected_rows_query": "SELECT * FROM {batch} WHERE c = 0"}),
])
def test_an_expectations_kwargs_come_from_one_configuration(type_, kwargs, monkeypatch):
    """GE's kwargs lookups give the same kwargs with lib/ge_configuration as without, for the kinds of expectation
    the raw checks use, building the expectation's configuration once per lookup rather than once per key."""
    from great_expectations.expectations.expectation import Expectation
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    from gmoda_assets.lib import ge_configuration

    built, build = [], ge_configuration._built  # GE's property: a new configuration each time

    def counted(expectation):
        built.append(expectation)
        return build(expectation)

    def lookups(expectation) -> tuple:
        built.clear()
        found = (expectation._get_runtime_kwargs({"result_format": {"result_format": "COMPLETE"}}),
                 expectation._get_success_kwargs(), expectation._get_result_format({}))
        return found, len(built)

    expectation = ExpectationConfiguration(type=type_, kwargs=kwargs).to_domain_obj()
    with monkeypatch.context() as ge_as_it_is:  # GE's own lookups and configuration
        ge_as_it_is.setattr(Expectation, "configuration", property(counted))
        for name in ge_configuration._LOOKUPS:
            ge_as_it_is.setattr(Expectation, name, getattr(Expectation, name).__wrapped__)
        ge_found, ge_built = lookups(expectation)
    monkeypatch.setattr(ge_configuration, "_built", counted)
    found, built_once = lookups(expectation)
    assert found == ge_found
    assert (built_once, ge_built > built_once) == (3, True)  # one for each of the three lookups
