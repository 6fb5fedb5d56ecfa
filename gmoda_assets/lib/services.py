"""The Dagster services as a deployment runs them, each its own process: a code server (``dagster api grpc``),
the webserver and the daemon. They share the instance's PostgreSQL storage and nothing else; the webserver and
the daemon find the code server through ``workspace.grpc.yaml`` (``GMODA_CODE_SERVER_HOST`` and ``_PORT``), as
they would on separate machines. ``gmoda ui`` runs them here.

Stopping: each service runs in its own session, so a Ctrl-C in the terminal reaches ``gmoda ui`` alone, which
then sends SIGTERM to every service's process group (run workers and step processes are in the code server's)
and SIGKILL to what is left after a grace period. SIGINT and SIGTERM are handled alike, with or without a
terminal (a shell's ``&`` leaves a background process ignoring SIGINT; this does not). On Linux ``gmoda ui`` is the
subreaper of everything it starts, so a process orphaned on the way down is still its to wait for: it returns
only when no descendant is left. If one service exits on its own, the others are stopped and it returns 1.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from gmoda_assets.lib import settings

LOCATION = "gmoda_assets"
GRACE_SECONDS = 30.0
READY_TIMEOUT_SECONDS = 300.0
READY_FD = "--ready-fd="  # the daemon's argument: where it says its run launcher's fork server is ready
_PR_SET_CHILD_SUBREAPER = 36


@dataclass
class Service:
    name: str
    command: list[str]
    process: subprocess.Popen | None = None


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _become_subreaper() -> None:
    """Orphans of our descendants become our children (Linux), so none outlives us unseen."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def code_server_ready(host: str, port: int, still_waiting) -> bool:
    """Whether the code server at ``host:port`` answers within READY_TIMEOUT_SECONDS, asking while ``still_waiting()``."""
    from dagster._grpc.client import DagsterGrpcClient
    from dagster._core.errors import DagsterUserCodeUnreachableError

    client, deadline = DagsterGrpcClient(port=port, host=host), time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline and still_waiting():
        try:
            client.ping("ready?")
            return True
        except DagsterUserCodeUnreachableError:
            time.sleep(0.5)
    return False


def _fork_server_ready(ready: int, still_waiting) -> bool:
    """Whether the daemon says on the pipe ``ready`` (its read end) that its fork server has imported, within
    READY_TIMEOUT_SECONDS, asking while ``still_waiting()``."""
    import select

    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline and still_waiting():
        if select.select([ready], [], [], 0.5)[0]:
            return os.read(ready, 64).startswith(b"ready")  # empty: the daemon exited first
    return False


def _signal_groups(services: list[Service], sig: int) -> None:
    for service in services:
        try:
            os.killpg(service.process.pid, sig)
        except ProcessLookupError:
            pass


def _reap_until_none_left(deadline: float, interrupted) -> bool:
    """Reap children until none is left (True), or until the deadline or ``interrupted()`` (False)."""
    while time.monotonic() < deadline and not interrupted():
        try:
            if os.waitpid(-1, os.WNOHANG) == (0, 0):
                time.sleep(0.1)
        except ChildProcessError:
            return True
    return False


def _stop(services: list[Service], signals: list[int]) -> None:
    """SIGTERM to every service's process group, then wait until no child is left (with the subreaper: no
    descendant); SIGKILL after the grace period or at a second signal."""
    started, received = [s for s in services if s.process is not None], len(signals)
    _signal_groups(started, signal.SIGTERM)
    if _reap_until_none_left(time.monotonic() + GRACE_SECONDS, lambda: len(signals) > received):
        return
    print("Services still running: killing them.", file=sys.stderr, flush=True)
    _signal_groups(started, signal.SIGKILL)
    _reap_until_none_left(time.monotonic() + GRACE_SECONDS, lambda: False)


def run(host: str, port: int, code_host: str = "127.0.0.1", code_port: int | None = None) -> int:
    """Run the code server, webserver and daemon until SIGINT or SIGTERM (0) or until one of them exits (1)."""
    bin_dir = Path(sys.executable).parent  # beside this Python, whether or not the venv is on PATH
    code_port = code_port or free_port(code_host)
    os.environ.update(GMODA_CODE_SERVER_HOST=code_host, GMODA_CODE_SERVER_PORT=str(code_port))
    workspace = str(settings.project_dir() / "workspace.grpc.yaml")
    code_server = Service("code server", [str(bin_dir / "dagster"), "api", "grpc", "--module-name", "gmoda_assets.definitions",
                                          "--location-name", LOCATION, "--host", code_host, "--port", str(code_port)])
    # The daemon first, and the others once its fork server has imported what a run needs (gmoda_assets/lib/
    # daemon.py), so that drop runs can start as soon as the sensors ask; the daemon itself waits for the code server.
    ready, ready_w = os.pipe()
    daemon = Service("daemon", [sys.executable, "-m", "gmoda_assets.lib.daemon", f"{READY_FD}{ready_w}",
                                f"{code_host}:{code_port}", "run", "-w", workspace])
    services = [daemon,
                code_server,
                Service("webserver", [str(bin_dir / "dagster-webserver"), "-w", workspace, "-h", host, "-p", str(port)])]
    signals: list[int] = []
    handlers = {sig: signal.signal(sig, lambda signum, _frame: signals.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    _become_subreaper()
    failed = None
    try:
        for service in services:
            if signals:
                break
            service.process = subprocess.Popen(service.command, start_new_session=True, stdin=subprocess.DEVNULL,
                                               pass_fds=(ready_w,) if service is daemon else ())
            if service is daemon:
                os.close(ready_w)
                ready_w = None
                if not _fork_server_ready(ready, lambda: daemon.process.poll() is None and not signals):
                    failed = service
                    break
            if service is code_server and not code_server_ready(
                    code_host, code_port, lambda: code_server.process.poll() is None and not signals):
                failed = service
                break
        if failed is None and not signals:
            print(f"Dagster UI on http://{host}:{port} (DAGSTER_HOME={os.environ['DAGSTER_HOME']}); code server on "
                  f"{code_host}:{code_port}, pid {code_server.process.pid}", flush=True)
        while failed is None and not signals:
            failed = next((s for s in services if s.process.poll() is not None), None)
            time.sleep(0.5)
    finally:
        if failed is not None and not signals:
            print(f"The {failed.name} stopped (exit code {failed.process.poll()}) or never became ready: stopping the "
                  "other services.", file=sys.stderr, flush=True)
        _stop(services, signals)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        for fd in (ready, ready_w):
            if fd is not None:
                os.close(fd)
    return 1 if failed is not None and not signals else 0
