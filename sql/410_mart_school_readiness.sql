-- The school-readiness mart (gmoda_assets/marts/school_readiness.py fills it and holds its descriptions).
-- Idempotent: re-running this file changes nothing.
CREATE TABLE IF NOT EXISTS mart.school_readiness_by_area (
    assessment_year  text NOT NULL,
    outcome          text NOT NULL CHECK (outcome IN ('observed', 'predicted')),
    area_level       text NOT NULL CHECK (area_level IN ('council', 'ward', 'lsoa')),
    area_code        text NOT NULL,
    parent_code      text,
    children         integer,
    children_gld     integer,
    gld_percent      numeric,
    PRIMARY KEY (assessment_year, outcome, area_level, area_code)
);
