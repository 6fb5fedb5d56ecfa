-- Conformed facts of the NHS, police and housing feeds: births, health-visiting reviews, police incidents and
-- social-housing tenancies. The tables are filled by the Dagster assets in
-- gmoda_assets/conform/facts_health_police_housing.py, whose column lists mirror these (a test compares them).
--
-- Each fact points at the conformed dimensions under foreign keys; a missing or unknown date, area or partner
-- points at the dimension's unknown member (-1), so the keys are NOT NULL. A fact is rebuilt whole at each run
-- and nothing references it, so its own key is an identity restarted at each rebuild.
-- Dates of birth never reach this layer: a birth is dated to the first day of its month.
-- Idempotent: re-running this file changes nothing.

CREATE TABLE IF NOT EXISTS conformed.fact_births (
    birth_key                    integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    record_key                   text NOT NULL UNIQUE,
    nhs_number_pseudonym         text,
    mother_nhs_number_pseudonym  text,
    birth_month_date_key         integer NOT NULL REFERENCES conformed.dim_date (date_key),
    geography_key                integer NOT NULL REFERENCES conformed.dim_geography (geography_key),
    partner_key                  integer NOT NULL REFERENCES conformed.dim_partner (partner_key),
    sex                          text,
    birth_weight_grams           integer,
    gestation_weeks              integer,
    gestation_band               text NOT NULL,
    is_low_birth_weight          boolean,
    ethnicity                    text,
    mother_age                   integer
);

COMMENT ON TABLE conformed.fact_births IS 'One row per live birth to a Greater Manchester resident (NHS child health records), keyed into dim_date (month of birth), dim_geography and dim_partner; rebuilt whole from staging.nhs__births at each run.';
COMMENT ON COLUMN conformed.fact_births.birth_key IS 'Surrogate key of the birth, renumbered 1..n in record_key order at each nightly rebuild: nothing may store it.';
COMMENT ON COLUMN conformed.fact_births.record_key IS 'The staging record''s key (staging record_key): one row per staged record.';
COMMENT ON COLUMN conformed.fact_births.nhs_number_pseudonym IS 'Keyed pseudonym of the child''s NHS number, the same in every partner''s data; null when not delivered.';
COMMENT ON COLUMN conformed.fact_births.mother_nhs_number_pseudonym IS 'Keyed pseudonym of the mother''s NHS number; null when not delivered.';
COMMENT ON COLUMN conformed.fact_births.birth_month_date_key IS 'First day of the month of birth in dim_date (yyyymm01): staging keeps only year and month of birth, never the day; -1 when unknown.';
COMMENT ON COLUMN conformed.fact_births.geography_key IS 'LSOA of residence in dim_geography, from the delivered postcode; -1 when it is missing or outside Greater Manchester.';
COMMENT ON COLUMN conformed.fact_births.partner_key IS 'Partner that delivered the record, in dim_partner.';
COMMENT ON COLUMN conformed.fact_births.sex IS 'Sex of the baby: male, female or unknown.';
COMMENT ON COLUMN conformed.fact_births.birth_weight_grams IS 'Weight at birth in grams.';
COMMENT ON COLUMN conformed.fact_births.gestation_weeks IS 'Completed weeks of gestation at birth.';
COMMENT ON COLUMN conformed.fact_births.gestation_band IS 'Gestation band: <32 (very preterm), 32-36 (moderate to late preterm), 37+ (term) or unknown.';
COMMENT ON COLUMN conformed.fact_births.is_low_birth_weight IS 'Born under 2,500 g (the WHO definition of low birth weight); null when the weight is unknown.';
COMMENT ON COLUMN conformed.fact_births.ethnicity IS 'Ethnicity of the baby as recorded by the NHS (codes as in kinds.yaml).';
COMMENT ON COLUMN conformed.fact_births.mother_age IS 'Mother''s age in years at the birth.';

CREATE TABLE IF NOT EXISTS conformed.fact_health_visiting_reviews (
    review_key            integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    record_key            text NOT NULL UNIQUE,
    nhs_number_pseudonym  text,
    review_type           text,
    review_date_key       integer NOT NULL REFERENCES conformed.dim_date (date_key),
    age_at_review_months  integer,
    geography_key         integer NOT NULL REFERENCES conformed.dim_geography (geography_key),
    partner_key           integer NOT NULL REFERENCES conformed.dim_partner (partner_key),
    breastfeeding         text,
    asq_communication     integer,
    asq_gross_motor       integer,
    asq_fine_motor        integer,
    asq_problem_solving   integer,
    asq_personal_social   integer,
    asq_complete          boolean
);

