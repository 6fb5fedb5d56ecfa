"""Data-sharing agreements: the shipped file is valid, and an asset that would use a feed without a live
agreement for its purpose fails, both when definitions are checked and inside a real materialisation."""

from datetime import date

import pytest
from dagster import AssetExecutionContext, AssetKey, Definitions, asset, materialize

from gmoda_assets.lib import governance
from gmoda_assets.lib.contracts import feed_contracts
from gmoda_assets.lib.governance import (
    PURPOSE_TAG,
    AgreementError,
    check_agreements,
    feed_is_live,
    live_agreement_for,
    purpose_tags,
    require_agreements,
)

GMP_INCIDENTS = AssetKey(["raw", "gmp", "incidents"])
BOLTON_EYFSP = AssetKey(["raw", "bolton", "eyfsp"])
TENANCIES = AssetKey(["raw", "stockport_homes", "tenancies"])
LIVE_DAY = date(2026, 1, 15)  # every shipped agreement is live on this day


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


def _product(name: str, purpose: str, *deps: AssetKey, schema: str = "mart"):
    @asset(key=[schema, name], deps=list(deps), tags={PURPOSE_TAG: purpose})
    def _asset() -> None:
        return None

    return _asset


def test_asset_whose_feed_lacks_the_purpose_fails():
    readiness = _product("readiness_by_ward", "school_readiness", BOLTON_EYFSP, GMP_INCIDENTS)
    with pytest.raises(AgreementError) as raised:
        check_agreements([readiness], today=LIVE_DAY)
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
        check_agreements(Definitions(assets=[staged, linked, features]), today=LIVE_DAY)
    check_agreements([staged, linked])  # no purpose anywhere, none is a product: nothing to enforce


def test_allowed_combinations_pass():
    check_agreements([
        _product("incidents_by_ward", "statistics", GMP_INCIDENTS),
        _product("family_view", "signposting", GMP_INCIDENTS, TENANCIES, schema="signposting"),
        _product("readiness_by_ward", "school_readiness", BOLTON_EYFSP, AssetKey(["raw", "nhs", "hv_reviews"])),
        _product("children", "synthetic_data", BOLTON_EYFSP, schema="synthetic"),
    ], today=LIVE_DAY)


def test_expired_agreement_fails():
    stats = _product("incidents_by_ward", "statistics", GMP_INCIDENTS)
    check_agreements([stats], today=date(2027, 3, 31))
    with pytest.raises(AgreementError, match=r"gmp\.incidents .* on 2028-01-01: GMODA-DSA-004 expired on 2027-03-31"):
        check_agreements([stats], today=date(2028, 1, 1))


def test_agreement_not_yet_started_fails():
    family = _product("family_view", "signposting", TENANCIES, schema="signposting")
    with pytest.raises(AgreementError, match=r"stockport_homes\.tenancies .*GMODA-DSA-005 does not start until 2024-10-01"):
        check_agreements([family], today=date(2024, 9, 30))


def test_unknown_or_missing_purpose_rejected():
    with pytest.raises(AgreementError, match="unknown purpose 'marketing'"):
        purpose_tags("marketing")
    assert purpose_tags("statistics") == {PURPOSE_TAG: "statistics"}
    with pytest.raises(AgreementError, match="mart/leaflets declares unknown purpose 'marketing'"):
        check_agreements([_product("leaflets", "marketing", BOLTON_EYFSP)], today=LIVE_DAY)

    @asset(key=["mart", "untagged"], deps=[BOLTON_EYFSP])
    def untagged() -> None:
        return None

    with pytest.raises(AgreementError, match="mart/untagged declares no purpose"):
        check_agreements([untagged], today=LIVE_DAY)


def test_raw_key_that_is_not_a_feed_rejected():
    with pytest.raises(AgreementError, match="raw/gmp/stop_and_search, which is in raw but is not a feed"):
        check_agreements([_product("x", "statistics", AssetKey(["raw", "gmp", "stop_and_search"]))], today=LIVE_DAY)


