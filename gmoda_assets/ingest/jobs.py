"""Jobs that ingest drops, and the run requests that the sensors and ``gmoda ingest`` both make for a scan."""

from dagster import (
    AssetKey,
    AssetSelection,
    Config,
    Failure,
    OpExecutionContext,
    RunRequest,
    define_asset_job,
    in_process_executor,
    job,
    op,
)

from gmoda_assets.ingest.drops import Drop, Scan, drops_partitions
from gmoda_assets.ingest.quarantine import quarantine_drop, unrecognised_reason
from gmoda_assets.lib import database
from gmoda_assets.lib.contracts import contract_for
from gmoda_assets.lib.governance import feed_is_live
from gmoda_assets.resources import LandingZone, Warehouse

# One drop is one step: in-process execution saves a process start and the imports per drop.
ingest_drops_job = define_asset_job(
    "ingest_drops",
    selection=AssetSelection.groups("raw"),
    partitions_def=drops_partitions,
    executor_def=in_process_executor,
    description="Load one partner drop (a partition of `drops`) into its raw table, or quarantine it with its reason.",
)


class UnrecognisedFile(Config):
    partner: str
    drop_id: str


@op(description="Quarantine a landed file that matches no feed contract, and fail with the reason.")
def quarantine_unrecognised(context: OpExecutionContext, config: UnrecognisedFile, warehouse: Warehouse,
                            landing_zone: LandingZone) -> None:
    file_name = config.drop_id.partition("/")[2].rpartition("@")[0]
    reason = unrecognised_reason(config.drop_id, config.partner, file_name)
    with warehouse.as_role(database.LOADER).connect(autocommit=True) as conn:
        reason = quarantine_drop(conn, landing_zone, config.partner, config.drop_id, reason, context.run_id)
    raise Failure(description=reason["message"], metadata={"quarantined_to": reason["quarantine_path"],
                                                           "rows_quarantined": reason["rows_quarantined"]})


@job(executor_def=in_process_executor, description="Quarantine a landed file that matches no feed contract.")
def quarantine_unrecognised_file():
    quarantine_unrecognised()


def hold_back_unagreed(scan: Scan) -> list[Drop]:
    """Take out of ``scan.new`` the drops of feeds with no live data-sharing agreement and return them: they stay
    in the landing zone, unregistered, and flow once an agreement is renewed; raw keeps what it holds."""
    held = [d for d in scan.new if d.recognised and not feed_is_live(d.feed_id)]
    scan.new = [d for d in scan.new if d not in held]
    return held


def run_requests(scan: Scan) -> list[RunRequest]:
    """One run per new drop: load it into its feed's raw asset, or quarantine it if it matches no feed."""
    requests = []
    for drop in scan.new:
        tags = {"gmoda/partner": drop.partner, "gmoda/file": drop.file_name[:200]}
        if drop.recognised:
            requests.append(RunRequest(
                run_key=drop.drop_id,
                job_name=ingest_drops_job.name,
                partition_key=drop.drop_id,
                asset_selection=[AssetKey(contract_for(drop.feed_id).asset_key)],
                tags=tags,
            ))
        else:
            version = scan.hashes[drop.file_name][0]  # a re-delivered unknown file must be quarantined again
            requests.append(RunRequest(
                run_key=f"{drop.drop_id}#{version}",
                job_name=quarantine_unrecognised_file.name,
                run_config={"ops": {"quarantine_unrecognised": {"config": {"partner": drop.partner, "drop_id": drop.drop_id}}}},
                tags=tags,
            ))
    return requests


def new_partition_keys(scan: Scan) -> list[str]:
    return [d.drop_id for d in scan.new if d.recognised]