COMMENT ON TABLE conformed.fact_health_visiting_reviews IS 'One row per mandated health-visiting review contact (NHS), with ASQ-3 scores at the two-year review; rebuilt whole from staging.nhs__hv_reviews at each run.';
COMMENT ON COLUMN conformed.fact_health_visiting_reviews.review_key IS 'Surrogate key of the review, renumbered 1..n in record_key order at each nightly rebuild: nothing may store it.';
COMMENT ON COLUMN conformed.fact_health_visiting_reviews.record_key IS 'The staging record''s key (staging record_key): one row per staged record.';
COMMENT ON COLUMN conformed.fact_health_visiting_reviews.nhs_number_pseudonym IS 'Keyed pseudonym of the child''s NHS number, the same in every partner''s data; null when not delivered.';
COMMENT ON COLUMN conformed.fact_health_visiting_reviews.review_type IS 'Mandated health-visiting review: new_birth, six_eight_week, one_year or two_year.';
COMMENT ON COLUMN conformed.fact_health_visiting_reviews.review_date_key IS 'Date of the review in dim_date; -1 when unknown.';
COMMENT ON COLUMN conformed.fact_health_visiting_reviews.age_at_review_months IS 'Child''s age at the review in calendar months from the month of birth to the month of the review (staging keeps no day of birth, so it may be one more than completed months); null when either is unknown.';
COMMENT ON COLUMN conformed.fact_health_visiting_reviews.geography_key IS 'LSOA of residence in dim_geography, from the delivered postcode; -1 when it is missing or outside Greater Manchester.';
COMMENT ON COLUMN conformed.fact_health_visiting_reviews.partner_key IS 'Partner that delivered the record, in dim_partner.';
COMMENT ON COLUMN conformed.fact_health_visiting_reviews.breastfeeding IS 'Infant feeding status at the review: exclusive, partial, none or not_recorded.';
COMMENT ON COLUMN conformed.fact_health_visiting_reviews.asq_communication IS 'ASQ-3 communication score, 0-60 (two-year review only); null when not done.';
COMMENT ON COLUMN conformed.fact_health_visiting_reviews.asq_gross_motor IS 'ASQ-3 gross motor score, 0-60 (two-year review only); null when not done.';
COMMENT ON COLUMN conformed.fact_health_visiting_reviews.asq_fine_motor IS 'ASQ-3 fine motor score, 0-60 (two-year review only); null when not done.';
COMMENT ON COLUMN conformed.fact_health_visiting_reviews.asq_problem_solving IS 'ASQ-3 problem solving score, 0-60 (two-year review only); null when not done.';
COMMENT ON COLUMN conformed.fact_health_visiting_reviews.asq_personal_social IS 'ASQ-3 personal social score, 0-60 (two-year review only); null when not done.';
COMMENT ON COLUMN conformed.fact_health_visiting_reviews.asq_complete IS 'True when all five ASQ-3 domain scores are present, as the two-year review''s school-readiness measures need.';

CREATE TABLE IF NOT EXISTS conformed.fact_police_incidents (
    incident_person_key     integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    record_key              text NOT NULL UNIQUE,
    incident_ref_pseudonym  text,
    incident_date_key       integer NOT NULL REFERENCES conformed.dim_date (date_key),
    geography_key           integer NOT NULL REFERENCES conformed.dim_geography (geography_key),
    partner_key             integer NOT NULL REFERENCES conformed.dim_partner (partner_key),
    incident_category       text,
    person_role             text,
    birth_year              smallint
);

