"""Raw assets, one per feed contract: each partition is one partner drop, loaded as delivered."""

from datetime import timedelta

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    Failure,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
    asset,
)

from gmoda_assets.ingest import volume
from gmoda_assets.ingest.checks import drop_rows, raw_checks
from gmoda_assets.ingest.drops import feed_partitions, parse_drop_id
from gmoda_assets.ingest.loader import LINEAGE_COLUMNS, DropRejected, FileChanged, load_drop
from gmoda_assets.ingest.quarantine import quarantine_drop
from gmoda_assets.lib import database
from gmoda_assets.lib.contracts import CADENCE_DAYS, FeedContract, feed_contracts, kinds, partners
from gmoda_assets.lib.governance import feed_is_live
from gmoda_assets.lib.quality import validate_in_postgres
from gmoda_assets.resources import LandingZone, Warehouse


BLANK_LINES_SHOWN = 20


def _description(contract: FeedContract) -> str:
    partner = partners()[contract.partner]["name"]
    grain = kinds()[contract.kind]["grain"]
    identifiers = [c.name for c in contract.columns if c.identifier]
    return (
        f"{partner}: {contract.feed.replace('_', ' ')} as delivered ({grain}).\n\n"
        f"Extract from the `{contract.system}` system, sent as {contract.delivery}s "
        f"({'each file holds everything the partner holds' if contract.delivery == 'snapshot' else 'each file holds new or changed records'}), "
        f"{contract.encoding} text delimited by `{contract.delimiter}`, files named `{contract.file_name}`. "
        f"Flows under data-sharing agreement {contract.agreement}.\n\n"
        f"Table `raw.{contract.raw_table}`: every value as delivered (text), append-only, one partition per drop, "
        f"with lineage columns {', '.join(LINEAGE_COLUMNS)}. Loader role only: holds direct identifiers "
        f"({', '.join(identifiers) or 'none'})."
    )


def _column_schema(contract: FeedContract) -> TableSchema:
    columns = [
        TableColumn(
            name=c.db_name,
            type="text",
            description=f"'{c.name}' as delivered: {c.source} ({c.type}{', ' + c.format if c.format else ''})"
            + (f"; direct identifier ({c.identifier})" if c.identifier else ""),
        )
        for c in contract.columns
    ]
    columns += [TableColumn(name=n, type="integer", description=d) for n, d in LINEAGE_COLUMNS.items()]
    return TableSchema(columns=columns)


def build_raw_asset(contract: FeedContract) -> AssetsDefinition:
    checks = raw_checks(contract)

    @asset(
        key=contract.asset_key,
        group_name="raw",
        partitions_def=feed_partitions[contract.feed_id],
        description=_description(contract),
        kinds={"postgres", "csv"},
        check_specs=[c.spec(contract.asset_key) for c in checks] + [volume.check_spec(contract)],
        # The UI shows the feed as late (warn) once its cadence has passed, overdue (fail) a week's grace later.
        freshness_policy=FreshnessPolicy.time_window(fail_window=timedelta(days=contract.overdue_after_days),
                                                     warn_window=timedelta(days=CADENCE_DAYS[contract.cadence])),
        tags={"partner": contract.partner, "feed_kind": contract.kind},
        metadata={
            "dagster/column_schema": _column_schema(contract),
            "dagster/table_name": f"raw.{contract.raw_table}",
            "contract": contract.path.name,
            "agreement": contract.agreement,
            "delivery": contract.delivery,
        },
    )
    def _raw(context: AssetExecutionContext, warehouse: Warehouse, landing_zone: LandingZone) -> MaterializeResult:
        drop_id = context.partition_key
        feed_id, file_name, _ = parse_drop_id(drop_id)
        if feed_id != contract.feed_id:
            raise Failure(f"Drop {drop_id} belongs to feed {feed_id}, not {contract.feed_id}: materialise it on ['raw', "
                          f"{', '.join(repr(p) for p in feed_id.split('.'))}].")
        if not feed_is_live(contract.feed_id):
            raise Failure(f"Drop {drop_id}: feed {contract.feed_id} has no live data-sharing agreement "
                          f"({contract.agreement} has ended or not begun); file left in the landing zone, nothing loaded.")
        warehouse = warehouse.as_role(database.LOADER)  # raw and the ledger are written by the loader only
        with warehouse.connect(autocommit=True) as conn:
            try:
                outcome = load_drop(conn, landing_zone, contract, drop_id, context.run_id)
            except FileNotFoundError as exc:
                raise Failure(f"Drop {drop_id}: file '{file_name}' is no longer in the landing zone of {contract.partner} "
                              f"(moved or quarantined since it was registered); nothing loaded.") from exc
            except FileChanged as exc:
                raise Failure(str(exc)) from exc
            except DropRejected as rejected:
                reason = quarantine_drop(conn, landing_zone, contract.partner, drop_id, rejected.reason, context.run_id)
                raise Failure(
                    description=reason["message"],
                    metadata={
                        "rows_delivered": reason["rows_delivered"],
                        "rows_loaded": 0,
                        "rows_quarantined": reason["rows_quarantined"],
                        "quarantined_to": MetadataValue.path(reason["quarantine_path"]),
                        "reason": MetadataValue.json(reason),
                    },
                ) from rejected
            held_by = outcome.duplicate_of or drop_id
            # The ledger's total, not a count of the raw table, whose cost would grow with every drop the feed
            # keeps; ops.feed_deliveries reconciles the two each night.
            # The drop's rows are found by its number, which prunes the feed's table to the drop's own.
            table_rows, number = conn.execute(
                "SELECT coalesce(sum(rows_loaded), 0)::bigint, max(drop_number) FILTER (WHERE drop_id = %s) "
                "FROM ops.drops WHERE feed_id = %s", (held_by, contract.feed_id)).fetchone()
            rows = drop_rows(conn, contract, held_by, number)
            volume_result = volume.check_result(contract, held_by, volume.recorded_volume(conn, held_by))
        if not volume_result.passed:
            context.log.warning(f"Drop {held_by}: {volume_result.metadata['verdict'].value}")
        results = validate_in_postgres(warehouse.sqlalchemy_url, rows, raw_checks(contract, outcome.rows_delivered),
                                       contract.asset_key, metadata={"drop": held_by}) + [volume_result]
        if outcome.status == "duplicate":
            context.log.info(f"{file_name}: same content as drop {outcome.duplicate_of}, already loaded; nothing loaded again.")
        return MaterializeResult(
            metadata={
                "dagster/row_count": outcome.rows_loaded,
                "status": outcome.status,
                "file_name": file_name,
                "content_sha256": outcome.content_hash,
                "size_bytes": outcome.size_bytes,
                "rows_delivered": outcome.rows_delivered,
                "rows_loaded": outcome.rows_loaded,
                "rows_quarantined": 0,
                "rows_already_held": outcome.rows_delivered - outcome.rows_loaded,
                "blank_lines_skipped": len(outcome.blank_lines),
                "blank_line_numbers": MetadataValue.json(outcome.blank_lines[:BLANK_LINES_SHOWN]),
                "duplicate_of": outcome.duplicate_of or "",
                "table_rows_total": table_rows,
                "load_seconds": round(outcome.seconds, 3),
            },
            check_results=results,
        )

    return _raw


raw_assets = [build_raw_asset(c) for c in feed_contracts()]
