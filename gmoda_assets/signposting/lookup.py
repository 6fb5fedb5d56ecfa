"""Finding a family by the identifiers a practitioner's own agency holds, with a reason, audited.

The identifiers are pseudonymised here, in Python, with the platform's key (``gmoda_assets.lib.pseudonymise``),
exactly as staging and the linkage features pseudonymise what partners deliver: the same namespaces and
normalisation, so a pseudonym made here equals the one in the warehouse. Only the pseudonyms, the key's
fingerprint and the coarse features the linkage model compares (Soundex codes, year and month of birth,
postcode sector) go to PostgreSQL, as one JSON argument of ``signposting.lookup(query, reason)``
(sql/950_signposting_lookup.sql), the one function every client calls; neither the key nor an identifier ever
does, so neither can reach the server's log or the audit. The function matches, returns the signals the
caller's agencies may see and records the lookup in ``signposting.lookup_audit``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, fields
from datetime import date

from psycopg.types.json import Jsonb

from gmoda_assets.lib.pseudonymise import PSEUDONYM_HEX, fingerprint, secret_key

SOUNDEX = str.maketrans("AEIOUYBFPVCGJKQSXZDTLMNR", "000000111122222222334556")


class LookupRefused(ValueError):
    """A lookup that cannot be made as asked (the message names the field and the fault, never the value)."""


@dataclass(frozen=True)
class Identifiers:
    """What the practitioner's agency holds about the child or a family member: an NHS number, or a name with a
    date of birth and, better, a postcode (any of them may be left out)."""

    nhs_number: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    date_of_birth: date | None = None
    postcode: str | None = None

    def given(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name)]


def soundex(letters: str) -> str:
    """American Soundex of capital letters, as ``ops.soundex`` computes it in the warehouse (sql/030)."""
    codes = re.sub(r"(\d)\1+", r"\1", (letters[0] + re.sub("[HW]", "", letters[1:])).translate(SOUNDEX))
    return (letters[0] + codes[1:].replace("0", "")).ljust(4, "0")[:4]


def nhs_number_is_valid(digits: str) -> bool:
    """Ten digits whose modulus-11 check digit holds, as ``ops.nhs_number_is_valid``."""
    if not re.fullmatch(r"\d{10}", digits):
        return False
    check = 11 - sum(int(d) * (10 - i) for i, d in enumerate(digits[:9])) % 11
    return (0 if check == 11 else check) == int(digits[9])


def query(identifiers: Identifiers, key: bytes | None = None) -> dict:
    """The lookup's query: keyed pseudonyms of the identifiers given, the key's fingerprint and the features the
    model compares; no identifier value. Normalised as staging does (sql namespaces ``nhs:``, ``name:``,
    ``dob:``, ``postcode:``)."""
    key = secret_key() if key is None else key

    def keyed(message: str) -> str:
        return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX]

    if not identifiers.given():
        raise LookupRefused("give at least one identifier: NHS number, name, date of birth or postcode")
    found: dict = {"key_fingerprint": fingerprint(key)}
    if identifiers.nhs_number:
        digits = re.sub(r"[\s-]", "", identifiers.nhs_number).upper()
        if not nhs_number_is_valid(digits):
            raise LookupRefused("nhs_number: not a valid NHS number (ten digits whose check digit holds)")
        found["nhs_number_pseudonym"] = keyed("nhs:" + digits)
    for field in ("given_name", "family_name"):
        letters = re.sub("[^A-Za-z]", "", getattr(identifiers, field) or "").upper()
        if letters:
            found[f"{field}_pseudonym"] = keyed("name:" + letters)
            found[f"{field}_soundex"] = soundex(letters)
    if born := identifiers.date_of_birth:
        found |= {"date_of_birth_pseudonym": keyed("dob:" + born.isoformat()), "birth_year": born.year,
                  "birth_month": born.month}
    if identifiers.postcode:
        postcode = re.sub(r"\s", "", identifiers.postcode).upper()
        if not re.fullmatch(r"[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}", postcode):
            raise LookupRefused("postcode: not a full UK postcode")
        found |= {"postcode_pseudonym": keyed("postcode:" + postcode), "postcode_sector": f"{postcode[:-3]} {postcode[-3]}"}
    return found


COLUMNS = ("household_key", "match", "match_probability", "agency", "care_level", "open_episodes", "care_since",
           "incidents_12m", "last_incident", "domestic_abuse", "tenancy_open", "tenancy_since", "reviews_missed",
           "missed_reviews", "last_review", "last_activity", "contact_route", "as_of")


def lookup(conn, identifiers: Identifiers, reason: str, key: bytes | None = None) -> list[dict]:
    """``signposting.lookup`` on ``conn`` (acting as an agency's practitioner role): the signals returned, one
    dict per household and agency, recorded in the audit whether anything was found or not."""
    rows = conn.execute("SELECT * FROM signposting.lookup(%s, %s)", (Jsonb(query(identifiers, key)), reason)).fetchall()
    return [dict(zip(COLUMNS, row)) for row in rows]
