"""Feed deliveries: per feed, what partners have delivered and whether it all reconciles with raw."""

from dataclasses import dataclass
from datetime import datetime

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, asset
from psycopg import sql

from gmoda_assets.ingest.loader import raw_table_ident, require_raw_table
from gmoda_assets.lib import database
from gmoda_assets.lib.contracts import feed_contracts
from gmoda_assets.lib.governance import feed_is_live
from gmoda_assets.lib.quality import CheckDef, expectation, validate_in_postgres
from gmoda_assets.lib.tables import Column, TableSpec, comment_changes
from gmoda_assets.resources import WAREHOUSE_POOL, Warehouse

# Rebuilt by its own asset, as the ledger's keeper: the spec gives it its column schema and comments.
SPEC = TableSpec("ops", "feed_deliveries", "Per partner feed: drops and rows delivered, loaded and quarantined, "
                                           "reconciled with raw.", {
    "feed_id": Column("text", "<partner>.<feed>, as in the feed contract."),
    "partner": Column("text", "Partner id."),
    "feed": Column("text", "Feed name."),
    "delivery": Column("text", "snapshot or increment."),
    "cadence": Column("text", "How often the feed is due, from its contract (weekly, monthly, quarterly)."),
    "overdue_after_days": Column("integer", "Days without a drop after which the feed is overdue: its cadence plus a "
                                            "week's grace."),
    "agreement": Column("text", "Data-sharing agreement the feed flows under."),
    "drops_loaded": Column("bigint", "Drops loaded into raw."),
    "drops_duplicate": Column("bigint", "Drops recognised as re-deliveries of content already held (nothing loaded)."),
    "drops_quarantined": Column("bigint", "Drops rejected and moved to quarantine with their reason."),
    "drops_held_back": Column("bigint", "Loaded drops the volume guard holds out of staging until someone accepts "
                                        "them."),
    "rows_delivered": Column("numeric", "Data rows in every drop processed (duplicates included)."),
    "rows_loaded": Column("numeric", "Rows the ledger says were loaded into raw."),
    "rows_quarantined": Column("numeric", "Rows set aside in quarantined files."),
    "raw_rows": Column("bigint", "Rows actually in the raw table; equals rows_loaded when everything reconciles."),
    "last_drop_at": Column("timestamp with time zone", "When the feed's latest drop was processed."),
    "days_since_last_drop": Column("integer", "Days since then; null if the feed never delivered."),
}, None)

CHECKS = [
    CheckDef(
        "deliveries_reconcile",
        "Every contracted feed is listed, and each raw table holds exactly the rows the drop ledger says were loaded.",
        [
            expectation("expect_table_row_count_to_equal", value=len(feed_contracts())),
            {**expectation("unexpected_rows_expectation",
                           unexpected_rows_query="SELECT feed_id, rows_loaded, raw_rows FROM {batch} WHERE rows_loaded <> raw_rows"),
             "about": "raw rows = rows loaded"},
        ],
        blocking=True,
    ),
    CheckDef(
        "feeds_delivering",
        "Every feed has delivered within its contract's cadence plus a week's grace (overdue_after_days); the "
        "sample lists overdue feeds, longest overdue first, before those that never delivered.",
        [{**expectation("unexpected_rows_expectation",
                        unexpected_rows_query="SELECT feed_id, cadence, last_drop_at, days_since_last_drop FROM {batch} "
                                              "WHERE last_drop_at IS NULL OR days_since_last_drop > overdue_after_days "
                                              "ORDER BY last_drop_at IS NULL, days_since_last_drop DESC, feed_id"),
          "about": "overdue or never delivered"}],
    ),
]


