-- Roles for the platform's kinds of work. They are group roles (NOLOGIN): grant them to login roles.
--   gmoda_loader       writes partner drops into raw and the drop ledger
--   gmoda_transformer  reads raw, builds every later layer
--   gmoda_analyst      reads only what is safe to share: synthetic and mart
-- Idempotent: roles are created only when missing; grants are repeatable.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gmoda_loader') THEN CREATE ROLE gmoda_loader NOLOGIN; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gmoda_transformer') THEN CREATE ROLE gmoda_transformer NOLOGIN; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gmoda_analyst') THEN CREATE ROLE gmoda_analyst NOLOGIN; END IF;
END
$$;

GRANT USAGE, CREATE ON SCHEMA raw, ops TO gmoda_loader;
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA raw, ops TO gmoda_loader;
ALTER DEFAULT PRIVILEGES IN SCHEMA raw, ops GRANT SELECT, INSERT ON TABLES TO gmoda_loader;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA raw TO gmoda_loader;  -- raw row numbers
ALTER DEFAULT PRIVILEGES IN SCHEMA raw GRANT USAGE ON SEQUENCES TO gmoda_loader;

GRANT USAGE ON SCHEMA raw, ops TO gmoda_transformer;
GRANT SELECT ON ALL TABLES IN SCHEMA raw, ops TO gmoda_transformer;
ALTER DEFAULT PRIVILEGES IN SCHEMA raw, ops GRANT SELECT ON TABLES TO gmoda_transformer;
GRANT USAGE, CREATE ON SCHEMA staging, conformed, linked, synthetic, model, signposting, mart TO gmoda_transformer;

GRANT USAGE ON SCHEMA synthetic, mart TO gmoda_analyst;
GRANT SELECT ON ALL TABLES IN SCHEMA synthetic, mart TO gmoda_analyst;
ALTER DEFAULT PRIVILEGES IN SCHEMA synthetic, mart GRANT SELECT ON TABLES TO gmoda_analyst;
