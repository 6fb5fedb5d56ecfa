"""model.features: one row per child, features as of the prediction point and nothing after it."""

from __future__ import annotations

from datetime import date

import pandas as pd
import psycopg
import pytest
from dagster import AssetKey

from gmoda_assets.school_readiness import domains
from gmoda_assets.school_readiness.cohort import prediction_dates
from gmoda_assets.school_readiness.config import PredictionPoint, settings
from gmoda_assets.school_readiness.domains import (EARLY_EDUCATION, HEALTH_VISITING, SOCIAL_CARE, Domain,
                                                   features_as_of, permitted)
from gmoda_assets.school_readiness.features import build

POINTS = pd.Series(pd.to_datetime(["2021-03-01", "2022-06-01"]), index=pd.Index([1, 2], name="person_key"))


def _events(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame["event_date"] = pd.to_datetime(frame["event_date"])
    return frame


def _asq(score: int) -> dict:
    return {d: score for d in domains.ASQ}


HV = _events([
    {"person_key": 1, "record_key": "a", "event_date": "2019-03-10", "review_type": "two_year", "breastfeeding": "none",
     "asq_complete": True, **_asq(50)},
    {"person_key": 2, "record_key": "b", "event_date": "2020-05-02", "review_type": "one_year",
     "breastfeeding": "partial", "asq_complete": False, **_asq(None)},
])
CARE = _events([
    {"person_key": 1, "event_date": "2020-01-01", "end_date": pd.Timestamp("2021-05-01"), "episode_type": "early_help"},
    {"person_key": 2, "event_date": "2019-01-01", "end_date": pd.Timestamp("2019-06-01"), "episode_type": "child_in_need"},
])
FEE = _events([{"person_key": 2, "event_date": "2020-09-01", "funding_stream": "universal_15"}])
# What happens after each child's point: a worse ASQ, a new episode, a two-year-old place.
AFTER = {
    HEALTH_VISITING: _events([{"person_key": 1, "record_key": "c", "event_date": "2021-03-01", "review_type": "two_year",
                               "breastfeeding": "exclusive", "asq_complete": True, **_asq(5)}]),
    SOCIAL_CARE: _events([{"person_key": 2, "event_date": "2022-06-02", "end_date": None,
                           "episode_type": "looked_after"}]),
    EARLY_EDUCATION: _events([{"person_key": 1, "event_date": "2021-09-01", "funding_stream": "two_year_disadvantaged"}]),
}


def _shifted(events: pd.DataFrame, days: int) -> pd.DataFrame:
    """``events`` with every date on or after its child's point moved ``days`` later."""
    point = events["person_key"].map(POINTS)
    moved = events.copy()
    for column in ("event_date", "end_date"):
        if column in moved:
            when = pd.to_datetime(moved[column])
            moved[column] = when.where(~(when >= point), when + pd.Timedelta(days=days))
    return moved


@pytest.mark.parametrize("domain,events", [(HEALTH_VISITING, HV), (SOCIAL_CARE, CARE), (EARLY_EDUCATION, FEE)],
                         ids=lambda v: getattr(v, "name", ""))
def test_nothing_after_the_point_changes_a_feature(domain, events):
    """Records dated on or after a child's point are ignored, and moving every date past the point further on
    (an episode's end included) changes nothing; the same record a day before the point does change them."""
    config = settings().model_dump()
    before = features_as_of(domain, events, POINTS, config)
    later = pd.concat([events, AFTER[domain]], ignore_index=True)
    pd.testing.assert_frame_equal(features_as_of(domain, later, POINTS, config), before)
    pd.testing.assert_frame_equal(features_as_of(domain, _shifted(later, 400), POINTS, config), before)
    earlier = AFTER[domain].assign(event_date=AFTER[domain]["person_key"].map(POINTS) - pd.Timedelta(days=1))
    assert not features_as_of(domain, pd.concat([events, earlier], ignore_index=True), POINTS, config).equals(before)


def test_an_episode_open_at_the_point_counts_as_open_however_long_it_lasts_after():
    features = features_as_of(SOCIAL_CARE, CARE, POINTS, settings().model_dump())
    assert features.loc[1, "social_care_open_at_point"] and not features.loc[2, "social_care_open_at_point"]
    assert features_as_of(SOCIAL_CARE, _shifted(CARE, 3000), POINTS, settings().model_dump()).equals(features)


def test_prediction_point_is_the_4th_birthday_or_the_eve_of_reception():
    years, months = pd.Series([2016, 2017, 2020]), pd.Series([9, 8, 2])
    default = prediction_dates(years, months, settings().prediction_point)
    assert list(default.dt.date) == [date(2020, 9, 1), date(2021, 8, 1), date(2024, 2, 1)]
    fifth = prediction_dates(years, months, PredictionPoint(age_months=60, before_school_entry=True))
    assert list(fifth.dt.date) == [date(2021, 8, 31), date(2021, 8, 31), date(2024, 8, 31)]
    uncapped = prediction_dates(years, months, PredictionPoint(age_months=60, before_school_entry=False))
    assert list(uncapped.dt.date) == [date(2021, 9, 1), date(2022, 8, 1), date(2025, 2, 1)]


def test_only_feeds_permitted_for_school_readiness_are_used(defs):
    """Police incidents and tenancies have no agreement for school readiness: a domain over them is left out
    (and kept for a purpose that permits it), and model/features reads neither fact."""
    police = Domain("police", ("conformed", "fact_police_incidents"), "gmp.incidents", "", lambda e, s: e, ())
    assert permitted([police, SOCIAL_CARE], "school_readiness") == [SOCIAL_CARE]
    assert permitted([police, SOCIAL_CARE], "signposting") == [police, SOCIAL_CARE]
    assert permitted([SOCIAL_CARE], "synthetic_data") == []
    parents = defs.resolve_asset_graph().get(AssetKey(["model", "features"])).parent_keys
    assert AssetKey(["conformed", "fact_social_care_episodes"]) in parents
    assert not parents & {AssetKey(["conformed", "fact_police_incidents"]), AssetKey(["conformed", "fact_tenancies"])}


# In the warehouse: shift every record dated on or after its child's point a year on, make it say something else
# and place it in another area; rewrite everything the EYFSP record (made at the end of Reception, after every
# point) says besides the outcome; add an episode the day after the point and a review on it. The features stay
# as they were.
_ELSEWHERE = "(SELECT max(geography_key) FROM conformed.dim_geography)"
_SHIFTS = [
    f"""UPDATE conformed.fact_health_visiting_reviews AS f
       SET review_date_key = to_char(d.date + 365, 'YYYYMMDD')::integer, asq_communication = 0, breastfeeding = 'none',
           geography_key = {_ELSEWHERE}
       FROM points AS p, conformed.dim_date AS d
       WHERE p.person_key = f.person_key AND d.date_key = f.review_date_key AND d.date >= p.prediction_date""",
    f"""UPDATE conformed.fact_funded_early_education AS f
       SET start_date_key = to_char(d.date + 365, 'YYYYMMDD')::integer, funding_stream = 'two_year_disadvantaged',
           geography_key = {_ELSEWHERE}
       FROM points AS p, conformed.dim_date AS d
       WHERE p.person_key = f.person_key AND d.date_key = f.start_date_key AND d.date >= p.prediction_date""",
    f"""UPDATE conformed.fact_social_care_episodes AS f
       SET start_date_key = to_char(d.date + 365, 'YYYYMMDD')::integer, episode_type = 'looked_after',
           geography_key = {_ELSEWHERE}
       FROM points AS p, conformed.dim_date AS d
       WHERE p.person_key = f.person_key AND d.date_key = f.start_date_key AND d.date >= p.prediction_date""",
    """UPDATE conformed.fact_social_care_episodes AS f
       SET end_date_key = to_char(d.date + 365, 'YYYYMMDD')::integer
       FROM points AS p, conformed.dim_date AS d
       WHERE p.person_key = f.person_key AND d.date_key = f.end_date_key AND d.date >= p.prediction_date""",
    """INSERT INTO conformed.fact_social_care_episodes (record_key, episode_type, start_date_key, end_date_key,
                                                       is_open, geography_key, partner_key, person_key)
       SELECT 'after:' || p.person_key, 'looked_after', to_char(p.prediction_date + 1, 'YYYYMMDD')::integer, -1,
              true, -1, -1, p.person_key FROM points AS p""",
    f"""UPDATE conformed.fact_early_years_outcomes
       SET fsm_eligible = NOT coalesce(fsm_eligible, false), sen_provision = 'ehc_plan', first_language = 'other',
           ethnicity = 'other', sex = CASE WHEN sex = 'female' THEN 'male' ELSE 'female' END, setting_key = -1,
           geography_key = {_ELSEWHERE}, gld = NOT gld
       WHERE person_key IN (SELECT person_key FROM points)""",
    """INSERT INTO conformed.fact_health_visiting_reviews (review_key, record_key, review_type, review_date_key,
                                                         geography_key, partner_key, asq_communication, asq_complete,
                                                         person_key)
       SELECT -p.person_key, 'after:' || p.person_key, 'two_year', to_char(p.prediction_date, 'YYYYMMDD')::integer,
              -1, -1, 0, true, p.person_key FROM points AS p""",
]


def test_records_after_the_point_do_not_reach_the_features(linked_month, warehouse_url):
    with psycopg.connect(warehouse_url) as conn:
        before, counts = build(conn)
        assert counts["children_known"] > 500 and counts["children_pending"] > 100
        conn.execute("CREATE TEMPORARY TABLE points (person_key integer, prediction_date date) ON COMMIT DROP")
        with conn.cursor().copy("COPY points FROM STDIN") as copy:
            for row in before[["person_key", "prediction_date"]].itertuples(index=False):
                copy.write_row(row)
        changed = [conn.execute(statement).rowcount for statement in _SHIFTS]
        # Reviews end by 2½ (none to shift); every other kind of record has some after the point.
        assert all(n > 0 for n in changed[1:]), changed
        after, _ = build(conn)
        # Only the outcome moves (it was rewritten): every feature, the area and the point stay.
        known = before["gld"].notna()
        assert (after.loc[known, "gld"] != before.loc[known, "gld"]).all()
        pd.testing.assert_frame_equal(after.drop(columns="gld"), before.drop(columns="gld"))
        # Not blind: the same shift applied to records a year before the point changes them.
        conn.execute("""UPDATE conformed.fact_health_visiting_reviews AS f SET asq_communication = 0
                        FROM points AS p WHERE p.person_key = f.person_key AND f.review_type = 'two_year'""")
        assert not build(conn)[0].equals(before)
        conn.rollback()


def test_features_asset_is_published_with_its_checks(linked_month):
    from dagster import materialize

    from gmoda_assets.resources import Warehouse
    from gmoda_assets.school_readiness.features import features

    result = materialize([features], resources={"warehouse": Warehouse()})
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks and all(checks.values()), checks
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["dagster/row_count"].value == metadata["children_known"].value + metadata["children_pending"].value
    assert metadata["domains"].value == "births, health_visiting, early_education, social_care"


def test_a_warehouse_without_outcomes_gives_no_features_and_trains_nothing(linked_month, warehouse_url):
    """A new install (no births, outcomes or services yet): the features are empty, not an error, and no model
    is trained, the runs table staying as it was."""
    from dagster import build_asset_context

    from gmoda_assets.school_readiness.model_runs import _runs

    with psycopg.connect(warehouse_url) as conn:
        conn.execute("TRUNCATE conformed.fact_births, conformed.fact_early_years_outcomes, "
                     "conformed.fact_health_visiting_reviews, conformed.fact_funded_early_education, "
                     "conformed.fact_social_care_episodes")
        frame, counts = build(conn)
        assert len(frame) == 0 and counts["children_known"] == counts["children_pending"] == 0
        runs_before = conn.execute("SELECT count(*) FROM model.model_runs").fetchone()[0]
        conn.execute("TRUNCATE model.features")  # as the published features of such a warehouse are
        runs, metadata = _runs(build_asset_context(), conn)
        assert len(runs) == runs_before and metadata["retrained"] is False
        assert metadata["assessment_years_known"] == 0
        conn.rollback()