def test_contract_naming_an_agreement_that_does_not_cover_it_rejected(monkeypatch, fresh_agreements):
    shipped = governance.agreements()
    patched = {**shipped, "GMODA-DSA-004": {**shipped["GMODA-DSA-004"], "feeds": ["gmp.stop_and_search"]}}
    monkeypatch.setattr(governance, "agreements", lambda: patched)
    with pytest.raises(AgreementError, match="feed gmp.incidents names agreement GMODA-DSA-004, which does not cover it"):
        governance.validated_agreements()


def test_agreement_with_unknown_purpose_or_dates_out_of_order_rejected(monkeypatch, fresh_agreements):
    shipped = governance.agreements()
    for change, error in [({"purposes": ["statistics", "marketing"]}, "unknown purpose 'marketing'"),
                          ({"start": date(2027, 1, 1), "end": date(2026, 1, 1)}, "ends .* before it starts")]:
        patched = {**shipped, "GMODA-DSA-004": {**shipped["GMODA-DSA-004"], **change}}
        monkeypatch.setattr(governance, "agreements", lambda patched=patched: patched)
        governance.validated_agreements.cache_clear()
        with pytest.raises(AgreementError, match=error):
            governance.validated_agreements()


def _guarded(name: str, purpose: str, *deps: AssetKey, ran: list):
    @asset(key=["mart", name], deps=list(deps), tags=purpose_tags(purpose))
    def _asset(context: AssetExecutionContext) -> None:
        require_agreements(context)
        ran.append(name)

    return _asset


def test_require_agreements_fails_the_materialisation_once_the_agreement_expires(monkeypatch):
    ran: list[str] = []
    stats = _guarded("incidents_by_ward", "statistics", GMP_INCIDENTS, ran=ran)
    readiness = _guarded("readiness_by_ward", "school_readiness", BOLTON_EYFSP, ran=ran)

    monkeypatch.setenv(governance.TODAY_ENV, "2027-03-31")
    assert materialize([stats, readiness]).success
    assert sorted(ran) == ["incidents_by_ward", "readiness_by_ward"]

    ran.clear()
    monkeypatch.setenv(governance.TODAY_ENV, "2028-01-01")  # same definitions, a later day
    result = materialize([stats, readiness], selection=[stats.key], raise_on_error=False)
    assert not result.success and ran == []
    failure = result.failure_data_for_node("mart__incidents_by_ward")
    assert failure.user_failure_data is not None
    assert "gmp.incidents" in failure.user_failure_data.description
    assert "GMODA-DSA-004 expired on 2027-03-31" in failure.user_failure_data.description


def test_require_agreements_fails_when_the_purpose_is_not_permitted(monkeypatch):
    monkeypatch.setenv(governance.TODAY_ENV, LIVE_DAY.isoformat())
    ran: list[str] = []

    @asset(key=["staging", "gmp", "incidents"], deps=[GMP_INCIDENTS])
    def staged() -> None:
        return None

    readiness = _guarded("readiness_by_ward", "school_readiness", staged.key, ran=ran)
    # Only the product is selected: its feed is found through the whole graph, not the run's selection.
    result = materialize([staged, readiness], selection=[readiness.key], raise_on_error=False)
    assert not result.success and ran == []
    description = result.failure_data_for_node("mart__readiness_by_ward").user_failure_data.description
    assert "mart/readiness_by_ward (purpose school_readiness) uses feed gmp.incidents" in description
    assert "GMODA-DSA-004 does not permit school_readiness" in description


def test_today_override_must_be_a_date(monkeypatch):
    monkeypatch.setenv(governance.TODAY_ENV, "next tuesday")
    with pytest.raises(AgreementError, match="GMODA_TODAY"):
        governance.current_date()
    monkeypatch.delenv(governance.TODAY_ENV)
    assert governance.current_date() == date.today()
