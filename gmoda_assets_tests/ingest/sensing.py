"""Helpers for the ingest tests: sensor ticks as the daemon makes them, and the runs they request."""

from __future__ import annotations

from dagster import build_sensor_context

from gmoda_assets.ingest.sensors import drop_sensors
from gmoda_assets.resources import Warehouse


def sensor_for(partner: str):
    return next(s for s in drop_sensors if s.name == f"{partner}_drops")


def tick(instance, cursor, landing_zone, partner: str = "nhs"):
    """One sensor evaluation, with its partition requests applied as the daemon would."""
    context = build_sensor_context(instance=instance, cursor=cursor,
                                   resources={"landing_zone": landing_zone, "warehouse": Warehouse()})
    result = sensor_for(partner)(context)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)
    return result


def launch(instance, defs, result) -> list:
    """Execute the runs a tick requested, in process (the daemon would launch them), and return their results."""
    outcomes = []
    for request in result.run_requests or []:
        job = defs.resolve_job_def(request.job_name)
        outcomes.append(job.execute_in_process(
            instance=instance, partition_key=request.partition_key, asset_selection=request.asset_selection,
            run_config=request.run_config or None, tags=request.tags, raise_on_error=False))
    return outcomes
