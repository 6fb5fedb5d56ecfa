"""One sensor per partner: watches its landing folder and turns each settled new file into a drop and a run.

The cursor remembers, for each file in the folder, its version (size, times, inode), SHA-256, when that version
was first seen and whether it has settled, so a file is hashed again only when it changed (and once to confirm
it settled, unless it had not been written for the settle time when first seen), and a file still being written
waits instead of failing a run. Whether content is new is decided
by the drop ledger, never by comparing times or by Dagster's partitions: a re-delivery with the same content is
not loaded twice, a changed file under the same name is, and a drop whose run died is requested again.
Refused entries (links, folders), held-back files and re-deliveries are logged once: the cursor remembers the
re-deliveries already noted (by drop id, so the same file with other held content is noted again).
"""

import json
import time

from dagster import (
    AddDynamicPartitionsRequest,
    DefaultSensorStatus,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from gmoda_assets.ingest.drops import held_content, scan_partner
from gmoda_assets.ingest.jobs import hold_back_unagreed, ingest_jobs, plan_runs, quarantine_unrecognised_file
from gmoda_assets.ingest.recovery import MAX_LOAD_ATTEMPTS, fail_dead_runs
from gmoda_assets.lib import database, settings
from gmoda_assets.lib.contracts import feed_contracts, partners
from gmoda_assets.resources import LandingZone, Warehouse


def build_drop_sensor(partner: str) -> SensorDefinition:
    @sensor(
        name=f"{partner}_drops",
        description=f"Watches the landing folder of {partners()[partner]['name']} and requests a run for each new drop.",
        jobs=[*(ingest_jobs[c.feed_id] for c in feed_contracts() if c.partner == partner), quarantine_unrecognised_file],
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
    )
    def _sensor(context: SensorEvaluationContext, landing_zone: LandingZone, warehouse: Warehouse):
        state = json.loads(context.cursor) if context.cursor else {}
        previous, refused_before = state.get("seen", {}), set(state.get("refused", []))
        noted_before = set(state.get("noted", []))
        for run_id in fail_dead_runs(context.instance):
            context.log.warning(f"Run {run_id}: its process is gone; marked failed.")
        # As the ledger's keeper, over a connection kept for the next tick: most ticks find nothing new.
        with warehouse.as_role(database.LOADER).kept_connection() as conn:
            held = held_content(conn, partner)
        scan = scan_partner(landing_zone, partner, held, previous, time.time(), settings.settle_seconds())
        for refused in scan.refused:
            if str(refused) not in refused_before:
                context.log.warning(f"Refused {refused}; never read or moved.")
        # A loaded file left in the landing zone is held by its own drop: not a re-delivery.
        redelivered = [(drop, earlier) for drop, earlier in scan.already_held if earlier != drop.drop_id]
        for drop, earlier in redelivered:
            if drop.drop_id not in noted_before:
                context.log.info(f"{drop.file_name}: same content as drop {earlier}; not loaded again.")
        for drop in hold_back_unagreed(scan):
            if drop.file_name in scan.settled_now:
                context.log.warning(f"{drop.file_name}: feed {drop.feed_id} has no live data-sharing agreement; "
                                    "left in the landing zone, not loaded.")
        plan = plan_runs(context.instance, scan, MAX_LOAD_ATTEMPTS)
        for drop_id in plan.retried:
            context.log.info(f"Drop {drop_id} was registered but never recorded (its run died or failed): requested again.")
        for drop, attempts in plan.given_up:
            if drop.drop_id not in state.get("given_up", []):
                context.log.warning(f"Drop {drop.drop_id}: {attempts} runs failed before recording it; not requested "
                                    "again automatically. Run `gmoda ingest` or launch its partition once it is fixed.")
        cursor = json.dumps({"seen": scan.seen, "refused": sorted(map(str, scan.refused)),
                             "given_up": sorted(d.drop_id for d, _ in plan.given_up),
                             "noted": sorted(d.drop_id for d, _ in redelivered)}, sort_keys=True)
        if not plan.requests:
            waiting = f"; {len(scan.unsettled)} file(s) still settling" if scan.unsettled else ""
            return SensorResult(skip_reason=SkipReason(f"No new drops from {partner}{waiting}."), cursor=cursor)
        return SensorResult(
            run_requests=plan.requests,
            dynamic_partitions_requests=[AddDynamicPartitionsRequest(name, keys)
                                         for name, keys in plan.partition_keys.items()],
            cursor=cursor,
        )

    return _sensor


drop_sensors = [build_drop_sensor(p) for p in partners()]
