-- The fingerprint of the pseudonymisation key that made the pseudonyms in the warehouse: HMAC-SHA256(key,
-- 'gmoda key fingerprint v1'), one-way, so it says whether a key is the same one and nothing else. Staging
-- records it on first use and refuses to run under any other key (gmoda_assets/lib/pseudonymise.py): pseudonyms
-- made under a new key never match the old ones, so a changed key would silently break every link.
-- After 040_roles.sql, whose roles the grants below name. Idempotent.
CREATE TABLE IF NOT EXISTS ops.key_fingerprint (
    only_row     boolean PRIMARY KEY DEFAULT true CHECK (only_row),  -- one key per warehouse, so one row
    fingerprint  text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    recorded_at  timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE ops.key_fingerprint IS 'Fingerprint of the pseudonymisation key that made the pseudonyms held; a build under another key is refused.';
COMMENT ON COLUMN ops.key_fingerprint.fingerprint IS 'HMAC-SHA256(key, ''gmoda key fingerprint v1''), hex: identifies the key without revealing it.';
COMMENT ON COLUMN ops.key_fingerprint.recorded_at IS 'When the first pseudonyms were made under this key.';

-- The transformer records the fingerprint on first use and reads it; nobody but an administrator may change or
-- remove it (changing the key on purpose means deleting the row and rebuilding every pseudonym). Revoked from
-- the loader and PUBLIC explicitly, since the default privileges of 040_roles.sql give the loader UPDATE on
-- every ops table.
REVOKE ALL ON ops.key_fingerprint FROM PUBLIC, gmoda_loader, gmoda_transformer, gmoda_analyst;
GRANT SELECT, INSERT ON ops.key_fingerprint TO gmoda_transformer;
