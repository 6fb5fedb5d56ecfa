-- The marts: disclosure-controlled aggregates for Tableau and R. Each table's spec (gmoda_assets/marts/) fills
-- it and holds the descriptions that become its COMMENTs; this file keeps the types and constraints. The
-- table stays in place from build to build (write, check, publish refills it), so the analysts' SELECT, given
-- by the default privileges of sql/040_roles.sql, stays with it.
-- Idempotent: re-running this file changes nothing.

CREATE TABLE IF NOT EXISTS mart.eyfsp_gld_by_council (
    council_code       text NOT NULL,
    council_name       text NOT NULL,
    academic_year      text NOT NULL,
    sex                text NOT NULL CHECK (sex IN ('female', 'male', 'all')),
    children_assessed  integer,
    children_gld       integer,
    gld_percent        numeric,
    PRIMARY KEY (council_code, academic_year, sex)
);
