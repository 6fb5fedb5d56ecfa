-- Signposting (gmoda_assets/signposting): the family view and who may see what of it. Each table's spec holds
-- the descriptions that become its COMMENTs; this file keeps the types, constraints, roles and policies.
-- Idempotent: re-running this file changes nothing.

-- One group role per agency of the pilot (gmoda_assets/signposting/agencies.yaml): grant it to each of the
-- agency's practitioners' logins. NOLOGIN, like the platform's groups.
DO $$
DECLARE
    agency text;
BEGIN
    FOREACH agency IN ARRAY ARRAY['stockport', 'gmp', 'nhs', 'stockport_homes'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gmoda_signpost_' || agency) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', 'gmoda_signpost_' || agency);
        END IF;
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), 'gmoda_signpost_' || agency);
    END LOOP;
END
$$;

CREATE TABLE IF NOT EXISTS signposting.agency_visibility (
    viewer          text NOT NULL,
    viewer_role     text NOT NULL,
    agency          text NOT NULL,
    feed_id         text NOT NULL,
    agreement       text NOT NULL,
    agreement_ends  date NOT NULL,
    PRIMARY KEY (viewer, feed_id)
);

CREATE TABLE IF NOT EXISTS signposting.family_involvement (
    household_key   integer NOT NULL,
    agency          text NOT NULL,
    feed_id         text NOT NULL,
    children        integer NOT NULL CHECK (children > 0),
    care_level      text CHECK (care_level IN ('early_help', 'child_in_need', 'child_protection', 'looked_after')),
    open_episodes   integer,
    care_since      date,
    incidents_12m   integer,
    last_incident   date,
    domestic_abuse  boolean,
    tenancy_open    boolean,
    tenancy_since   date,
    reviews_missed  integer,
    missed_reviews  text,
    last_review     date,
    last_activity   date,
    contact_route   text NOT NULL,
    as_of           date NOT NULL,
    PRIMARY KEY (household_key, agency)
);

-- Practitioners read the family view only through row-level security (its policy, which also needs a lookup
-- of the household, is in 950_signposting_lookup.sql): a row is visible when the agreements
-- (signposting.agency_visibility, rebuilt from them every night) let an agency whose role the reader holds see
-- that feed's signals. The owner (the transformer, which rebuilds both) is not subject to it; candidates are
-- granted to nobody.
ALTER TABLE signposting.family_involvement ENABLE ROW LEVEL SECURITY;

GRANT USAGE ON SCHEMA signposting
    TO gmoda_signpost_stockport, gmoda_signpost_gmp, gmoda_signpost_nhs, gmoda_signpost_stockport_homes;
GRANT SELECT ON signposting.family_involvement, signposting.agency_visibility
    TO gmoda_signpost_stockport, gmoda_signpost_gmp, gmoda_signpost_nhs, gmoda_signpost_stockport_homes;

-- Alerts for the agency that leads the case: its practitioners read only their own (row-level security).
CREATE TABLE IF NOT EXISTS signposting.alerts (
    household_key  integer NOT NULL,
    lead_agency    text NOT NULL,
    alert          text NOT NULL CHECK (alert IN ('police_incident_on_child_protection_plan', 'missed_review_child_on_plan')),
    agency         text NOT NULL,
    feed_id        text NOT NULL,
    event_date     date NOT NULL,
    detail         text,
    events         integer NOT NULL CHECK (events > 0),
    contact_route  text NOT NULL,
    as_of          date NOT NULL
);
ALTER TABLE signposting.alerts ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS lead_agency_sees_its_alerts ON signposting.alerts;
CREATE POLICY lead_agency_sees_its_alerts ON signposting.alerts FOR SELECT
    TO gmoda_signpost_stockport, gmoda_signpost_gmp, gmoda_signpost_nhs, gmoda_signpost_stockport_homes
    USING (pg_has_role((SELECT oid FROM pg_roles WHERE rolname = 'gmoda_signpost_' || alerts.lead_agency), 'USAGE'));
GRANT SELECT ON signposting.alerts
    TO gmoda_signpost_stockport, gmoda_signpost_gmp, gmoda_signpost_nhs, gmoda_signpost_stockport_homes;
