"""Ingesting on demand: what the sensors do, run from the command line through Dagster runs in the instance."""

from __future__ import annotations

from dataclasses import dataclass, field

from gmoda_assets.ingest.drops import drops_partitions, scan_partner
from gmoda_assets.ingest.jobs import hold_back_unagreed, new_partition_keys, run_requests
from gmoda_assets.lib.contracts import partners


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


def _quiet(run_config: dict | None, log_level: str) -> dict:
    return {**(run_config or {}), "loggers": {"console": {"config": {"log_level": log_level}}}}


def ingest_landing_zone(instance, defs, landing_zone, only_partners: list[str] | None = None,
                        log_level: str = "CRITICAL") -> IngestReport:
    """Register every new file in the landing zone as a drop and run its load (or quarantine) in process,
    recorded in ``instance`` like a sensor-launched run. Console logging is quiet by default: the report
    carries each failure's message, and the full event log is in the instance."""
    report = IngestReport()
    for partner in only_partners or list(partners()):
        known = [k for k in instance.get_dynamic_partitions(drops_partitions.name) if k.startswith(f"{partner}.")]
        scan = scan_partner(landing_zone, partner, known)
        report.files_seen += len(scan.hashes)
        report.already_held += [f"{d.partner}/{d.file_name} = {earlier}" for d, earlier in scan.already_held]
        report.held_back += [f"{d.partner}/{d.file_name} ({d.feed_id})" for d in hold_back_unagreed(scan)]
        keys = new_partition_keys(scan)
        if keys:
            instance.add_dynamic_partitions(drops_partitions.name, keys)
        for request in run_requests(scan):
            job = defs.resolve_job_def(request.job_name)
            result = job.execute_in_process(
                instance=instance,
                partition_key=request.partition_key,
                asset_selection=request.asset_selection,
                run_config=_quiet(request.run_config, log_level),
                tags=request.tags,
                raise_on_error=False,
            )
            report.tally.add(result)
    return report


def refresh(instance, defs, log_level: str = "CRITICAL") -> RunTally:
    """Run the nightly_refresh job now, in process."""
    tally = RunTally()
    job = defs.resolve_job_def("nightly_refresh")
    tally.add(job.execute_in_process(instance=instance, run_config=_quiet(None, log_level), raise_on_error=False))
    return tally
