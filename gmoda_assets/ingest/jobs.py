"""Jobs that ingest drops, and the run requests that the sensors and ``gmoda ingest`` both make for a scan."""

from dataclasses import dataclass, field

from dagster import (
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

from gmoda_assets.ingest.drops import UNRECOGNISED, Drop, Scan, feed_partitions, parse_drop_id
from gmoda_assets.ingest.quarantine import quarantine_drop, unrecognised_reason
from gmoda_assets.ingest.recovery import drop_attempts, drop_in_flight, drop_runs
from gmoda_assets.lib import database
from gmoda_assets.lib.contracts import feed_contracts, match_file
from gmoda_assets.lib.governance import feed_is_live
from gmoda_assets.resources import LandingZone, Warehouse

# One job per feed, since the assets of a partitioned job share one partitions definition and each feed has its
# own. One drop is one step: in-process execution saves a process start and the imports per drop.
ingest_jobs = {
    c.feed_id: define_asset_job(
        f"ingest__{c.raw_table}",
        selection=AssetSelection.assets(c.asset_key),
        partitions_def=feed_partitions[c.feed_id],
        executor_def=in_process_executor,
        description=f"Load one drop of feed {c.feed_id} (a partition of `{feed_partitions[c.feed_id].name}`) into its "
                    "raw table, or quarantine it with its reason.",
    )
    for c in feed_contracts()
}


# The daemon starts the queued runs of the highest priority first (the oldest first among equals). A drop's priority
# is its file's size in KiB, so the largest loads start first and the small ones fill in around them: four runs
# at once share the cores, and a large drop started last would run on alone at the end of a batch of drops.
PRIORITY_TAG = "dagster/priority"


class UnrecognisedFile(Config):
    partner: str
    drop_id: str


def _checked_target(config: UnrecognisedFile) -> str:
    """The file name the config names, once it is shown to be an unrecognised file of a partner in partners.yaml
    directly inside its landing folder; Failure (nothing touched) otherwise."""
    try:
        feed_id, file_name, _ = parse_drop_id(config.drop_id)
        if feed_id != f"{config.partner}.{UNRECOGNISED}":
            raise ValueError(f"drop '{config.drop_id}' is not an unrecognised file of partner '{config.partner}' "
                             f"({config.partner}.{UNRECOGNISED}/<file>@<hash>)")
        if (contract := match_file(config.partner, file_name)) is not None:
            raise ValueError(f"'{file_name}' matches feed {contract.feed_id}, so it is loaded by its feed's ingest job, not "
                             "quarantined as unrecognised")
    except ValueError as exc:
        raise Failure(f"Run config of quarantine_unrecognised refused, nothing touched: {exc}.") from None
    return file_name


@op(description="Quarantine a landed file that matches no feed contract, and fail with the reason.")
def quarantine_unrecognised(context: OpExecutionContext, config: UnrecognisedFile, warehouse: Warehouse,
                            landing_zone: LandingZone) -> None:
    file_name = _checked_target(config)
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


@dataclass
class RunPlan:
    """The runs to request for a scan's new drops, and the drops left alone."""

    requests: list[RunRequest] = field(default_factory=list)
    # partitions definition name -> drops to register in it (registering again is harmless)
    partition_keys: dict[str, list[str]] = field(default_factory=dict)
    retried: list[str] = field(default_factory=list)  # registered before, never recorded: requested again
    in_flight: list[tuple[Drop, str]] = field(default_factory=list)  # (drop, id of its run still under way)
    given_up: list[tuple[Drop, int]] = field(default_factory=list)  # (drop, failed runs) past the retry limit


def plan_runs(instance, scan: Scan, max_attempts: int | None = None) -> RunPlan:
    """One run per new drop: load it into its feed's raw asset, or quarantine it if it matches no feed.

    A drop registered earlier that the ledger does not hold (its run died, or failed before recording it) is
    requested again under a fresh run key, since Dagster drops a repeated run key, unless a run of it is still
    under way or it has already failed ``max_attempts`` times. An unrecognised file is requested once, when it
    settles: its run moves it to quarantine.
    """
    plan = RunPlan()
    for drop in scan.new:
        tags = {"gmoda/partner": drop.partner, "gmoda/file": drop.file_name[:200]}
        if not drop.recognised:
            if drop.file_name in scan.settled_now:
                version = scan.seen[drop.file_name][0]  # a re-delivered unknown file must be quarantined again
                plan.requests.append(RunRequest(
                    run_key=f"{drop.drop_id}#{version}",
                    job_name=quarantine_unrecognised_file.name,
                    run_config={"ops": {"quarantine_unrecognised": {"config": {"partner": drop.partner,
                                                                               "drop_id": drop.drop_id}}}},
                    tags=tags,
                ))
            continue
        runs = drop_runs(instance, drop.drop_id)
        if (running := drop_in_flight(runs)) is not None:
            plan.in_flight.append((drop, running))
            continue
        if max_attempts is not None and drop_attempts(runs) >= max_attempts:
            plan.given_up.append((drop, drop_attempts(runs)))
            continue
        if runs:
            plan.retried.append(drop.drop_id)
        plan.partition_keys.setdefault(feed_partitions[drop.feed_id].name, []).append(drop.drop_id)
        plan.requests.append(RunRequest(
            run_key=f"{drop.drop_id}#{len(runs) + 1}" if runs else drop.drop_id,
            job_name=ingest_jobs[drop.feed_id].name,
            partition_key=drop.drop_id,
            tags={**tags, PRIORITY_TAG: str(scan.sizes.get(drop.file_name, 0) >> 10)},
        ))
    return plan
