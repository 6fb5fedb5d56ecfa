"""The session's simulated month built on to signposting once for the package's tests, and a login role for each
agency's practitioners."""

from __future__ import annotations

import psycopg
import pytest

from gmoda_assets.signposting.agencies import agencies, role


def build_signposting():
    """The signposting tables rebuilt from what the warehouse holds, as the nightly refresh does."""
    from dagster import materialize

    from gmoda_assets.resources import Warehouse
    from gmoda_assets.signposting.family import signposting_assets

    result = materialize(signposting_assets, resources={"warehouse": Warehouse()})
    assert result.success
    return result


@pytest.fixture(scope="package")
def families(staged_month):
    """The session's simulated month loaded, staged, linked and conformed (``staged_month``), and the signposting
    layer built from it."""
    assert {e.asset_key.path[-1] for e in staged_month.build.get_asset_materialization_events()} >= {
        "household", "fact_tenancies"}
    return build_signposting()


@pytest.fixture(scope="package")
def practitioners(warehouse_url):
    """A login in each agency's practitioner role: agency -> login name."""
    logins = {agency: f"test_signpost_{agency}" for agency in agencies()}
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        for agency, login in logins.items():
            conn.execute(f"DROP ROLE IF EXISTS {login}")
            conn.execute(f"CREATE ROLE {login} LOGIN IN ROLE {role(agency)}")
        try:
            yield logins
        finally:
            for login in logins.values():
                conn.execute(f"DROP OWNED BY {login}")
                conn.execute(f"DROP ROLE {login}")


def look_up_every_family(url: str, login: str) -> int:
    """``login`` looks up every household of the family view, by the NHS number pseudonym of one of its members
    (a client with the platform's key builds the same query): the audited lookups that let it read them directly.
    Returns the households looked up."""
    from psycopg.types.json import Jsonb

    from gmoda_assets.lib.pseudonymise import fingerprint, secret_key

    with psycopg.connect(url) as conn:
        pseudonyms = [r[0] for r in conn.execute("""
            SELECT DISTINCT ON (m.household_key) f.nhs_number_pseudonym
            FROM signposting.family_involvement i JOIN linked.household_members m USING (household_key)
            JOIN linked.person_records p USING (person_key) JOIN staging.linkage_features f USING (record_key)
            WHERE f.nhs_number_pseudonym IS NOT NULL ORDER BY m.household_key""")]
    mark = fingerprint(secret_key())
    with psycopg.connect(url, user=login, autocommit=True) as conn:
        for pseudonym in pseudonyms:
            conn.execute("SELECT count(*) FROM signposting.lookup(%s, %s)",
                         (Jsonb({"key_fingerprint": mark, "nhs_number_pseudonym": pseudonym}), "Test of direct reads"))
    return len(pseudonyms)
