"""The council side of the conformed layer: the setting dimension and the facts of the councils' early-years
outcomes (EYFSP), funded early education and children's social care, one spec each.

The tables are created by ``sql/220_conformed_council.sql``. Each council delivers its feeds in its own
system's format, but staging has already mapped every feed onto its kind's canonical columns, so a fact is
the 10 councils' staging tables one after another, with the conformed dimensions' keys looked up inside
PostgreSQL. Facts are keyed by the staging record_key (a pseudonym that already names the council's feed, so
it is unique across councils) and nothing references them, so each is rebuilt whole. dim_setting is
referenced by the facts, so it keeps its keys by URN. The checks are data:
``gmoda_assets/expectations/conformed.<table>.yaml``.
"""

from psycopg import sql

from gmoda_assets.conform.fact_columns import (CHILD_NHS, date_key, geography_key, partner_key, person_key, record_key,
                                               setting_key, staging_tables)
from gmoda_assets.conform.staging import staging_table
from gmoda_assets.lib.contracts import FeedContract, feed_contracts
from gmoda_assets.lib.table_assets import table_asset
from gmoda_assets.lib.tables import Column, Query, StableKeys, TableSpec, copied

SCHEMA = "conformed"
# Where a URN is reported both as a school (EYFSP) and as an early-years provider (funded early education),
# the school wins: a school's nursery class claims funded hours under the school's own URN.
SETTING_SOURCES = {"eyfsp": ("school_urn", "school"), "funded_early_education": ("setting_urn", "early_years")}


def _of_kind(*kinds: str) -> list[FeedContract]:
    return [c for c in feed_contracts() if c.kind in kinds]


def _settings_seen() -> sql.Composable:
    """(setting_urn, setting_type, partner_id) of every URN in the councils' staging data: its type, and the
    council that reported it in the most records (ties to the first council id)."""
    seen = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {urn} AS setting_urn, {type} AS setting_type, {partner} AS partner_id FROM {table} "
                "WHERE {urn} IS NOT NULL").format(
            urn=sql.Identifier(SETTING_SOURCES[c.kind][0]), type=sql.Literal(SETTING_SOURCES[c.kind][1]),
            partner=sql.Literal(c.partner), table=sql.Identifier("staging", staging_table(c)))
        for c in _of_kind(*SETTING_SOURCES))
    return sql.SQL("""
        WITH seen AS ({seen}),
        typed AS (SELECT setting_urn, CASE WHEN bool_or(setting_type = 'school') THEN 'school' ELSE 'early_years' END
                  AS setting_type FROM seen GROUP BY setting_urn),
        reporter AS (SELECT DISTINCT ON (setting_urn) setting_urn, partner_id FROM seen
                     GROUP BY setting_urn, partner_id ORDER BY setting_urn, count(*) DESC, partner_id)
        SELECT t.setting_urn, t.setting_type, r.partner_id FROM typed AS t JOIN reporter AS r USING (setting_urn)
    """).format(seen=seen)


SETTING = TableSpec(SCHEMA, "dim_setting", (
    "The setting dimension: one row per school or early-years provider the councils' data mentions, by URN: "
    "schools where children were assessed for the EYFSP (school_urn) and providers of funded early education "
    "(setting_urn). A URN seen as both is a school (a school's nursery class claims funded hours under the "
    "school's URN). Each setting belongs to the council that reported it in the most records. Facts point at a "
    "setting by setting_key; -1 is the unknown setting. Keys are kept across rebuilds (by URN), and a setting no "
    "longer in any council's data stays with is_current false."), {
    "setting_key": Column("integer", "Surrogate key, stable across rebuilds; -1 for an unknown or missing setting."),
    "setting_urn": Column("text", "Unique reference number (URN) of the school or early-years provider as the "
                                  "councils deliver it; 'unknown' for the unknown setting."),
    "setting_type": Column("text", "school when any council assessed a child there for the EYFSP (school_urn), "
                                   "otherwise early_years (a funded early education provider, setting_urn); a URN "
                                   "seen as both is a school. 'unknown' for the unknown setting."),
    "partner_key": partner_key("The council (in dim_partner) that reported the setting in the most records across "
                               "its EYFSP and funded early education feeds; ties go to the first council id. -1 for "
                               "the unknown setting."),
    "is_current": Column("boolean", "False once no council's current staging data mentions the setting; the row "
                                    "stays because facts may point at it.", "true"),
}, Query(_settings_seen(), tuple(("staging", c.partner, c.feed) for c in _of_kind(*SETTING_SOURCES)),
         {"setting_urn": tuple((("staging", c.partner, c.feed), SETTING_SOURCES[c.kind][0])
                               for c in _of_kind(*SETTING_SOURCES))}),
    StableKeys("setting_key", "setting_urn", {"setting_urn": "unknown", "setting_type": "unknown",
                                              "partner_key": -1, "is_current": True}),
    metrics={"settings": "count(*) FILTER (WHERE is_current AND setting_key <> -1)",
             "schools": "count(*) FILTER (WHERE setting_type = 'school' AND is_current)"})

