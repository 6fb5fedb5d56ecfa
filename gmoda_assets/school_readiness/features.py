"""``model.features``: one row per child with a known or pending Good Level of Development (GLD) outcome, and
their features as of the prediction point, from the linked conformed facts only.

Who and when: ``gmoda_assets.school_readiness.cohort``. What: the domains of
``gmoda_assets.school_readiness.domains`` whose feeds an agreement permits for school readiness (births,
health visiting, funded early education, children's social care; police incidents and tenancies are not
permitted for this purpose, so no household signal is used). Each domain sees only records dated before the
child's prediction date.

Not used, because nothing before the point records them: first language, free school meals and special
educational needs (recorded only with the EYFSP result at the end of Reception, after the point).
"""

from __future__ import annotations

from dagster import AssetExecutionContext

from gmoda_assets.lib.table_assets import table_asset
from gmoda_assets.lib.tables import Column, Computed, TableSpec
from gmoda_assets.school_readiness import cohort
from gmoda_assets.school_readiness.config import settings
from gmoda_assets.school_readiness.domains import (ASQ, BIRTHS, DOMAINS, EARLY_EDUCATION, HEALTH_VISITING,
                                                   SOCIAL_CARE, features_as_of, fill_nothing_recorded, latest_area,
                                                   permitted)

PURPOSE = "school_readiness"
USED = permitted(DOMAINS, PURPOSE)
GEOGRAPHY = ("conformed", "dim_geography")
_POINT = "before the prediction date"

COLUMNS = {
    "person_key": Column("integer", "The child (conformed.dim_person, linked.person)."),
    "birth_year": Column("smallint", "Year of birth (NHS birth record, else the EYFSP record)."),
    "birth_month": Column("smallint", "Month of birth, 1-12."),
    "birth_cohort": Column("text", "Academic year of birth (September to August), e.g. 2019/20."),
    "prediction_date": Column("date", "The prediction point: the earlier of the 4th birthday (taken as the first of "
                                      "the birth month) and 31 August before Reception (school_readiness.yaml). "
                                      "Every feature is from records dated before it."),
    "assessment_year": Column("text", "Academic year of the EYFSP assessment at the end of Reception: the recorded "
                                      "one when known, else the expected one (birth cohort + 5)."),
    "outcome_status": Column("text", "known (a GLD result is recorded: a training or validation example) or "
                                     "pending (assessment year not yet delivered: a child to score)."),
    "gld": Column("boolean", "The outcome, not a feature: reached a Good Level of Development; null when pending."),
    "assessed_council_code": Column("text", "The outcome's council (the one that assessed the child); null when "
                                            "pending."),
    "months_older": Column("smallint", "Months older than an August-born child of the same school year: 11 for "
                                       "September-born, 0 for August-born."),
    "summer_born": Column("boolean", "Born in May-August, the youngest third of the school year."),
    "sex": Column("text", "female or male at birth (NHS birth record); null when not recorded as either."),
    "ethnicity": Column("text", "Ethnic group on the NHS birth record; null when not stated or no birth record."),
    "birth_weight_grams": Column("integer", "Birth weight in grams (NHS birth record)."),
    "gestation_weeks": Column("integer", "Completed weeks of gestation at birth."),
    "preterm": Column("boolean", "Born before 37 weeks."),
    "low_birth_weight": Column("boolean", "Born under 2,500 g."),
    "mother_age": Column("integer", "Mother's age in years at the birth."),
    "birth_council_code": Column("text", "Council (ONS code) of residence at birth: the pilot model's area born."),
    "lsoa11cd": Column("text", f"LSOA (2011) of the child's latest record with an address {_POINT}."),
    "ward17cd": Column("text", "Ward (2017) of that LSOA."),
    "council_code": Column("text", f"Council (ONS code) of that LSOA: where the child lived just {_POINT}."),
    "imd_decile": Column("smallint", "Index of Multiple Deprivation 2019 decile of that LSOA (1 most deprived)."),
    "hv_reviews": Column("smallint", f"Mandated health-visiting reviews recorded {_POINT}."),
    "ever_breastfed": Column("boolean", f"Breastfed (exclusively or partly) at any review {_POINT}; null when "
                                        "feeding was never recorded."),
    **{d: Column("smallint", f"ASQ-3 {d.removeprefix('asq_').replace('_', ' ')} score (0-60) at the latest completed "
                             f"2-2½ year review {_POINT}; null when none.") for d in ASQ},
    "asq_domains_below_cutoff": Column("smallint", "ASQ-3 domains at or below their 24-month referral cut-off "
                                                   "(school_readiness.yaml) at that review; null when none."),
    "funded_terms": Column("smallint", f"Terms of funded early education started {_POINT}."),
    "two_year_funded": Column("boolean", f"Took up the funded two-year-old offer (disadvantaged two-year-olds) {_POINT}."),
    "social_care_episodes": Column("smallint", f"Children's social care episodes started {_POINT}."),
    "early_help_before_point": Column("boolean", f"An early help episode started {_POINT}."),
    "statutory_care_before_point": Column("boolean", "A child in need, child protection or looked-after episode "
                                                     f"started {_POINT}."),
    "social_care_open_at_point": Column("boolean", "An episode started before the prediction date and not ended "
                                                   "before it."),
}
# The columns a model may learn from (the rest identify the child, the point or the outcome).
FEATURES = [c for c in COLUMNS if c not in ("person_key", "birth_year", "birth_cohort", "prediction_date",
                                             "assessment_year", "outcome_status", "gld", "assessed_council_code",
                                             "lsoa11cd", "ward17cd")]
