-- Each drop's rows are a table of their own, a partition of its feed's raw table (partitioned by _drop, the drop's
-- number in ops.drops), made by the load that copies them in (gmoda_assets/ingest/loader.py). The loader may not
-- create or own a raw table (an owner may rewrite its rows), so this function, run with its owner's rights (the
-- administrator's, who owns raw), makes it: the drop's table, named for the file's hash, with the feed's columns
-- and defaults, the drop's number, drawn here, as its constant default (not a setting read for every row),
-- attached to the feed's table while still empty, so the attach scans nothing and takes only SHARE UPDATE
-- EXCLUSIVE on it (readers of raw do not wait). Being made in the caller's transaction, it goes if the load rolls
-- back, and COPY may write its rows frozen. Its text columns are stored as the feed's table's are, plain (no
-- TOAST table: making one, a table and its index, was most of the time making the drop's table took), unless
-- long_rows: a row longer than a page (8 kB) needs TOAST, and the load that meets one makes its table again that
-- way. It returns the table and the number, which the load records in ops.drops. Its privileges are raw's
-- defaults (sql/900_owners.sql): the loader may read it and append to it, nothing more.
DROP FUNCTION IF EXISTS ops.new_drop_table(text, text);  -- an older install's, without long_rows
CREATE OR REPLACE FUNCTION ops.new_drop_table(raw_table text, drop_id text, long_rows boolean DEFAULT false,
                                              OUT drop_table text, OUT drop_number integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    short_hash text := substring(drop_id FROM '@([0-9a-f]{12})$');
BEGIN
    IF short_hash IS NULL THEN
        RAISE EXCEPTION '% is not a drop id (<partner>.<feed>/<file name>@<12 hex digits>)', drop_id;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
                   JOIN pg_namespace n ON n.oid = c.relnamespace
                   JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = p.partattrs[0]
                   WHERE n.nspname = 'raw' AND c.relname = raw_table AND a.attname = '_drop') THEN
        RAISE EXCEPTION 'raw.% is not a raw table partitioned by drop number', raw_table;
    END IF;
    drop_table := raw_table || '__' || short_hash;
    drop_number := nextval('ops.drop_numbers');
    EXECUTE format('CREATE TABLE raw.%I (LIKE raw.%I INCLUDING DEFAULTS%s)', drop_table, raw_table,
                   CASE WHEN long_rows THEN '' ELSE ' INCLUDING STORAGE' END);
    EXECUTE format('ALTER TABLE raw.%I ALTER COLUMN _drop SET DEFAULT %s', drop_table, drop_number);
    EXECUTE format('ALTER TABLE raw.%I ATTACH PARTITION raw.%I FOR VALUES IN (%s)', raw_table, drop_table, drop_number);
END
$$;
REVOKE ALL ON FUNCTION ops.new_drop_table(text, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.new_drop_table(text, text, boolean) TO gmoda_loader;
