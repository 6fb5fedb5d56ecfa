"""One sensor per partner: watches its landing folder and turns each new file into a drop and a run.

The cursor maps each file in the folder to its version (size, times, inode) and SHA-256, so a file is hashed
again only when it changed. Whether a file is new is decided by its content, never by comparing times: a file
re-delivered with the same content is not loaded twice, a changed file under the same name is, and a clock
that runs behind cannot make the sensor skip anything.
"""

import json

from dagster import DefaultSensorStatus, SensorDefinition, SensorEvaluationContext, SensorResult, SkipReason, sensor

from gmoda_assets.ingest.drops import drops_partitions, scan_partner
from gmoda_assets.ingest.jobs import (
    hold_back_unagreed,
    ingest_drops_job,
    new_partition_keys,
    quarantine_unrecognised_file,
    run_requests,
)
from gmoda_assets.lib.contracts import partners
from gmoda_assets.resources import LandingZone


def build_drop_sensor(partner: str) -> SensorDefinition:
    @sensor(
        name=f"{partner}_drops",
        description=f"Watches the landing folder of {partners()[partner]['name']} and requests a run for each new drop.",
        jobs=[ingest_drops_job, quarantine_unrecognised_file],
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
    )
    def _sensor(context: SensorEvaluationContext, landing_zone: LandingZone):
        cached = json.loads(context.cursor) if context.cursor else {}
        known = [k for k in context.instance.get_dynamic_partitions(drops_partitions.name) if k.startswith(f"{partner}.")]
        scan = scan_partner(landing_zone, partner, known, cached)
        # A file that matches no contract is requested once per version (it has no partition to remember it by).
        unchanged = {name for name, (version, _) in cached.items() if scan.hashes.get(name, [None])[0] == version}
        scan.new = [d for d in scan.new if d.recognised or d.file_name not in unchanged]
        for drop, earlier in scan.already_held:
            if drop.file_name not in cached:  # say it once, when the file first appears
                context.log.info(f"{drop.file_name}: same content as drop {earlier}; not loaded again.")
        for drop in hold_back_unagreed(scan):
            if drop.file_name not in cached:
                context.log.warning(f"{drop.file_name}: feed {drop.feed_id} has no live data-sharing agreement; "
                                    "left in the landing zone, not loaded.")
        keys = new_partition_keys(scan)
        requests = run_requests(scan)
        cursor = json.dumps(scan.hashes, sort_keys=True)
        if not requests:
            return SensorResult(skip_reason=SkipReason(f"No new drops from {partner}."), cursor=cursor)
        return SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=[drops_partitions.build_add_request(keys)] if keys else [],
            cursor=cursor,
        )

    return _sensor


drop_sensors = [build_drop_sensor(p) for p in partners()]
