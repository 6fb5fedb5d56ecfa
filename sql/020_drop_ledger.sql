-- The drop ledger: one row per partner file the platform has processed, loaded or quarantined.
-- It is how a re-delivered file is recognised (same feed, same content hash) and how every drop
-- reconciles: rows_delivered = rows_loaded + rows_quarantined (+ rows already held, for a duplicate).
CREATE TABLE IF NOT EXISTS ops.drops (
    drop_id           text PRIMARY KEY,
    partner           text NOT NULL,
    feed_id           text,
    file_name         text NOT NULL,
    content_hash      text NOT NULL,
    size_bytes        bigint NOT NULL,
    status            text NOT NULL CHECK (status IN ('loaded', 'duplicate', 'quarantined')),
    rows_delivered    bigint NOT NULL,
    rows_loaded       bigint NOT NULL,
    rows_quarantined  bigint NOT NULL,
    duplicate_of      text REFERENCES ops.drops (drop_id),
    reason            jsonb,
    quarantine_path   text,
    dagster_run_id    text,
    processed_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (status = 'duplicate' OR rows_delivered = rows_loaded + rows_quarantined)
);
CREATE INDEX IF NOT EXISTS drops_feed_hash ON ops.drops (feed_id, content_hash);
ALTER TABLE ops.drops ADD COLUMN IF NOT EXISTS blank_lines integer NOT NULL DEFAULT 0;
-- Which role recorded the drop: the loader's, since ingest runs as gmoda_loader (rows recorded before then keep
-- the administrator's name, the role they were recorded by).
ALTER TABLE ops.drops ADD COLUMN IF NOT EXISTS processed_by text NOT NULL DEFAULT current_user;
-- The drop's number: what a raw row holds of its drop (raw.<feed>._drop), 4 bytes where the drop id is ~50. A loaded
-- drop's is drawn when its table is made (ops.new_drop_table, in the load's transaction); a re-delivery's or a
-- quarantined file's, which have no table, when the drop is recorded. Drops recorded before there were numbers
-- are numbered when the column is added.
CREATE SEQUENCE IF NOT EXISTS ops.drop_numbers AS integer;
ALTER TABLE ops.drops ADD COLUMN IF NOT EXISTS drop_number integer NOT NULL DEFAULT nextval('ops.drop_numbers') UNIQUE;
ALTER SEQUENCE ops.drop_numbers OWNED BY ops.drops.drop_number;

COMMENT ON TABLE ops.drops IS 'One row per partner file processed: loaded into raw, recognised as a re-delivery, or quarantined with its reason.';
COMMENT ON COLUMN ops.drops.drop_id IS 'Partition key of the drop in Dagster: <partner>.<feed>/<file name>@<first 12 hex of sha256>.';
COMMENT ON COLUMN ops.drops.drop_number IS 'The drop''s number, unique: a raw row''s _drop (JOIN ops.drops ON drop_number = _drop).';
COMMENT ON COLUMN ops.drops.feed_id IS '<partner>.<feed> of the contract the file matched; null when it matched none.';
COMMENT ON COLUMN ops.drops.content_hash IS 'SHA-256 of the file bytes as delivered.';
COMMENT ON COLUMN ops.drops.status IS 'loaded, duplicate (same content as an earlier drop of the feed: nothing loaded) or quarantined.';
COMMENT ON COLUMN ops.drops.rows_delivered IS 'Data rows in the file (lines after the header for a quarantined file).';
COMMENT ON COLUMN ops.drops.rows_loaded IS 'Rows appended to the raw table by this drop.';
COMMENT ON COLUMN ops.drops.rows_quarantined IS 'Rows set aside with the file in quarantine.';
COMMENT ON COLUMN ops.drops.duplicate_of IS 'For a duplicate: the drop that first delivered this content.';
COMMENT ON COLUMN ops.drops.reason IS 'Why the file was quarantined: drop, file, row, line, column, expected, found.';
COMMENT ON COLUMN ops.drops.blank_lines IS 'Blank lines outside quoted fields, left out when the file was loaded (they are not rows).';
COMMENT ON COLUMN ops.drops.quarantine_path IS 'Where the quarantined file and its reason file now are.';
COMMENT ON COLUMN ops.drops.processed_by IS 'Database role that recorded the drop (gmoda_loader when ingest recorded it).';
