"""The nightly refresh: every layer above raw, rebuilt at 02:00 UK time."""

from dagster import AssetSelection, DefaultScheduleStatus, ScheduleDefinition, define_asset_job

# Raw is loaded drop by drop as partners deliver; everything else (the layers built from raw and the
# reference tables they use) is rebuilt from it each night.
nightly_refresh_job = define_asset_job(
    "nightly_refresh",
    selection=AssetSelection.all() - AssetSelection.groups("raw"),
    description="Rebuild every asset above raw, and the reference tables they use, from what raw holds now.",
)

nightly_refresh_schedule = ScheduleDefinition(
    name="nightly_refresh_0200",
    job=nightly_refresh_job,
    cron_schedule="0 2 * * *",
    execution_timezone="Europe/London",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Runs the nightly_refresh job at 02:00 Europe/London (GMT or BST).",
)
