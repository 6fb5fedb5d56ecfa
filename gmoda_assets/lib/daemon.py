"""The Dagster daemon as ``gmoda ui`` runs it (``python -m gmoda_assets.lib.daemon [--ready-fd=N] HOST:PORT run -w
workspace.grpc.yaml``): ``dagster-daemon`` with its run launcher's fork server started first.

The fork server imports the code location and the libraries a run uses once, for every run worker forked from it
(``gmoda_assets/lib/run_launcher.py``). Started at the first launch, those imports (about 20 s on the shared
machine) held back every drop's run of an ingest from empty. ``gmoda ui`` starts this process first and, given
``--ready-fd``, is told on that file descriptor once the fork server has imported: only then does it start the code
server and the webserver, whose imports made the fork server's take three to four times as long on two cores
(drop runs started 25-30 s after the services were ready). The daemon proper starts once the code server at
``HOST:PORT`` answers, as its sensors read the code location.
"""

import os
import sys
from contextlib import contextmanager

from gmoda_assets.lib.run_launcher import start_fork_server, wait_for_fork_server
from gmoda_assets.lib.services import READY_FD, code_server_ready


def _pooled(get_instance):
    """``get_instance`` (the daemon command's ``get_instance_for_cli``) with the instance's storage connections
    kept open for reuse: the daemon's loops poll the storage every second or so, each time over a new connection,
    so a new PostgreSQL backend, otherwise (about 20 a second, idle). The reference it hands out (to run workers,
    and to the code server for each sensor and schedule tick) names the pooled storage too
    (``lib/pooled_storage.py``): a partner sensor's idle tick otherwise opened seven connections to Dagster's
    storage, six of them to look its tables up in the catalog."""

    @contextmanager
    def pooled(*args, **kwargs):
        from gmoda_assets.lib.instance import pool_connections
        from gmoda_assets.lib.pooled_storage import pooled_ref

        with get_instance(*args, **kwargs) as instance:
            pool_connections(instance)
            instance._ref = pooled_ref(instance.get_ref())  # what get_ref() returns: Dagster offers no setter
            yield instance

    return pooled


if __name__ == "__main__":
    from gmoda_assets.lib.instance import take_back_interrupts

    take_back_interrupts()  # before the fork server, which its run workers inherit them from
    start_fork_server()
    if sys.argv[1].startswith(READY_FD):  # tell gmoda ui once the fork server has imported what runs need
        ready = int(sys.argv.pop(1).removeprefix(READY_FD))
        wait_for_fork_server()
        print("The run launcher's fork server has imported what runs need.", flush=True)
        os.write(ready, b"ready\n")
        os.close(ready)
    host, _, port = sys.argv.pop(1).rpartition(":")
    if not code_server_ready(host, int(port), lambda: True):
        sys.exit(f"The code server on {host}:{port} never answered.")
    from dagster._daemon import cli

    cli.get_instance_for_cli = _pooled(cli.get_instance_for_cli)
    sys.exit(cli.main())
