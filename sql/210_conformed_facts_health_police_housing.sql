-- Conformed facts of the NHS, police and housing feeds: births, health-visiting reviews, police incidents and
-- social-housing tenancies. Each table's spec in gmoda_assets/conform/facts_health_police_housing.py fills it
-- and holds the descriptions that become its COMMENTs; this file keeps the types and constraints (a test
-- compares the two).
--
-- Each fact points at the conformed dimensions under foreign keys; a missing or unknown date, area or partner
-- points at the dimension's unknown member (-1), so the keys are NOT NULL. A fact is rebuilt whole at each run
-- and nothing references it, so its own key is renumbered 1..n in record_key order at each rebuild.
-- Dates of birth never reach this layer: a birth is dated to the first day of its month.
-- Idempotent: re-running this file changes nothing.

CREATE TABLE IF NOT EXISTS conformed.fact_births (
    birth_key                    integer PRIMARY KEY,
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

CREATE TABLE IF NOT EXISTS conformed.fact_health_visiting_reviews (
    review_key            integer PRIMARY KEY,
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

CREATE TABLE IF NOT EXISTS conformed.fact_police_incidents (
    incident_person_key     integer PRIMARY KEY,
    record_key              text NOT NULL UNIQUE,
    incident_ref_pseudonym  text,
    incident_date_key       integer NOT NULL REFERENCES conformed.dim_date (date_key),
    geography_key           integer NOT NULL REFERENCES conformed.dim_geography (geography_key),
    partner_key             integer NOT NULL REFERENCES conformed.dim_partner (partner_key),
    incident_category       text,
    person_role             text,
    birth_year              smallint
);

CREATE TABLE IF NOT EXISTS conformed.fact_tenancies (
    tenancy_member_key      integer PRIMARY KEY,
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

-- The builds give every key, so keys drawn from identities (as warehouses created before kept them) are gone.
ALTER TABLE conformed.fact_births ALTER COLUMN birth_key DROP IDENTITY IF EXISTS;
ALTER TABLE conformed.fact_health_visiting_reviews ALTER COLUMN review_key DROP IDENTITY IF EXISTS;
ALTER TABLE conformed.fact_police_incidents ALTER COLUMN incident_person_key DROP IDENTITY IF EXISTS;
ALTER TABLE conformed.fact_tenancies ALTER COLUMN tenancy_member_key DROP IDENTITY IF EXISTS;
