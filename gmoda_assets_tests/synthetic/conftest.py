"""The synthetic children are read by person key from the linked conformed facts: the simulated month linked and
conformed by the school-readiness tests' fixture, built once for this package's tests that need it."""

from gmoda_assets_tests.school_readiness.conftest import linked_month  # noqa: F401
