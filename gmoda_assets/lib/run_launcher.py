"""The run launcher of a one-machine deployment: each run in a process forked from one that has imported the code
location, rather than a fresh Python per run.

Dagster's default launcher asks the code server to start each run, and the code server spawns a new interpreter
that imports Dagster, the code location and the libraries its steps use before it does any work: measured at
small scale on the 2-core machine, the sensors' 63 drop runs took 633 s that way against 44 s in one process.
Here the daemon (which dequeues runs) forks each run's worker from a fork server that imported all that once, so a
drop's run starts at once. The worker runs the job from the run's own code origin, as ``dagster api execute_run``
does, and reports the run failed if it dies before ending it. On Kubernetes the chart's ``K8sRunLauncher`` starts
a pod per run instead (deploy/dagster.yaml).

A run is terminated (from the UI, or by run monitoring) with SIGINT to its worker, which Dagster turns into a
cancelled run, as the code server does; the worker's pid and host are in the run's tags.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
import signal
import socket
import threading

from dagster import _check as check
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, RunLauncher, WorkerStatus
from dagster._serdes import ConfigurableClass, ConfigurableClassData

from gmoda_assets.lib.processes import kill_with_children, process_started_at

# What a run's or step's worker imports: the code location, the libraries every step uses (Great Expectations, the
# instance's storage), and what Dagster imports to run a job and to load it from its code origin (0.7 s of
# `dagster._utils.test`). A fork server imports them once and each worker forked from it starts with them.
WORKER_MODULES = ["gmoda_assets.definitions", "great_expectations", "dagster_postgres", "dagster._cli.api",
                  "dagster._utils.test.definitions"]
PID_TAG, HOST_TAG = "gmoda/run_worker_pid", "gmoda/run_worker_host"


def _forkserver_context():
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(WORKER_MODULES)
    return context


def start_fork_server() -> None:
    """Start this process's fork server now, importing ``WORKER_MODULES`` in the background, rather than at the first
    run's launch: the daemon calls it as it starts (``gmoda_assets/lib/daemon.py``), so the imports (about 20 s on
    the shared machine) overlap the services' start-up instead of holding every drop's run back."""
    _forkserver_context()
    multiprocessing.forkserver.ensure_running()  # spawns the server and returns; the server imports, then serves


def wait_for_fork_server() -> None:
    """Return once the fork server has imported ``WORKER_MODULES``: it forks a process only after its imports."""
    probe = _forkserver_context().Process(target=os.getpid, name="fork server ready?")
    probe.start()
    probe.join()


def _fork_steps_from_this_fork_server() -> None:
    """Have the run's multiprocess executor fork its step processes from the fork server that forked this worker,
    which has imported what a step needs, rather than start a fork server of its own: a new one is a new Python
    that imports ``WORKER_MODULES`` again before the first step can start (4.5 s of every GM refresh as scheduled,
    and 6 CPU s). The worker inherited the server's address and a holder's end of its "alive" pipe from the fork;
    Python only lacks the server's pid, which is its parent's to wait for, so it would start another."""
    from multiprocessing import forkserver, resource_tracker

    server = getattr(forkserver, "_forkserver", None)
    if getattr(server, "_forkserver_address", None) is not None and getattr(server, "_forkserver_pid", 0) is None:
        server.ensure_running = resource_tracker.ensure_running  # the server runs: it forked this process


def _execute(run_id: str, instance_ref) -> None:
    """The run worker: what ``dagster api execute_run`` does, in a forked process."""
    from dagster._cli.api import _execute_run_command_body
    from dagster._core.instance import DagsterInstance
    from dagster._utils.interrupts import capture_interrupts

    from gmoda_assets.lib.pooled_storage import pooled_ref

    _fork_steps_from_this_fork_server()
    # The run's events, and its step processes' (given this instance's reference), stored over a few connections
    # kept open, not a new one each.
    with capture_interrupts(), DagsterInstance.from_ref(pooled_ref(instance_ref)) as instance:
        _execute_run_command_body(run_id, instance, lambda _event: None, set_exit_code_on_failure=False)


def _kill_steps_left(instance, run_id: str) -> None:
    """Kill the step processes of a run whose worker died. Nothing else stops them: each would carry on with its
    step (and a retry of the run start it again beside it), holding the two ``tail`` processes that mirror its
    captured output, until its step ended. A step process names its pid in its first event; a process with that
    pid now is the same one only if it started before that event (later, the pid was reused). Its children (the
    tails and Dagster's watchers of them) go with it: a tail started just before the step was killed, whose
    watcher was not yet started, would otherwise outlive it."""
    from dagster import DagsterEventType

    for record in instance.all_logs(run_id, of_type=DagsterEventType.STEP_WORKER_STARTED):
        pid = int(record.dagster_event.engine_event_data.metadata["pid"].value)
        started = process_started_at(pid)
        if started is not None and started <= record.timestamp + 1:  # +1: boot time is in whole seconds
            kill_with_children(pid)  # its work belongs to a failed run: no need to end it tidily


class ForkingRunLauncher(RunLauncher, ConfigurableClass):
    """Runs each run in a process of its own, forked from a fork server that has imported ``WORKER_MODULES``."""

    def __init__(self, inst_data: ConfigurableClassData | None = None):
        self._inst_data = inst_data
        self._context = None  # the fork server: started by the daemon as it starts, else by the first launch
        self._lock = threading.Lock()
        super().__init__()

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict:
        return {}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: dict) -> ForkingRunLauncher:
        return cls(inst_data=inst_data)

    def _forkserver(self):
        with self._lock:
            if self._context is None:
                self._context = _forkserver_context()  # the running server, if the daemon started it
        return self._context

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        check.invariant(run.job_code_origin is not None, f"run {run.run_id} has no code origin to run")
        worker = self._forkserver().Process(target=_execute, args=(run.run_id, self._instance.get_ref()),
                                            name=f"run {run.run_id}")
        worker.start()
        self._instance.add_run_tags(run.run_id, {PID_TAG: str(worker.pid), HOST_TAG: socket.gethostname()})
        threading.Thread(target=self._fail_if_unfinished, args=(run.run_id, worker), daemon=True,
                         name=f"watch run {run.run_id}").start()

    def _fail_if_unfinished(self, run_id: str, worker) -> None:
        """Once the worker has exited, fail its run if the worker did not end it (killed, out of memory), after
        stopping the step processes it left running."""
        worker.join()
        run = self._instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            _kill_steps_left(self._instance, run_id)  # before the failure, which a retry of the run may follow
            self._instance.report_run_failed(
                run, f"The run's worker process (pid {worker.pid}) exited with code {worker.exitcode} before the run "
                     "ended.")

    def _worker_pid(self, run_id: str) -> int | None:
        """The pid of the run's worker, if it was started on this machine and the run has not ended."""
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished or run.tags.get(HOST_TAG) != socket.gethostname():
            return None
        pid = run.tags.get(PID_TAG, "")
        return int(pid) if pid.isdigit() else None

    def terminate(self, run_id: str) -> bool:
        pid = self._worker_pid(run_id)
        if pid is None:
            return False
        self._instance.report_run_canceling(self._instance.get_run_by_id(run_id))
        try:
            os.kill(pid, signal.SIGINT)  # Dagster stops the run's steps and records it cancelled
        except ProcessLookupError:
            return False
        return True

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run) -> CheckRunHealthResult:
        pid = self._worker_pid(run.run_id)
        if pid is None:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "no worker of this machine holds the run")
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return CheckRunHealthResult(WorkerStatus.FAILED, f"the run's worker process (pid {pid}) is gone")
        return CheckRunHealthResult(WorkerStatus.RUNNING)
