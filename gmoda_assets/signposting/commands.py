"""``gmoda signpost lookup``: a practitioner's lookup from the command line, through ``signposting.lookup``."""

from __future__ import annotations

import getpass
import sys
from datetime import date

from gmoda_assets.signposting.agencies import agencies, role

FIELDS = {"nhs_number": "NHS number", "given_name": "given name", "family_name": "family name",
          "date_of_birth": "date of birth (YYYY-MM-DD)", "postcode": "postcode"}
SHOWN = ("care_level", "open_episodes", "care_since", "incidents_12m", "last_incident", "domestic_abuse",
         "tenancy_open", "tenancy_since", "reviews_missed", "missed_reviews", "last_review")


def add_parser(sub) -> None:
    signpost = sub.add_parser("signpost", help="signposting: which agencies already know a family")
    actions = signpost.add_subparsers(dest="action", required=True)
    look = actions.add_parser(
        "lookup", help="find a family by identifiers your agency holds; every lookup is audited",
        description="Give an identifier as '?' to be asked for it without echo (kept out of shell history).")
    look.add_argument("--agency", required=True, choices=list(agencies()), help="the agency you act for")
    look.add_argument("--reason", required=True, help="why you look the family up (recorded in the audit)")
    for field, label in FIELDS.items():
        look.add_argument(f"--{field.replace('_', '-')}", help=label)
    look.set_defaults(func=cmd_lookup)


def _identifiers(args):
    from gmoda_assets.signposting.lookup import Identifiers, LookupRefused

    given = {f: getpass.getpass(f"{label}: ") if getattr(args, f) == "?" else getattr(args, f)
             for f, label in FIELDS.items()}
    if given["date_of_birth"]:
        try:
            given["date_of_birth"] = date.fromisoformat(given["date_of_birth"])
        except ValueError:
            raise LookupRefused("date_of_birth: not a date written YYYY-MM-DD") from None
    return Identifiers(**given)


def cmd_lookup(args) -> int:
    import psycopg

    from gmoda_assets.lib import database
    from gmoda_assets.signposting.lookup import LookupRefused, lookup

    try:
        identifiers = _identifiers(args)
        with psycopg.connect(database.as_role(database.warehouse_url(), role(args.agency)), autocommit=True) as conn:
            rows = lookup(conn, identifiers, args.reason)
    except (LookupRefused, psycopg.errors.RaiseException, psycopg.errors.InsufficientPrivilege) as exc:
        print(f"gmoda signpost lookup: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    print(f"Lookup by {', '.join(identifiers.given())} for {args.agency}, recorded in signposting.lookup_audit.")
    if not rows:
        print("No family found that your agency may see.")
        return 0
    for row in rows:
        signals = ", ".join(f"{k}={row[k]}" for k in SHOWN if row[k] is not None)
        print(f"household {row['household_key']} ({row['match']} match, probability {row['match_probability']:.3f}): "
              f"{row['agency']}: {signals}; last activity {row['last_activity']}\n    contact: {row['contact_route']}")
    return 0
