"""The data-quality checks of a raw feed, generated from its contract.

``row_count_matches_file`` guards the raw layer (blocking): the table must hold exactly the rows the file
delivered, with the contract's columns. The others flag bad values that were loaded as delivered, so that
staging can set those rows aside with a reason: required values missing, identifiers malformed (NHS number
check digit, postcode shape), dates that do not parse, codes the contract does not know.
"""

from __future__ import annotations

from psycopg import sql

from gmoda_assets.ingest.drops import parse_drop_id
from gmoda_assets.ingest.loader import LINEAGE_COLUMNS, raw_table_ident
from gmoda_assets.lib.contracts import Column, FeedContract
from gmoda_assets.lib.quality import CheckDef, Table, expectation
from gmoda_assets.lib.sql_dates import date_shape, parsed_date


def _sql_literal(text: str) -> str:
    return sql.Literal(text).as_string()


def _ident(name: str) -> str:
    return sql.Identifier(name).as_string()


def _spelled(fmt: str) -> str:
    """A date format as partners read it (%d/%m/%Y -> DD/MM/YYYY), with no % to clash with query parameters."""
    for directive, spelled in (("%d", "DD"), ("%m", "MM"), ("%Y", "YYYY"), ("%y", "YY"), ("%b", "Mon"), ("%H", "hh"),
                               ("%M", "mm"), ("%S", "ss")):
        fmt = fmt.replace(directive, spelled)
    return fmt


def _failing_rows(tests: list[tuple[Column, str, str, str]]) -> dict:
    """One expectation for a check over several columns, from (column, condition, fault, about) for each, the
    condition and fault being SQL of the value ``v``: the drop's rows whose value in a column meets its condition,
    one row per failing value, as row number and fault (the column and the kind of fault). The value itself is
    shown only for a column that is not a direct identifier.

    Each distinct value of a column is tested once, and the rows find their faults by joining on it: a drop
    repeats its values (a few thousand days hold every date of birth and review), and GE runs a row query twice,
    to count and then to list, so testing every row (a date cut and parsed, an NHS number's check digit) was
    most of a large drop's validation. All the columns are tested in one query, rather than one per column."""
    tested, found = [], []
    shown = not all(column.identifier for column, *_ in tests)
    for i, (column, condition, fault, _) in enumerate(tests):
        col = f"b.{_ident(column.db_name)}"
        # MATERIALIZED: each column's values are tested once, whatever the plan. A drop just loaded is not yet in
        # the table's statistics, so PostgreSQL expects almost none of its rows and may pick a nested loop, which
        # would run a subquery here again for every row (a 100,000-row drop took over 13 minutes). OFFSET 0 keeps
        # the test above DISTINCT, where it would otherwise run on every row.
        tested.append(f"f{i} AS MATERIALIZED (SELECT v, {_sql_literal(column.db_name + ': ')} || ({fault}) AS fault "
                      f"FROM (SELECT DISTINCT {_ident(column.db_name)} AS v FROM {{batch}} OFFSET 0) d "
                      f"WHERE v IS NOT NULL AND {condition})")
        # An inner join per column to its failing values, which DISTINCT ON (v) tells the planner are unique and
        # few (it knows nothing of a CTE's rows), so that it hashes them and the drop's rows probe them once. A left
        # join of every row to every column's faults had it hash the drop's rows instead, in batches on disk.
        value = (", NULL::text AS value" if column.identifier else f", {col} AS value") if shown else ""
        found.append(f"SELECT b._row_number, g.fault{value} FROM {{batch}} AS b "
                     f"JOIN (SELECT DISTINCT ON (v) v, fault FROM f{i}) g ON g.v = {col}")
    query = (f"WITH {', '.join(tested)} "
             f"SELECT * FROM ({' UNION ALL '.join(found)}) f ORDER BY _row_number, fault")
    query = query.replace("{", "{{").replace("}", "}}").replace("{{batch}}", "{batch}")  # GE formats it
    return {**expectation("unexpected_rows_expectation", unexpected_rows_query=query),
            "about": "; ".join(about for *_, about in tests)}


