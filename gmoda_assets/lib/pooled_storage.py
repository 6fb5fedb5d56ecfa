"""Dagster's PostgreSQL storage with its connections kept open, for run workers and step processes.

dagster-postgres holds no connection open unless told to (``optimize_for_webserver``), so a process that stores
an event opens a new connection for it, which PostgreSQL serves with a new backend: a drop's run stores about a
hundred events and reads, a refresh's step a few dozen. A run's worker and each of its step processes are
processes with one instance for their life, so they keep its connections open: the run launcher gives the
worker an instance reference naming this storage (``pooled_ref``), and the multiprocess executor hands the
same reference to every step process it starts. Other processes keep dagster.yaml's storage as it is: some
make an instance per request or tick, whose kept connections would pile up until garbage collection.
"""

from __future__ import annotations

from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage

from gmoda_assets.lib.instance import POOLED


class PooledPostgresStorage(DagsterPostgresStorage):
    """``DagsterPostgresStorage`` whose run, event log and schedule storages keep their connections open for reuse,
    as the webserver's do (``lib/instance.POOLED``)."""

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        storage = super().from_config_value(inst_data, config_value)
        for part in (storage.run_storage, storage.event_log_storage, storage.schedule_storage):
            part.optimize_for_webserver(**POOLED)
        return storage


def pooled_ref(ref):
    """``ref`` (an ``InstanceRef``) with dagster-postgres's storage replaced by ``PooledPostgresStorage`` on the
    same configuration; any other storage left as it is."""
    data = ref.storage_data
    if data is None or (data.module_name, data.class_name) != ("dagster_postgres", "DagsterPostgresStorage"):
        return ref
    return ref._replace(storage_data=ConfigurableClassData(__name__, PooledPostgresStorage.__name__, data.config_yaml))
