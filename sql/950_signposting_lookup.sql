-- Signposting lookups (gmoda_assets/signposting/lookup.py): one function finds a family by identifiers a
-- practitioner's agency already holds, pseudonymised by the client under the platform's key, and records every
-- call in an audit nobody can change. After 900_owners.sql, which hands the rest of the schema to the
-- transformer: these tables stay the administrator's. Idempotent: re-running this file changes nothing.

-- The least match probability at which a fuzzy match is returned (configuration; the administrator changes it).
CREATE TABLE IF NOT EXISTS signposting.lookup_settings (
    only_row         boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    min_probability  double precision NOT NULL CHECK (min_probability > 0.5 AND min_probability <= 1)
);
INSERT INTO signposting.lookup_settings (min_probability) VALUES (0.95) ON CONFLICT DO NOTHING;
COMMENT ON TABLE signposting.lookup_settings IS 'Lookup configuration: a fuzzy match (not every identifier given agreeing exactly) is returned only at or above min_probability, the linkage model''s match probability.';

-- Every lookup, found or not: who, when, acting for which agencies, why, what was asked (kinds of identifier
-- and their pseudonyms, never a value) and what was returned. Append-only: the triggers below refuse UPDATE,
-- DELETE and TRUNCATE to everyone; only signposting.lookup (as the administrator, who owns the table) inserts.
CREATE TABLE IF NOT EXISTS signposting.lookup_audit (
    lookup_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    looked_up_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    login            text NOT NULL,
    acting_role      text NOT NULL,
    agencies         text[] NOT NULL,
    reason           text NOT NULL,
    identifiers      text[] NOT NULL,
    pseudonyms       jsonb NOT NULL,
    min_probability  double precision NOT NULL,
    households       integer[] NOT NULL,
    rows_returned    integer NOT NULL,
    returned         jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS lookup_audit_login ON signposting.lookup_audit (login, looked_up_at);
COMMENT ON TABLE signposting.lookup_audit IS 'Every signposting lookup, found or not: who (login and the role acted as), when, for which agencies, the stated reason, the kinds of identifier given and their keyed pseudonyms (never a value), and what was returned. Append-only for everyone: no role may update, delete or truncate it.';

CREATE OR REPLACE FUNCTION signposting.refuse_audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'signposting.lookup_audit is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
DROP TRIGGER IF EXISTS append_only ON signposting.lookup_audit;
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON signposting.lookup_audit
    FOR EACH ROW EXECUTE FUNCTION signposting.refuse_audit_change();
DROP TRIGGER IF EXISTS append_only_truncate ON signposting.lookup_audit;
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON signposting.lookup_audit
    FOR EACH STATEMENT EXECUTE FUNCTION signposting.refuse_audit_change();
-- The administrator owns them (an owner could disable the triggers), taken back from the transformer to which
-- 900_owners.sql hands the whole schema; the transformer may only read them, practitioners not at all.
ALTER TABLE signposting.lookup_audit OWNER TO CURRENT_USER;
ALTER TABLE signposting.lookup_settings OWNER TO CURRENT_USER;
REVOKE ALL ON signposting.lookup_audit, signposting.lookup_settings FROM PUBLIC, gmoda_transformer;
GRANT SELECT ON signposting.lookup_audit, signposting.lookup_settings TO gmoda_transformer;

-- The role a session acts as: the role it SET (or set at connection start), else its login. Inside a
-- SECURITY DEFINER function current_user is the definer, but the `role` setting is still the session's.
CREATE OR REPLACE FUNCTION signposting.acting_role() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN current_setting('role') = 'none' THEN session_user::text ELSE current_setting('role') END
$$;

-- Finds the households of the people whose records match `query` (keyed pseudonyms and the coarse features the
-- linkage compares, made by gmoda_assets.signposting.lookup.query) and returns the signals the caller's agencies
-- may see of them, one row per household and agency, each with how it matched: 'exact' when every identifier
-- given agrees with the person's record, else 'fuzzy', returned only at or above lookup_settings.min_probability.
-- A shared NHS number links exactly (probability 1), as in the linkage; otherwise the probability is the latest
-- linkage model's (Fellegi-Sunter: its m and u for each comparison level, term frequencies left out). Records the lookup in lookup_audit, found or not. The caller acts as an agency's
-- practitioner role (gmoda_signpost_<agency>: logged in as a member, or SET ROLE); never as a superuser.
CREATE OR REPLACE FUNCTION signposting.lookup(query jsonb, reason text)
RETURNS TABLE (household_key integer, match text, match_probability double precision, agency text,
               care_level text, open_episodes integer, care_since date, incidents_12m integer, last_incident date,
               domestic_abuse boolean, tenancy_open boolean, tenancy_since date, reviews_missed integer,
               missed_reviews text, last_review date, last_activity date, contact_route text, as_of date)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    caller text := signposting.acting_role();
    viewers text[];
    threshold double precision;
    model jsonb;
    result jsonb;
    allowed text[] := ARRAY['key_fingerprint', 'nhs_number_pseudonym', 'given_name_pseudonym', 'family_name_pseudonym',
                            'given_name_soundex', 'family_name_soundex', 'date_of_birth_pseudonym', 'birth_year',
                            'birth_month', 'postcode_pseudonym', 'postcode_sector'];
BEGIN
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = caller) THEN
        RAISE EXCEPTION 'signposting.lookup: act as an agency practitioner role (gmoda_signpost_<agency>), not as %', caller
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT array_agg(DISTINCT v.viewer ORDER BY v.viewer) INTO viewers
    FROM signposting.agency_visibility AS v JOIN pg_roles AS r ON r.rolname = v.viewer_role
    WHERE pg_has_role(caller, r.oid, 'USAGE');
    IF viewers IS NULL THEN
        RAISE EXCEPTION 'signposting.lookup: % acts for no agency that may see signals', caller
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF length(btrim(coalesce(reason, ''))) < 10 THEN
        RAISE EXCEPTION 'signposting.lookup: state the reason for the lookup (at least 10 characters)';
    END IF;
    IF jsonb_typeof(query) IS DISTINCT FROM 'object' OR EXISTS (SELECT FROM jsonb_object_keys(query) AS k WHERE k <> ALL (allowed)) THEN
        RAISE EXCEPTION 'signposting.lookup: the query is an object of %', array_to_string(allowed, ', ');
    END IF;
    IF NOT EXISTS (SELECT FROM ops.key_fingerprint WHERE fingerprint = query->>'key_fingerprint') THEN
        RAISE EXCEPTION 'signposting.lookup: the identifiers were not pseudonymised under the platform''s key '
                        '(key_fingerprint differs from ops.key_fingerprint), so they could match nothing';
    END IF;
    SELECT min_probability INTO threshold FROM signposting.lookup_settings;
    SELECT m.model INTO model FROM linked.model_runs AS m
    WHERE m.run_id = (SELECT max(r.run_id) FROM linked.person_records AS r);

    WITH q AS (
        SELECT query->>'nhs_number_pseudonym' AS nhs, query->>'given_name_pseudonym' AS gn,
               query->>'family_name_pseudonym' AS fn, query->>'given_name_soundex' AS gns,
               query->>'family_name_soundex' AS fns, query->>'date_of_birth_pseudonym' AS dob,
               (query->>'birth_year')::integer AS byear, (query->>'birth_month')::integer AS bmonth,
               query->>'postcode_pseudonym' AS pc, query->>'postcode_sector' AS sector
    ), weights AS (
        SELECT c->>'output_column_name' AS comparison, l->>'label_for_charts' AS label,
               CASE WHEN (l->>'is_null_level')::boolean THEN 0
                    ELSE log(2.0, (l->>'m_probability')::numeric / nullif((l->>'u_probability')::numeric, 0)) END AS w
        FROM jsonb_array_elements(model->'comparisons') AS c, jsonb_array_elements(c->'comparison_levels') AS l
    ), candidates AS (  -- records sharing a pseudonym with the query (the linkage's own blocking, coarser)
        SELECT f.*, p.person_key FROM q, staging.linkage_features AS f
        JOIN linked.person_records AS p USING (record_key)
        WHERE (f.nhs_number_pseudonym = q.nhs OR f.date_of_birth_pseudonym = q.dob
               OR (f.given_name_pseudonym = q.gn AND f.family_name_pseudonym = q.fn)
               OR (f.postcode_pseudonym = q.pc AND f.family_name_soundex = q.fns))
    ), levels AS (
        SELECT c.person_key, c.record_key,
               CASE WHEN q.gn IS NULL OR c.given_name_pseudonym IS NULL THEN 'missing'
                    WHEN c.given_name_pseudonym = q.gn THEN 'same name'
                    WHEN c.given_name_soundex = q.gns THEN 'same Soundex' ELSE 'different' END AS given_name,
               CASE WHEN q.fn IS NULL OR c.family_name_pseudonym IS NULL THEN 'missing'
                    WHEN c.family_name_pseudonym = q.fn THEN 'same name'
                    WHEN c.family_name_soundex = q.fns THEN 'same Soundex' ELSE 'different' END AS family_name,
               CASE WHEN q.byear IS NULL OR c.birth_year IS NULL THEN 'missing'
                    WHEN c.date_of_birth_pseudonym = q.dob THEN 'same date'
                    WHEN c.birth_year = q.byear AND c.birth_month = q.bmonth THEN 'same year and month'
                    WHEN c.birth_year = q.byear THEN 'same year' ELSE 'different' END AS date_of_birth,
               CASE WHEN q.sector IS NULL OR c.postcode_sector IS NULL THEN 'missing'
                    WHEN c.postcode_pseudonym = q.pc THEN 'same postcode'
                    WHEN c.postcode_sector = q.sector THEN 'same sector' ELSE 'different' END AS postcode,
               CASE WHEN q.nhs IS NULL OR c.nhs_number_pseudonym IS NULL THEN 'missing'
                    WHEN c.nhs_number_pseudonym = q.nhs THEN 'same number' ELSE 'different' END AS nhs_number
        FROM candidates AS c, q
    ), scored AS (
        SELECT l.person_key,
               -- a shared NHS number links exactly, as in the linkage; the model weighs the rest
               CASE WHEN l.nhs_number = 'same number' THEN 1 ELSE
               1 / (1 + power(2.0, -(log(2.0, ((model->>'probability_two_random_records_match')::numeric
                                              / (1 - (model->>'probability_two_random_records_match')::numeric)))
                                     + coalesce(sum(w.w), 0)))) END AS probability,
               -- exact: every identifier given agrees exactly with this record
               (q.gn IS NULL OR l.given_name = 'same name') AND (q.fn IS NULL OR l.family_name = 'same name')
               AND (q.dob IS NULL OR l.date_of_birth = 'same date') AND (q.pc IS NULL OR l.postcode = 'same postcode')
               AND (q.nhs IS NULL OR l.nhs_number = 'same number') AS exact
        FROM levels AS l CROSS JOIN q
        LEFT JOIN weights AS w ON (w.comparison, w.label) IN (('given_name', l.given_name), ('family_name', l.family_name),
                                                              ('date_of_birth', l.date_of_birth), ('postcode', l.postcode),
                                                              ('nhs_number', l.nhs_number))
        GROUP BY l.person_key, l.record_key, l.given_name, l.family_name, l.date_of_birth, l.postcode, l.nhs_number,
                 q.gn, q.fn, q.dob, q.pc, q.nhs
    ), households AS (  -- each household's best-matching member
        SELECT DISTINCT ON (m.household_key) m.household_key,
               CASE WHEN s.exact THEN 'exact' ELSE 'fuzzy' END AS match, s.probability::double precision AS probability
        FROM scored AS s JOIN linked.household_members AS m USING (person_key)
        WHERE s.probability >= threshold
        ORDER BY m.household_key, s.exact DESC, s.probability DESC
    )
    SELECT coalesce(jsonb_agg(to_jsonb(r) ORDER BY r.household_key, r.agency), '[]') INTO result
    FROM (SELECT h.household_key, h.match, h.probability AS match_probability, f.agency, f.care_level, f.open_episodes,
                 f.care_since, f.incidents_12m, f.last_incident, f.domestic_abuse, f.tenancy_open, f.tenancy_since,
                 f.reviews_missed, f.missed_reviews, f.last_review, f.last_activity, f.contact_route, f.as_of
          FROM households AS h JOIN signposting.family_involvement AS f USING (household_key)
          WHERE f.feed_id IN (SELECT v.feed_id FROM signposting.agency_visibility AS v WHERE v.viewer = ANY (viewers))) AS r;

    INSERT INTO signposting.lookup_audit (login, acting_role, agencies, reason, identifiers, pseudonyms,
                                          min_probability, households, rows_returned, returned)
    SELECT session_user, caller, viewers, btrim(reason),
           ARRAY(SELECT k FROM jsonb_object_keys(query) AS k WHERE k LIKE '%\_pseudonym' ORDER BY k),
           coalesce((SELECT jsonb_object_agg(k, v) FROM jsonb_each(query) AS e (k, v) WHERE k LIKE '%\_pseudonym'), '{}'),
           threshold, ARRAY(SELECT DISTINCT (e->>'household_key')::integer FROM jsonb_array_elements(result) AS e ORDER BY 1),
           jsonb_array_length(result), result;

    RETURN QUERY SELECT * FROM jsonb_to_recordset(result) AS r (
        household_key integer, match text, match_probability double precision, agency text, care_level text,
        open_episodes integer, care_since date, incidents_12m integer, last_incident date, domestic_abuse boolean,
        tenancy_open boolean, tenancy_since date, reviews_missed integer, missed_reviews text, last_review date,
        last_activity date, contact_route text, as_of date);
END
$$;
REVOKE ALL ON FUNCTION signposting.lookup(jsonb, text) FROM PUBLIC;

-- Whether this login, acting as this role, looked the household up in the last hour. Row-level security on the
-- family view asks it, so a practitioner reads directly only the families an audited lookup returned them,
-- never the whole view. SECURITY DEFINER: practitioners may not read the audit themselves.
CREATE OR REPLACE FUNCTION signposting.looked_up(household integer) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT FROM signposting.lookup_audit AS a
                   WHERE a.login = session_user AND a.acting_role = signposting.acting_role()
                     AND household = ANY (a.households) AND a.looked_up_at > now() - interval '1 hour')
