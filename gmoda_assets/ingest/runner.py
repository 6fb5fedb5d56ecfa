"""Ingesting on demand: what the sensors do, run from the command line through Dagster runs in the instance."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from gmoda_assets.ingest.drops import held_content, scan_partner
from gmoda_assets.ingest.jobs import hold_back_unagreed, plan_runs
from gmoda_assets.ingest.recovery import fail_dead_runs, process_tags
from gmoda_assets.lib import database, settings
from gmoda_assets.lib.contracts import partners
from gmoda_assets.resources.landing_zone import check_partner


@dataclass
class RunTally:
    """What a batch of Dagster runs did, gathered from their results."""

    runs: int = 0
    runs_failed: int = 0
    materialisations: int = 0
    checks_passed: int = 0
    checks_failed: list[str] = field(default_factory=list)  # "<asset> <check> (<severity>)"
    failures: list[str] = field(default_factory=list)  # the failure message of each failed run

    def add(self, result) -> None:
        from dagster import AssetCheckSeverity

        self.runs += 1
        self.materialisations += len(result.get_asset_materialization_events())
        for evaluation in result.get_asset_check_evaluations():
            if evaluation.passed:
                self.checks_passed += 1
            else:
                sev = "error" if evaluation.severity == AssetCheckSeverity.ERROR else "warn"
                self.checks_failed.append(f"{evaluation.asset_key.to_user_string()} {evaluation.check_name} ({sev})")
        if not result.success:
            self.runs_failed += 1
            for event in result.all_events:
                if event.is_step_failure or event.is_run_failure:
                    data = event.event_specific_data
                    error = getattr(data, "error", None)
                    message = (getattr(error, "message", None) or event.message or "").strip()
                    message = message.removeprefix("dagster._core.definitions.events.Failure: ")
                    if message:
                        self.failures.append(message.splitlines()[0])
                        break


@dataclass
class IngestReport:
    tally: RunTally = field(default_factory=RunTally)
    files_seen: int = 0
    already_held: list[str] = field(default_factory=list)
    held_back: list[str] = field(default_factory=list)  # feeds without a live agreement: left in landing
    unsettled: list[str] = field(default_factory=list)  # still being written: left for the next ingest
    refused: list[str] = field(default_factory=list)  # links, folders: never read or moved
    dead_runs: list[str] = field(default_factory=list)  # runs whose process had died, now marked failed
    retried: list[str] = field(default_factory=list)  # drops registered before but never recorded, loaded now
    in_flight: list[str] = field(default_factory=list)  # drops another process is loading now


def _quiet(run_config: dict | None, log_level: str) -> dict:
    return {**(run_config or {}), "loggers": {"console": {"config": {"log_level": log_level}}}}


def _scan_twice(defs, landing_zone, partner_ids: list[str], settle_seconds: float) -> dict:
    """Each partner's second scan, taken the settle time after the first, so only files unchanged across the
    two become drops (the sensors get the same from their cursors, one tick apart)."""
    warehouse = defs.resources["warehouse"].as_role(database.LOADER)  # the ledger's keeper
    scans: dict = {}
    for look in (1, 2):
        if look == 2:
            if not any(scan.unsettled for scan in scans.values()):
                break
            time.sleep(settle_seconds)
        with warehouse.connect() as conn:
            held = {p: held_content(conn, p) for p in partner_ids}
        scans = {p: scan_partner(landing_zone, p, held[p], scans[p].seen if scans else None, time.time(), settle_seconds)
                 for p in partner_ids}
    return scans


def ingest_landing_zone(instance, defs, landing_zone, only_partners: list[str] | None = None,
                        log_level: str = "CRITICAL", settle_seconds: float | None = None) -> IngestReport:
    """Register every new, settled file in the landing zone as a drop and run its load (or quarantine) in
    process, recorded in ``instance`` like a sensor-launched run. Files are scanned twice, ``settle_seconds``
    apart (default: ``GMODA_SETTLE_SECONDS``); one still changing is left for the next ingest. Runs of an
    earlier ingest whose process died are marked failed, and drops they left unrecorded are loaded. Console
    logging is quiet by default: the report carries each failure's message, and the full event log is in the
    instance."""
    partner_ids = [check_partner(p) for p in only_partners or list(partners())]
    settle = settings.settle_seconds() if settle_seconds is None else settle_seconds
    report = IngestReport(dead_runs=fail_dead_runs(instance))
    for partner, scan in _scan_twice(defs, landing_zone, partner_ids, settle).items():
        report.files_seen += len(scan.seen)
        report.refused += [str(r) for r in scan.refused]
        report.unsettled += [f"{partner}/{name}" for name in scan.unsettled]
        report.already_held += [f"{d.partner}/{d.file_name} = {earlier}" for d, earlier in scan.already_held]
        report.held_back += [f"{d.partner}/{d.file_name} ({d.feed_id})" for d in hold_back_unagreed(scan)]
        plan = plan_runs(instance, scan)
        report.retried += plan.retried
        report.in_flight += [f"{d.drop_id} (run {run_id})" for d, run_id in plan.in_flight]
        for partitions_name, keys in plan.partition_keys.items():
            instance.add_dynamic_partitions(partitions_name, keys)
        for request in plan.requests:
            job = defs.resolve_job_def(request.job_name)
            result = job.execute_in_process(
                instance=instance,
                partition_key=request.partition_key,
                asset_selection=request.asset_selection,
                run_config=_quiet(request.run_config, log_level),
                tags={**request.tags, **process_tags()},
                raise_on_error=False,
            )
            report.tally.add(result)
    return report


def refresh(instance, defs, log_level: str = "CRITICAL", in_process: bool = False) -> RunTally:
    """Run the nightly_refresh job now, as the schedule runs it (each step in its own process, warehouse builds
    limited by their pool), or ``in_process``: its steps in turn in this process (for tests of what the steps do)."""
    tally = RunTally()
    if in_process:
        job = defs.resolve_job_def("nightly_refresh")
        tally.add(job.execute_in_process(instance=instance, run_config=_quiet(None, log_level), tags=process_tags(),
                                         raise_on_error=False))
        return tally
    from dagster import execute_job
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    from gmoda_assets.schedules import REFRESH_EXECUTION

    # Step processes load the job again from the code location's module: nothing passes to them but the run.
    job = ReconstructableRepository.for_module("gmoda_assets.definitions", "defs").get_reconstructable_job("nightly_refresh")
    with execute_job(job, instance, run_config={**_quiet(None, log_level), "execution": REFRESH_EXECUTION},
                     tags=process_tags(), raise_on_error=False) as result:
        tally.add(result)
    return tally