COMMENT ON TABLE conformed.fact_police_incidents IS 'One row per person per police incident involving a household with children (Greater Manchester Police); rebuilt whole from staging.gmp__incidents at each run.';
COMMENT ON COLUMN conformed.fact_police_incidents.incident_person_key IS 'Surrogate key of the person''s involvement in the incident, renumbered 1..n in record_key order at each nightly rebuild: nothing may store it.';
COMMENT ON COLUMN conformed.fact_police_incidents.record_key IS 'The staging record''s key (staging record_key): one row per staged record.';
COMMENT ON COLUMN conformed.fact_police_incidents.incident_ref_pseudonym IS 'Keyed pseudonym of the police incident reference (within this feed): the rows of one incident share it.';
COMMENT ON COLUMN conformed.fact_police_incidents.incident_date_key IS 'Date of the incident in dim_date (the time of day is not kept); -1 when unknown.';
COMMENT ON COLUMN conformed.fact_police_incidents.geography_key IS 'LSOA of residence in dim_geography, from the delivered postcode; -1 when it is missing or outside Greater Manchester.';
COMMENT ON COLUMN conformed.fact_police_incidents.partner_key IS 'Partner that delivered the record, in dim_partner.';
COMMENT ON COLUMN conformed.fact_police_incidents.incident_category IS 'Incident category: domestic_abuse, child_concern, missing_person, antisocial_behaviour or other.';
COMMENT ON COLUMN conformed.fact_police_incidents.person_role IS 'The person''s role in the incident: child_present, victim, suspect, witness or reporting_person.';
COMMENT ON COLUMN conformed.fact_police_incidents.birth_year IS 'The person''s year of birth (date of birth is not kept); null when not recorded.';

CREATE TABLE IF NOT EXISTS conformed.fact_tenancies (
    tenancy_member_key      integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    record_key              text NOT NULL UNIQUE,
    tenancy_ref_pseudonym   text,
    person_ref_pseudonym    text,
    uprn_pseudonym          text,
    tenancy_start_date_key  integer NOT NULL REFERENCES conformed.dim_date (date_key),
    tenancy_end_date_key    integer NOT NULL REFERENCES conformed.dim_date (date_key),
    is_open                 boolean NOT NULL,
    geography_key           integer NOT NULL REFERENCES conformed.dim_geography (geography_key),
    partner_key             integer NOT NULL REFERENCES conformed.dim_partner (partner_key),
    relationship            text,
    birth_year              smallint,
    bedrooms                integer,
    is_overcrowded          boolean,
    rent_arrears_weeks      numeric
);

COMMENT ON TABLE conformed.fact_tenancies IS 'One row per household member of a social-housing tenancy (Stockport Homes); rebuilt whole from staging.stockport_homes__tenancies at each run.';
COMMENT ON COLUMN conformed.fact_tenancies.tenancy_member_key IS 'Surrogate key of the household member''s tenancy row, renumbered 1..n in record_key order at each nightly rebuild: nothing may store it.';
COMMENT ON COLUMN conformed.fact_tenancies.record_key IS 'The staging record''s key (staging record_key): one row per staged record.';
COMMENT ON COLUMN conformed.fact_tenancies.tenancy_ref_pseudonym IS 'Keyed pseudonym of the tenancy reference (within this feed): the members of one tenancy share it.';
COMMENT ON COLUMN conformed.fact_tenancies.person_ref_pseudonym IS 'Keyed pseudonym of the landlord''s person reference (within this feed).';
COMMENT ON COLUMN conformed.fact_tenancies.uprn_pseudonym IS 'Keyed pseudonym of the property''s UPRN, the same in every partner''s data.';
COMMENT ON COLUMN conformed.fact_tenancies.tenancy_start_date_key IS 'Start of the tenancy in dim_date; -1 when unknown.';
COMMENT ON COLUMN conformed.fact_tenancies.tenancy_end_date_key IS 'End of the tenancy in dim_date; -1 when it has not ended (is_open) or the date is unknown.';
COMMENT ON COLUMN conformed.fact_tenancies.is_open IS 'True when the landlord delivered no end date: the tenancy is still running.';
COMMENT ON COLUMN conformed.fact_tenancies.geography_key IS 'LSOA of residence in dim_geography, from the delivered postcode; -1 when it is missing or outside Greater Manchester.';
COMMENT ON COLUMN conformed.fact_tenancies.partner_key IS 'Partner that delivered the record, in dim_partner.';
COMMENT ON COLUMN conformed.fact_tenancies.relationship IS 'The member''s relationship to the tenancy: lead_tenant, joint_tenant, partner, child or other.';
COMMENT ON COLUMN conformed.fact_tenancies.birth_year IS 'The member''s year of birth (date of birth is not kept).';
COMMENT ON COLUMN conformed.fact_tenancies.bedrooms IS 'Bedrooms in the property.';
COMMENT ON COLUMN conformed.fact_tenancies.is_overcrowded IS 'The landlord assesses the household as overcrowded (delivered yes/no); null when not recorded.';
COMMENT ON COLUMN conformed.fact_tenancies.rent_arrears_weeks IS 'Rent arrears expressed in weeks of rent.';
