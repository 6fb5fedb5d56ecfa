"""The family view: for each household with children, which agencies are involved and how recently, as signals
(never a record, a case note or free text), each with the agency's contact route; and which agency's
practitioners may see which agency's signals, from the agreements.

Both are products held to the agreements row by row (``per_feed``): a signal feed without a live signposting
agreement gives no row, so an agency whose agreement ends drops out at the next build while the others stay.
PostgreSQL enforces who sees what (sql/500_signposting.sql): row-level security lets a practitioner role read only
the rows of agencies ``signposting.agency_visibility`` names for it."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

from dagster import AssetExecutionContext

from gmoda_assets.lib.governance import current_date, live_feeds
from gmoda_assets.lib.table_assets import table_asset
from gmoda_assets.lib.tables import Column, Computed, TableSpec
from gmoda_assets.signposting.agencies import agencies, role, signal_feeds

PURPOSE = "signposting"
LEVELS = ["early_help", "child_in_need", "child_protection", "looked_after"]  # lowest to highest
# Health-visiting reviews (Healthy Child Programme) and the age in months by which each is due: new birth by 14
# days, 6-8 week by 8 weeks, one year by 12 months (15 allowed), two year by 2 1/2 years.
REVIEW_DUE_MONTHS = {"new_birth": 1, "six_eight_week": 3, "one_year": 15, "two_year": 30}
VISIBILITY = ("signposting", "agency_visibility")
HOUSEHOLD, MEMBERS = ("linked", "household"), ("linked", "household_members")
CARE, POLICE = ("conformed", "fact_social_care_episodes"), ("conformed", "fact_police_incidents")
HOUSING, REVIEWS = ("conformed", "fact_tenancies"), ("conformed", "fact_health_visiting_reviews")
BIRTHS, PARTNER, DATE = ("conformed", "fact_births"), ("conformed", "dim_partner"), ("conformed", "dim_date")
_QUERY = (Path(__file__).with_name("family_involvement.sql")).read_text(encoding="utf-8")
# The newest event the facts hold: signals are judged on today, or on that day when the data ends earlier
# (a simulated or lagging warehouse), so "the last 12 months" is never an empty window by construction.
_NEWEST = """
    SELECT max(date) FROM conformed.dim_date WHERE date_key IN (
        SELECT max(incident_date_key) FROM conformed.fact_police_incidents
        UNION ALL SELECT max(review_date_key) FROM conformed.fact_health_visiting_reviews
        UNION ALL SELECT max(start_date_key) FROM conformed.fact_social_care_episodes
        UNION ALL SELECT max(tenancy_start_date_key) FROM conformed.fact_tenancies)
"""


def _live() -> tuple[dict[str, dict], list[str]]:
    """The pilot's signal feeds with a live signposting agreement (each with it), and those without one."""
    feeds = signal_feeds()
    live = live_feeds(feeds, PURPOSE)
    return live, sorted(set(feeds) - set(live))


def live_signal_feeds() -> list[str]:
    return sorted(_live()[0])


def review_parameters() -> dict:
    return {"reviews": list(REVIEW_DUE_MONTHS), "months": list(REVIEW_DUE_MONTHS.values())}


def as_of(conn) -> date:
    """The date signals are judged on: today, or the newest event the facts hold when the data ends earlier."""
    newest = conn.execute(_NEWEST).fetchone()[0]
    return min(current_date(), newest) if newest else current_date()


def _visibility(context: AssetExecutionContext, conn) -> tuple[list[tuple], dict]:
    live, excluded = _live()
    feeds = signal_feeds()
    rows = sorted((viewer, role(viewer), feeds[feed_id], feed_id, agreement["id"], agreement["end"])
                  for feed_id, agreement in live.items()
                  for viewer in agreement["recipients"].get(PURPOSE, []) if viewer in agencies())
    if excluded:
        context.log.warning(f"No live signposting agreement, so no signals from: {', '.join(excluded)}")
    return rows, {"feeds_live": len(live), "feeds_without_agreement": ", ".join(excluded) or "none"}


AGENCY_VISIBILITY = TableSpec("signposting", "agency_visibility", (
    "Which agency's practitioners may see which agency's signals in signposting.family_involvement: one row per "
    "viewing agency and signal feed, for each signal feed of the pilot (gmoda_assets/signposting/agencies.yaml) "
    "whose data-sharing agreement is live for signposting on the build date and names the viewer among its "
    "recipients (governance/agreements.yaml). Row-level security on the family view reads it."), {
    "viewer": Column("text", "The agency whose practitioners may see the signals (partner id, e.g. gmp)."),
    "viewer_role": Column("text", "The database role its practitioners act as, gmoda_signpost_<viewer>."),
    "agency": Column("text", "The agency whose signals they may see (partner id)."),
    "feed_id": Column("text", "The feed those signals come from, <partner>.<feed>."),
    "agreement": Column("text", "The data-sharing agreement that permits it (id in governance/agreements.yaml)."),
    "agreement_ends": Column("date", "The last day of that agreement: after it, the next build drops the row."),
}, Computed(_visibility), purpose=PURPOSE)


