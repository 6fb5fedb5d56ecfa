"""Data-sharing agreements: the shipped file is valid; a product that would use a feed without a live
agreement for its purpose stops the code location loading and fails inside a real run; an expired feed's rows
leave staging and conformed; the date moves only in a drill."""

import logging
import os
import subprocess
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
from dagster import AssetKey, Definitions, asset, materialize

from gmoda_assets.conform.dimensions import dimension_assets
from gmoda_assets.conform.facts_health_police_housing import POLICE_INCIDENTS, fact_assets_hpp
from gmoda_assets.conform.postcode_lookup import postcode_lookup
from gmoda_assets.conform.staging import staging_assets
from gmoda_assets.ingest.runner import ingest_landing_zone
from gmoda_assets.lib import governance, settings, suites
from gmoda_assets.lib.contracts import feed_contracts
from gmoda_assets.lib.governance import (
    PURPOSE_TAG,
    AgreementError,
    check_agreements,
    feed_is_live,
    live_agreement_for,
)
from gmoda_assets.lib.table_assets import table_asset
from gmoda_assets.lib.tables import Column, Computed, TableSpec
from gmoda_assets.marts.early_years import GLD_BY_COUNCIL
from gmoda_assets.resources import Warehouse
from gmoda_assets_tests.helpers import copy_drops

GMP_INCIDENTS = AssetKey(["raw", "gmp", "incidents"])
BOLTON_EYFSP = AssetKey(["raw", "bolton", "eyfsp"])
TENANCIES = AssetKey(["raw", "stockport_homes", "tenancies"])
LIVE_DAY = date(2026, 1, 15)  # every shipped agreement is live on this day
MART = AssetKey(list(GLD_BY_COUNCIL.key))


@pytest.fixture
def drill(monkeypatch):
    """Judge agreements on another day, as a governance drill does: GMODA_TODAY with GMODA_DRILL=1."""
    def on(day: date) -> None:
        monkeypatch.setenv(governance.DRILL_ENV, "1")
        monkeypatch.setenv(governance.TODAY_ENV, day.isoformat())

    return on


@pytest.fixture
def fresh_agreements():
    """Re-validate the agreements in this test (and again afterwards, so a patched file leaks nowhere)."""
    governance.validated_agreements.cache_clear()
    yield
    governance.validated_agreements.cache_clear()


def test_shipped_agreements_are_valid_and_every_feed_is_live_today(fresh_agreements):
    assert {a["id"] for a in governance.validated_agreements()} >= {"GMODA-DSA-001", "GMODA-DSA-004"}
    for contract in feed_contracts():
        assert contract.agreement in {a["id"] for a in governance.agreements_covering(contract.feed_id)}
        assert feed_is_live(contract.feed_id), contract.feed_id
        assert feed_is_live(contract.feed_id, LIVE_DAY), contract.feed_id


def test_shipped_definitions_respect_the_agreements(defs):
    check_agreements(defs)
    assert defs.resolve_asset_graph().get(MART).tags[PURPOSE_TAG] == "statistics"


def test_live_agreement_for_judges_purpose_and_dates():
    assert live_agreement_for("gmp.incidents", "signposting", LIVE_DAY)["id"] == "GMODA-DSA-004"
    assert live_agreement_for("gmp.incidents", "school_readiness", LIVE_DAY) is None
    assert live_agreement_for("wigan.eyfsp", "synthetic_data", LIVE_DAY)["id"] == "GMODA-DSA-001"
    # Start and end days are inside the agreement; the day after the end is not.
    assert live_agreement_for("wigan.eyfsp", "statistics", date(2024, 4, 1))["id"] == "GMODA-DSA-001"
    assert live_agreement_for("wigan.eyfsp", "statistics", date(2027, 3, 31))["id"] == "GMODA-DSA-001"
    assert live_agreement_for("wigan.eyfsp", "statistics", date(2027, 4, 1)) is None
    assert not feed_is_live("wigan.eyfsp", date(2027, 4, 1))
    assert feed_is_live("stockport_homes.tenancies", date(2027, 4, 1))  # DSA-005 runs to September 2027
    assert not feed_is_live("stockport_homes.tenancies", date(2024, 9, 30))  # ... and starts in October 2024
    assert not feed_is_live("nhs.no_such_feed", LIVE_DAY)


