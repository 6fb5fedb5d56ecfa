"""Feed contracts: every contract is consistent, and a broken one fails with a message naming the file."""

from datetime import date

import pytest

from gmoda_assets.lib import contracts
from gmoda_assets.lib.contracts import ContractError, db_identifier, feed_contracts, load_contract, match_file


def test_every_partner_feed_has_a_consistent_contract():
    found = {c.feed_id for c in feed_contracts()}
    councils = [p for p, v in contracts.partners().items() if v["kind"] == "council"]
    expected = {f"{p}.{f}" for p in councils for f in ("eyfsp", "funded_early_education", "social_care")}
    expected |= {"nhs.births", "nhs.hv_reviews", "gmp.incidents", "stockport_homes.tenancies"}
    assert found == expected
    assert {c.delivery for c in feed_contracts()} == {"snapshot", "increment"}
    assert len({c.system for c in feed_contracts() if c.kind == "eyfsp"}) > 1, "councils use different systems"
    for c in feed_contracts():
        assert c.agreement in contracts.agreements()
        name = c.render_file_name(date(2025, 10, 1))
        assert match_file(c.partner, name) == c, name
        assert [col for col in c.columns if col.identifier], f"{c.feed_id} has no identifier columns"


def test_file_names_match_only_their_own_feed():
    assert match_file("stockport", "Stockport EYFSP October 2025.csv").feed_id == "stockport.eyfsp"
    assert match_file("stockport", "Stockport EYFSP.csv") is None
    assert match_file("stockport_homes", "SH_Tenancy_Members_20251101.csv").feed_id == "stockport_homes.tenancies"
    assert match_file("stockport_homes", "SH_Tenancy_Members_20251101_resend.csv") is None
    assert match_file("oldham", "OLDHAM-ECLIPSE-202510.csv").feed_id == "oldham.social_care"
    assert match_file("wigan", "Stockport EYFSP October 2025.csv") is None


def test_delivery_date_read_from_the_file_name():
    for c in feed_contracts():
        whole_days = "%d" in c.file_name
        for day in (date(2025, 10, 1), date(2024, 2, 29), date(2026, 12, 31)):
            assert c.delivery_date(c.render_file_name(day)) == (day if whole_days else day.replace(day=1)), c.feed_id
    tenancies = match_file("stockport_homes", "SH_Tenancy_Members_20251101.csv")
    assert tenancies.delivery_date("SH_Tenancy_Members_20250231.csv") is None  # matches the pattern, not a real day
    assert tenancies.delivery_date("SH_Tenancy_Members_20251101_resend.csv") is None
    assert match_file("wigan", "Wigan EYFSP July 2025.csv").delivery_date("Wigan EYFSP July 2025.csv") == date(2025, 7, 1)


def test_delivered_names_become_sql_identifiers():
    assert db_identifier("Date of Birth") == "date_of_birth"
    assert db_identifier("NHSNumber") == "nhs_number"
    assert db_identifier("ASQ_GrossMotor") == "asq_gross_motor"
    assert db_identifier("2YO").startswith("c_2")  # identifiers cannot start with a digit


def test_broken_contract_is_reported_with_its_file(tmp_path, monkeypatch):
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    bad = feeds / "bolton.eyfsp.yaml"
    bad.write_text("partner: bolton\nfeed: eyfsp\nsystem: eyfsp_capita_one\nagreement: NO-SUCH-DSA\nfile_name: x_{date:%Y}.csv\n")
    with pytest.raises(ContractError, match=r"bolton.eyfsp.yaml: agreement 'NO-SUCH-DSA'"):
        load_contract(bad)
    bad.write_text("partner: bolton\nfeed: eyfsp\nsystem: no_such_system\nagreement: GMODA-DSA-001\nfile_name: x.csv\n")
    with pytest.raises(ContractError, match="system 'no_such_system' has no file"):
        load_contract(bad)
    wrong_name = feeds / "bury.eyfsp.yaml"
    wrong_name.write_text("partner: bolton\nfeed: eyfsp\nsystem: eyfsp_capita_one\nagreement: GMODA-DSA-001\nfile_name: x.csv\n")
    with pytest.raises(ContractError, match="must be named bolton.eyfsp.yaml"):
        load_contract(wrong_name)


