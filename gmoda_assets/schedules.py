"""The nightly refresh: every layer above raw, rebuilt at 02:00 UK time."""

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    ScheduleDefinition,
    define_asset_job,
    multi_or_in_process_executor,
)

from gmoda_assets.lib.run_launcher import WORKER_MODULES

# Each step in a process of its own, as on Kubernetes, where a step may be a pod: steps share nothing but the
# warehouse. The processes are forked from one that has imported the code location and what a step needs (the
# run launcher's WORKER_MODULES), so a step starts in well under a second rather than importing them for seconds.
# How many run at once is the executor's max_concurrent (default: the machine's cores) and, for warehouse builds,
# the pool's limit (dagster.yaml).
# A run may choose `in_process` instead (its steps in turn in the run's process): tests whose subject is not the
# executor do.
REFRESH_EXECUTION = {"config": {"multiprocess": {"start_method": {"forkserver": {"preload_modules": WORKER_MODULES}}}}}

# Raw is loaded drop by drop as partners deliver; everything else (the layers built from raw and the
# reference tables they use) is rebuilt from it each night.
nightly_refresh_job = define_asset_job(
    "nightly_refresh",
    selection=AssetSelection.all() - AssetSelection.groups("raw"),
    description="Rebuild every asset above raw, and the reference tables they use, from what raw holds now.",
    executor_def=multi_or_in_process_executor,
    config={"execution": REFRESH_EXECUTION},
)

nightly_refresh_schedule = ScheduleDefinition(
    name="nightly_refresh_0200",
    job=nightly_refresh_job,
    cron_schedule="0 2 * * *",
    execution_timezone="Europe/London",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Runs the nightly_refresh job at 02:00 Europe/London (GMT or BST).",
)