def _families(context: AssetExecutionContext, conn) -> tuple[list[tuple], dict]:
    live, excluded = _live()
    on = as_of(conn)
    contact = {a: spec.contact for a, spec in agencies().items()}
    rows = [(*row, contact[row[1]], on)
            for row in conn.execute(_QUERY, {"as_of": on, "feeds": sorted(live), "levels": LEVELS,
                                                **review_parameters()})]
    per_agency = Counter(row[1] for row in rows)
    context.log.info(f"{len({r[0] for r in rows})} households with children known to an agency, as of {on}")
    return rows, {"as_of": str(on), "feeds_without_agreement": ", ".join(excluded) or "none",
                  **{f"households_{agency}": per_agency.get(agency, 0) for agency in agencies()}}


_SIGNAL = "Null on other agencies' rows."
FAMILY_INVOLVEMENT = TableSpec("signposting", "family_involvement", (
    "Which agencies already know a family: one row per household with children (linked.household) and agency "
    "of the signposting pilot involved with it, with that agency's signals (open social-care episode and its "
    "level; police incidents in the last 12 months, the latest and whether one was domestic abuse; an open "
    "Stockport Homes tenancy; health-visiting reviews due in the last 12 months but not held) and how to reach "
    "it. Signals, never records: no case note, free text or identifier. Only signal feeds with a live "
    "signposting agreement give rows. Practitioners read it through row-level security, each agency only the "
    "agencies signposting.agency_visibility names for it; analysts and models not at all."), {
    "household_key": Column("integer", "The household (linked.household)."),
    "agency": Column("text", "The agency involved (partner id: stockport, gmp, nhs, stockport_homes)."),
    "feed_id": Column("text", "The feed its signals come from, <partner>.<feed>."),
    "children": Column("integer", "Children in the household."),
    "care_level": Column("text", "Highest level of open social-care episode among the household's members: "
                                 f"{', '.join(LEVELS)} (lowest to highest). {_SIGNAL}"),
    "open_episodes": Column("integer", f"Open social-care episodes among the household's members. {_SIGNAL}"),
    "care_since": Column("date", f"Start of the open episode at that level. {_SIGNAL}"),
    "incidents_12m": Column("integer", "Police incidents involving a member in the 12 months to as_of. "
                                       f"{_SIGNAL}"),
    "last_incident": Column("date", f"Date of the latest of them. {_SIGNAL}"),
    "domestic_abuse": Column("boolean", f"Whether one of them was recorded as domestic abuse. {_SIGNAL}"),
    "tenancy_open": Column("boolean", f"True: a member holds an open Stockport Homes tenancy. {_SIGNAL}"),
    "tenancy_since": Column("date", f"Start of that tenancy. {_SIGNAL}"),
    "reviews_missed": Column("integer", "Health-visiting reviews of the household's children whose deadline ("
                                        + ", ".join(f"{r}: {m}" for r, m in REVIEW_DUE_MONTHS.items())
                                        + f" months of age) fell in the 12 months to as_of with no review held. "
                                          f"{_SIGNAL}"),
    "missed_reviews": Column("text", f"Which reviews were missed (review codes, comma separated). {_SIGNAL}"),
    "last_review": Column("date", f"Latest review held in the 12 months to as_of. {_SIGNAL}"),
    "last_activity": Column("date", "The agency's latest dated signal for the household: how recent its "
                                    "involvement is."),
    "contact_route": Column("text", "How a practitioner reaches the agency about the family (reference data: "
                                    "gmoda_assets/signposting/agencies.yaml)."),
    "as_of": Column("date", "The date the signals are judged on: today, or the newest event the facts hold when "
                            "the data ends earlier."),
}, Computed(_families, assets=(VISIBILITY, HOUSEHOLD, MEMBERS, CARE, POLICE, HOUSING, REVIEWS, BIRTHS, PARTNER, DATE),
            column_lineage={
                "household_key": ((MEMBERS, "household_key"),), "children": ((HOUSEHOLD, "children"),),
                "agency": ((PARTNER, "partner_id"),),
                "care_level": ((CARE, "episode_type"),), "open_episodes": ((CARE, "is_open"),),
                "care_since": ((CARE, "start_date_key"),), "incidents_12m": ((POLICE, "incident_ref_pseudonym"),),
                "last_incident": ((POLICE, "incident_date_key"),), "domestic_abuse": ((POLICE, "incident_category"),),
                "tenancy_open": ((HOUSING, "is_open"),), "tenancy_since": ((HOUSING, "tenancy_start_date_key"),),
                "reviews_missed": ((REVIEWS, "review_type"), (BIRTHS, "birth_month_date_key")),
                "missed_reviews": ((REVIEWS, "review_type"),), "last_review": ((REVIEWS, "review_date_key"),),
            }),
    purpose=PURPOSE, per_feed=True,
    metrics={"households": "count(DISTINCT household_key)"})

SPECS = [AGENCY_VISIBILITY, FAMILY_INVOLVEMENT]
signposting_assets = [table_asset(s) for s in SPECS]