def raw_checks(contract: FeedContract, rows_delivered: int | None = None) -> list[CheckDef]:
    """Checks for one drop of the feed; ``rows_delivered`` is the file's row count (None when only the
    check specs are needed, at definition time)."""
    checks = [
        CheckDef(
            "row_count_matches_file",
            "The drop's rows in the raw table equal the data rows in the delivered file, and the table has the "
            "contract's columns plus lineage columns.",
            [
                expectation("expect_table_row_count_to_equal", value=rows_delivered if rows_delivered is not None else -1),
                expectation("expect_table_columns_to_match_set",
                            column_set=[c.db_name for c in contract.columns] + list(LINEAGE_COLUMNS), exact_match=True),
            ],
            blocking=True,
        )
    ]
    required = [c for c in contract.columns if c.required]
    if required:
        checks.append(CheckDef(
            "required_values_present",
            "Columns the contract marks required are filled in: " + ", ".join(c.name for c in required) + ".",
            [expectation("expect_column_values_to_not_be_null", column=c.db_name) for c in required],
        ))
    id_tests = []
    for col in contract.columns:
        if col.source in ("nhs_number", "mother_nhs_number"):
            fault = "CASE WHEN regexp_replace(v, '[\\s-]', '', 'g') !~ '^\\d{10}$' THEN 'not 10 digits' ELSE 'check digit does not match' END"
            id_tests.append((col, "NOT ops.nhs_number_is_valid(v)", fault,
                             f"{col.db_name}: NHS number (10 digits, modulus-11 check digit)"))
        elif col.identifier == "postcode":
            id_tests.append((col, "NOT ops.postcode_is_valid(v)", "'not a UK postcode shape'",
                             f"{col.db_name}: UK postcode shape"))
    if id_tests:
        checks.append(CheckDef(
            "identifiers_well_formed",
            "NHS numbers carry a valid modulus-11 check digit and postcodes have the UK shape (ignoring case and spaces).",
            [_failing_rows(id_tests)],
        ))
    date_tests = []
    for col in contract.columns:
        if col.type in ("date", "datetime"):
            fault = (f"CASE WHEN v ~ {_sql_literal(date_shape(col.format)[0])} THEN 'no such calendar date' "
                     f"ELSE {_sql_literal('not written as ' + _spelled(col.format))} END")
            date_tests.append((col, f"({parsed_date('v', col.format)}) IS NULL", fault,
                               f"{col.db_name}: real date written as {col.format}"))
    if date_tests:
        checks.append(CheckDef(
            "dates_parse",
            "Date columns hold real calendar dates in the contract's format.",
            [_failing_rows(date_tests)],
        ))
    codes = [c for c in contract.columns if c.values]
    if codes:
        checks.append(CheckDef(
            "codes_known",
            "Coded columns hold only codes the contract maps: " + ", ".join(c.name for c in codes) + ".",
            [expectation("expect_column_values_to_be_in_set", column=c.db_name, value_set=sorted(c.values)) for c in codes],
        ))
    return checks


def drop_rows(conn, contract: FeedContract, drop_id: str, drop_number: int) -> Table | str:
    """The rows of a drop that its checks validate: the drop's own table (``ops.new_drop_table`` names it
    ``<raw table>__<short hash>``), validated as a table, whose columns Great Expectations reads from the catalog,
    where for a query it runs the query and fetches every row to read the names off the result; or, for a drop an
    older install loaded into a table its drops share, the query that selects its rows by the drop's number."""
    table = f"{contract.raw_table}__{parse_drop_id(drop_id)[2]}"
    if conn.execute("SELECT to_regclass(%s)", (sql.Identifier("raw", table).as_string(conn),)).fetchone()[0]:
        return Table("raw", table)
    return sql.SQL("SELECT * FROM {} WHERE _drop = {}").format(raw_table_ident(contract), sql.Literal(drop_number)).as_string(conn)
