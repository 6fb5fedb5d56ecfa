"""Conformed facts of the NHS, police and housing feeds: births, health-visiting reviews, police incidents and
social-housing tenancies, one spec each.

The tables are created by ``sql/210_conformed_facts_health_police_housing.sql``. Each fact is rebuilt whole
from its feed's staging table, with the conformed dimensions' keys looked up inside PostgreSQL. Nothing
references a fact, so its own key is renumbered 1..n in record-key order at each build. The checks are data:
``gmoda_assets/expectations/conformed.<table>.yaml``.
"""

from gmoda_assets.conform.fact_columns import (CHILD_NHS, date_key, geography_key, partner_key, person_key, record_key,
                                               renumbered, staging_tables)
from gmoda_assets.lib.contracts import contract_for
from gmoda_assets.lib.table_assets import table_asset
from gmoda_assets.lib.tables import Column, TableSpec, copied

SCHEMA = "conformed"
RECORD_KEY = record_key("The staging record's key (staging record_key): one row per staged record.")
GEOGRAPHY = geography_key("LSOA of residence in dim_geography, from the delivered postcode; -1 when it is missing or "
                          "outside Greater Manchester.")
PARTNER = partner_key("Partner that delivered the record, in dim_partner.")
ASQ_DOMAINS = ("asq_communication", "asq_gross_motor", "asq_fine_motor", "asq_problem_solving", "asq_personal_social")


def _feed(feed_id: str):
    return staging_tables([contract_for(feed_id)])


BIRTHS = TableSpec(SCHEMA, "fact_births", (
    "Births: one row per live birth to a Greater Manchester resident from the NHS child health records, with the "
    "child's and mother's NHS-number pseudonyms (to link to later services), month of birth (first day of the "
    "month: the day of birth is not kept), LSOA of residence at birth, sex, birth weight with a low-birth-weight "
    "flag (< 2,500 g), gestation in weeks and band (<32, 32-36, 37+), ethnicity and mother's age. Built whole from "
    "`staging.nhs__births` each run; unknown month or area -> -1."), {
    "birth_key": renumbered("birth"),
    "record_key": RECORD_KEY,
    "nhs_number_pseudonym": CHILD_NHS,
    "mother_nhs_number_pseudonym": copied("text", "Keyed pseudonym of the mother's NHS number; null when not "
                                                  "delivered.", "mother_nhs_number_pseudonym"),
    # Staging keeps only the year and month of birth, so a birth is dated to the first day of its month.
    "birth_month_date_key": date_key("First day of the month of birth in dim_date (yyyymm01): staging keeps only "
                                     "year and month of birth, never the day; -1 when unknown.",
                                     "make_date(s.birth_year, s.birth_month, 1)", "birth_year", "birth_month"),
    "geography_key": GEOGRAPHY,
    "partner_key": PARTNER,
    "sex": copied("text", "Sex of the baby: male, female or unknown.", "sex"),
    "birth_weight_grams": copied("integer", "Weight at birth in grams.", "birth_weight_grams"),
    "gestation_weeks": copied("integer", "Completed weeks of gestation at birth.", "gestation_weeks"),
    "gestation_band": Column("text", "Gestation band: <32 (very preterm), 32-36 (moderate to late preterm), 37+ (term) "
                                     "or unknown.",
                             "CASE WHEN s.gestation_weeks < 32 THEN '<32' WHEN s.gestation_weeks < 37 THEN '32-36' "
                             "WHEN s.gestation_weeks >= 37 THEN '37+' ELSE 'unknown' END", ("gestation_weeks",)),
    "is_low_birth_weight": Column("boolean", "Born under 2,500 g (the WHO definition of low birth weight); null when "
                                             "the weight is unknown.",
                                  "s.birth_weight_grams < 2500", ("birth_weight_grams",)),
    "ethnicity": copied("text", "Ethnicity of the baby as recorded by the NHS (codes as in kinds.yaml).", "ethnicity"),
    "mother_age": copied("integer", "Mother's age in years at the birth.", "mother_age"),
    "person_key": person_key(),
}, _feed("nhs.births"))

HV_REVIEWS = TableSpec(SCHEMA, "fact_health_visiting_reviews", (
    "Health-visiting reviews: one row per mandated review contact (new birth, 6-8 week, one year, two year) from "
    "the NHS, with the child's NHS-number pseudonym, review date, age at review in months, infant feeding, the "
    "five ASQ-3 domain scores (0-60; two-year review) and whether all five are present, and the LSOA of residence. "
    "Built whole from `staging.nhs__hv_reviews` each run; unknown date or area -> -1."), {
    "review_key": renumbered("review"),
    "record_key": RECORD_KEY,
    "nhs_number_pseudonym": CHILD_NHS,
    "review_type": copied("text", "Mandated health-visiting review: new_birth, six_eight_week, one_year or two_year.",
                          "review_type"),
    "review_date_key": date_key("Date of the review in dim_date; -1 when unknown.", "s.review_date", "review_date"),
    "age_at_review_months": Column(
        "integer", "Child's age at the review in calendar months from the month of birth to the month of the review "
                   "(staging keeps no day of birth, so it may be one more than completed months); null when either "
                   "is unknown.",
        "(extract(year FROM s.review_date)::integer - s.birth_year) * 12 "
        "+ extract(month FROM s.review_date)::integer - s.birth_month",
        ("review_date", "birth_year", "birth_month")),
    "geography_key": GEOGRAPHY,
    "partner_key": PARTNER,
    "breastfeeding": copied("text", "Infant feeding status at the review: exclusive, partial, none or not_recorded.",
                            "breastfeeding"),
    **{d: copied("integer", f"ASQ-3 {d[4:].replace('_', ' ')} score, 0-60 (two-year review only); null when not done.",
                 d) for d in ASQ_DOMAINS},
    "asq_complete": Column("boolean", "True when all five ASQ-3 domain scores are present, as the two-year review's "
                                      "school-readiness measures need.",
                           " AND ".join(f"s.{d} IS NOT NULL" for d in ASQ_DOMAINS), ASQ_DOMAINS),
    "person_key": person_key(),
}, _feed("nhs.hv_reviews"))

