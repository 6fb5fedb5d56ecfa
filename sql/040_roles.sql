-- Roles for the platform's kinds of work. They are group roles (NOLOGIN): grant them to login roles.
--   gmoda_loader       appends partner drops to raw and records them in the ledger (ops); reads nothing later
--   gmoda_transformer  reads raw (and the ledger), builds and owns staging and every later layer
--   gmoda_analyst      reads only what is safe to share: synthetic and mart; never raw, staging or ops
--                      (so never staging.linkage_features, which only the linkage step reads)
--   gmoda_linkage_reviewer  granted to an analyst's login: reads the linkage's review queue and records
--                      decisions on it, nothing else of linked (sql/310_linked_review.sql)
-- The platform's own steps act as these groups (SET ROLE at connection start): ingest as the loader, staging
-- onward as the transformer. Only set-up, whoever runs these files (the administrator: postgres on the
-- embedded server, the account in GMODA_DATABASE_URL otherwise), acts as itself; it owns raw.
-- Idempotent: roles are created only when missing; GRANT, REVOKE and ALTER DEFAULT PRIVILEGES are repeatable.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gmoda_loader') THEN CREATE ROLE gmoda_loader NOLOGIN; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gmoda_transformer') THEN CREATE ROLE gmoda_transformer NOLOGIN; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gmoda_analyst') THEN CREATE ROLE gmoda_analyst NOLOGIN; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gmoda_linkage_reviewer') THEN
        CREATE ROLE gmoda_linkage_reviewer NOLOGIN;
    END IF;
END
$$;

-- An administrator that is not a superuser must be a member of the writing groups to act as them, to hand
-- them tables and to set their default privileges. A superuser needs nothing.
DO $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        GRANT gmoda_loader, gmoda_transformer TO CURRENT_USER;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'cannot make % a member of gmoda_loader and gmoda_transformer: %', current_user, SQLERRM;
END
$$;

-- The warehouse database itself: only the three groups (and the administrator) may connect, and only the
-- transformer, whose steps use ON COMMIT DROP temporary tables, may create them. PostgreSQL gives PUBLIC both
-- by default. The database's name varies by install, hence the DO block.
DO $$
BEGIN
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM gmoda_loader, gmoda_analyst', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO gmoda_loader, gmoda_transformer, gmoda_analyst', current_database());
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO gmoda_transformer', current_database());
END
$$;

-- Access is granted, never assumed: nobody but these grants reaches a layer (new schemas give PUBLIC nothing;
-- the revokes undo any grant made by hand or by an older version of this file).
REVOKE ALL ON SCHEMA raw, staging, conformed, linked, synthetic, model, signposting, mart, ops FROM PUBLIC;
REVOKE ALL ON SCHEMA raw, staging, conformed, linked, model, signposting, ops FROM gmoda_analyst;
REVOKE ALL ON ALL TABLES IN SCHEMA raw, staging, conformed, linked, model, signposting, ops FROM gmoda_analyst;
REVOKE ALL ON SCHEMA staging, conformed, linked, synthetic, model, signposting, mart FROM gmoda_loader;
REVOKE ALL ON ALL TABLES IN SCHEMA staging, conformed, linked, synthetic, model, signposting, mart FROM gmoda_loader;