SUITE = """
- name: ok
  description: The one row is there.
  blocking: true
  expectations:
    - type: expect_column_values_to_not_be_null
      kwargs: {column: n}
"""


def _product(name: str, purpose: str, *deps: AssetKey, schema: str = "mart", ran: list | None = None):
    """A product table made by the factory, as every product is; ``ran`` notes each time its rows are made."""
    def one_row(context, conn):
        if ran is not None:
            ran.append(name)
        return [(1,)], {}

    spec = TableSpec(schema, name, "A product for a test: one row.", {"n": Column("integer", "One.")},
                     Computed(one_row, assets=tuple(tuple(d.path) for d in deps)), purpose=purpose)
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        (Path(folder) / f"{schema}.{name}.yaml").write_text(SUITE, encoding="utf-8")
        patch.setattr(suites, "SUITES_DIR", Path(folder))  # a suite is read when the asset is made
        return table_asset(spec)


def _defs(*assets) -> Definitions:
    return Definitions(assets=list(assets), resources={"warehouse": Warehouse()})


def test_asset_whose_feed_lacks_the_purpose_fails():
    readiness = _product("readiness_by_ward", "school_readiness", BOLTON_EYFSP, GMP_INCIDENTS)
    with pytest.raises(AgreementError) as raised:
        check_agreements(_defs(readiness), today=LIVE_DAY)
    message = str(raised.value)
    assert "mart/readiness_by_ward" in message and "gmp.incidents" in message
    assert "school_readiness" in message and "GMODA-DSA-004 does not permit school_readiness" in message
    assert "bolton.eyfsp" not in message  # DSA-001 allows school readiness


def test_feed_reached_through_intermediate_assets_is_checked():
    @asset(key=["staging", "gmp", "incidents"], deps=[GMP_INCIDENTS])
    def staged() -> None:
        return None

    @asset(key=["linked", "household"], deps=[staged])
    def linked() -> None:
        return None

    features = _product("features", "school_readiness", linked.key, schema="model")
    with pytest.raises(AgreementError, match=r"model/features .*gmp\.incidents.*GMODA-DSA-004"):
        check_agreements(_defs(staged, linked, features), today=LIVE_DAY)
    check_agreements(_defs(staged, linked))  # no purpose anywhere, none is a product: nothing to enforce


def test_allowed_combinations_pass():
    check_agreements(_defs(
        _product("incidents_by_ward", "statistics", GMP_INCIDENTS),
        _product("family_view", "signposting", GMP_INCIDENTS, TENANCIES, schema="signposting"),
        _product("readiness_by_ward", "school_readiness", BOLTON_EYFSP, AssetKey(["raw", "nhs", "hv_reviews"])),
        _product("children", "synthetic_data", BOLTON_EYFSP, schema="synthetic"),
    ), today=LIVE_DAY)


def test_expired_agreement_fails():
    stats = _product("incidents_by_ward", "statistics", GMP_INCIDENTS)
    check_agreements(_defs(stats), today=date(2027, 3, 31))
    with pytest.raises(AgreementError, match=r"gmp\.incidents .* on 2028-01-01: GMODA-DSA-004 expired on 2027-03-31"):
        check_agreements(_defs(stats), today=date(2028, 1, 1))


def test_agreement_not_yet_started_fails():
    family = _product("family_view", "signposting", TENANCIES, schema="signposting")
    with pytest.raises(AgreementError, match=r"stockport_homes\.tenancies .*GMODA-DSA-005 does not start until 2024-10-01"):
        check_agreements(_defs(family), today=date(2024, 9, 30))


def test_unknown_purpose_rejected_by_the_factory():
    with pytest.raises(AgreementError, match="product mart/leaflets: unknown purpose 'marketing'"):
        _product("leaflets", "marketing", BOLTON_EYFSP)


