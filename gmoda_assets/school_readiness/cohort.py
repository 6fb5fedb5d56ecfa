"""Who the model is about and when each prediction is made.

The children are the linked people with an NHS birth record or an EYFSP record (their month of birth comes from
the first, else the second). A child born in academic year Y/Y+1 (September to August) starts Reception in
September Y+5 and is assessed at its end, academic year ``Y+5/Y+6``. Their outcome is ``known`` once the EYFSP
record holds a GLD result, ``pending`` when their assessment year is later than the latest year whose results
the councils have delivered (the children to score: judged by the data, not the clock, so a late delivery
cannot turn a whole cohort into "no outcome"); a child whose assessment year has been delivered without an
EYFSP record of theirs (moved away, educated elsewhere) has no outcome to learn from or to predict, and is left
out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gmoda_assets.lib.frames import query_frame
from gmoda_assets.school_readiness.config import PredictionPoint

if TYPE_CHECKING:
    import pandas as pd

FACTS = (("conformed", "fact_births"), ("conformed", "fact_early_years_outcomes"), ("conformed", "dim_partner"))

_CHILDREN = """
    WITH births AS (
        SELECT DISTINCT ON (f.person_key) f.person_key, d.year AS birth_year, d.month AS birth_month
        FROM conformed.fact_births AS f JOIN conformed.dim_date AS d ON d.date_key = f.birth_month_date_key
        WHERE f.person_key <> -1 AND d.date IS NOT NULL ORDER BY f.person_key, f.record_key),
    outcomes AS (
        SELECT DISTINCT ON (f.person_key) f.person_key, f.academic_year AS assessed_year, f.gld,
               f.birth_year, f.birth_month, p.council_code AS assessed_council_code
        FROM conformed.fact_early_years_outcomes AS f JOIN conformed.dim_partner AS p USING (partner_key)
        WHERE f.person_key <> -1 AND f.academic_year ~ '^[0-9]{4}/[0-9]{2}$'
        ORDER BY f.person_key, f.academic_year DESC, f.record_key)
    SELECT person_key, coalesce(b.birth_year, o.birth_year) AS birth_year,
           coalesce(b.birth_month, o.birth_month) AS birth_month, o.assessed_year, o.gld, o.assessed_council_code
    FROM births AS b FULL JOIN outcomes AS o USING (person_key) ORDER BY person_key
"""


def academic_year(start: pd.Series) -> pd.Series:
    """``2024`` -> ``2024/25``."""
    start = start.astype(int)
    return start.astype(str) + "/" + ((start + 1) % 100).astype(str).str.zfill(2)  # text even when empty


def birth_cohort_start(birth_year: pd.Series, birth_month: pd.Series) -> pd.Series:
    """Starting year of the academic year (September to August) of birth."""
    return birth_year - (birth_month < 9).astype(int)


def prediction_dates(birth_year: pd.Series, birth_month: pd.Series, rule: PredictionPoint) -> pd.Series:
    """Each child's prediction date: the birthday of ``rule.age_months`` (taken as the first of the birth month,
    never later than the true one), and no later than 31 August before Reception when the rule says so."""
    import pandas as pd
    months = (birth_year.astype(int) * 12 + birth_month.astype(int) - 1 + rule.age_months)
    birthday = pd.to_datetime(pd.DataFrame({"year": months // 12, "month": months % 12 + 1, "day": 1}))
    if not rule.before_school_entry:
        return birthday
    entry_eve = pd.to_datetime(pd.DataFrame({"year": birth_cohort_start(birth_year, birth_month) + 5,
                                             "month": 8, "day": 31}))
    return birthday.where(birthday <= entry_eve, entry_eve)


def children(conn, rule: PredictionPoint) -> tuple[pd.DataFrame, dict]:
    """One row per child with a known or pending outcome (indexed by person key): month of birth, cohort,
    assessment year, prediction date, outcome status and GLD; and counts of who was left out and why."""
    import pandas as pd
    frame = query_frame(conn, _CHILDREN).set_index("person_key")
    undated = frame["birth_year"].isna() | frame["birth_month"].isna()
    frame = frame[~undated].astype({"birth_year": int, "birth_month": int})
    cohort = birth_cohort_start(frame["birth_year"], frame["birth_month"])
    frame["birth_cohort"] = academic_year(cohort)
    expected = academic_year(cohort + 5)
    known = frame["gld"].notna()
    delivered = frame.loc[known, "assessed_year"].max() if known.any() else ""
    pending = ~known & frame["assessed_year"].isna() & (expected > delivered)
    frame["assessment_year"] = frame["assessed_year"].where(known, expected)
    frame["outcome_status"] = pd.Series("known", index=frame.index).where(known, "pending")
    frame["prediction_date"] = prediction_dates(frame["birth_year"], frame["birth_month"], rule).to_numpy()
    kept = frame[known | pending]
    return kept, {"children_known": int(known.sum()), "children_pending": int(pending.sum()),
                  "children_left_out_no_outcome": int((~known & ~pending).sum()),
                  "children_left_out_no_birth_month": int(undated.sum())}
