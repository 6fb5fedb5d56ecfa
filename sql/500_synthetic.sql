-- The synthetic layer: synthetic children safe to share (gmoda_assets/synthetic/). Each table's spec fills it
-- and holds the descriptions that become its COMMENTs; this file keeps the types and constraints. Analysts read
-- both tables (default privileges of sql/040_roles.sql); a candidate is readable by no analyst.
-- Idempotent: re-running this file changes nothing.

CREATE TABLE IF NOT EXISTS synthetic.children (
    synthetic_id         integer PRIMARY KEY,
    council_code         text NOT NULL,
    ward17cd             text,
    imd_decile           smallint CHECK (imd_decile BETWEEN 1 AND 10),
    academic_year        text,
    birth_month          smallint CHECK (birth_month BETWEEN 1 AND 12),
    sex                  text,
    ethnicity            text,
    first_language       text,
    fsm_eligible         boolean,
    mother_age           smallint,
    birth_weight_grams   integer,
    gestation_weeks      smallint,
    hv_reviews           smallint,
    ever_breastfed       boolean,
    asq_communication    smallint,
    asq_gross_motor      smallint,
    asq_fine_motor       smallint,
    asq_problem_solving  smallint,
    asq_personal_social  smallint,
    two_year_funded      boolean,
    funded_terms         smallint,
    sen_provision        text,
    gld                  boolean
);
-- The school-readiness features read by person key since the first release (an install made before gets them
-- at the end; columns are always named, never taken by position).
ALTER TABLE synthetic.children ADD COLUMN IF NOT EXISTS mother_age smallint,
    ADD COLUMN IF NOT EXISTS hv_reviews smallint, ADD COLUMN IF NOT EXISTS ever_breastfed boolean,
    ADD COLUMN IF NOT EXISTS two_year_funded boolean, ADD COLUMN IF NOT EXISTS funded_terms smallint;

CREATE TABLE IF NOT EXISTS synthetic.children_quality (
    check_name    text NOT NULL,
    measure       text NOT NULL,
    council_code  text NOT NULL,
    real          double precision,
    synthetic     double precision,
    value         double precision,
    limit_value   double precision,
    passed        boolean NOT NULL,
    PRIMARY KEY (check_name, measure, council_code)
);
