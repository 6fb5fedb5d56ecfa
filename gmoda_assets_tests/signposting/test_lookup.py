"""Lookups (signposting.lookup and ``gmoda signpost lookup``) on the simulated month, as each agency's
practitioners: by each kind of identifier, fuzzy matches only above the configured probability and flagged,
every lookup audited (found or not) in a table nobody can change, and neither the key nor an identifier value
in PostgreSQL, its log or the audit."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import date

import psycopg
import pytest
from psycopg import errors

from gmoda_assets.cli import main
from gmoda_assets.lib import database
from gmoda_assets.lib.contracts import feed_contracts
from gmoda_assets.lib.pseudonymise import HmacPads, secret_key
from gmoda_assets.signposting.lookup import (Identifiers, LookupRefused, lookup, nhs_number_is_valid, query,
                                             soundex)
from gmoda_assets_tests.conform.test_staging import _every_statement_logged, _written_forms

REASON = "Child protection strategy discussion, case review"


@pytest.fixture(scope="module")
def child(families, warehouse_url) -> tuple[Identifiers, int]:
    """A child of a household the police know, with the identifiers the NHS delivered for them, and the household."""
    births = next(c for c in feed_contracts() if c.feed_id == "nhs.births")
    columns = [births.column(f).db_name for f in ("nhs_number", "given_name", "family_name", "date_of_birth", "postcode")]
    with psycopg.connect(warehouse_url) as conn:
        *found, household = conn.execute(f"""
            SELECT {', '.join(f'r.{c}' for c in columns)}, m.household_key
            FROM staging.nhs__births s JOIN ops.drops d ON d.drop_id = s._drop_id
            JOIN raw.nhs__births r ON r._drop = d.drop_number AND r._row_number = s._row_number
            JOIN staging.linkage_features f ON f.record_key = s.record_key
            JOIN linked.person_records p ON p.record_key = s.record_key
            JOIN linked.household_members m USING (person_key)
            WHERE m.household_key IN (SELECT household_key FROM signposting.family_involvement WHERE agency = 'gmp')
              AND f.nhs_number_pseudonym IS NOT NULL AND f.postcode_pseudonym IS NOT NULL
              AND f.given_name_pseudonym IS NOT NULL AND f.date_of_birth_pseudonym IS NOT NULL
            ORDER BY m.household_key, s.record_key LIMIT 1""").fetchone()
    nhs, given, family, born, postcode = found
    return Identifiers(nhs, given, family, date.fromisoformat(born), postcode), household


def _as(url: str, login: str) -> psycopg.Connection:
    return psycopg.connect(url, user=login, autocommit=True)


def _visible(url: str, household: int, agency: str) -> set[str]:
    """The agencies of the household's rows that the agency's practitioners may see, as the administrator counts."""
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute(
            "SELECT f.agency FROM signposting.family_involvement f WHERE f.household_key = %s AND f.feed_id IN "
            "(SELECT feed_id FROM signposting.agency_visibility WHERE viewer = %s)", (household, agency))}


def _audit(url: str, after: int = 0) -> list[dict]:
    with psycopg.connect(url) as conn:
        conn.row_factory = psycopg.rows.dict_row
        return conn.execute("SELECT * FROM signposting.lookup_audit WHERE lookup_id > %s ORDER BY lookup_id",
                            (after,)).fetchall()


def _last_audit_id(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT coalesce(max(lookup_id), 0) FROM signposting.lookup_audit").fetchone()[0]


def test_python_features_agree_with_the_warehouse(warehouse_url):
    with psycopg.connect(warehouse_url) as conn:
        for name in ("ROBERT", "RUPERT", "ASHCRAFT", "TYMCZAK", "PFISTER", "HONEYMAN", "LEE", "ONEIL"):
            assert soundex(name) == conn.execute("SELECT ops.soundex(%s)", (name,)).fetchone()[0]
        for number in ("9434765919", "9434765918", "4010232137", "401023213X"):
            assert nhs_number_is_valid(number) == conn.execute("SELECT ops.nhs_number_is_valid(%s)",
                                                               (number,)).fetchone()[0]


@pytest.mark.parametrize("given", [("nhs_number",), ("given_name", "family_name", "date_of_birth"),
                                   ("family_name", "date_of_birth", "postcode"),
                                   ("given_name", "family_name", "date_of_birth", "postcode")])
def test_lookup_by_each_kind_of_identifier(child, practitioners, warehouse_url, given):
    identifiers, household = child
    asked = Identifiers(**{f: getattr(identifiers, f) for f in given})
    with _as(warehouse_url, practitioners["stockport"]) as conn:
        rows = lookup(conn, asked, REASON)
    mine = [r for r in rows if r["household_key"] == household]
    assert {r["agency"] for r in mine} == _visible(warehouse_url, household, "stockport") >= {"gmp"}
    assert {(r["match"], r["match_probability"] >= 0.95) for r in mine} == {("exact", True)}


def test_a_fuzzy_match_is_flagged_and_a_weak_one_not_returned(child, practitioners, warehouse_url):
    identifiers, household = child
    # One letter changed (names are compared in capitals, so "Sophia" -> "SophiA" would be no change at all).
    typo = identifiers.given_name[:-1] + ("A" if identifiers.given_name[-1].upper() != "A" else "E")
    with _as(warehouse_url, practitioners["gmp"]) as conn:
        fuzzy = lookup(conn, dataclasses.replace(identifiers, nhs_number=None, given_name=typo), REASON)
        weak = lookup(conn, Identifiers(date_of_birth=identifiers.date_of_birth), REASON)
    mine = [r for r in fuzzy if r["household_key"] == household]
    assert mine and {r["match"] for r in mine} == {"fuzzy"}
    assert all(0.95 <= r["match_probability"] < 1 for r in mine)
    assert weak == []  # a date of birth alone is shared by too many children to reach the threshold
    [*_, audited] = _audit(warehouse_url, _last_audit_id(warehouse_url) - 1)
    assert (audited["identifiers"], audited["rows_returned"], audited["households"]) == (["date_of_birth_pseudonym"], 0, [])


def test_each_agency_gets_only_what_it_may_see_and_every_lookup_is_audited(child, practitioners, warehouse_url):
    identifiers, household = child
    before = _last_audit_id(warehouse_url)
    nobody = Identifiers(nhs_number="9434765919")  # a valid number the simulation did not give
    returned = {}
    for agency, login in practitioners.items():
        with _as(warehouse_url, login) as conn:
            returned[agency] = {r["agency"] for r in lookup(conn, Identifiers(nhs_number=identifiers.nhs_number), REASON)}
            assert lookup(conn, nobody, REASON) == []
        assert returned[agency] == _visible(warehouse_url, household, agency)
    assert "gmp" in returned["gmp"] and "gmp" not in returned["stockport_homes"]
    audited = _audit(warehouse_url, before)
    assert [(a["login"], a["acting_role"], a["rows_returned"]) for a in audited] == [
        (login, login, n) for agency, login in practitioners.items() for n in (len(returned[agency]), 0)]
    for entry, agency in zip(audited[::2], practitioners):
        assert entry["agencies"] == [agency] and entry["reason"] == REASON
        assert entry["households"] == ([household] if returned[agency] else [])
        assert {r["agency"] for r in entry["returned"]} == returned[agency]
        assert entry["identifiers"] == ["nhs_number_pseudonym"] and re.fullmatch("[0-9a-f]{32}", entry["pseudonyms"]["nhs_number_pseudonym"])
    text = json.dumps([{k: str(v) for k, v in a.items()} for a in audited])
    digits = re.sub(r"\D", "", identifiers.nhs_number)
    assert digits not in text and "9434765919" not in text


def test_nobody_can_change_the_audit(child, practitioners, warehouse_url):
    identifiers, _ = child
    with _as(warehouse_url, practitioners["nhs"]) as conn:
        lookup(conn, Identifiers(nhs_number=identifiers.nhs_number), REASON)
    changes = ("UPDATE signposting.lookup_audit SET reason = 'x'", "DELETE FROM signposting.lookup_audit",
               "TRUNCATE signposting.lookup_audit",
               "INSERT INTO signposting.lookup_audit (login, acting_role, agencies, reason, identifiers, pseudonyms, "
               "min_probability, households, rows_returned, returned) VALUES ('x', 'x', '{}', 'x', '{}', '{}', 1, '{}', 0, '[]')")
    for login in practitioners.values():
        with _as(warehouse_url, login) as conn:
            for change in changes:
                with pytest.raises(errors.InsufficientPrivilege):
                    conn.execute(change)
    # Neither the transformer (which owns the rest of the schema) nor the administrator: the triggers refuse.
    for url in (database.as_role(warehouse_url, database.TRANSFORMER), warehouse_url):
        with psycopg.connect(url, autocommit=True) as conn:
            for change in changes[:3]:
                with pytest.raises(errors.InsufficientPrivilege):
                    conn.execute(change)
    assert _audit(warehouse_url)


def test_lookups_are_refused_without_an_agency_a_reason_or_the_platform_key(child, practitioners, warehouse_url):
    identifiers, _ = child
    asked = Identifiers(nhs_number=identifiers.nhs_number)
    before = _last_audit_id(warehouse_url)
    with psycopg.connect(warehouse_url, autocommit=True) as admin, pytest.raises(errors.InsufficientPrivilege):
        lookup(admin, asked, REASON)  # the administrator acts for no agency
    with _as(warehouse_url, practitioners["gmp"]) as conn:
        with pytest.raises(errors.RaiseException, match="reason"):
            lookup(conn, asked, "  because ")
        with pytest.raises(errors.RaiseException, match="platform's key"):
            lookup(conn, asked, REASON, key=b"another key of at least thirty-two bytes!")
    with pytest.raises(LookupRefused, match="nhs_number: not a valid NHS number") as refused:
        query(Identifiers(nhs_number="9434765918"))
    assert "9434765918" not in str(refused.value)
    assert _last_audit_id(warehouse_url) == before


def test_the_key_and_identifiers_stay_out_of_postgresql(child, practitioners, warehouse_url):
    """A lookup while the server logs every statement with its parameters: the log holds the lookup and its
    pseudonyms, but neither the key, nor either HMAC pad, nor any identifier value given."""
    identifiers, _ = child
    key = secret_key()
    pads = HmacPads.from_key(key)
    with _every_statement_logged(warehouse_url) as log_file:
        start = log_file.stat().st_size
        with _as(warehouse_url, practitioners["stockport"]) as conn:
            assert lookup(conn, identifiers, REASON)
        with log_file.open("rb") as handle:
            handle.seek(start)
            logged = handle.read()
    assert b"signposting.lookup" in logged and b"nhs_number_pseudonym" in logged
    for name, secret in (("key", key), ("inner pad", pads.ipad), ("outer pad", pads.opad)):
        assert not any(form in logged for form in _written_forms(secret)), f"the {name} is in the server log"
    for value in (re.sub(r"\D", "", identifiers.nhs_number), identifiers.given_name, identifiers.family_name,
                  identifiers.date_of_birth.isoformat(), re.sub(r"\s", "", identifiers.postcode)):
        assert value.encode() not in logged and value.upper().encode() not in logged


def test_gmoda_signpost_lookup(child, practitioners, warehouse_url, capsys):
    identifiers, household = child
    before = _last_audit_id(warehouse_url)
    assert main(["signpost", "lookup", "--agency", "stockport", "--reason", REASON,
                 "--nhs-number", identifiers.nhs_number]) == 0
    shown = capsys.readouterr().out
    assert f"household {household} (exact match" in shown and "gmp: incidents_12m=" in shown
    assert re.sub(r"\D", "", identifiers.nhs_number) not in shown
    [audited] = _audit(warehouse_url, before)
    assert audited["acting_role"] == "gmoda_signpost_stockport" and audited["households"] == [household]
    assert main(["signpost", "lookup", "--agency", "gmp", "--reason", "short", "--nhs-number",
                 identifiers.nhs_number]) == 2
    assert "state the reason" in capsys.readouterr().err
