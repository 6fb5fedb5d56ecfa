"""Ingesting on demand: what the sensors do, run from the command line through Dagster runs in the instance."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from gmoda_assets.ingest.drops import held_content, scan_partner
from gmoda_assets.ingest.jobs import hold_back_unagreed, ingest_jobs, plan_runs
from gmoda_assets.ingest.recovery import fail_dead_runs, process_tags
from gmoda_assets.lib import database, settings
from gmoda_assets.lib.contracts import partners
from gmoda_assets.lib.progress import Progress
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
    """Each partner's files, scanned once, and once more the settle time later if any was written too recently
    to have settled on the first look: only files unchanged across the two become drops (the sensors get the same
    from their cursors, one tick apart)."""
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
                        log_level: str = "CRITICAL", settle_seconds: float | None = None,
                        progress: Progress | None = None) -> IngestReport:
    """Register every new, settled file in the landing zone as a drop and run its load (or quarantine) in
    process, recorded in ``instance`` like a sensor-launched run. A file written within ``settle_seconds``
    (default: ``GMODA_SETTLE_SECONDS``) is scanned again that long after; one still changing is left for the next
    ingest. Runs of an
    earlier ingest whose process died are marked failed, and drops they left unrecorded are loaded. Console
    logging is quiet by default: the report carries each failure's message, and the full event log is in the
    instance. ``progress`` is told the drops to run, then each one run (named by its partner and feed)."""
    partner_ids = [check_partner(p) for p in only_partners or list(partners())]
    settle = settings.settle_seconds() if settle_seconds is None else settle_seconds
    progress = progress or Progress("ingest", "drops")
    report = IngestReport(dead_runs=fail_dead_runs(instance))
    plans = []
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
        plans.append(plan)
    progress.start(sum(len(plan.requests) for plan in plans))
    for request in (request for plan in plans for request in plan.requests):
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
        progress.step(_drop_step(request, result.success))
    return report


def _drop_step(request, success: bool) -> str:
    """A drop's run for a progress line, by partner and feed: a partner's file name is theirs to choose, and
    may say more than it should."""
    partner = request.tags["gmoda/partner"]
    if request.partition_key is None:
        return f"{partner}: an unrecognised file {'quarantined' if success else 'FAILED to quarantine'}"
    feed = next(feed_id for feed_id, job in ingest_jobs.items() if job.name == request.job_name)
    return f"{feed} {'loaded' if success else 'FAILED'}"


def refresh(instance, defs, log_level: str = "CRITICAL", in_process: bool = False,
            progress: Progress | None = None) -> RunTally:
    """Run the nightly_refresh job now, as the schedule runs it (each step in its own process, warehouse builds
    limited by their pool), or ``in_process``: its steps in turn in this process (for tests of what the steps do).
    ``progress`` is told the job's steps, then each one that ends."""
    from dagster._core.execution.api import create_execution_plan

    tally = RunTally()
    job_def = defs.resolve_job_def("nightly_refresh")
    progress = progress or Progress("refresh", "steps")
    progress.start(len(create_execution_plan(job_def).step_keys_to_execute))
    if in_process:
        with _following_steps(instance, progress):
            tally.add(job_def.execute_in_process(instance=instance, run_config=_quiet(None, log_level),
                                                 tags=process_tags(), raise_on_error=False))
        return tally
    from dagster import execute_job
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    from gmoda_assets.schedules import REFRESH_EXECUTION

    # Step processes load the job again from the code location's module: nothing passes to them but the run.
    job = ReconstructableRepository.for_module("gmoda_assets.definitions", "defs").get_reconstructable_job("nightly_refresh")
    with _following_steps(instance, progress), \
            execute_job(job, instance, run_config={**_quiet(None, log_level), "execution": REFRESH_EXECUTION},
                        tags=process_tags(), raise_on_error=False) as result:
        tally.add(result)
    return tally


@contextmanager
def _following_steps(instance, progress: Progress, every: float = 0.5):
    """Tell ``progress`` of each step of the refresh this process starts as the step ends, read from the run's
    event log by a thread: a step run in a process of its own writes its events there, not to this process."""
    from dagster import DagsterEventType, RunsFilter

    ends = {DagsterEventType.STEP_SUCCESS: "done", DagsterEventType.STEP_FAILURE: "FAILED",
            DagsterEventType.STEP_SKIPPED: "skipped"}
    since = datetime.now(timezone.utc)
    runs = RunsFilter(job_name="nightly_refresh", tags=process_tags(), created_after=since - timedelta(seconds=1))
    stop = threading.Event()

    def follow() -> None:
        run_id, cursor = None, None
        while True:
            finishing = stop.is_set()  # read before the last look, so that no event written before it is missed
            if run_id is None and (found := instance.get_run_ids(filters=runs, limit=1)):
                run_id = found[0]
            while run_id is not None:
                page = instance.get_records_for_run(run_id, cursor=cursor, of_type=set(ends), limit=100)
                cursor = page.cursor
                for record in page.records:
                    event = record.event_log_entry
                    progress.step(f"{event.step_key.replace('__', '.')} {ends[event.dagster_event_type]}")
                if not page.has_more:
                    break
            if finishing:
                return
            stop.wait(every)

    thread = threading.Thread(target=follow, name="refresh-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
