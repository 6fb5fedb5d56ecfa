"""Staging assets: one typed, pseudonymised, deduplicated table per feed, with a table of rejected rows.

Which raw rows a feed's staging table is built from depends on how the partner delivers: a snapshot feed's
newest delivery holds everything the partner holds, so staging is that drop; an increment feed's drops add
up, so staging is all of them. Among the valid versions of a record the newest delivery wins (the history of
deliveries stays in raw). Newest means the latest delivery date in the file name, not the last drop loaded
(``delivery_order``). A row with any invalid value is set aside in ``staging.<feed>__rejects`` with its
reasons, so for every feed: rows considered = staged + rejected + superseded by a later version.
"""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    MaterializeResult,
    TableColumn,
    TableColumnDep,
    TableColumnLineage,
    TableSchema,
    asset,
)
from psycopg import sql

from gmoda_assets.conform.delivery_order import delivery_order, held_back
from gmoda_assets.conform.staging_sql import build, normalised_postcode, q
from gmoda_assets.lib.contracts import FeedContract, feed_contracts, kinds, partners
from gmoda_assets.lib.governance import feed_is_live
from gmoda_assets.lib.pseudonymise import use_key
from gmoda_assets.lib.quality import CheckDef, expectation, validate_in_postgres
from gmoda_assets.resources import Warehouse

POSTCODE_LOOKUP_KEY = ["staging", "postcode_lookup"]
# Above this share of rejected rows a feed has most likely changed its format: stop what is built from it.
MAX_REJECT_SHARE = 0.05
MIN_REJECTS_TO_JUDGE = 10  # a couple of bad rows in a small feed are noise, not a changed format
LINEAGE = {
    "_drop_id": ("text", "Drop that delivered the staged version of the record."),
    "_row_number": ("integer", "Row of that drop's file (1 = first row after the header)."),
    "_delivered_at": ("timestamptz", "When that drop was loaded into raw."),
}


def staging_table(contract: FeedContract) -> str:
    return contract.raw_table


def _checks(contract: FeedContract) -> list[CheckDef]:
    return [
        CheckDef(
            "one_row_per_record",
            "Record keys are present and unique, and every staged row points at a delivered row.",
            [expectation("expect_column_values_to_be_unique", column="record_key"),
             expectation("expect_column_values_to_not_be_null", column="record_key"),
             expectation("expect_column_values_to_not_be_null", column="_drop_id")],
            blocking=True,
        ),
        CheckDef(
            "reject_rate_acceptable",
            f"At most {MAX_REJECT_SHARE:.0%} of the rows considered are rejected (judged from {MIN_REJECTS_TO_JUDGE} "
            "rejects on). More means the partner's extract has "
            "probably changed shape; the check blocks everything built from this feed until someone looks.",
            [{**expectation("unexpected_rows_expectation", unexpected_rows_query=(
                f"SELECT r.rejected, s.staged FROM (SELECT count(*) AS staged FROM {{batch}}) AS s, "
                f"(SELECT count(*) AS rejected FROM staging.{q(staging_table(contract) + '__rejects')}) AS r "
                f"WHERE r.rejected > {MAX_REJECT_SHARE} * (r.rejected + s.staged) AND r.rejected >= {MIN_REJECTS_TO_JUDGE}")),
              "about": "share of rows rejected"}],
            blocking=True,
        ),
        CheckDef(
            "no_direct_identifiers",
            "No column of the staging table is a direct identifier: every identifier is a 32-hex pseudonym.",
            [{**expectation("unexpected_rows_expectation", unexpected_rows_query=(
                "SELECT record_key FROM {batch} WHERE " + " OR ".join(
                    f"({q(c)} IS NOT NULL AND ({q(c)} !~ '^[0-9a-f]+$' OR length({q(c)}) <> 32))" for c in _pseudonym_columns(contract)))),
              "about": "pseudonym columns hold pseudonyms only"}],
            blocking=True,
        ),
    ]


def _pseudonym_columns(contract: FeedContract) -> list[str]:
    return [c.name for c in build(contract)[0] if c.name == "record_key" or c.name.endswith("_pseudonym")]