RECORD_KEY = record_key("The staging record's key (staging record_key), unique across councils: one row per staged "
                        "record.")
GEOGRAPHY = geography_key("LSOA of the child's home in dim_geography, from the delivered postcode; -1 when it is "
                          "missing or outside Greater Manchester.")
PARTNER = partner_key("The council that delivered the record, in dim_partner.")
SEX = copied("text", "Sex of the child: male, female or unknown.", "sex")
BIRTH_YEAR = copied("smallint", "Year of birth (date of birth is not kept).", "birth_year")
BIRTH_MONTH = copied("smallint", "Month of birth, 1-12 (date of birth is not kept).", "birth_month")


def _council_fact(table: str, kind: str, description: str, columns: dict[str, Column]) -> TableSpec:
    """A fact built from every council's staging table of ``kind``."""
    return TableSpec(SCHEMA, table, description, columns, staging_tables(_of_kind(kind)),
                     metrics={"councils": "count(DISTINCT partner_key)"})


def _yes(description: str, source: str) -> Column:
    return Column("boolean", description, f"(s.{source} = 'yes')", (source,))


# The first year of an academic year '2024/25', when it is well formed (staging keeps it as delivered text).
ACADEMIC_START = "CASE WHEN s.academic_year ~ '^[0-9]{4}/[0-9]{2}$' THEN left(s.academic_year, 4)::integer END"

EYFSP = _council_fact("fact_early_years_outcomes", "eyfsp", (
    "Early-years outcomes: one row per child assessed in the Early Years Foundation Stage Profile at the end of "
    "Reception, from all 10 councils, with the child's UPN and NHS-number pseudonyms (to link to births and health "
    "visiting), academic year, Good Level of Development, free school meals, SEN provision, first language, "
    "ethnicity, sex, year, month and term of birth, age in months on 31 August of the assessment year, the school "
    "(dim_setting), the home LSOA and the council. Built whole from the councils' `staging.<council>__eyfsp` each "
    "run; unknown school or area -> -1. A non-blocking check compares each council's children assessed with the "
    "NHS births to its residents in the matching birth cohort."), {
    "record_key": RECORD_KEY,
    "upn_pseudonym": copied("text", "Keyed pseudonym of the unique pupil number, the same in every council.",
                            "upn_pseudonym"),
    "nhs_number_pseudonym": CHILD_NHS,
    "academic_year": copied("text", "Academic year of the assessment at the end of Reception, e.g. 2024/25.",
                            "academic_year"),
    "gld": _yes("Reached a Good Level of Development; null when not recorded.", "gld"),
    "fsm_eligible": _yes("Eligible for free school meals; null when not recorded.", "fsm_eligible"),
    "sen_provision": copied("text", "Special educational needs provision: none, sen_support or ehc_plan.",
                            "sen_provision"),
    "first_language": copied("text", "First language: english, other or unknown.", "first_language"),
    "ethnicity": copied("text", "Ethnicity as the school recorded it (codes as in kinds.yaml).", "ethnicity"),
    "sex": SEX,
    "birth_year": BIRTH_YEAR,
    "birth_month": BIRTH_MONTH,
    "birth_term": Column("text", "Term of birth as the DfE reports EYFSP results: autumn-born (Sep-Dec), spring-born "
                                 "(Jan-Apr), summer-born (May-Aug) or unknown.",
                         "CASE WHEN s.birth_month >= 9 THEN 'autumn' WHEN s.birth_month >= 5 THEN 'summer' "
                         "WHEN s.birth_month >= 1 THEN 'spring' ELSE 'unknown' END", ("birth_month",)),
    "age_months_at_year_end": Column(
        "integer", "Age in completed months on 31 August at the end of the assessment year (60-71 for a child in "
                   "the right year group), whatever the day of birth; null when the year or birth is unknown.",
        f"({ACADEMIC_START} + 1 - s.birth_year) * 12 + 8 - s.birth_month",
        ("academic_year", "birth_year", "birth_month")),
    "setting_key": setting_key("The school where the child was assessed, in dim_setting; -1 when no URN was "
                               "delivered.", "school_urn"),
    "geography_key": GEOGRAPHY,
    "partner_key": PARTNER,
    "person_key": person_key(),
})

