"""Staging assets: one typed, pseudonymised, deduplicated table per feed, with a table of rejected rows.

Which raw rows a feed's staging table is built from depends on how the partner delivers: a snapshot feed's
newest delivery holds everything the partner holds, so staging is that drop; an increment feed's drops add
up, so staging is all of them. Among the valid versions of a record the newest delivery wins (the history of
deliveries stays in raw). Newest means the latest delivery date in the file name, not the last drop loaded
(``delivery_order``). A row with any invalid value is set aside in ``staging.<feed>__rejects`` with its
reasons, so for every feed: rows considered = staged + rejected + superseded by a later version.

Each feed's staging table is a ``TableSpec`` generated from its contract (columns, types, descriptions, the raw
columns each comes from), its ``CREATE TABLE`` included, and is built by write, check, publish
(``gmoda_assets.lib.publish``): the staged rows and the rejects are written as candidates, checked, and published
together only when no blocking check fails, so a feed whose extract changed shape leaves the last good staging
table live.
"""

from functools import partial

from dagster import AssetExecutionContext
from psycopg import sql

from gmoda_assets.conform.delivery_order import delivery_order, drop_numbers, held_back
from gmoda_assets.conform.staging_sql import StagingColumn, build, normalised_postcode, prepared, q
from gmoda_assets.lib.contracts import FeedContract, feed_contracts, kinds, partners
from gmoda_assets.lib.governance import feed_is_live
from gmoda_assets.lib.pseudonymise import use_key
from gmoda_assets.lib.quality import CheckDef, expectation
from gmoda_assets.lib.table_assets import table_asset
from gmoda_assets.lib.tables import Column, TableSpec, Written

POSTCODE_LOOKUP_KEY = ["staging", "postcode_lookup"]
# Above this share of rejected rows a feed has most likely changed its format: stop what is built from it.
MAX_REJECT_SHARE = 0.05
MIN_REJECTS_TO_JUDGE = 10  # a couple of bad rows in a small feed are noise, not a changed format
LINEAGE = {
    "_drop_id": Column("text", "Drop that delivered the staged version of the record.", not_null=True),
    "_row_number": Column("integer", "Row of that drop's file (1 = first row after the header).", not_null=True),
    "_delivered_at": Column("timestamp with time zone", "When that drop was loaded into raw.", not_null=True),
}


def staging_table(contract: FeedContract) -> str:
    return contract.raw_table


def _checks(contract: FeedContract, spec: TableSpec) -> list[CheckDef]:
    pseudonyms = [n for n in spec.columns if n == "record_key" or n.endswith("_pseudonym")]
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
                # {batch__rejects}: the rejects written with the rows checked (publish binds it).
                "SELECT r.rejected, s.staged FROM (SELECT count(*) AS staged FROM {batch}) AS s, "
                "(SELECT count(*) AS rejected FROM {batch__rejects}) AS r "
                f"WHERE r.rejected > {MAX_REJECT_SHARE} * (r.rejected + s.staged) AND r.rejected >= {MIN_REJECTS_TO_JUDGE}")),
              "about": "share of rows rejected"}],
            blocking=True,
        ),
        CheckDef(
            "no_direct_identifiers",
            "No column of the staging table is a direct identifier: every identifier is a 32-hex pseudonym.",
            [{**expectation("unexpected_rows_expectation", unexpected_rows_query=(
                "SELECT record_key FROM {batch} WHERE " + " OR ".join(
                    f"({q(c)} IS NOT NULL AND ({q(c)} !~ '^[0-9a-f]+$' OR length({q(c)}) <> 32))" for c in pseudonyms))),
              "about": "pseudonym columns hold pseudonyms only"}],
            blocking=True,
        ),
    ]


def staging_spec(contract: FeedContract) -> TableSpec:
    """The feed's staging table and its rejects, declared from its contract."""
    columns, rules = build(contract)
    table = staging_table(contract)
    by_source = {c.source: c.db_name for c in contract.columns}
    rejects = TableSpec("staging", f"{table}__rejects", (
        f"Rows of {contract.feed_id} set aside by staging, with the reasons (delivered column names; values only "
        f"where they are not identifiers). _drop_id and _row_number point at the row in raw."), {
        "_drop_id": Column("text", "Drop that delivered the row.", not_null=True),
        "_row_number": Column("integer", "Row of that drop's file (1 = first row after the header).", not_null=True),
        "record_key": Column("text", "Pseudonym of the record's key fields, as the staged row would have had."),
        "reasons": Column("text[]", "Why the row was set aside: '<delivered column>: <fault>', one per fault.",
                          not_null=True),
    }, None, primary_key=("_drop_id", "_row_number"))
    return TableSpec("staging", table, (
        f"{partners()[contract.partner]['name']}: {contract.feed.replace('_', ' ')} in the canonical "
        f"'{contract.kind}' schema ({kinds()[contract.kind]['grain']}), one row per record, latest delivery "
        f"winning. Built from {'the latest snapshot' if contract.delivery == 'snapshot' else 'every increment'} "
        f"in raw. No direct identifiers: NHS numbers, UPNs and record ids are keyed pseudonyms, date of birth "
        f"is year and month, a postcode is its LSOA, ward and council; names and addresses are dropped. Rows "
        f"with invalid values are in `staging.{table}__rejects` with their reasons."), {
        **{c.name: Column(c.sql_type, c.description, sources=c.sources, not_null=c.name == "record_key")
           for c in columns},
        **LINEAGE,
    }, Written(
        partial(_write, contract=contract, columns=columns, rules=rules),
        assets=(tuple(contract.asset_key), tuple(POSTCODE_LOOKUP_KEY)),
        column_lineage={c.name: tuple((tuple(contract.asset_key), by_source[s]) for s in c.sources if s in by_source)
                        for c in columns if any(s in by_source for s in c.sources)},
    ), asset_path=("staging", contract.partner, contract.feed), primary_key=("record_key",), companions=(rejects,))


