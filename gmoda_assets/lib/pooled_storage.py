"""Dagster's PostgreSQL storage with its connections kept open, for run workers, step processes and sensor ticks.

dagster-postgres holds no connection open unless told to (``optimize_for_webserver``), so a process that stores
an event opens a new connection for it, which PostgreSQL serves with a new backend: a drop's run stores about a
hundred events and reads, a refresh's step a few dozen. The daemon hands out an instance reference naming this
storage (``pooled_ref``; ``lib/daemon.py``): to each run's worker (the run launcher), whose multiprocess executor
hands the same reference to every step process it starts, and to the code server, which makes an instance from
it for every sensor or schedule tick. The storages of every instance a process makes from it share one engine
each, kept for the life of the process, so a tick reuses the connections earlier ticks opened instead of opening
its own, and a process that makes an instance per tick does not pile up kept connections.
"""

from __future__ import annotations

import threading

from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage

from gmoda_assets.lib.instance import POOLED

_ENGINES: dict[tuple[type, str], object] = {}  # (storage class, URL) -> this process's pooled engine for it
_ENGINES_LOCK = threading.Lock()  # the code server evaluates ticks on several threads


class PooledPostgresStorage(DagsterPostgresStorage):
    """``DagsterPostgresStorage`` whose run, event log and schedule storages keep their connections open for reuse,
    as the webserver's do (``lib/instance.POOLED``), in an engine each that every instance of the process shares."""

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        # The reference comes from the daemon, whose instance has made Dagster's tables: each of the three storages
        # would otherwise look them up in the catalog first, over two new connections.
        storage = super().from_config_value(inst_data, {**config_value, "should_autocreate_tables": False})
        with _ENGINES_LOCK:
            for part in (storage.run_storage, storage.event_log_storage, storage.schedule_storage):
                key = (type(part), part.postgres_url)
                if key not in _ENGINES:
                    part.optimize_for_webserver(**POOLED)
                    _ENGINES[key] = part._engine
                part._engine = _ENGINES[key]
        return storage


def pooled_ref(ref):
    """``ref`` (an ``InstanceRef``) with dagster-postgres's storage replaced by ``PooledPostgresStorage`` on the
    same configuration; any other storage left as it is."""
    data = ref.storage_data
    if data is None or (data.module_name, data.class_name) != ("dagster_postgres", "DagsterPostgresStorage"):
        return ref
    return ref._replace(storage_data=ConfigurableClassData(__name__, PooledPostgresStorage.__name__, data.config_yaml))