FUNDED = _council_fact("fact_funded_early_education", "funded_early_education", (
    "Funded early education: one row per child per term per funding stream claimed (two-year-old disadvantaged, "
    "universal 15 hours, extended 30 hours), from all 10 councils, with the council's child reference pseudonym, "
    "term and year, hours per week, start date, age at start in months, the provider (dim_setting), the home LSOA "
    "and the council. Built whole from the councils' `staging.<council>__funded_early_education` each run; unknown "
    "date, provider or area -> -1."), {
    "record_key": RECORD_KEY,
    "child_ref_pseudonym": copied("text", "Keyed pseudonym of the council's child reference (within the council's "
                                          "feed): one child's terms share it.", "child_ref_pseudonym"),
    "term": copied("text", "Term of the claim: autumn, spring or summer.", "term"),
    "term_year": copied("integer", "Calendar year in which the term starts.", "term_year"),
    "funding_stream": copied("text", "Entitlement claimed: two_year_disadvantaged, universal_15 (3-4 year olds) or "
                                     "extended_30 (working parents).", "funding_stream"),
    "hours_per_week": copied("numeric", "Funded hours per week claimed.", "hours_per_week"),
    "start_date_key": date_key("Start of the funded place in dim_date; -1 when unknown.", "s.start_date",
                               "start_date"),
    "age_months_at_start": Column(
        "integer", "Child's age at the start date in calendar months from the month of birth (staging keeps no "
                   "day of birth, so it may be one more than completed months); null when either is unknown.",
        "(extract(year FROM s.start_date)::integer - s.birth_year) * 12 "
        "+ extract(month FROM s.start_date)::integer - s.birth_month",
        ("start_date", "birth_year", "birth_month")),
    "setting_key": setting_key("The early-years provider (or school) in dim_setting; -1 when no URN was delivered.",
                               "setting_urn"),
    "geography_key": GEOGRAPHY,
    "partner_key": PARTNER,
    "birth_year": BIRTH_YEAR,
    "birth_month": BIRTH_MONTH,
    "person_key": person_key(),
})

SOCIAL_CARE = _council_fact("fact_social_care_episodes", "social_care", (
    "Children's social care episodes: one row per episode (early help, child in need, child protection, looked "
    "after) from all 10 councils, with person, episode and NHS-number pseudonyms, start and end dates (end -1 while "
    "the episode is open, and when the end date is unknown), an open flag, duration in days (to the extract's load "
    "date while open), primary need, sex, year and month of birth, the home LSOA and the council. Built whole from "
    "the councils' `staging.<council>__social_care` each run; unknown date or area -> -1."), {
    "record_key": RECORD_KEY,
    "person_id_pseudonym": copied("text", "Keyed pseudonym of the council's person id (within the council's feed): "
                                          "one child's episodes share it.", "person_id_pseudonym"),
    "episode_id_pseudonym": copied("text", "Keyed pseudonym of the council's episode id (within the council's feed).",
                                   "episode_id_pseudonym"),
    "nhs_number_pseudonym": CHILD_NHS,
    "episode_type": copied("text", "Episode type: early_help, child_in_need, child_protection or looked_after.",
                           "episode_type"),
    "start_date_key": date_key("Start of the episode in dim_date; -1 when unknown.", "s.start_date", "start_date"),
    "end_date_key": date_key("End of the episode in dim_date; -1 both when the episode is open (is_open) and when the "
                             "end date is unknown.", "s.end_date", "end_date"),
    "is_open": Column("boolean", "True when the council delivered no end date: the episode was open at the extract.",
                      "s.end_date IS NULL", ("end_date",)),
    "duration_days": Column(
        "integer", "Days from start to end; for an open episode, to the day the extract was loaded (so far). Null "
                   "when the start is unknown.",
        "coalesce(s.end_date, s._delivered_at::date) - s.start_date", ("start_date", "end_date", "_delivered_at")),
    "primary_need": copied("text", "Category of need N1 (abuse or neglect) ... N9 (not a child in need); null when "
                                   "not recorded (usual for early help).", "primary_need"),
    "sex": SEX,
    "birth_year": BIRTH_YEAR,
    "birth_month": BIRTH_MONTH,
    "geography_key": GEOGRAPHY,
    "partner_key": PARTNER,
    "person_key": person_key(),
})

SPECS = [SETTING, EYFSP, FUNDED, SOCIAL_CARE]
council_assets = [table_asset(s) for s in SPECS]
