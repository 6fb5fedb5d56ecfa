"""Test fixtures: a real embedded PostgreSQL per test process, a real Dagster instance stored in it, small
simulated partner drops, and that month loaded, staged and conformed once.

Every test process (pytest-xdist worker) gets its own GMODA_HOME, set before the package is imported, so
its landing zone, quarantine, database cluster and Dagster instance are its own.

How the tests are spread over the workers (``--dist loadgroup --no-loadscope-reorder``, set in
pyproject.toml, so the order below is the order they are handed out):
- the tests that read ``staged_month`` first (directly, or through a fixture built on it, as the school-readiness
  and signposting packages' are), all on one worker, one after another: that worker builds the month once, and
  nothing that empties or rebuilds raw, staging, linked or conformed (``platform`` and the tests that load data of
  their own) runs on it before they are done;
- then the tests marked ``slow`` and the UI tests, so that none of them starts last and ends the run alone;
- the tests of a package or module that share a package- or module-scoped fixture go to one worker, which builds
  the fixture once (the UI tests' running ``gmoda ui``, for one).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from _pytest.nodeid import NodeId

_HOME = Path(tempfile.mkdtemp(prefix="gmoda-test-"))
os.environ["GMODA_HOME"] = str(_HOME)
# Test files are written whole before they are ingested: no need to wait for them to settle (the settle tests
# set their own time).
os.environ["GMODA_SETTLE_SECONDS"] = "0"
for _var in ("GMODA_DATABASE_URL", "GMODA_DAGSTER_DATABASE_URL", "GMODA_DAGSTER_PG_URL", "GMODA_LANDING_DIR",
             "GMODA_QUARANTINE_DIR"):
    os.environ.pop(_var, None)


STAGED = "staged_month"


def _shared_scope(item) -> str | None:
    """``package`` or ``module`` when the test shares a fixture of that scope with others."""
    scopes = {defs[-1].scope for defs in item._fixtureinfo.name2fixturedefs.values()}
    return next((scope for scope in ("package", "module") if scope in scopes), None)


def _group(item) -> str | None:
    """The xdist group of a test: the shared month's readers together, and a package's or module's tests that
    share one of its package- or module-scoped fixtures (the UI tests: one running ``gmoda ui``)."""
    if STAGED in item.fixturenames:
        return STAGED
    scope = _shared_scope(item)
    package, _ = item.module.__name__.rsplit(".", 1)
    return package if scope == "package" else item.module.__name__ if scope == "module" else None


def _rank(item) -> int:
    """Hand-out order: the shared month's readers, then the slow tests and the package groups (the biggest
    units), then the rest."""
    if STAGED in item.fixturenames:
        return 0
    return 1 if item.get_closest_marker("slow") or _shared_scope(item) == "package" else 2


def pytest_collection_modifyitems(config, items):
    for item in items:
        if group := _group(item):
            item.add_marker(pytest.mark.xdist_group(group))
        # pytest-xdist 3.8 names a test's group by appending it to ``item._nodeid``, which pytest 9 no longer
        # reads (the id is ``item._id``): without this, --dist loadgroup groups nothing.
        groups = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                         for m in item.iter_markers("xdist_group")})
        if groups and getattr(config.option, "loadgroup", False) and "@" not in item.nodeid.rsplit("]", 1)[-1]:
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(groups)}")
    items.sort(key=_rank)  # stable: otherwise as collected


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



@dataclass(frozen=True)
class StagedMonth:
    drops: Path  # the simulated month's drops, as the partners delivered them
    ingest: object  # the IngestReport of loading every drop into raw
    build: object  # the result of the one Dagster run that built staging, the linked layer, dimensions and facts


@pytest.fixture(scope="session")
def staged_month(warehouse_url, instance, defs, simulated_month) -> StagedMonth:
    """The simulated month loaded into raw by Dagster runs in ``instance`` (a run per drop, as the sensors would),
    then staging, the linkage features, the linked layer, the dimensions and every fact (with its person keys)
    built from it in one run, once per test process: the platform the products (school readiness, signposting,
    synthetic data, marts) are built on. For tests that only read raw, the ledger, staging, linked or conformed,
    or that put back what they change before they end: a test that changes them for good uses ``platform`` and
    data of its own."""
    from dagster import materialize

    from gmoda_assets.conform.dimensions import dimension_assets
    from gmoda_assets.conform.facts_council import council_assets
    from gmoda_assets.conform.facts_health_police_housing import fact_assets_hpp
    from gmoda_assets.conform.linkage_features import linkage_features
    from gmoda_assets.conform.postcode_lookup import postcode_lookup
    from gmoda_assets.conform.staging import staging_assets
    from gmoda_assets.ingest.runner import ingest_landing_zone
    from gmoda_assets.lib import settings
    from gmoda_assets.linkage.assets import linked_assets
    from gmoda_assets.resources import Warehouse
    from gmoda_assets_tests.helpers import copy_drops, reset_platform

    landing = reset_platform(warehouse_url, instance)
    copy_drops(simulated_month, settings.landing_dir())
    report = ingest_landing_zone(instance, defs, landing)
    assert report.tally.failures == [], report.tally.failures
    build = materialize([postcode_lookup, *staging_assets, linkage_features, *linked_assets, *dimension_assets,
                         *council_assets, *fact_assets_hpp], resources={"warehouse": Warehouse()}, raise_on_error=False)
    assert build.success, [e.step_key for e in build.get_step_failure_events()]
    return StagedMonth(simulated_month, report, build)
