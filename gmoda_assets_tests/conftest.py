"""Test fixtures: a real embedded PostgreSQL per test process, a real Dagster instance stored in it, and
small simulated partner drops.

Every test process (pytest-xdist worker) gets its own GMODA_HOME, set before the package is imported, so
its landing zone, quarantine, database cluster and Dagster instance are its own.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

_HOME = Path(tempfile.mkdtemp(prefix="gmoda-test-"))
os.environ["GMODA_HOME"] = str(_HOME)
# Test files are written whole before they are ingested: no need to wait for them to settle (the settle tests
# set their own time).
os.environ["GMODA_SETTLE_SECONDS"] = "0"
for _var in ("GMODA_DATABASE_URL", "GMODA_DAGSTER_DATABASE_URL", "GMODA_DAGSTER_PG_URL", "GMODA_LANDING_DIR",
             "GMODA_QUARANTINE_DIR"):
    os.environ.pop(_var, None)


UI_TESTS = "gmoda_assets_tests/ui/"  # node id prefix of the tests that share one running UI


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Under ``-n``, every test of ``ui/`` goes to one worker, so their one running server starts once; other tests
    are spread one by one as usual. The UI tests, the biggest unit, start first. (pytest-xdist's own
    ``xdist_group`` does not group under pytest 9.2, whose node ids it can no longer rename.)"""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class UITestsOnOneWorker(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return UI_TESTS if nodeid.startswith(UI_TESTS) else nodeid

    return UITestsOnOneWorker(config, log)


def pytest_sessionfinish(session, exitstatus):
    from gmoda_assets.lib import database

    if database.server_status().running:
        database.stop_embedded()
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def warehouse_url() -> str:
    from gmoda_assets.cli import _setup_warehouse

    return _setup_warehouse()


@pytest.fixture(scope="session")
def instance(warehouse_url):
    from gmoda_assets.lib.instance import get_instance

    return get_instance()


@pytest.fixture(scope="session")
def defs():
    from gmoda_assets.definitions import defs

    return defs


@pytest.fixture
def platform(warehouse_url, instance):
    """A clean platform: empty landing zone and quarantine, empty raw tables and ledger, no drops registered."""
    from gmoda_assets_tests.helpers import reset_platform

    return reset_platform(warehouse_url, instance)


@pytest.fixture(scope="session")
def simulated_month(tmp_path_factory) -> Path:
    """One month of small-scale simulated drops (increments carry their backfill), made once per process."""
    from gmoda_assets.simulate import simulate

    out = tmp_path_factory.mktemp("sim") / "landing"
    simulate(out, scale="small", seed=7, months=1)
    return out

