-- The council side of the conformed layer: the setting dimension (schools and early-years providers) and the
-- facts of the 10 councils' early-years outcomes (EYFSP), funded early education and children's social care.
-- Each table's spec in gmoda_assets/conform/facts_council.py fills it and holds the descriptions that become
-- its COMMENTs; this file keeps the types and constraints (a test compares the two).
--
-- dim_setting's surrogate key never changes once given, because facts hold it under a foreign key: a setting
-- keeps its key by URN, and the build gives a new one the next key after the highest. Each fact points at the
-- conformed dimensions under foreign keys; a missing or unknown date, area, setting or partner points at the
-- dimension's unknown member (-1), so the keys are NOT NULL. A fact's key is the staging record_key, and nothing references a fact, so it
-- is replaced whole at each run. Dates of birth never reach this layer: only year and month of birth.
-- Idempotent: re-running this file changes nothing.

CREATE TABLE IF NOT EXISTS conformed.dim_setting (
    setting_key   integer PRIMARY KEY,
    setting_urn   text NOT NULL UNIQUE,
    setting_type  text NOT NULL CHECK (setting_type IN ('school', 'early_years', 'unknown')),
    partner_key   integer NOT NULL REFERENCES conformed.dim_partner (partner_key),
    is_current    boolean NOT NULL
);

CREATE TABLE IF NOT EXISTS conformed.fact_early_years_outcomes (
    record_key              text PRIMARY KEY,
    upn_pseudonym           text,
    nhs_number_pseudonym    text,
    academic_year           text,
    gld                     boolean,
    fsm_eligible            boolean,
    sen_provision           text,
    first_language          text,
    ethnicity               text,
    sex                     text,
    birth_year              smallint,
    birth_month             smallint,
    birth_term              text NOT NULL,
    age_months_at_year_end  integer,
    setting_key             integer NOT NULL REFERENCES conformed.dim_setting (setting_key),
    geography_key           integer NOT NULL REFERENCES conformed.dim_geography (geography_key),
    partner_key             integer NOT NULL REFERENCES conformed.dim_partner (partner_key)
);

CREATE TABLE IF NOT EXISTS conformed.fact_funded_early_education (
    record_key           text PRIMARY KEY,
    child_ref_pseudonym  text,
    term                 text,
    term_year            integer,
    funding_stream       text,
    hours_per_week       numeric,
    start_date_key       integer NOT NULL REFERENCES conformed.dim_date (date_key),
    age_months_at_start  integer,
    setting_key          integer NOT NULL REFERENCES conformed.dim_setting (setting_key),
    geography_key        integer NOT NULL REFERENCES conformed.dim_geography (geography_key),
    partner_key          integer NOT NULL REFERENCES conformed.dim_partner (partner_key),
    birth_year           smallint,
    birth_month          smallint
);

CREATE TABLE IF NOT EXISTS conformed.fact_social_care_episodes (
    record_key            text PRIMARY KEY,
    person_id_pseudonym   text,
    episode_id_pseudonym  text,
    nhs_number_pseudonym  text,
    episode_type          text,
    start_date_key        integer NOT NULL REFERENCES conformed.dim_date (date_key),
    end_date_key          integer NOT NULL REFERENCES conformed.dim_date (date_key),
    is_open               boolean NOT NULL,
    duration_days         integer,
    primary_need          text,
    sex                   text,
    birth_year            smallint,
    birth_month           smallint,
    geography_key         integer NOT NULL REFERENCES conformed.dim_geography (geography_key),
    partner_key           integer NOT NULL REFERENCES conformed.dim_partner (partner_key)
);

-- The build gives every key, so a key drawn from an identity (as warehouses created before kept it) is gone.
ALTER TABLE conformed.dim_setting ALTER COLUMN setting_key DROP IDENTITY IF EXISTS;
