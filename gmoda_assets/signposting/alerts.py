"""Alerts: new events that should prompt a call, for the agency that leads the child's plan (nightly).

Two kinds, each a signal of a feed with a live signposting agreement that the lead agency may see:
a police incident involving a member of a household with an open child-protection plan, and a health-visiting
review whose deadline passed with none held, for a child on a child-protection or child-in-need plan. An event
is new when it falls in the ``NEW_DAYS`` to ``as_of`` (feeds deliver monthly, so a month's events are new at the
first build after they arrive). Codes and dates only: no case note, free text or identifier."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from dagster import AssetExecutionContext

from gmoda_assets.lib.table_assets import table_asset
from gmoda_assets.lib.tables import Column, Computed, TableSpec
from gmoda_assets.signposting.agencies import agencies
from gmoda_assets.signposting.family import (BIRTHS, CARE, HOUSEHOLD, MEMBERS, PARTNER, POLICE, PURPOSE, REVIEWS,
                                             VISIBILITY, as_of, live_signal_feeds, review_parameters)

NEW_DAYS = 31
ALERTS = ("police_incident_on_child_protection_plan", "missed_review_child_on_plan")
_QUERY = Path(__file__).with_name("alerts.sql").read_text(encoding="utf-8")


def _alerts(context: AssetExecutionContext, conn) -> tuple[list[tuple], dict]:
    on = as_of(conn)
    contact = {a: spec.contact for a, spec in agencies().items()}
    rows = [(*row, contact[row[3]], on)
            for row in conn.execute(_QUERY, {"as_of": on, "days": NEW_DAYS, "feeds": live_signal_feeds(),
                                                **review_parameters()})]
    raised = Counter((row[1], row[2]) for row in rows)
    context.log.info(f"{len(rows)} alerts raised as of {on}")
    return rows, {"as_of": str(on), **{f"alerts_{lead}_{alert}": n for (lead, alert), n in sorted(raised.items())}}


ALERT_SPEC = TableSpec("signposting", "alerts", (
    "New events that should prompt a call, for the council that leads the child's plan: a police incident "
    "involving a member of a household with an open child-protection plan, or a health-visiting review whose "
    f"deadline passed with none held for a child on a child-protection or child-in-need plan; new when in the "
    f"{NEW_DAYS} days to as_of. Only from feeds with a live signposting agreement that the lead agency may see. "
    "Each agency's practitioners read only the alerts it leads (row-level security)."), {
    "household_key": Column("integer", "The household (linked.household)."),
    "lead_agency": Column("text", "The council whose open plan leads the case (partner id): whom the alert is for."),
    "alert": Column("text", f"Kind of alert: {', '.join(ALERTS)}."),
    "agency": Column("text", "The agency whose event raised it (partner id): whom to call."),
    "feed_id": Column("text", "The feed the event comes from, <partner>.<feed>."),
    "event_date": Column("date", "The incident's date, or the review's deadline."),
    "detail": Column("text", "The incident's category or the review missed (codes)."),
    "events": Column("integer", "Events of this kind on that day (incidents, or children missing the review)."),
    "contact_route": Column("text", "How to reach the agency that raised it (gmoda_assets/signposting/agencies.yaml)."),
    "as_of": Column("date", "The date the alerts are judged on, as in signposting.family_involvement."),
}, Computed(_alerts, assets=(VISIBILITY, HOUSEHOLD, MEMBERS, CARE, POLICE, REVIEWS, BIRTHS, PARTNER),
            column_lineage={"household_key": ((MEMBERS, "household_key"),), "lead_agency": ((CARE, "partner_key"),),
                            "event_date": ((POLICE, "incident_date_key"), (BIRTHS, "birth_month_date_key")),
                            "detail": ((POLICE, "incident_category"), (REVIEWS, "review_type"))}),
    purpose=PURPOSE, per_feed=True)

SPECS = [ALERT_SPEC]
alert_assets = [table_asset(s) for s in SPECS]