def test_cadence_and_volume_thresholds_come_from_the_contract(tmp_path):
    """Defaults: monthly, a snapshot may lose 10%, an increment is not guarded; a feed file overrides its
    system; a bad value names the file and the field."""
    eyfsp = contracts.contract_for("stockport.eyfsp")
    assert (eyfsp.delivery, eyfsp.cadence, eyfsp.max_shrink, eyfsp.overdue_after_days) == ("snapshot", "monthly", 0.10, 38)
    assert contracts.contract_for("nhs.births").max_shrink is None
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    path = feeds / "bolton.eyfsp.yaml"
    base = "partner: bolton\nfeed: eyfsp\nsystem: eyfsp_capita_one\nagreement: GMODA-DSA-001\nfile_name: x_{date:%Y}.csv\n"
    path.write_text(base + "cadence: quarterly\nvolume: {max_shrink: 0.25}\n")
    found = load_contract(path)
    assert (found.cadence, found.max_shrink, found.overdue_after_days) == ("quarterly", 0.25, 99)
    path.write_text(base + "volume: {max_shrink: null}\n")
    assert load_contract(path).max_shrink is None
    for extra, message in (("cadence: fortnightly\n", "bolton.eyfsp.yaml: cadence: Input should be 'weekly', "
                                                       "'monthly' or 'quarterly' (got 'fortnightly')"),
                           ("volume: {max_shrink: 10}\n", "bolton.eyfsp.yaml: volume.max_shrink: Input should be less "
                                                          "than or equal to 1 (got 10)"),
                           ("volume: {max_shrink: yes}\n", "bolton.eyfsp.yaml: volume.max_shrink: Input should be a "
                                                           "valid number (got True)"),
                           ("volume: {max_growth: 0.5}\n", "bolton.eyfsp.yaml: volume.max_growth: Extra inputs are not "
                                                           "permitted")):
        path.write_text(base + extra)
        with pytest.raises(ContractError) as refused:
            load_contract(path)
        assert message in str(refused.value)


def test_a_malformed_system_file_is_refused_naming_the_file_and_field(tmp_path, monkeypatch):
    contracts.kinds(), contracts.partners(), contracts.agreements()  # read from the package before it moves
    shipped = (contracts.CONTRACTS_DIR / "systems" / "eyfsp_capita_one.yaml").read_text()
    monkeypatch.setattr(contracts, "CONTRACTS_DIR", tmp_path)
    (tmp_path / "systems").mkdir()
    (tmp_path / "feeds").mkdir()
    feed = tmp_path / "feeds" / "bolton.eyfsp.yaml"
    feed.write_text("partner: bolton\nfeed: eyfsp\nsystem: broken\nagreement: GMODA-DSA-001\nfile_name: x.csv\n")
    system = tmp_path / "systems" / "broken.yaml"
    for broken, message in (
            (shipped.replace("source: sen_provision,", "source: sen_provision, type: txt,"),
             "broken.yaml: columns.10.type: Input should be 'text', 'integer', 'decimal', 'date', 'datetime' or "
             "'code' (got 'txt')"),
            (shipped.replace('format: "%d/%m/%Y", ', ""), "broken.yaml: columns.3: date column 'DOB' needs a strftime"),
            (shipped.replace('delimiter: ","', 'delimiter: ",,"'), "broken.yaml: format.delimiter: String should have "
                                                                    "at most 1 character"),
            (shipped.replace("encoding: utf-8", "encoding: ebcdic"), "broken.yaml: format.encoding: encoding 'ebcdic' "
                                                                      "is not supported"),
            (shipped.replace("delivery: snapshot", "deliveries: snapshot"), "broken.yaml: delivery: Field required"),
            (shipped.replace("source: school_urn,", "source: school,"), "broken.yaml: columns.6.source: column "
                                                                         "'SchoolURN' maps to 'school'")):
        system.write_text(broken)
        with pytest.raises(ContractError) as refused:
            load_contract(feed)
        assert message in str(refused.value)