def test_product_not_made_by_the_factory_rejected():
    """A hand-made product would skip the run-time check, with or without a purpose tag."""
    @asset(key=["mart", "by_hand"], deps=[BOLTON_EYFSP], tags={PURPOSE_TAG: "statistics"})
    def by_hand() -> None:
        """Declares a purpose, but nothing checks the agreements when it runs."""

    @asset(key=["model", "untagged"], deps=[BOLTON_EYFSP])
    def untagged() -> None:
        """In a product schema, with no purpose."""

    @asset(key=["linked", "tagged"], deps=[BOLTON_EYFSP], tags={PURPOSE_TAG: "statistics"})
    def tagged() -> None:
        """Outside the product schemas, but with a purpose: a product all the same."""

    for hand_made in (by_hand, untagged, tagged):
        name = hand_made.key.to_user_string()
        with pytest.raises(AgreementError, match=f"{name} is a product not made by the product factory"):
            check_agreements(_defs(hand_made), today=LIVE_DAY)


def test_raw_key_that_is_not_a_feed_rejected():
    with pytest.raises(AgreementError, match="raw/gmp/stop_and_search, which is in raw but is not a feed"):
        check_agreements(_defs(_product("x", "statistics", AssetKey(["raw", "gmp", "stop_and_search"]))), today=LIVE_DAY)


def test_contract_naming_an_agreement_that_does_not_cover_it_rejected(monkeypatch, fresh_agreements):
    shipped = governance.agreements()
    patched = {**shipped, "GMODA-DSA-004": {**shipped["GMODA-DSA-004"], "feeds": ["gmp.stop_and_search"]}}
    monkeypatch.setattr(governance, "agreements", lambda: patched)
    with pytest.raises(AgreementError, match="feed gmp.incidents names agreement GMODA-DSA-004, which does not cover it"):
        governance.validated_agreements()


def test_agreement_with_unknown_purpose_or_dates_out_of_order_rejected(monkeypatch, fresh_agreements):
    shipped = governance.agreements()
    for change, error in [({"purposes": ["statistics", "marketing"]},
                           r"agreements.yaml: agreement GMODA-DSA-004: purposes.1: Input should be 'school_readiness', "
                           r".* \(got 'marketing'\)"),
                          ({"start": date(2027, 1, 1), "end": date(2026, 1, 1)},
                           "agreement GMODA-DSA-004: ends .* before it starts"),
                          ({"end": "soon"}, r"agreement GMODA-DSA-004: end: Input should be a valid date .*\(got 'soon'\)"),
                          ({"renewal": "2027"}, "agreement GMODA-DSA-004: renewal: Extra inputs are not permitted")]:
        patched = {**shipped, "GMODA-DSA-004": {**shipped["GMODA-DSA-004"], **change}}
        monkeypatch.setattr(governance, "agreements", lambda patched=patched: patched)
        governance.validated_agreements.cache_clear()
        with pytest.raises(AgreementError, match=error):
            governance.validated_agreements()


@pytest.fixture
def product_tables(warehouse_url):
    """Live tables for the products ``incidents_by_ward`` and ``readiness_by_ward``, created as sql/ would."""
    tables = ("mart.incidents_by_ward", "mart.readiness_by_ward")
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        for table in tables:
            conn.execute(f"CREATE TABLE {table} (n integer NOT NULL)")
        yield
        conn.execute(f"DROP TABLE {', '.join(tables)}")


def test_require_agreements_fails_the_materialisation_once_the_agreement_expires(drill, product_tables, warehouse_url):
    ran: list[str] = []
    stats = _product("incidents_by_ward", "statistics", GMP_INCIDENTS, ran=ran)
    readiness = _product("readiness_by_ward", "school_readiness", BOLTON_EYFSP, ran=ran)
    resources = {"warehouse": Warehouse()}

    drill(date(2027, 3, 31))
    assert materialize([stats, readiness], resources=resources).success
    assert sorted(ran) == ["incidents_by_ward", "readiness_by_ward"]

    ran.clear()
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute("UPDATE mart.incidents_by_ward SET n = 2")  # the previous version, to be left alone
    drill(date(2028, 1, 1))  # same definitions, a later day
    result = materialize([stats, readiness], selection=[stats.key], resources=resources, raise_on_error=False)
    assert not result.success and ran == []
    with psycopg.connect(warehouse_url) as conn:
        assert conn.execute("SELECT n FROM mart.incidents_by_ward").fetchall() == [(2,)]
    failure = result.failure_data_for_node("mart__incidents_by_ward")
    assert failure.user_failure_data is not None
    assert "gmp.incidents" in failure.user_failure_data.description
    assert "GMODA-DSA-004 expired on 2027-03-31" in failure.user_failure_data.description


