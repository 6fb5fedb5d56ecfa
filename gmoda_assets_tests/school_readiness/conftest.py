"""A simulated month loaded, staged, linked and conformed once for the school-readiness tests (one worker
builds it: the tests of this package share it)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="package")
def linked_month(warehouse_url, instance, defs, simulated_month):
    """The session's simulated month in raw, then staging, the linked layer, the dimensions and every fact (with
    person keys) built by one Dagster run; the simulation's truth configured (``GMODA_TRUTH_DIR``) for the
    evaluation's Bayes-optimal figures. Tests that change conformed rows put them back before they end."""
    import os

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
    assert ingest_landing_zone(instance, defs, landing).tally.failures == []
    build = materialize([postcode_lookup, *staging_assets, linkage_features, *linked_assets, *dimension_assets,
                         *council_assets, *fact_assets_hpp], resources={"warehouse": Warehouse()}, raise_on_error=False)
    assert build.success, [e.step_key for e in build.get_step_failure_events()]
    truth = simulated_month.parent / f"{simulated_month.name}_truth"
    os.environ["GMODA_TRUTH_DIR"] = str(truth)
    yield truth
    os.environ.pop("GMODA_TRUTH_DIR")