$$;
REVOKE ALL ON FUNCTION signposting.looked_up(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION signposting.looked_up(integer)
    TO gmoda_signpost_stockport, gmoda_signpost_gmp, gmoda_signpost_nhs, gmoda_signpost_stockport_homes;
DROP POLICY IF EXISTS agencies_see_what_agreements_permit ON signposting.family_involvement;
CREATE POLICY agencies_see_what_agreements_permit ON signposting.family_involvement FOR SELECT
    TO gmoda_signpost_stockport, gmoda_signpost_gmp, gmoda_signpost_nhs, gmoda_signpost_stockport_homes
    USING (EXISTS (SELECT FROM signposting.agency_visibility AS v JOIN pg_roles AS r ON r.rolname = v.viewer_role
                   WHERE v.feed_id = family_involvement.feed_id AND pg_has_role(r.oid, 'USAGE'))
           AND signposting.looked_up(household_key));
-- signposting.lookup reads the view as its owner, the administrator: a superuser passes row-level security, an
-- administrator that is not one needs this policy.
DROP POLICY IF EXISTS lookup_reads_all ON signposting.family_involvement;
CREATE POLICY lookup_reads_all ON signposting.family_involvement FOR SELECT TO CURRENT_USER USING (true);
GRANT EXECUTE ON FUNCTION signposting.lookup(jsonb, text)
    TO gmoda_signpost_stockport, gmoda_signpost_gmp, gmoda_signpost_nhs, gmoda_signpost_stockport_homes;