_INTEGER_TYPES = {"integer", "smallint"}


def build(conn) -> tuple:
    """The features frame (a row per child, the table's columns) and counts for the metadata."""
    config = settings()
    children, counts = cohort.children(conn, config.prediction_point)
    points = children["prediction_date"]
    events = {d.name: d.read(conn) for d in USED}
    parts = [features_as_of(d, events[d.name], points, config.model_dump()) for d in USED]
    area = latest_area(list(events.values()), points).rename(columns={"lad19cd": "council_code",
                                                                        "imd19_decile": "imd_decile"})
    frame = children.join(parts + [area])
    frame = fill_nothing_recorded(frame)
    frame["months_older"] = 11 - (frame["birth_month"] - 9) % 12
    frame["summer_born"] = frame["birth_month"].between(5, 8)
    frame["prediction_date"] = frame["prediction_date"].dt.date
    frame = frame.reset_index()[list(COLUMNS)]
    for name, column in COLUMNS.items():  # whole numbers as Python ints, so COPY reads them as integers
        if column.type in _INTEGER_TYPES:
            frame[name] = frame[name].astype("Float64").round().astype("Int64")
    return frame, counts


def _features(context: AssetExecutionContext, conn) -> tuple:
    frame, counts = build(conn)
    context.log.info(f"{len(frame)} children: {counts['children_known']} with a known outcome, "
                     f"{counts['children_pending']} pending; domains {', '.join(d.name for d in USED)}")
    return frame, {**counts, "domains": ", ".join(d.name for d in USED),
                   "prediction_point": str(settings().prediction_point.model_dump())}


_LINEAGE = {
    **{c: ((BIRTHS.fact, c),) for c in ("sex", "ethnicity", "birth_weight_grams", "gestation_weeks", "mother_age")},
    "preterm": ((BIRTHS.fact, "gestation_weeks"),), "low_birth_weight": ((BIRTHS.fact, "birth_weight_grams"),),
    "birth_council_code": ((BIRTHS.fact, "geography_key"), (GEOGRAPHY, "lad19cd")),
    **{c: ((HEALTH_VISITING.fact, c), (HEALTH_VISITING.fact, "review_date_key")) for c in ASQ},
    "hv_reviews": ((HEALTH_VISITING.fact, "review_date_key"),),
    "ever_breastfed": ((HEALTH_VISITING.fact, "breastfeeding"),),
    **{c: ((EARLY_EDUCATION.fact, "funding_stream"), (EARLY_EDUCATION.fact, "start_date_key"))
       for c in ("funded_terms", "two_year_funded")},
    **{c: ((SOCIAL_CARE.fact, "episode_type"), (SOCIAL_CARE.fact, "start_date_key"))
       for c in ("social_care_episodes", "early_help_before_point", "statutory_care_before_point")},
    "social_care_open_at_point": ((SOCIAL_CARE.fact, "start_date_key"), (SOCIAL_CARE.fact, "end_date_key")),
    "gld": ((cohort.FACTS[1], "gld"),), "assessment_year": ((cohort.FACTS[1], "academic_year"),),
    **{c: ((GEOGRAPHY, c),) for c in ("lsoa11cd", "ward17cd")},
    "council_code": ((GEOGRAPHY, "lad19cd"),), "imd_decile": ((GEOGRAPHY, "imd19_decile"),),
}

FEATURES_SPEC = TableSpec(
    "model", "features",
    "School readiness: one row per linked child with a known or pending Good Level of Development outcome, and "
    "the child's features as of the prediction point (by default the earlier of the 4th birthday and 31 August "
    "before Reception), from records dated before it only: month of birth, sex, ethnicity, birth weight and "
    "gestation, area and deprivation, health-visiting reviews and ASQ-3 at 2-2½, funded two-year-old early "
    "education and children's social care. Household signals (police, housing) are used only where an agreement "
    "permits them for school readiness (none does today). Purpose: school_readiness.",
    COLUMNS,
    Computed(_features, assets=(*cohort.FACTS, *(d.fact for d in USED), GEOGRAPHY, ("conformed", "dim_date")),
             column_lineage=_LINEAGE),
    purpose=PURPOSE,
)

features = table_asset(FEATURES_SPEC)
