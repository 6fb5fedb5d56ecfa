-- Each conformed fact is a partitioned table whose one partition, <fact>__rows, holds all its rows (bounds
-- MINVALUE to MAXVALUE of its primary key), so that a build publishes its checked candidate by attaching it in
-- place of the old partition (gmoda_assets/lib/publish.py) rather than by inserting every row again.
--
-- Why: inserting into a table checks each row's foreign keys with a trigger per key and row, 4 million checks
-- for funded early education (24 of its 25 s of publishing at Greater Manchester scale), while attaching a
-- partition checks each key with one query. Of the ways to get there, only this one takes no lock that stops a
-- reader of a dimension (bench/publish_locks.py): dropping a foreign key, or a table that has one, removes its
-- triggers from the referenced dimension under an ACCESS EXCLUSIVE lock, but the foreign keys here are the
-- parent's, and the old partition is dropped without touching the dimensions. Attaching takes SHARE ROW
-- EXCLUSIVE on each dimension, which readers never wait for.
--
-- The parent keeps everything readers and the tests see: the columns, their types, NOT NULLs, comments, owner
-- and grants, the primary key and the foreign keys (sql/2*, sql/300_linked.sql). A unique key other than the
-- primary key (record_key of a fact with its own numbered key) cannot be the parent's, since it does not hold
-- the partition key, so it is its partition's: with one partition that covers every key, that is the same
-- guarantee, and each build gives its new partition the same constraint.
--
-- This file turns a fact made by sql/2* (a plain table) into that shape, keeping its rows; it runs after
-- sql/300_linked.sql has added person_key. A fact already partitioned is left as it is. Converting drops the
-- plain table's own foreign keys, which locks the dimensions once, when the warehouse is set up.

CREATE OR REPLACE PROCEDURE ops.partition_fact(fact regclass)
LANGUAGE plpgsql AS $$
DECLARE
    schema_name text;
    table_name text;
    key_columns text;
    con record;
BEGIN
    SELECT n.nspname, c.relname INTO schema_name, table_name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = fact AND c.relkind = 'r';
    IF NOT FOUND THEN
        RETURN;  -- already partitioned
    END IF;
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.ordinality) INTO key_columns
    FROM pg_constraint p, unnest(p.conkey) WITH ORDINALITY AS k (attnum, ordinality)
    JOIN pg_attribute a ON a.attnum = k.attnum
    WHERE p.conrelid = fact AND p.contype = 'p' AND a.attrelid = fact;
    EXECUTE format('ALTER TABLE %I.%I RENAME TO %I', schema_name, table_name, table_name || '__rows');
    EXECUTE format('CREATE TABLE %I.%I (LIKE %I.%I INCLUDING DEFAULTS INCLUDING COMMENTS) PARTITION BY RANGE (%s)',
                   schema_name, table_name, schema_name, table_name || '__rows', key_columns);
    EXECUTE format('COMMENT ON TABLE %I.%I IS %L', schema_name, table_name, obj_description(fact, 'pg_class'));
    -- The primary key and foreign keys move to the parent under their names; other constraints stay.
    FOR con IN SELECT conname, pg_get_constraintdef(oid) AS definition FROM pg_constraint
               WHERE conrelid = fact AND contype IN ('p', 'f') ORDER BY contype DESC, conname LOOP
        EXECUTE format('ALTER TABLE %I.%I DROP CONSTRAINT %I', schema_name, table_name || '__rows', con.conname);
        EXECUTE format('ALTER TABLE %I.%I ADD CONSTRAINT %I %s', schema_name, table_name, con.conname, con.definition);
    END LOOP;
    EXECUTE format('ALTER TABLE %I.%I ATTACH PARTITION %I.%I FOR VALUES FROM (MINVALUE) TO (MAXVALUE)',
                   schema_name, table_name, schema_name, table_name || '__rows');
END
$$;
REVOKE ALL ON PROCEDURE ops.partition_fact(regclass) FROM PUBLIC;

CALL ops.partition_fact('conformed.fact_births');
CALL ops.partition_fact('conformed.fact_health_visiting_reviews');
CALL ops.partition_fact('conformed.fact_police_incidents');
CALL ops.partition_fact('conformed.fact_tenancies');
CALL ops.partition_fact('conformed.fact_early_years_outcomes');
CALL ops.partition_fact('conformed.fact_funded_early_education');
CALL ops.partition_fact('conformed.fact_social_care_episodes');
