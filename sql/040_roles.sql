-- Roles for the platform's kinds of work. They are group roles (NOLOGIN): grant them to login roles.
--   gmoda_loader       writes partner drops into raw and the drop ledger in ops; reads nothing later
--   gmoda_transformer  reads raw (and the ledger), builds staging and every later layer
--   gmoda_analyst      reads only what is safe to share: synthetic and mart; never raw, staging or ops
--                      (so never staging.linkage_features, which only the linkage step reads)
-- Idempotent: roles are created only when missing; GRANT, REVOKE and ALTER DEFAULT PRIVILEGES are repeatable.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gmoda_loader') THEN CREATE ROLE gmoda_loader NOLOGIN; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gmoda_transformer') THEN CREATE ROLE gmoda_transformer NOLOGIN; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gmoda_analyst') THEN CREATE ROLE gmoda_analyst NOLOGIN; END IF;
END
$$;

-- Access is granted, never assumed: nobody but these grants reaches a layer (new schemas give PUBLIC nothing;
-- the revokes undo any grant made by hand or by an older version of this file).
REVOKE ALL ON SCHEMA raw, staging, conformed, linked, synthetic, model, signposting, mart, ops FROM PUBLIC;
REVOKE ALL ON SCHEMA raw, staging, conformed, linked, model, signposting, ops FROM gmoda_analyst;
REVOKE ALL ON ALL TABLES IN SCHEMA raw, staging, conformed, linked, model, signposting, ops FROM gmoda_analyst;
REVOKE ALL ON SCHEMA staging, conformed, linked, synthetic, model, signposting, mart FROM gmoda_loader;
REVOKE ALL ON ALL TABLES IN SCHEMA staging, conformed, linked, synthetic, model, signposting, mart FROM gmoda_loader;

-- Tables that exist now.
GRANT USAGE, CREATE ON SCHEMA raw, ops TO gmoda_loader;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA raw, ops TO gmoda_loader;  -- UPDATE: the ledger's upsert
GRANT USAGE ON ALL SEQUENCES IN SCHEMA raw, ops TO gmoda_loader;  -- raw row numbers, serial ids

GRANT USAGE ON SCHEMA raw, ops TO gmoda_transformer;
GRANT SELECT ON ALL TABLES IN SCHEMA raw, ops TO gmoda_transformer;
GRANT USAGE, CREATE ON SCHEMA staging, conformed, linked, synthetic, model, signposting, mart TO gmoda_transformer;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES
    IN SCHEMA staging, conformed, linked, synthetic, model, signposting, mart TO gmoda_transformer;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA staging, conformed, linked, synthetic, model, signposting, mart TO gmoda_transformer;

GRANT USAGE ON SCHEMA synthetic, mart TO gmoda_analyst;
GRANT SELECT ON ALL TABLES IN SCHEMA synthetic, mart TO gmoda_analyst;

-- Tables created later. Default privileges apply to objects created by one given role, so they are set for
-- every role that creates tables: the platform's own user, i.e. whoever runs these files (postgres on the
-- embedded server, the account in GMODA_DATABASE_URL otherwise), which also creates every table; and the
-- two writing groups, for login roles that create tables after SET ROLE gmoda_loader / gmoda_transformer
-- (the way to make the group, not one person, own them). Plain SQL: no event trigger, no extension.
ALTER DEFAULT PRIVILEGES FOR ROLE CURRENT_USER IN SCHEMA raw, ops GRANT SELECT, INSERT, UPDATE ON TABLES TO gmoda_loader;
ALTER DEFAULT PRIVILEGES FOR ROLE CURRENT_USER IN SCHEMA raw, ops GRANT USAGE ON SEQUENCES TO gmoda_loader;
ALTER DEFAULT PRIVILEGES FOR ROLE CURRENT_USER IN SCHEMA raw, ops GRANT SELECT ON TABLES TO gmoda_transformer;
ALTER DEFAULT PRIVILEGES FOR ROLE CURRENT_USER IN SCHEMA staging, conformed, linked, synthetic, model, signposting, mart
    GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON TABLES TO gmoda_transformer;
ALTER DEFAULT PRIVILEGES FOR ROLE CURRENT_USER IN SCHEMA staging, conformed, linked, synthetic, model, signposting, mart
    GRANT USAGE, SELECT ON SEQUENCES TO gmoda_transformer;
ALTER DEFAULT PRIVILEGES FOR ROLE CURRENT_USER IN SCHEMA synthetic, mart GRANT SELECT ON TABLES TO gmoda_analyst;

-- An account that may not act as the groups (a non-superuser admin on an external server) skips these:
-- its own defaults above still cover every table the platform creates.
DO $$
BEGIN
    ALTER DEFAULT PRIVILEGES FOR ROLE gmoda_loader IN SCHEMA raw, ops GRANT SELECT ON TABLES TO gmoda_transformer;
    ALTER DEFAULT PRIVILEGES FOR ROLE gmoda_transformer IN SCHEMA synthetic, mart GRANT SELECT ON TABLES TO gmoda_analyst;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'default privileges for tables created by gmoda_loader/gmoda_transformer not set: %', SQLERRM;
END
$$;