def test_require_agreements_fails_when_the_purpose_is_not_permitted(drill):
    drill(LIVE_DAY)
    ran: list[str] = []

    @asset(key=["staging", "gmp", "incidents"], deps=[GMP_INCIDENTS])
    def staged() -> None:
        return None

    readiness = _product("readiness_by_ward", "school_readiness", staged.key, ran=ran)
    # Only the product is selected: its feed is found through the whole graph, not the run's selection.
    result = materialize([staged, readiness], selection=[readiness.key], resources={"warehouse": Warehouse()},
                         raise_on_error=False)
    assert not result.success and ran == []
    description = result.failure_data_for_node("mart__readiness_by_ward").user_failure_data.description
    assert "mart/readiness_by_ward (purpose school_readiness) uses feed gmp.incidents" in description
    assert "GMODA-DSA-004 does not permit school_readiness" in description


def test_today_override_refused_without_the_drill_switch(monkeypatch):
    monkeypatch.delenv(governance.DRILL_ENV, raising=False)
    monkeypatch.setenv(governance.TODAY_ENV, "2028-01-01")
    with pytest.raises(AgreementError, match="GMODA_TODAY='2028-01-01' is refused.*GMODA_DRILL=1"):
        governance.current_date()
    with pytest.raises(AgreementError, match="is refused"):  # so is everything that judges an agreement
        feed_is_live("gmp.incidents")
    monkeypatch.setenv(governance.DRILL_ENV, "yes")  # the switch is exactly 1
    with pytest.raises(AgreementError, match="is refused"):
        governance.current_date()
    monkeypatch.delenv(governance.TODAY_ENV)
    assert governance.current_date() == date.today()


def test_today_override_in_a_drill_is_logged(drill, monkeypatch, caplog):
    drill(date(2028, 1, 1))
    with caplog.at_level(logging.WARNING, logger=governance.__name__):
        assert governance.current_date() == date(2028, 1, 1)
        assert not feed_is_live("gmp.incidents")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and all("GMODA_TODAY=2028-01-01" in r.getMessage() for r in warnings)
    monkeypatch.setenv(governance.TODAY_ENV, "next tuesday")
    with pytest.raises(AgreementError, match="not an ISO date"):
        governance.current_date()


def test_code_location_does_not_load_when_the_mart_would_use_an_expired_feed():
    """The real code location, loaded as Dagster loads it, in a drill on the day after DSA-001 ends."""
    env = {**os.environ, governance.DRILL_ENV: "1", governance.TODAY_ENV: "2027-04-01"}
    loaded = subprocess.run([sys.executable, "-c", "import gmoda_assets.definitions"], env=env,
                            capture_output=True, text=True)
    assert loaded.returncode != 0
    assert "AgreementError: Data-sharing agreements forbid this" in loaded.stderr
    assert ("asset mart/eyfsp_gld_by_council (purpose statistics) uses feed bolton.eyfsp without a live "
            "data-sharing agreement for statistics on 2027-04-01: GMODA-DSA-001 expired on 2027-03-31") in loaded.stderr
    assert "Governance drill (GMODA_DRILL=1)" in loaded.stderr  # the moved date is logged


