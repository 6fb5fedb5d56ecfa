"""The Dagster instance: DAGSTER_HOME under $GMODA_HOME, storage in the warehouse server's `dagster` database."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from gmoda_assets.lib import database, settings

# optimize_for_webserver's arguments, which keep a storage's connections open for reuse as the webserver does: one
# kept open per storage, up to 8 more for threads that store events at once.
POOLED = {"statement_timeout": 0, "pool_recycle": 3600, "max_overflow": 8}


def prepare_dagster_environment() -> Path:
    """Point DAGSTER_HOME at ``$GMODA_HOME/dagster`` (holding a link to the project's dagster.yaml) and set the
    storage URL that dagster.yaml reads; return DAGSTER_HOME. Starts the embedded database if it is in use."""
    home = settings.home_dir() / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    link = home / "dagster.yaml"
    target = settings.project_dir() / "dagster.yaml"
    if not link.is_symlink() or link.resolve() != target.resolve():
        link.unlink(missing_ok=True)
        link.symlink_to(target)
    os.environ["DAGSTER_HOME"] = str(home)
    if not os.environ.get("GMODA_DAGSTER_PG_URL"):
        os.environ["GMODA_DAGSTER_PG_URL"] = database.sqlalchemy_url(database.dagster_url())
    return home


def pool_connections(instance) -> None:
    """Keep the instance's storage connections open for reuse, as the webserver does: dagster-postgres otherwise
    opens a new connection, so a new PostgreSQL backend, for every event it stores (about a hundred per drop's run)
    and every read."""
    instance.optimize_for_webserver(**POOLED)


def take_back_interrupts() -> None:
    """Give SIGINT and SIGTERM their default handling back in a process that inherited them ignored, as a
    non-interactive shell's background jobs ignore SIGINT (``make test &``, a CI runner, a cron script). Each run
    Dagster executes in the main thread sets SIGTERM's handler to SIGINT's as it ends, so such a process ignored
    SIGTERM from its first run on, and so did every ``tail`` a later run started from another thread to mirror its
    output (inherited by ``exec``): Dagster's SIGTERM at the run's end left them running, past the test session."""
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may set handlers; Dagster changes them only from there
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def get_instance():
    """The platform's Dagster instance (runs are recorded in PostgreSQL), its drops registered per feed and its
    warehouse pool limited as GMODA_WAREHOUSE_POOL_LIMIT says, in a process that SIGINT and SIGTERM can stop."""
    from dagster import DagsterInstance

    from gmoda_assets.ingest.drops import move_shared_drops

    take_back_interrupts()
    prepare_dagster_environment()
    instance = DagsterInstance.get()
    # This process runs drops and refreshes in process.
    pool_connections(instance)
    move_shared_drops(instance)  # an instance made when all feeds shared one partitions definition
    apply_pool_limit(instance)
    return instance


def apply_pool_limit(instance) -> None:
    """Set the warehouse pool's limit from GMODA_WAREHOUSE_POOL_LIMIT, when it is set (otherwise the limit is
    dagster.yaml's ``default_limit``, or the last one set in the instance)."""
    from gmoda_assets.resources import WAREHOUSE_POOL

    text = os.environ.get("GMODA_WAREHOUSE_POOL_LIMIT", "").strip()
    if not text:
        return
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"GMODA_WAREHOUSE_POOL_LIMIT must be a whole number of steps, 1 or more, not {text!r}")
    instance.event_log_storage.set_concurrency_slots(WAREHOUSE_POOL, int(text))