POLICE_INCIDENTS = TableSpec(SCHEMA, "fact_police_incidents", (
    "Police incidents involving households with children: one row per person per incident from Greater Manchester "
    "Police, with the incident reference pseudonym (shared by the incident's rows), date, category (domestic "
    "abuse, child concern, ...), the person's role and year of birth, and the LSOA of the address. Names and "
    "addresses never reach this layer. Built whole from `staging.gmp__incidents` each run; unknown date or area "
    "-> -1."), {
    "incident_person_key": renumbered("person's involvement in the incident"),
    "record_key": RECORD_KEY,
    "incident_ref_pseudonym": copied("text", "Keyed pseudonym of the police incident reference (within this feed): "
                                             "the rows of one incident share it.", "incident_ref_pseudonym"),
    "incident_date_key": date_key("Date of the incident in dim_date (the time of day is not kept); -1 when unknown.",
                                  "s.incident_datetime", "incident_datetime"),
    "geography_key": GEOGRAPHY,
    "partner_key": PARTNER,
    "incident_category": copied("text", "Incident category: domestic_abuse, child_concern, missing_person, "
                                        "antisocial_behaviour or other.", "incident_category"),
    "person_role": copied("text", "The person's role in the incident: child_present, victim, suspect, witness or "
                                  "reporting_person.", "person_role"),
    "birth_year": copied("smallint", "The person's year of birth (date of birth is not kept); null when not recorded.",
                         "birth_year"),
    "person_key": person_key(),
}, _feed("gmp.incidents"))

TENANCIES = TableSpec(SCHEMA, "fact_tenancies", (
    "Social-housing tenancies (Stockport Homes): one row per household member of a tenancy, with tenancy, person "
    "and property (UPRN) pseudonyms, start and end dates (end -1 while the tenancy is open), the member's "
    "relationship and year of birth, bedrooms, overcrowding and rent arrears in weeks, and the LSOA of the "
    "property. Built whole from `staging.stockport_homes__tenancies` each run; unknown date or area -> -1."), {
    "tenancy_member_key": renumbered("household member's tenancy row"),
    "record_key": RECORD_KEY,
    "tenancy_ref_pseudonym": copied("text", "Keyed pseudonym of the tenancy reference (within this feed): the members "
                                            "of one tenancy share it.", "tenancy_ref_pseudonym"),
    "person_ref_pseudonym": copied("text", "Keyed pseudonym of the landlord's person reference (within this feed).",
                                   "person_ref_pseudonym"),
    "uprn_pseudonym": copied("text", "Keyed pseudonym of the property's UPRN, the same in every partner's data.",
                             "uprn_pseudonym"),
    "tenancy_start_date_key": date_key("Start of the tenancy in dim_date; -1 when unknown.", "s.tenancy_start_date",
                                       "tenancy_start_date"),
    "tenancy_end_date_key": date_key("End of the tenancy in dim_date; -1 when it has not ended (is_open) or the date "
                                     "is unknown.", "s.tenancy_end_date", "tenancy_end_date"),
    "is_open": Column("boolean", "True when the landlord delivered no end date: the tenancy is still running.",
                      "s.tenancy_end_date IS NULL", ("tenancy_end_date",)),
    "geography_key": GEOGRAPHY,
    "partner_key": PARTNER,
    "relationship": copied("text", "The member's relationship to the tenancy: lead_tenant, joint_tenant, partner, "
                                   "child or other.", "relationship"),
    "birth_year": copied("smallint", "The member's year of birth (date of birth is not kept).", "birth_year"),
    "bedrooms": copied("integer", "Bedrooms in the property.", "bedrooms"),
    "is_overcrowded": Column("boolean", "The landlord assesses the household as overcrowded (delivered yes/no); null "
                                        "when not recorded.", "s.overcrowded = 'yes'", ("overcrowded",)),
    "rent_arrears_weeks": copied("numeric", "Rent arrears expressed in weeks of rent.", "rent_arrears_weeks"),
    "person_key": person_key(),
}, _feed("stockport_homes.tenancies"))

SPECS = [BIRTHS, HV_REVIEWS, POLICE_INCIDENTS, TENANCIES]
fact_assets_hpp = [table_asset(s) for s in SPECS]
