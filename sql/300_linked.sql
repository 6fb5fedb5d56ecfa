-- The linked layer: people and households across partners (gmoda_assets/linkage), the person dimension, and the
-- person key every conformed fact gains. Each table's spec in gmoda_assets/linkage/ fills it and holds the
-- descriptions that become its COMMENTs; this file keeps the types and constraints.
-- Only the transformer reads or writes linked (sql/040_roles.sql): analysts never see who was linked to whom.
-- Idempotent: re-running this file changes nothing.

-- Every run of the linkage, published or not (appended to by the linked/model_runs asset).
CREATE TABLE IF NOT EXISTS linked.model_runs (
    run_id       integer PRIMARY KEY,
    dagster_run  text NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL,
    model        jsonb NOT NULL,
    figures      jsonb NOT NULL
);

-- The latest run's output, as the linkage wrote it: what linked.person_records is built (checked, published)
-- from. Replaced by every run.
CREATE TABLE IF NOT EXISTS linked.linkage_output (
    record_key           text PRIMARY KEY,
    feed_id              text NOT NULL,
    person_key           integer NOT NULL,
    previous_person_key  integer,
    match_probability    double precision,
    match_method         text NOT NULL,
    run_id               integer NOT NULL REFERENCES linked.model_runs (run_id)
);
COMMENT ON TABLE linked.linkage_output IS 'The latest linkage run''s record-to-person assignment, before its checks; linked.person_records is what passed them.';

-- The latest run's households: each person's household, as the linkage wrote it (linked.household_members is
-- what passed its checks). Replaced by every run.
CREATE TABLE IF NOT EXISTS linked.household_output (
    person_key     integer PRIMARY KEY,
    household_key  integer NOT NULL,
    evidence       text,
    run_id         integer NOT NULL REFERENCES linked.model_runs (run_id)
);
COMMENT ON TABLE linked.household_output IS 'The latest linkage run''s person-to-household assignment, before its checks; linked.household_members is what passed them.';

CREATE TABLE IF NOT EXISTS linked.person_records (
    record_key           text PRIMARY KEY,
    feed_id              text NOT NULL,
    person_key           integer NOT NULL,
    previous_person_key  integer,
    match_probability    double precision CHECK (match_probability BETWEEN 0 AND 1),
    match_method         text NOT NULL CHECK (match_method IN ('exact', 'probabilistic', 'singleton')),
    run_id               integer NOT NULL
);
CREATE INDEX IF NOT EXISTS person_records_person_key ON linked.person_records (person_key);

CREATE TABLE IF NOT EXISTS linked.person_key_changes (
    run_id          integer NOT NULL,
    old_person_key  integer NOT NULL,
    new_person_key  integer NOT NULL,
    change          text NOT NULL CHECK (change IN ('merge', 'split')),
    records         integer NOT NULL,
    changed_at      timestamptz NOT NULL,
    PRIMARY KEY (run_id, old_person_key, new_person_key)
);

CREATE TABLE IF NOT EXISTS linked.person (
    person_key      integer PRIMARY KEY,
    role            text NOT NULL CHECK (role IN ('child', 'adult')),
    birth_year      smallint,
    sex             text,
    records         integer NOT NULL,
    feeds           integer NOT NULL,
    nhs_numbers     integer NOT NULL,
    first_evidence  date,
    last_evidence   date
);

CREATE TABLE IF NOT EXISTS linked.household_members (
    person_key     integer PRIMARY KEY,
    household_key  integer NOT NULL,
    role           text NOT NULL,
    evidence       text
);
CREATE INDEX IF NOT EXISTS household_members_household_key ON linked.household_members (household_key);

CREATE TABLE IF NOT EXISTS linked.household (
    household_key  integer PRIMARY KEY,
    members        integer NOT NULL,
    children       integer NOT NULL,
    adults         integer NOT NULL,
    evidence       text
);

-- The person dimension: one row per person key ever given (a key that merged away stays, not current), and -1,
-- the unknown person, for a fact row whose record the linkage has not placed.
CREATE TABLE IF NOT EXISTS conformed.dim_person (
    person_key      integer PRIMARY KEY,
    role            text NOT NULL,
    birth_year      smallint,
    sex             text,
    first_evidence  date,
    last_evidence   date,
    is_current      boolean NOT NULL
);
INSERT INTO conformed.dim_person (person_key, role, is_current) VALUES (-1, 'unknown', true)
ON CONFLICT (person_key) DO NOTHING;

-- Every conformed fact about a person gains the person's key (-1 until linked).
DO $$
DECLARE
    fact text;
BEGIN
    FOREACH fact IN ARRAY ARRAY['fact_births', 'fact_health_visiting_reviews', 'fact_police_incidents',
                                'fact_tenancies', 'fact_funded_early_education', 'fact_social_care_episodes',
                                'fact_early_years_outcomes']
    LOOP
        EXECUTE format('ALTER TABLE conformed.%I ADD COLUMN IF NOT EXISTS person_key integer NOT NULL DEFAULT -1 '
                       'REFERENCES conformed.dim_person (person_key)', fact);
        EXECUTE format('ALTER TABLE conformed.%I ALTER COLUMN person_key DROP DEFAULT', fact);
    END LOOP;
END
$$;
