"""The one-machine run launcher (gmoda_assets/lib/run_launcher.py): each run in a worker forked for it, which
runs the job from the run's code origin; a worker that dies fails its run; terminating a run cancels it."""

from __future__ import annotations

import multiprocessing.forkserver
import os
import signal
import time
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterRunStatus, Definitions, job, multiprocess_executor, op
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.launcher import LaunchRunContext, WorkerStatus

from gmoda_assets.lib.run_launcher import PID_TAG, ForkingRunLauncher


@op
def sleeps() -> None:
    time.sleep(120)


@op
def returns() -> None:
    pass


@job
def waits():
    sleeps()


@job
def ends():
    returns()


EVENTS_LOGGED = 100


@op
def tells_its_parent(context) -> None:
    context.log.info(f"parent pid {os.getppid()}")


@op
def logs_events(context) -> None:
    for n in range(EVENTS_LOGGED):
        context.log.info(f"event {n}")


@job(executor_def=multiprocess_executor.configured({"start_method": {"forkserver": {}}}))
def in_step_processes():
    tells_its_parent()


@job(executor_def=multiprocess_executor.configured({"start_method": {"forkserver": {}}}))
def stores_events():
    logs_events()


defs = Definitions(jobs=[waits, ends, in_step_processes, stores_events])  # loaded by the workers from this module, as from a code location


@pytest.fixture
def launcher(instance):
    assert isinstance(instance.run_launcher, ForkingRunLauncher)  # as dagster.yaml configures it
    return instance.run_launcher


def _launch(instance, launcher, name: str):
    recon = ReconstructableRepository.for_module(__name__, "defs").get_reconstructable_job(name)
    run = instance.create_run_for_job(job_def=recon.get_definition(), job_code_origin=recon.get_python_origin())
    launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
    return run.run_id


def _wait(instance, run_id: str, until, seconds: float = 120):
    deadline = time.monotonic() + seconds
    while not until(run := instance.get_run_by_id(run_id)):
        assert time.monotonic() < deadline, f"run {run_id} is {run.status.value}"
        time.sleep(0.2)
    return run


def test_a_run_is_executed_by_a_worker_of_its_own(instance, launcher):
    run_id = _launch(instance, launcher, "ends")
    run = _wait(instance, run_id, lambda r: r.is_finished)
    assert run.status == DagsterRunStatus.SUCCESS
    pid = int(run.tags[PID_TAG])
    assert pid != os.getpid()
    started = [e.message for e in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)]
    assert f"Started process for run (pid: {pid})." in started


def test_steps_are_forked_by_the_fork_server_of_the_run_worker(instance, launcher):
    """A run's multiprocess executor (nightly_refresh's) forks its step processes from the fork server that forked
    the run's worker, which has imported what they need, rather than start one of its own that imports it all
    again before the first step."""
    run_id = _launch(instance, launcher, "in_step_processes")
    run = _wait(instance, run_id, lambda r: r.is_finished)
    assert run.status == DagsterRunStatus.SUCCESS
    told = [e.user_message for e in instance.all_logs(run_id) if e.user_message.startswith("parent pid")]
    assert told == [f"parent pid {multiprocessing.forkserver._forkserver._forkserver_pid}"]


def _wait_for_exit(pid: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        assert time.monotonic() < deadline, f"process {pid} still running"
        time.sleep(0.1)


def _sessions_opened(instance) -> int:
    import psycopg

    from gmoda_assets.lib import database

    with psycopg.connect(database.dagster_url()) as conn:
        return conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()").fetchone()[0]


def test_a_run_and_its_steps_store_events_over_connections_kept_open(instance, launcher):
    """A run's worker and its step processes keep their storage's connections open, so a step that stores a hundred
    events opens far fewer connections (each a new PostgreSQL backend) than that: dagster-postgres alone opens one
    for every event stored."""
    before = _sessions_opened(instance)
    run = _wait(instance, _launch(instance, launcher, "stores_events"), lambda r: r.is_finished)
    _wait_for_exit(int(run.tags[PID_TAG]))  # a backend's session is counted by the time it has ended
    opened = _sessions_opened(instance) - before
    assert run.status == DagsterRunStatus.SUCCESS
    assert len([e for e in instance.all_logs(run.run_id) if e.user_message.startswith("event ")]) == EVENTS_LOGGED
    assert opened < EVENTS_LOGGED / 2


def _step_pids(instance, run_id: str) -> list[int]:
    return [int(e.dagster_event.engine_event_data.metadata["pid"].value)
            for e in instance.all_logs(run_id, of_type=DagsterEventType.STEP_WORKER_STARTED)]


def _running(step_pids: list[int], run_id: str) -> list[str]:
    """The processes still running (zombies are not) of a run's step processes: the steps themselves, the ``tail``
    processes that mirror their output from the run's compute logs, and the watchers that stop those tails."""
    marks = [f"/{run_id}/compute_logs/".encode(), *(f"watch_orphans.py\0{pid}\0".encode() for pid in step_pids)]
    running = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            command, state = (proc / "cmdline").read_bytes(), (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):  # not a process, or one that has just ended
            continue
        if state != "Z" and (int(proc.name) in step_pids or any(mark in command for mark in marks)):
            running.append(command.replace(b"\0", b" ").decode())
    return running


def test_a_worker_that_dies_fails_its_run_and_takes_its_steps_with_it(instance, launcher):
    """The run fails, and the step process the worker started stops, with the tails that mirrored its output:
    otherwise it would sleep on for two minutes, past the end of the test session."""
    run_id = _launch(instance, launcher, "waits")
    run = _wait(instance, run_id, lambda r: r.status == DagsterRunStatus.STARTED and PID_TAG in r.tags)
    assert launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING
    _wait(instance, run_id, lambda r: _step_pids(instance, run_id))
    steps = _step_pids(instance, run_id)
    assert _running(steps, run_id)  # the step process and its tails, which the test looks for below
    os.kill(int(run.tags[PID_TAG]), signal.SIGKILL)
    run = _wait(instance, run_id, lambda r: r.is_finished)
    assert run.status == DagsterRunStatus.FAILURE
    failure = instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE)[-1]
    assert "exited with code -9 before the run ended" in failure.message
    deadline = time.monotonic() + 10  # a tail's watcher looks once a second
    while running := _running(steps, run_id):
        assert time.monotonic() < deadline, running
        time.sleep(0.2)


def test_terminating_a_run_cancels_it(instance, launcher):
    run_id = _launch(instance, launcher, "waits")
    _wait(instance, run_id, lambda r: r.status == DagsterRunStatus.STARTED and PID_TAG in r.tags)
    _wait(instance, run_id, lambda r: any(e.step_key == "sleeps" for e in instance.all_logs(
        run_id, of_type=DagsterEventType.STEP_START)))
    assert launcher.terminate(run_id)
    run = _wait(instance, run_id, lambda r: r.is_finished)
    assert run.status == DagsterRunStatus.CANCELED
    assert not launcher.terminate(run_id)  # nothing left to stop
