"""The family view (signposting.family_involvement) on a simulated month, and who may see what of it, proved by
logging in as each agency's practitioners, as an analyst and as the other groups."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors

from gmoda_assets.signposting.agencies import agencies
from gmoda_assets.signposting.family import LEVELS
from gmoda_assets_tests.signposting.conftest import build_signposting, look_up_every_family

# What the agreements (recipients for signposting) let each agency's practitioners see: whose signals.
SEES = {
    "stockport": {"stockport", "gmp", "nhs", "stockport_homes"},
    "gmp": {"stockport", "gmp", "stockport_homes"},  # not health visiting (DSA-002)
    "nhs": {"stockport", "gmp", "nhs", "stockport_homes"},
    "stockport_homes": {"stockport", "stockport_homes"},  # not police incidents (DSA-004), not health visiting
}
SIGNALS = {"open_episodes", "incidents_12m", "tenancy_open", "reviews_missed"}


def _agencies_seen(conn) -> dict[str, int]:
    return dict(conn.execute("SELECT agency, count(*) FROM signposting.family_involvement GROUP BY agency"))


def test_every_agency_knows_families_with_children_only(families, warehouse_url):
    metadata = families.asset_materializations_for_node("signposting__family_involvement")[0].metadata
    with psycopg.connect(warehouse_url) as conn:
        counts = _agencies_seen(conn)
        assert set(counts) == set(agencies()), counts  # each pilot agency knows some family on simulated data
        assert {a: metadata[f"households_{a}"].value for a in agencies()} == counts
        assert conn.execute("""SELECT count(*) FROM signposting.family_involvement f
                               JOIN linked.household h USING (household_key) WHERE h.children = 0""").fetchone() == (0,)
        # The police signal, recounted from the fact: distinct incidents of the household's members in the window.
        recount = dict(conn.execute("""
            SELECT m.household_key, count(DISTINCT f.incident_ref_pseudonym)
            FROM conformed.fact_police_incidents f JOIN linked.household_members m USING (person_key)
            JOIN conformed.dim_date d ON d.date_key = f.incident_date_key
            JOIN linked.household h ON h.household_key = m.household_key AND h.children > 0,
                 (SELECT max(as_of) AS as_of FROM signposting.family_involvement) a
            WHERE d.date > a.as_of - interval '12 months' AND d.date <= a.as_of GROUP BY 1"""))
        police = dict(conn.execute("SELECT household_key, incidents_12m FROM signposting.family_involvement "
                                   "WHERE agency = 'gmp'"))
        assert police == recount and police
        # The care level, recounted: the highest level among the members' open Stockport episodes.
        recount = dict(conn.execute("""
            SELECT m.household_key, (array_agg(f.episode_type ORDER BY array_position(%s, f.episode_type) DESC))[1]
            FROM conformed.fact_social_care_episodes f JOIN linked.household_members m USING (person_key)
            JOIN linked.household h ON h.household_key = m.household_key AND h.children > 0
            JOIN conformed.dim_partner p USING (partner_key)
            WHERE f.is_open AND p.partner_id = 'stockport' GROUP BY 1""", (LEVELS,)))
        care = dict(conn.execute("SELECT household_key, care_level FROM signposting.family_involvement "
                                 "WHERE agency = 'stockport'"))
        assert care == recount and care


@pytest.mark.parametrize("agency", sorted(SEES))
def test_each_agency_sees_only_what_the_agreements_permit(families, practitioners, warehouse_url, agency):
    """A practitioner reads nothing until they look families up; then only the looked-up families' signals of
    the agencies the agreements let theirs see."""
    with psycopg.connect(warehouse_url) as conn:
        everything = _agencies_seen(conn)
        households = conn.execute("SELECT count(DISTINCT household_key) FROM signposting.family_involvement").fetchone()[0]
    with psycopg.connect(warehouse_url, user=practitioners[agency], autocommit=True) as conn:
        assert _agencies_seen(conn) == {}
    assert look_up_every_family(warehouse_url, practitioners[agency]) == households
    with psycopg.connect(warehouse_url, user=practitioners[agency], autocommit=True) as conn:
        assert _agencies_seen(conn) == {a: n for a, n in everything.items() if a in SEES[agency]}
        for table in ("linked.household", "conformed.fact_births", "staging.linkage_features",
                      "signposting.lookup_audit"):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(f"SELECT count(*) FROM {table}")
        for statement in ("DELETE FROM signposting.family_involvement",
                          "UPDATE signposting.family_involvement SET children = 1",
                          "INSERT INTO signposting.agency_visibility VALUES ('gmp', 'x', 'nhs', 'nhs.hv_reviews', 'x', "
                          "'2030-01-01')"):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(statement)


def test_no_other_group_sees_the_signposting_schema(families, warehouse_url):
    """Every group role of the platform but the transformer and the practitioners' (analysts, the loader, and
    any model role), logged in as a member, is refused the schema."""
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        groups = [r[0] for r in conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE 'gmoda\\_%' AND NOT rolcanlogin "
            "AND rolname <> 'gmoda_transformer' AND rolname NOT LIKE 'gmoda\\_signpost\\_%'")]
        assert "gmoda_analyst" in groups and "gmoda_loader" in groups
        try:
            for group in groups:
                conn.execute(f"CREATE ROLE test_signpost_{group} LOGIN IN ROLE {group}")
                conn.execute(f"GRANT CONNECT ON DATABASE {conn.info.dbname} TO test_signpost_{group}")
            for group in groups:
                with psycopg.connect(warehouse_url, user=f"test_signpost_{group}", autocommit=True) as member:
                    for table in ("family_involvement", "agency_visibility"):
                        with pytest.raises(errors.InsufficientPrivilege, match="schema signposting"):
                            member.execute(f"SELECT count(*) FROM signposting.{table}")
        finally:
            for group in groups:
                conn.execute(f"DROP OWNED BY test_signpost_{group}")
                conn.execute(f"DROP ROLE IF EXISTS test_signpost_{group}")


def test_an_ended_agreement_removes_that_agencys_signals(families, practitioners, warehouse_url, monkeypatch):
    """On 1 June 2027 only Stockport Homes' agreement (DSA-005, to 30 September 2027) is live: the next build
    keeps its signals and drops every other agency's, and practitioners see no more than that."""
    monkeypatch.setenv("GMODA_DRILL", "1")
    monkeypatch.setenv("GMODA_TODAY", "2027-06-01")
    try:
        build = build_signposting()
        with psycopg.connect(warehouse_url) as conn:
            assert set(_agencies_seen(conn)) == {"stockport_homes"}
            assert {r[0] for r in conn.execute("SELECT DISTINCT agreement FROM signposting.agency_visibility")} == {
                "GMODA-DSA-005"}
        look_up_every_family(warehouse_url, practitioners["gmp"])
        with psycopg.connect(warehouse_url, user=practitioners["gmp"]) as conn:
            assert set(_agencies_seen(conn)) == {"stockport_homes"}
        metadata = build.asset_materializations_for_node("signposting__family_involvement")[0].metadata
        assert metadata["feeds_without_agreement"].value == "gmp.incidents, nhs.hv_reviews, stockport.social_care"
    finally:
        monkeypatch.delenv("GMODA_TODAY")
        build_signposting()
