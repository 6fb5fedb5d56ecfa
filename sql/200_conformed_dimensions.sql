-- Conformed dimensions shared by every fact table: date, geography (LSOA, with a postcode-sector bridge) and
-- partner. Each table's spec in gmoda_assets/conform/dimensions.py fills it and holds the descriptions that
-- become its COMMENTs; this file keeps the types and constraints.
--
-- Surrogate keys never change once given, because facts hold them under foreign keys: dim_date's key is the
-- date itself (yyyymmdd); dim_geography and dim_partner keep each member's key by natural key (lsoa11cd,
-- partner_id), and the build gives a new member the next key after the highest. Each dimension has an unknown
-- member with key -1 for facts whose value is missing or invalid.
-- Idempotent: re-running this file changes nothing.

CREATE TABLE IF NOT EXISTS conformed.dim_date (
    date_key          integer PRIMARY KEY,
    date              date UNIQUE,
    day               smallint,
    month             smallint,
    month_name        text NOT NULL,
    year              smallint,
    iso_year          smallint,
    iso_week          smallint,
    weekday_number    smallint,
    weekday_name      text NOT NULL,
    is_weekend        boolean,
    academic_year     text NOT NULL,
    school_term       text NOT NULL,
    birth_term        text NOT NULL,
    financial_year    text NOT NULL,
    CHECK (date_key = -1 OR date_key = to_char(date, 'YYYYMMDD')::integer)
);

CREATE TABLE IF NOT EXISTS conformed.dim_geography (
    geography_key          integer PRIMARY KEY,
    lsoa11cd               text NOT NULL UNIQUE,
    lsoa11nm               text NOT NULL,
    ward17cd               text,
    ward17nm               text NOT NULL,
    lad19cd                text,
    lad19nm                text NOT NULL,
    imd19_rank             integer,
    imd19_decile           smallint,
    income19_decile        smallint,
    education19_decile     smallint,
    health19_decile        smallint,
    crime19_decile         smallint,
    living_env19_decile    smallint,
    population_mid2015     integer,
    children_0_15_mid2015  integer,
    is_current             boolean NOT NULL
);

CREATE TABLE IF NOT EXISTS conformed.dim_postcode_sector (
    postcode_sector    text NOT NULL,
    geography_key      integer NOT NULL REFERENCES conformed.dim_geography (geography_key),
    lsoa11cd           text NOT NULL,
    postcode_district  text NOT NULL,
    postcodes          integer NOT NULL CHECK (postcodes > 0),
    share_of_sector    numeric(7, 6) NOT NULL CHECK (share_of_sector > 0 AND share_of_sector <= 1),
    PRIMARY KEY (postcode_sector, geography_key)
);

CREATE TABLE IF NOT EXISTS conformed.dim_partner (
    partner_key   integer PRIMARY KEY,
    partner_id    text NOT NULL UNIQUE,
    partner_name  text NOT NULL,
    kind          text NOT NULL,
    council_code  text,
    feeds         text NOT NULL,
    feed_count    integer NOT NULL,
    is_current    boolean NOT NULL
);

-- The builds give every key, so keys drawn from identities (as warehouses created before kept them) are gone.
ALTER TABLE conformed.dim_geography ALTER COLUMN geography_key DROP IDENTITY IF EXISTS;
ALTER TABLE conformed.dim_partner ALTER COLUMN partner_key DROP IDENTITY IF EXISTS;
