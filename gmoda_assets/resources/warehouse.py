"""The warehouse resource: connections to the PostgreSQL database that holds every layer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dagster import ConfigurableResource
from pydantic import PrivateAttr

from gmoda_assets.lib import database
from gmoda_assets.lib.redaction import database_errors_redacted

# The concurrency pool of the steps that build warehouse tables past raw: at most its limit of them run at once,
# however many processes the executor has (dagster.yaml `concurrency.pools.default_limit`, or
# GMODA_WAREHOUSE_POOL_LIMIT).
WAREHOUSE_POOL = "warehouse"


class Warehouse(ConfigurableResource):
    """The GM ODA warehouse. ``url`` is a libpq URL; left empty it is ``GMODA_DATABASE_URL`` or, with that unset,
    the embedded server (started on first use).

    Every connection, psycopg's and the one Great Expectations makes through SQLAlchemy, acts as ``role`` from
    its first statement, so a step holds only that role's privileges: the transformer (staging onward) unless
    the step asks for another with ``as_role`` (ingest asks for the loader). Only set-up (``gmoda db init``)
    connects as the administrator."""

    url: str = ""
    role: str = database.TRANSFORMER
    _dsn: str | None = PrivateAttr(default=None)

    @property
    def dsn(self) -> str:
        if self._dsn is None:
            url = database.libpq_url(self.url) if self.url else database.warehouse_url()
            self._dsn = database.as_role(url, self.role)
        return self._dsn

    @property
    def sqlalchemy_url(self) -> str:
        return database.sqlalchemy_url(self.dsn)

    def as_role(self, role: str) -> Warehouse:
        """The same warehouse, connecting as ``role``."""
        return Warehouse(url=self.url, role=role)

    @contextmanager
    def connect(self, **kwargs) -> Iterator:
        """A psycopg connection, closed on leaving. A database error that leaves the block leaves as a Failure
        with its values withheld (``lib/redaction.py``): every asset body reaches the warehouse through here."""
        import psycopg

        with database_errors_redacted(), psycopg.connect(self.dsn, **kwargs) as conn:
            yield conn

    @contextmanager
    def kept_connection(self) -> Iterator:
        """An autocommit connection this thread keeps open for its next use (``database.kept_connection``), for
        what a long-lived process does again and again, such as a sensor's tick; errors redacted as ``connect``'s."""
        with database_errors_redacted(), database.kept_connection(self.dsn) as conn:
            yield conn
