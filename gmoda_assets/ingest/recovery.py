"""Recovering from crashes: runs whose process died, and drops registered but never recorded in the ledger.

Runs launched by the daemon are watched by Dagster itself (the code server fails a run whose worker process
died; run monitoring in ``dagster.yaml`` fails runs that never start and cancels runs that hang). Runs that
``gmoda ingest`` executes in its own process carry the host, process id and process start time as tags
(``process_tags``): when that process is gone, ``fail_dead_runs`` marks the run failed rather than leaving it
STARTED forever. A drop whose partition exists but which the ledger does not hold, with no run in flight, is
loaded again (``drop_in_flight``, ``drop_attempts``): the ledger row and the rows commit together, so a load
that died left nothing behind.
"""

from __future__ import annotations

import os
import socket
from functools import cache
from pathlib import Path

from gmoda_assets.lib.processes import process_start

HOST_TAG, PID_TAG, STARTED_TAG = "gmoda/host", "gmoda/pid", "gmoda/process_started"
# How many failed runs the sensors allow a drop before leaving it to a person (``gmoda ingest`` always tries).
MAX_LOAD_ATTEMPTS = 3


@cache
def process_tags() -> dict[str, str]:
    """Tags naming this process, for runs it executes in process; no automatic retry of those runs by the
    daemon, since the next ``gmoda ingest`` loads whatever such a run left unrecorded."""
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid()), STARTED_TAG: process_start(os.getpid()) or "",
            "dagster/max_retries": "0"}


def _alive(pid: int, started: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    if not Path("/proc").is_dir():
        return True  # no process start times to compare: the id alone says it is alive
    now = process_start(pid)
    return now is not None and (not started or now == started)


def fail_dead_runs(instance) -> list[str]:
    """Mark failed every unfinished run executed in process on this host by a process that no longer exists;
    return their ids."""
    from dagster import DagsterRunStatus, RunsFilter
    from dagster._core.events import JobFailureData, RunFailureReason

    host = socket.gethostname()
    unfinished = [DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]
    failed = []
    for run in instance.get_runs(RunsFilter(statuses=unfinished, tags={HOST_TAG: host})):
        pid = int(run.tags.get(PID_TAG, "0") or 0)
        if pid and not _alive(pid, run.tags.get(STARTED_TAG, "")):
            instance.report_run_failed(
                run,
                f"The process that ran this run (pid {pid} on {host}) is gone: it was killed or crashed. "
                "Nothing it left uncommitted is in the warehouse; the next ingest loads the drop again.",
                JobFailureData(error=None, failure_reason=RunFailureReason.UNEXPECTED_TERMINATION),
            )
            failed.append(run.run_id)
    return failed


def drop_runs(instance, drop_id: str) -> list:
    """Every run of the drop's partition, newest first."""
    from dagster import RunsFilter

    return list(instance.get_runs(RunsFilter(tags={"dagster/partition": drop_id})))


def drop_in_flight(runs: list) -> str | None:
    """The id of a run of the drop that is queued, running, or failed with an automatic retry to come."""
    for run in runs:
        if not run.is_finished:
            return run.run_id
    if runs and runs[0].tags.get("dagster/will_retry") == "true":
        return runs[0].run_id
    return None


def drop_attempts(runs: list) -> int:
    return sum(1 for run in runs if run.is_finished and not run.is_success)
