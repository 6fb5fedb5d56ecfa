"""The real children the synthetic ones are made from: one row per linked child assessed at the end of Reception
(a Good Level of Development result recorded), read from the conformed facts by person key, as the
school-readiness features are, and only from the facts of feeds whose agreements permit synthetic data: EYFSP
and funded early education (GMODA-DSA-001), NHS births and health visiting (GMODA-DSA-002).

Who the children are, their month of birth, assessment year and prediction point come from the school-readiness
cohort (``gmoda_assets.school_readiness.cohort``: the children with a known outcome); their birth, health-visiting
and funded-early-education features from its domains (``gmoda_assets.school_readiness.domains``), as of the same
point, so the synthetic children carry the features an analyst would model school readiness with. Children's
social care is one of those domains but not permitted for synthetic data, so it is not read (and the code
location would refuse a synthetic table that read it).

The person keys join the facts: they come from the linkage, which compares records of every feed to find who is
who, but knowing that two records are one child uses no feed's content (``gmoda_assets.lib.governance``), so the
agreement check counts only the facts read here. What the EYFSP record itself says (the council that assessed
the child, the home ward and deprivation, sex, ethnicity, first language, free school meals, SEN provision) is
that of the latest assessment, the one the cohort takes its outcome from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from psycopg import Connection

from gmoda_assets.school_readiness import cohort
from gmoda_assets.school_readiness.config import settings
from gmoda_assets.school_readiness.domains import (BIRTHS, EARLY_EDUCATION, HEALTH_VISITING, features_as_of,
                                                   fill_nothing_recorded)

if TYPE_CHECKING:
    import pandas as pd

DOMAINS = (BIRTHS, HEALTH_VISITING, EARLY_EDUCATION)
GEOGRAPHY = ("conformed", "dim_geography")
ASSESSED = cohort.FACTS[1]

# The latest assessment of each linked child, chosen as the cohort chooses the one its outcome comes from.
_ASSESSMENTS = """
    SELECT DISTINCT ON (f.person_key) f.person_key, g.ward17cd, g.imd19_decile AS imd_decile, f.sex, f.ethnicity,
           f.first_language, f.fsm_eligible, f.sen_provision
    FROM conformed.fact_early_years_outcomes AS f
    LEFT JOIN conformed.dim_geography AS g ON g.geography_key = f.geography_key AND g.geography_key <> -1
    WHERE f.person_key <> -1 AND f.academic_year ~ '^[0-9]{4}/[0-9]{2}$'
    ORDER BY f.person_key, f.academic_year DESC, f.record_key
"""
# The real children's columns as the synthesis reads them, named as synthetic.children names them.
_RENAMED = {"assessed_council_code": "council_code", "assessment_year": "academic_year"}


def source_assets() -> tuple[tuple[str, ...], ...]:
    """The assets the real children are read from."""
    return (*cohort.FACTS, *(d.fact for d in DOMAINS), GEOGRAPHY, ("conformed", "dim_date"))


def assemble(children: pd.DataFrame, assessments: pd.DataFrame, events: dict[str, pd.DataFrame],
             columns: list[str]) -> pd.DataFrame:
    """The real children: ``children`` (the cohort, by person key) with a known outcome, their EYFSP record's
    ``assessments`` (by person key) and each domain's features from its ``events`` before their prediction point;
    ``columns`` of them, as Python values (missing: None), ordered by council and person key."""
    known = children[children["outcome_status"] == "known"].rename(columns=_RENAMED)
    points = known["prediction_date"]
    config = settings().model_dump()
    parts = [features_as_of(d, events[d.name], points, config) for d in DOMAINS]
    frame = known.join(assessments)
    for part in parts:  # the school's sex and ethnicity, recorded for every child assessed, not the birth record's
        frame = frame.join(part[part.columns.difference(frame.columns)])
    frame = fill_nothing_recorded(frame)
    frame = frame.reset_index().sort_values(["council_code", "person_key"], kind="stable")[columns]
    for name in frame.columns:  # whole numbers as ints, as the facts hold them (pandas made them floats)
        values = frame[name]
        if values.dtype.kind == "f":
            known = values.dropna().astype(float)
            if (known == known.round()).all():
                frame[name] = values.astype("Float64").astype("Int64")
    frame = frame.astype(object)
    return frame.where(frame.notna(), None).reset_index(drop=True)


def real_children(conn: Connection, columns: list[str]) -> pd.DataFrame:
    """The real children (held only in the synthesis's memory, never stored) with ``columns``."""
    children, _ = cohort.children(conn, settings().prediction_point)
    assessments = query_frame(conn, _ASSESSMENTS).set_index("person_key")
    return assemble(children, assessments, {d.name: d.read(conn) for d in DOMAINS}, columns)


def query_frame(conn: Connection, query) -> pd.DataFrame:
    """The rows of ``query`` as a pandas DataFrame of Python values (missing: None)."""
    import pandas as pd

    cursor = conn.execute(query)
    return pd.DataFrame(cursor.fetchall(), columns=[d.name for d in cursor.description], dtype=object)
