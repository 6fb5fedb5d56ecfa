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
    birth_weight_grams   integer,
    gestation_weeks      smallint,
    asq_communication    smallint,
    asq_gross_motor      smallint,
    asq_fine_motor       smallint,
    asq_problem_solving  smallint,
    asq_personal_social  smallint,
    fsm_eligible         boolean,
    sen_provision        text,
    gld                  boolean
);

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