-- Hands every table, view and sequence in `schemas` to `new_owner`, skipping what it already owns and, when
-- `only_from` is given, what another role than those owns. Set-up only (PUBLIC may not call it).
CREATE OR REPLACE PROCEDURE ops.hand_over(schemas text[], new_owner text, only_from text[] DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    obj record;
BEGIN
    FOR obj IN
        SELECT c.oid::regclass AS name,
               CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                              ELSE 'TABLE' END AS kind
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY (schemas) AND c.relkind IN ('r', 'p', 'S', 'v', 'm')
          AND pg_get_userbyid(c.relowner) <> new_owner
          AND (only_from IS NULL OR pg_get_userbyid(c.relowner) = ANY (only_from))
          AND NOT (c.relkind = 'S' AND EXISTS (SELECT FROM pg_depend d  -- identity and serial sequences follow
                   WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))  -- their table
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO %I', obj.kind, obj.name, new_owner);
    END LOOP;
END
$$;
REVOKE ALL ON PROCEDURE ops.hand_over(text[], text, text[]) FROM PUBLIC;

-- Raw is append-only. The administrator creates its tables at set-up and owns them (an owner may do anything
-- to its table, so no group may own one: tables an older version let a group create are handed back, before
-- the revokes below, which would otherwise strip the group's rights as owner rather than its grants); the
-- loader may only read and append, the transformer only read, and nobody else may update or delete a row.
CALL ops.hand_over(ARRAY['raw'], current_user, ARRAY['gmoda_loader', 'gmoda_transformer', 'gmoda_analyst']);
REVOKE CREATE ON SCHEMA raw FROM gmoda_loader, gmoda_transformer;
REVOKE ALL ON ALL TABLES IN SCHEMA raw FROM gmoda_loader, gmoda_transformer;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA raw FROM gmoda_loader, gmoda_transformer;
GRANT USAGE ON SCHEMA raw TO gmoda_loader, gmoda_transformer;
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA raw TO gmoda_loader;
GRANT USAGE, UPDATE ON ALL SEQUENCES IN SCHEMA raw TO gmoda_loader;  -- raw row numbers, restarted for each drop
GRANT SELECT ON ALL TABLES IN SCHEMA raw TO gmoda_transformer;

-- The drop ledger (ops.drops) is the only table the loader updates (its upsert of a re-quarantined drop); it
-- appends to the other ops tables it does not own. Tables it builds itself (ops.feed_deliveries) are its own.
GRANT USAGE, CREATE ON SCHEMA ops TO gmoda_loader;
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA ops TO gmoda_loader;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA ops TO gmoda_loader;
DO $$
DECLARE
    t regclass;
BEGIN
    FOR t IN SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'ops' AND c.relkind IN ('r', 'p') AND c.relowner <> 'gmoda_loader'::regrole
    LOOP
        EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON %s FROM gmoda_loader', t);
    END LOOP;
END
$$;
GRANT UPDATE ON ops.drops TO gmoda_loader;
GRANT USAGE ON SCHEMA ops TO gmoda_transformer;
GRANT SELECT ON ALL TABLES IN SCHEMA ops TO gmoda_transformer;

-- Staging onward: the transformer builds (and, see 900_owners.sql, owns) every table.
GRANT USAGE, CREATE ON SCHEMA staging, conformed, linked, synthetic, model, signposting, mart TO gmoda_transformer;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES
    IN SCHEMA staging, conformed, linked, synthetic, model, signposting, mart TO gmoda_transformer;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA staging, conformed, linked, synthetic, model, signposting, mart TO gmoda_transformer;

GRANT USAGE ON SCHEMA synthetic, mart TO gmoda_analyst;
-- Every published table, never a candidate: a candidate whose checks failed stays for inspection until the next
-- build (gmoda_assets/lib/publish.py), and what failed a disclosure check must not reach analysts.
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT table_schema, table_name, table_name LIKE '%\_\_candidate' AS candidate
             FROM information_schema.tables WHERE table_schema IN ('synthetic', 'mart') LOOP
        EXECUTE format(CASE WHEN t.candidate THEN 'REVOKE ALL ON %I.%I FROM gmoda_analyst'
                            ELSE 'GRANT SELECT ON %I.%I TO gmoda_analyst' END, t.table_schema, t.table_name);
    END LOOP;
END
$$;

-- Tables created later. Default privileges apply to objects created by one given role, so they are set for
-- every role that creates tables: the administrator (raw tables, ops.drops, the conformed tables of sql/2*) and
-- the two writing groups, which create what their steps build.
ALTER DEFAULT PRIVILEGES FOR ROLE CURRENT_USER IN SCHEMA raw, ops REVOKE UPDATE ON TABLES FROM gmoda_loader;
ALTER DEFAULT PRIVILEGES FOR ROLE CURRENT_USER IN SCHEMA raw, ops GRANT SELECT, INSERT ON TABLES TO gmoda_loader;
ALTER DEFAULT PRIVILEGES FOR ROLE CURRENT_USER IN SCHEMA raw, ops GRANT USAGE ON SEQUENCES TO gmoda_loader;
ALTER DEFAULT PRIVILEGES FOR ROLE CURRENT_USER IN SCHEMA raw GRANT UPDATE ON SEQUENCES TO gmoda_loader;  -- setval
ALTER DEFAULT PRIVILEGES FOR ROLE CURRENT_USER IN SCHEMA raw, ops GRANT SELECT ON TABLES TO gmoda_transformer;
ALTER DEFAULT PRIVILEGES FOR ROLE CURRENT_USER IN SCHEMA staging, conformed, linked, synthetic, model, signposting, mart
    GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON TABLES TO gmoda_transformer;
ALTER DEFAULT PRIVILEGES FOR ROLE CURRENT_USER IN SCHEMA staging, conformed, linked, synthetic, model, signposting, mart
    GRANT USAGE, SELECT ON SEQUENCES TO gmoda_transformer;
ALTER DEFAULT PRIVILEGES FOR ROLE CURRENT_USER IN SCHEMA synthetic, mart GRANT SELECT ON TABLES TO gmoda_analyst;

-- An account that may not act as the groups (see above) skips these, with a warning.
DO $$
BEGIN
    ALTER DEFAULT PRIVILEGES FOR ROLE gmoda_loader IN SCHEMA ops GRANT SELECT ON TABLES TO gmoda_transformer;
    ALTER DEFAULT PRIVILEGES FOR ROLE gmoda_transformer IN SCHEMA synthetic, mart GRANT SELECT ON TABLES TO gmoda_analyst;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'default privileges for tables created by gmoda_loader/gmoda_transformer not set: %', SQLERRM;
END
$$;
