"""The session's linked simulated month, with the simulation's truth, for the school-readiness tests."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="package")
def linked_month(staged_month):
    """The session's simulated month in raw, staging, the linked layer, the dimensions and every fact (with person
    keys): ``staged_month``, built once per test process; the simulation's truth configured (``GMODA_TRUTH_DIR``)
    for the evaluation's Bayes-optimal figures. Tests that change conformed rows put them back before they end."""
    truth = staged_month.drops.parent / f"{staged_month.drops.name}_truth"
    os.environ["GMODA_TRUTH_DIR"] = str(truth)
    yield truth
    os.environ.pop("GMODA_TRUTH_DIR")