def test_code_location_refused_when_the_agreement_no_longer_permits_the_purpose(defs, monkeypatch, fresh_agreements):
    """An agreements-file variant: DSA-001 renegotiated without statistics."""
    shipped = governance.agreements()
    narrowed = {**shipped["GMODA-DSA-001"], "purposes": ["school_readiness", "synthetic_data"]}
    monkeypatch.setattr(governance, "agreements", lambda: {**shipped, "GMODA-DSA-001": narrowed})
    with pytest.raises(AgreementError) as raised:
        check_agreements(defs)
    message = str(raised.value)
    assert ("asset mart/eyfsp_gld_by_council (purpose statistics) uses feed wigan.eyfsp without a live data-sharing "
            "agreement for statistics") in message
    assert "GMODA-DSA-001 does not permit statistics (permits: school_readiness, synthetic_data)" in message


def test_mart_refuses_to_run_when_its_agreement_ends_while_loaded(defs, drill, warehouse_url):
    """The definitions were loaded while DSA-001 was live; the nightly job runs after it has ended."""
    check_agreements(defs)
    with psycopg.connect(warehouse_url) as conn:
        before = conn.execute("SELECT to_regclass('mart.eyfsp_gld_by_council')::text").fetchone()[0]
        rows_before = (conn.execute("SELECT count(*) FROM mart.eyfsp_gld_by_council").fetchone()[0]
                       if before else None)
    drill(date(2027, 4, 1))
    result = defs.resolve_job_def("nightly_refresh").execute_in_process(asset_selection=[MART], raise_on_error=False)
    assert not result.success
    description = result.failure_data_for_node("mart__eyfsp_gld_by_council").user_failure_data.description
    assert ("asset mart/eyfsp_gld_by_council (purpose statistics) uses feed stockport.eyfsp without a live "
            "data-sharing agreement for statistics on 2027-04-01: GMODA-DSA-001 expired on 2027-03-31") in description
    assert not result.get_asset_materialization_events()
    with psycopg.connect(warehouse_url) as conn:  # the body never ran: the table is as it was
        assert conn.execute("SELECT to_regclass('mart.eyfsp_gld_by_council')::text").fetchone()[0] == before
        if before:
            assert conn.execute("SELECT count(*) FROM mart.eyfsp_gld_by_council").fetchone()[0] == rows_before


def _rows(conn, table: str) -> int:
    return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_expired_feed_leaves_staging_and_conformed_while_raw_keeps_it(platform, instance, defs, simulated_month,
                                                                        warehouse_url, monkeypatch, fresh_agreements):
    copy_drops(simulated_month, settings.landing_dir(), partners=["gmp"])
    assert ingest_landing_zone(instance, defs, platform, only_partners=["gmp"]).tally.runs_failed == 0
    staging = next(a for a in staging_assets if a.key == AssetKey(["staging", "gmp", "incidents"]))
    fact_police_incidents = next(a for a in fact_assets_hpp if a.key == AssetKey(POLICE_INCIDENTS.key))
    resources = {"warehouse": Warehouse()}
    assert materialize([postcode_lookup, staging, *dimension_assets, fact_police_incidents], resources=resources).success
    with psycopg.connect(warehouse_url) as conn:
        raw = _rows(conn, "raw.gmp__incidents")
        assert _rows(conn, "staging.gmp__incidents") > 20 and _rows(conn, "conformed.fact_police_incidents") > 20

    # DSA-004 ended yesterday; the next refresh runs on the same definitions.
    shipped = governance.agreements()
    ended = {**shipped["GMODA-DSA-004"], "end": date.today() - timedelta(days=1)}
    monkeypatch.setattr(governance, "agreements", lambda: {**shipped, "GMODA-DSA-004": ended})
    governance.validated_agreements.cache_clear()
    refresh = materialize([staging, fact_police_incidents], resources=resources)
    assert refresh.success
    staged = next(e for e in refresh.get_asset_materialization_events() if e.asset_key == staging.key)
    assert staged.materialization.metadata["agreement_live"].value is False
    with psycopg.connect(warehouse_url) as conn:
        assert _rows(conn, "staging.gmp__incidents") == 0 == _rows(conn, "staging.gmp__incidents__rejects")
        assert _rows(conn, "conformed.fact_police_incidents") == 0
        assert _rows(conn, "raw.gmp__incidents") == raw > 20
