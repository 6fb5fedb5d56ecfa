"""Alerts (signposting.alerts) for the council leading a child's plan: a police incident at a household with an
open child-protection plan, a missed health-visiting review for a child on a plan. The simulated month has no
Stockport child-protection plan, so each test opens one on a real household (an episode row added to the fact,
removed after), then rebuilds the alerts as the nightly refresh would."""

from __future__ import annotations

import contextlib
from datetime import date

import psycopg
import pytest
from dagster import materialize

from gmoda_assets.resources import Warehouse
from gmoda_assets.signposting.alerts import alert_assets

RECORD = "test-alerts-episode"


@contextlib.contextmanager
def _plan(url: str, person_key: int, episode_type: str):
    """An open Stockport episode of ``episode_type`` for the person, for the duration of the block."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("""
            INSERT INTO conformed.fact_social_care_episodes (record_key, episode_type, start_date_key, end_date_key,
                is_open, geography_key, partner_key, person_key)
            SELECT %s, %s, -1, -1, true, -1, partner_key, %s FROM conformed.dim_partner WHERE partner_id = 'stockport'""",
                     (RECORD, episode_type, person_key))
        try:
            yield
        finally:
            conn.execute("DELETE FROM conformed.fact_social_care_episodes WHERE record_key = %s", (RECORD,))


def _build() -> dict:
    result = materialize(alert_assets, resources={"warehouse": Warehouse()})
    assert result.success
    [event] = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


def _alerts(conn) -> set[tuple]:
    return set(conn.execute("SELECT household_key, lead_agency, alert, agency FROM signposting.alerts"))


def test_police_incident_on_a_child_protection_plan(families, practitioners, warehouse_url):
    with psycopg.connect(warehouse_url) as conn:
        household, child = conn.execute("""
            SELECT f.household_key, min(m.person_key) FROM signposting.family_involvement f
            JOIN linked.household_members m USING (household_key)
            WHERE f.agency = 'gmp' AND f.last_incident > f.as_of - 31 AND m.role = 'child'
            GROUP BY 1 ORDER BY 1 LIMIT 1""").fetchone()
    try:
        with _plan(warehouse_url, child, "child_protection"):
            metadata = _build()
        assert metadata["alerts_stockport_police_incident_on_child_protection_plan"] >= 1
        with psycopg.connect(warehouse_url) as conn:
            raised = _alerts(conn)
        assert (household, "stockport", "police_incident_on_child_protection_plan", "gmp") in raised
        assert {lead for _, lead, _, _ in raised} == {"stockport"}
        with psycopg.connect(warehouse_url, user=practitioners["stockport"]) as conn:
            assert _alerts(conn) == raised  # the lead council reads its alerts
        for agency in ("gmp", "nhs", "stockport_homes"):  # nobody else does
            with psycopg.connect(warehouse_url, user=practitioners[agency]) as conn:
                assert _alerts(conn) == set()
    finally:
        _build()
    with psycopg.connect(warehouse_url) as conn:
        assert (household, "stockport", "police_incident_on_child_protection_plan", "gmp") not in _alerts(conn)


def test_missed_review_for_a_child_on_a_plan(families, warehouse_url, monkeypatch):
    """Judged on 15 March 2025, the two-year review of a child born in August 2022 fell due on 1 March: a child
    without one, on a child-in-need plan, raises an alert; the same child off the plan does not."""
    monkeypatch.setenv("GMODA_DRILL", "1")
    monkeypatch.setenv("GMODA_TODAY", "2025-03-15")
    with psycopg.connect(warehouse_url) as conn:
        household, child = conn.execute("""
            SELECT m.household_key, m.person_key FROM conformed.fact_births b
            JOIN conformed.dim_date d ON d.date_key = b.birth_month_date_key
            JOIN linked.household_members m USING (person_key)
            JOIN linked.household h ON h.household_key = m.household_key AND h.children > 0
            WHERE d.date = '2022-08-01' AND NOT EXISTS (
                SELECT FROM conformed.fact_health_visiting_reviews v
                WHERE v.person_key = m.person_key AND v.review_type = 'two_year')
            ORDER BY 2 LIMIT 1""").fetchone()
    missed = (household, "stockport", "missed_review_child_on_plan", "nhs")
    try:
        with _plan(warehouse_url, child, "child_in_need"):
            metadata = _build()
            with psycopg.connect(warehouse_url) as conn:
                assert missed in _alerts(conn)
                assert conn.execute("SELECT DISTINCT as_of FROM signposting.alerts").fetchall() == [(date(2025, 3, 15),)]
        assert metadata["alerts_stockport_missed_review_child_on_plan"] >= 1
        _build()
        with psycopg.connect(warehouse_url) as conn:
            assert missed not in _alerts(conn)
    finally:
        monkeypatch.delenv("GMODA_TODAY")
        _build()
