-- The school-readiness model layer (gmoda_assets/school_readiness/). Each table's spec fills it and holds the
-- descriptions that become its COMMENTs; this file keeps the types and constraints. Tables stay in place from
-- build to build (write, check, publish refills them), so their grants stay with them.
-- Idempotent: re-running this file changes nothing.

CREATE TABLE IF NOT EXISTS model.features (
    person_key                   integer PRIMARY KEY,
    birth_year                   smallint NOT NULL,
    birth_month                  smallint NOT NULL CHECK (birth_month BETWEEN 1 AND 12),
    birth_cohort                 text NOT NULL,
    prediction_date              date NOT NULL,
    assessment_year              text NOT NULL,
    outcome_status               text NOT NULL CHECK (outcome_status IN ('known', 'pending')),
    gld                          boolean,
    assessed_council_code        text,
    months_older                 smallint NOT NULL,
    summer_born                  boolean NOT NULL,
    sex                          text,
    ethnicity                    text,
    birth_weight_grams           integer,
    gestation_weeks              integer,
    preterm                      boolean,
    low_birth_weight             boolean,
    mother_age                   integer,
    birth_council_code           text,
    lsoa11cd                     text,
    ward17cd                     text,
    council_code                 text,
    imd_decile                   smallint,
    hv_reviews                   smallint NOT NULL,
    ever_breastfed               boolean,
    asq_communication            smallint,
    asq_gross_motor              smallint,
    asq_fine_motor               smallint,
    asq_problem_solving          smallint,
    asq_personal_social          smallint,
    asq_domains_below_cutoff     smallint,
    funded_terms                 smallint NOT NULL,
    two_year_funded              boolean NOT NULL,
    social_care_episodes         smallint NOT NULL,
    early_help_before_point      boolean NOT NULL,
    statutory_care_before_point  boolean NOT NULL,
    social_care_open_at_point    boolean NOT NULL
);

CREATE TABLE IF NOT EXISTS model.model_runs (
    run_id               integer PRIMARY KEY,
    dagster_run          text NOT NULL,
    trained_at           timestamptz NOT NULL,
    code_version         text NOT NULL,
    data_digest          text NOT NULL,
    model_version        text NOT NULL UNIQUE,
    chosen_model         text NOT NULL,
    train_years          text NOT NULL,
    validation_year      text NOT NULL,
    features             text NOT NULL,
    children_train       integer NOT NULL,
    children_validation  integer NOT NULL,
    metrics              jsonb NOT NULL,
    models               bytea NOT NULL,
    production_model     bytea NOT NULL
);

CREATE TABLE IF NOT EXISTS model.evaluation (
    run_id             integer NOT NULL,
    model              text NOT NULL,
    is_chosen          boolean NOT NULL,
    group_kind         text NOT NULL,
    group_value        text NOT NULL,
    children           integer NOT NULL,
    observed_rate      double precision,
    mean_predicted     double precision,
    accuracy           double precision,
    majority_accuracy  double precision,
    balanced_accuracy  double precision,
    auc                double precision,
    brier              double precision,
    ece                double precision,
    PRIMARY KEY (run_id, model, group_kind, group_value)
);

CREATE TABLE IF NOT EXISTS model.model_card (
    run_id         integer PRIMARY KEY,
    model_version  text NOT NULL,
    generated_at   timestamptz NOT NULL,
    markdown       text NOT NULL
);

CREATE TABLE IF NOT EXISTS model.scores (
    person_key       integer PRIMARY KEY,
    model_version    text NOT NULL,
    assessment_year  text NOT NULL,
    prediction_date  date NOT NULL,
    council_code     text,
    probability_gld  double precision NOT NULL CHECK (probability_gld BETWEEN 0 AND 1),
    risk_band        text NOT NULL CHECK (risk_band IN ('high', 'medium', 'low')),
    main_factors     text NOT NULL,
    scored_at        timestamptz NOT NULL
);

-- Who may read the scores: gmoda_school_readiness, the group of the people the school-readiness agreements are
-- for (councils' early-help teams; grant it to their logins), and the transformer that builds them. Analysts
-- read the disclosure-controlled marts instead; nothing else in schema model is theirs to read. The grant is on
-- the live table, which write, check, publish never drops; a candidate, made by the transformer, gets no grant.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gmoda_school_readiness') THEN
        CREATE ROLE gmoda_school_readiness NOLOGIN;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO gmoda_school_readiness', current_database());
END
$$;
REVOKE ALL ON ALL TABLES IN SCHEMA raw, staging, conformed, linked, synthetic, model, signposting, mart, ops
    FROM gmoda_school_readiness;
GRANT USAGE ON SCHEMA model TO gmoda_school_readiness;
GRANT SELECT ON model.scores TO gmoda_school_readiness;