def _write(context: AssetExecutionContext, conn, candidates: dict[str, sql.Identifier], *, contract: FeedContract,
           columns: list[StagingColumn], rules: list[tuple[str, str]]) -> dict:
    """Type the feed's raw rows in scope, write the newest valid version of each record and the rejected rows to
    their candidates, and return the build's counts."""
    table, rejects = candidates[staging_table(contract)], candidates[f"{staging_table(contract)}__rejects"]
    postcode = next((c for c in contract.columns if c.identifier == "postcode"), None)
    join = (sql.SQL(" LEFT JOIN staging.postcode_lookup pc ON pc.postcode_key = {}").format(sql.SQL(normalised_postcode(postcode)))
            if postcode else sql.SQL(""))
    reasons = ", ".join(f"CASE WHEN {cond} THEN {reason} END" for reason, cond in rules) or "NULL::text"
    use_key(conn)
    order = delivery_order(conn, contract)
    latest = order[-1] if order else None
    # Raw rows hold their drop's number: the drops in or out of scope are named by theirs, so that partitions are
    # pruned as the query is planned.
    if contract.delivery == "snapshot":
        scope = sql.SQL("WHERE r._drop = ANY({}::integer[])").format(
            sql.Literal(drop_numbers(conn, [latest] if latest else [])))
    else:
        scope = sql.SQL("WHERE r._drop <> ALL({}::integer[])").format(
            sql.Literal(drop_numbers(conn, held_back(conn, contract))))
    if not (live := feed_is_live(contract.feed_id)):  # no agreement: nothing flows past raw (README)
        scope = sql.SQL("WHERE false")
        context.log.warning(f"{contract.feed_id}: no live data-sharing agreement ({contract.agreement}): "
                    "staged with no rows; raw keeps what it holds")
    # A row's drop id and when it was loaded are its drop's ledger row's (raw keeps its number).
    raw_rows = sql.SQL("{} r JOIN ops.drops d ON d.drop_number = r._drop {}").format(
        sql.Identifier("raw", contract.raw_table), scope).as_string(conn)
    conn.execute(
        sql.SQL("CREATE TEMP TABLE _typed ON COMMIT DROP AS SELECT r._drop_id, r._row_number, r._loaded_at, {}, "
                "array_remove(ARRAY[{}], NULL) AS reasons FROM {}{}").format(
            sql.SQL(", ").join(sql.SQL("{} AS {}").format(sql.SQL(c.expression), sql.Identifier(c.name)) for c in columns),
            sql.SQL(reasons), sql.SQL(prepared(contract, raw_rows)), join),
    )
    # The newest delivery of a record wins; rows of a drop the delivery order does not list lose to every listed
    # one. Keys are sorted bytewise (COLLATE "C"): the same records, without the locale's slower comparison.
    conn.execute(sql.SQL(
        "INSERT INTO {table} ({names}, _drop_id, _row_number, _delivered_at) "
        "SELECT DISTINCT ON (record_key COLLATE \"C\") {names}, _drop_id, _row_number, _loaded_at FROM _typed "
        "LEFT JOIN unnest(%s::text[]) WITH ORDINALITY AS o (drop_id, delivery_rank) ON o.drop_id = _typed._drop_id "
        "WHERE cardinality(reasons) = 0 "
        "ORDER BY record_key COLLATE \"C\", o.delivery_rank DESC NULLS LAST, _loaded_at DESC, _row_number DESC").format(
        table=table, names=sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)), (order,))
    conn.execute(sql.SQL("INSERT INTO {} (_drop_id, _row_number, record_key, reasons) "
                         "SELECT _drop_id, _row_number, record_key, reasons FROM _typed "
                         "WHERE cardinality(reasons) > 0").format(rejects))
    considered, valid = conn.execute("SELECT count(*), count(*) FILTER (WHERE cardinality(reasons) = 0) FROM _typed").fetchone()
    top = conn.execute(sql.SQL("SELECT reason, count(*) FROM {}, unnest(reasons) AS reason GROUP BY 1 "
                               "ORDER BY 2 DESC LIMIT 5").format(rejects)).fetchall()
    return {
        "rows_considered": considered,
        "rows_staged": (staged_rows := conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()[0]),
        "rows_rejected": considered - valid,
        "rows_superseded": valid - staged_rows,
        "built_from": (latest or "no drop yet") if contract.delivery == "snapshot" else "all increments",
        "agreement_live": live,
        "top_reject_reasons": "; ".join(f"{n} x {r.split(': ', 1)[0]}: {r.split(': ', 2)[1]}" for r, n in top) or "none",
    }


STAGING_SPECS = [staging_spec(c) for c in feed_contracts()]
staging_assets = [table_asset(s, _checks(c, s)) for c, s in zip(feed_contracts(), STAGING_SPECS)]