def build_staging_asset(contract: FeedContract) -> AssetsDefinition:
    columns, rules = build(contract)
    key = ["staging", contract.partner, contract.feed]
    table = sql.Identifier("staging", staging_table(contract))
    rejects = sql.Identifier("staging", f"{staging_table(contract)}__rejects")
    checks = _checks(contract)
    postcode = next((c for c in contract.columns if c.identifier == "postcode"), None)
    by_source = {c.source: c.db_name for c in contract.columns}
    lineage = TableColumnLineage(deps_by_column={
        c.name: [TableColumnDep(asset_key=AssetKey(contract.asset_key), column_name=by_source[s])
                 for s in c.sources if s in by_source]
        for c in columns if any(s in by_source for s in c.sources)
    })

    @asset(
        key=key,
        group_name="staging",
        deps=[AssetKey(contract.asset_key), AssetKey(POSTCODE_LOOKUP_KEY)],
        kinds={"postgres"},
        check_specs=[c.spec(key) for c in checks],
        description=(
            f"{partners()[contract.partner]['name']}: {contract.feed.replace('_', ' ')} in the canonical "
            f"'{contract.kind}' schema ({kinds()[contract.kind]['grain']}), one row per record, latest delivery "
            f"winning. Built from {'the latest snapshot' if contract.delivery == 'snapshot' else 'every increment'} "
            f"in raw. No direct identifiers: NHS numbers, UPNs and record ids are keyed pseudonyms, date of birth "
            f"is year and month, a postcode is its LSOA, ward and council; names and addresses are dropped. Rows "
            f"with invalid values are in `staging.{staging_table(contract)}__rejects` with their reasons."
        ),
        metadata={
            "dagster/table_name": f"staging.{staging_table(contract)}",
            "dagster/column_schema": TableSchema(columns=[TableColumn(c.name, c.sql_type, description=c.description) for c in columns]
                                                 + [TableColumn(n, t, description=d) for n, (t, d) in LINEAGE.items()]),
            "dagster/column_lineage": lineage,
        },
    )
    def _staging(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
        raw = sql.Identifier("raw", contract.raw_table)
        join = (sql.SQL(" LEFT JOIN staging.postcode_lookup pc ON pc.postcode_key = {}").format(sql.SQL(normalised_postcode(postcode)))
                if postcode else sql.SQL(""))
        reasons = ", ".join(f"CASE WHEN {cond} THEN {reason} END" for reason, cond in rules) or "NULL::text"
        with warehouse.connect(autocommit=True) as conn, conn.transaction():
            use_key(conn)
            order = delivery_order(conn, contract)
            latest = order[-1] if order else None
            scope = (sql.SQL("WHERE r._drop_id = {}").format(sql.Literal(latest or "")) if contract.delivery == "snapshot"
                     else sql.SQL("WHERE r._drop_id <> ALL({}::text[])").format(sql.Literal(held_back(conn, contract))))
            if not (live := feed_is_live(contract.feed_id)):  # no agreement: nothing flows past raw (README)
                scope = sql.SQL("WHERE false")
                context.log.warning(f"{contract.feed_id}: no live data-sharing agreement ({contract.agreement}): "
                                    "staged with no rows; raw keeps what it holds")
            conn.execute(
                sql.SQL("CREATE TEMP TABLE _typed ON COMMIT DROP AS SELECT r._drop_id, r._row_number, r._loaded_at, {}, "
                        "array_remove(ARRAY[{}], NULL) AS reasons FROM {} r{} {}").format(
                    sql.SQL(", ").join(sql.SQL(f"{c.expression} AS {q(c.name)}") for c in columns),
                    sql.SQL(reasons), raw, join, scope),
            )
            names = sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}, {}").format(table, rejects))
            conn.execute(sql.SQL("CREATE TABLE {} ({}, _drop_id text NOT NULL, _row_number integer NOT NULL, "
                                 "_delivered_at timestamptz NOT NULL, PRIMARY KEY (record_key))").format(
                table, sql.SQL(", ").join(sql.SQL(f"{q(c.name)} {c.sql_type}") for c in columns)))
            # The newest delivery of a record wins; rows of a drop the ledger does not list lose to every listed one.
            conn.execute(sql.SQL(
                "INSERT INTO {} SELECT DISTINCT ON (record_key) {}, _drop_id, _row_number, _loaded_at FROM _typed "
                "LEFT JOIN unnest(%s::text[]) WITH ORDINALITY AS o (drop_id, delivery_rank) ON o.drop_id = _typed._drop_id "
                "WHERE cardinality(reasons) = 0 "
                "ORDER BY record_key, o.delivery_rank DESC NULLS LAST, _loaded_at DESC, _row_number DESC").format(table, names),
                (order,))
            conn.execute(sql.SQL(
                "CREATE TABLE {} AS SELECT _drop_id, _row_number, record_key, reasons FROM _typed "
                "WHERE cardinality(reasons) > 0 ORDER BY _drop_id, _row_number").format(rejects))
            _comment(conn, table, rejects, contract, columns)
            considered, valid = conn.execute("SELECT count(*), count(*) FILTER (WHERE cardinality(reasons) = 0) FROM _typed").fetchone()
            staged = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()[0]
            top = conn.execute(sql.SQL("SELECT reason, count(*) FROM {}, unnest(reasons) AS reason GROUP BY 1 "
                                       "ORDER BY 2 DESC LIMIT 5").format(rejects)).fetchall()
        results = validate_in_postgres(warehouse.sqlalchemy_url, f"SELECT * FROM staging.{q(staging_table(contract))}", checks, key)
        rejected = considered - valid
        return MaterializeResult(
            metadata={
                "dagster/row_count": staged,
                "rows_considered": considered,
                "rows_staged": staged,
                "rows_rejected": rejected,
                "rows_superseded": valid - staged,
                "built_from": (latest or "no drop yet") if contract.delivery == "snapshot" else "all increments",
                "agreement_live": live,
                "top_reject_reasons": "; ".join(f"{n} x {r.split(': ', 1)[0]}: {r.split(': ', 2)[1]}" for r, n in top) or "none",
            },
            check_results=results,
        )

    return _staging


def _comment(conn, table, rejects, contract: FeedContract, columns) -> None:
    conn.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(table, sql.Literal(
        f"{contract.feed_id} in the canonical {contract.kind} schema: {kinds()[contract.kind]['grain']}; one row per "
        f"record, latest delivery winning; no direct identifiers.")))
    for c in columns:
        conn.execute(sql.SQL("COMMENT ON COLUMN {}.{} IS {}").format(table, sql.Identifier(c.name), sql.Literal(c.description)))
    for name, (_, text) in LINEAGE.items():
        conn.execute(sql.SQL("COMMENT ON COLUMN {}.{} IS {}").format(table, sql.Identifier(name), sql.Literal(text)))
    conn.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(rejects, sql.Literal(
        f"Rows of {contract.feed_id} set aside by staging, with the reasons (delivered column names; values only "
        f"where they are not identifiers). _drop_id and _row_number point at the row in raw.")))


staging_assets = [build_staging_asset(c) for c in feed_contracts()]