@asset(
    key=SPEC.key,
    group_name="ops",
    pool=WAREHOUSE_POOL,
    deps=[AssetKey(c.asset_key) for c in feed_contracts()],
    kinds={"postgres"},
    check_specs=[c.spec(SPEC.key) for c in CHECKS],
    metadata={
        "dagster/table_name": SPEC.qualified_name,
        "dagster/column_schema": SPEC.column_schema,
    },
)
def feed_deliveries(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    """Per partner feed: drops loaded, re-delivered and quarantined, rows delivered, loaded and set aside, rows
    actually held in raw, drops held back by the volume guard, and days since the last drop against the
    contract's cadence. The platform team's view of who has sent what; its checks fail when raw and the drop
    ledger disagree, and warn when a feed is overdue for its cadence."""
    contracts = feed_contracts()
    warehouse = warehouse.as_role(database.LOADER)  # the ledger's keeper: reads raw and ops, writes only ops
    with warehouse.connect(autocommit=True) as conn, conn.transaction():
        for contract in contracts:
            require_raw_table(conn, contract)
        feeds = sql.SQL(", ").join(
            sql.SQL("({}, {}, {}, {}, {}, {}, {}, (SELECT count(*) FROM {}))").format(
                *map(sql.Literal, (c.feed_id, c.partner, c.feed, c.delivery, c.cadence, c.overdue_after_days, c.agreement)),
                raw_table_ident(c))
            for c in contracts
        )
        conn.execute("DROP TABLE IF EXISTS ops.feed_deliveries")
        conn.execute(sql.SQL("""
            CREATE TABLE ops.feed_deliveries AS
            WITH feeds (feed_id, partner, feed, delivery, cadence, overdue_after_days, agreement, raw_rows) AS (VALUES {})
            SELECT f.feed_id, f.partner, f.feed, f.delivery, f.cadence, f.overdue_after_days, f.agreement,
                   count(d.drop_id) FILTER (WHERE d.status = 'loaded') AS drops_loaded,
                   count(d.drop_id) FILTER (WHERE d.status = 'duplicate') AS drops_duplicate,
                   count(d.drop_id) FILTER (WHERE d.status = 'quarantined') AS drops_quarantined,
                   count(d.drop_id) FILTER (WHERE d.drop_id IN (SELECT drop_id FROM ops.drops_held_back)) AS drops_held_back,
                   coalesce(sum(d.rows_delivered), 0) AS rows_delivered,
                   coalesce(sum(d.rows_loaded), 0) AS rows_loaded,
                   coalesce(sum(d.rows_quarantined), 0) AS rows_quarantined,
                   f.raw_rows,
                   max(d.processed_at) AS last_drop_at,
                   (current_date - max(d.processed_at)::date) AS days_since_last_drop
            FROM feeds f LEFT JOIN ops.drops d ON d.feed_id = f.feed_id
            GROUP BY f.feed_id, f.partner, f.feed, f.delivery, f.cadence, f.overdue_after_days, f.agreement, f.raw_rows
            ORDER BY f.feed_id
        """).format(feeds))
        for comment in comment_changes(conn, SPEC):
            conn.execute(comment)
        totals = conn.execute("SELECT count(*), sum(drops_loaded), sum(drops_quarantined), sum(raw_rows) FROM ops.feed_deliveries").fetchone()
    results = validate_in_postgres(warehouse.sqlalchemy_url, "SELECT * FROM ops.feed_deliveries", CHECKS, SPEC.key)
    return MaterializeResult(
        metadata={"dagster/row_count": totals[0], "drops_loaded": int(totals[1] or 0),
                  "drops_quarantined": int(totals[2] or 0), "raw_rows": int(totals[3] or 0)},
        check_results=results,
    )


@dataclass(frozen=True)
class OverdueFeed:
    feed_id: str
    asset_key: list[str]
    cadence: str
    overdue_after_days: int
    last_drop_at: datetime
    days_since: int


def overdue_feeds(conn) -> list[OverdueFeed]:
    """Feeds with a live agreement whose last drop, by the ledger now, is older than their cadence plus a week's
    grace: the rule of the ``feeds_delivering`` check, longest overdue first. A feed that never delivered is left
    to that check (on a new platform every feed has yet to)."""
    last = {feed_id: (at, days) for feed_id, at, days in conn.execute(
        "SELECT feed_id, max(processed_at), current_date - max(processed_at)::date FROM ops.drops "
        "WHERE feed_id IS NOT NULL GROUP BY feed_id")}
    overdue = [OverdueFeed(c.feed_id, list(c.asset_key), c.cadence, c.overdue_after_days, *last[c.feed_id])
               for c in feed_contracts()
               if c.feed_id in last and last[c.feed_id][1] > c.overdue_after_days and feed_is_live(c.feed_id)]
    return sorted(overdue, key=lambda f: (-f.days_since, f.feed_id))
