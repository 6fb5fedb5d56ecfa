-- Each drop's rows are a table of their own, a partition of its feed's raw table (partitioned by _drop_id), made by
-- the load that copies them in (gmoda_assets/ingest/loader.py). The loader may not create or own a raw table (an
-- owner may rewrite its rows), so this function, run with its owner's rights (the administrator's, who owns
-- raw), makes it: the drop's table, named for the file's hash, with the feed's columns and defaults, the drop id
-- as its constant default (not a setting read for every row), attached to the feed's table while still empty, so
-- the attach scans nothing and takes only SHARE UPDATE EXCLUSIVE on it (readers of raw do not wait). Being made
-- in the caller's transaction, it goes if the load rolls back, and COPY may write its rows frozen. Its privileges
-- are raw's defaults (sql/900_owners.sql): the loader may read it and append to it, nothing more.
CREATE OR REPLACE FUNCTION ops.new_drop_table(raw_table text, drop_id text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    short_hash text := substring(drop_id FROM '@([0-9a-f]{12})$');
    drop_table text := raw_table || '__' || short_hash;
BEGIN
    IF short_hash IS NULL THEN
        RAISE EXCEPTION '% is not a drop id (<partner>.<feed>/<file name>@<12 hex digits>)', drop_id;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = 'raw' AND c.relname = raw_table AND c.relkind = 'p') THEN
        RAISE EXCEPTION 'raw.% is not a raw table partitioned by drop', raw_table;
    END IF;
    EXECUTE format('CREATE TABLE raw.%I (LIKE raw.%I INCLUDING DEFAULTS)', drop_table, raw_table);
    EXECUTE format('ALTER TABLE raw.%I ALTER COLUMN _drop_id SET DEFAULT %L', drop_table, drop_id);
    EXECUTE format('ALTER TABLE raw.%I ATTACH PARTITION raw.%I FOR VALUES IN (%L)', raw_table, drop_table, drop_id);
    RETURN drop_table;
END
$$;
REVOKE ALL ON FUNCTION ops.new_drop_table(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.new_drop_table(text, text) TO gmoda_loader;
