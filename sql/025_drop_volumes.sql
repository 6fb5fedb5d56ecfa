-- The volume guard (gmoda_assets/ingest/volume.py): each loaded drop's volume beside the feed's last good
-- delivery, and the drops held back because they shrank past their contract's threshold. A held drop stays in
-- raw (nothing is lost) but staging leaves it out until a person accepts it (`gmoda drops accept`).
-- Both tables are append-only for the loader, which records a drop's volume in the transaction that loads it
-- and an acceptance when a person gives one; the transformer reads them to choose what staging is built from.
CREATE TABLE IF NOT EXISTS ops.drop_volumes (
    drop_id           text PRIMARY KEY,
    feed_id           text NOT NULL,
    measure           text NOT NULL CHECK (measure IN ('rows', 'rows_per_month')),
    value             numeric NOT NULL,
    previous_drop_id  text,
    previous_value    numeric,
    max_shrink        numeric CHECK (max_shrink >= 0 AND max_shrink <= 1),
    held              boolean NOT NULL,
    dagster_run_id    text,
    checked_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS drop_volumes_feed ON ops.drop_volumes (feed_id);

CREATE TABLE IF NOT EXISTS ops.drop_acceptances (
    drop_id      text PRIMARY KEY REFERENCES ops.drop_volumes (drop_id),
    accepted_by  text NOT NULL,
    reason       text NOT NULL CHECK (btrim(reason) <> ''),
    accepted_at  timestamptz NOT NULL DEFAULT now(),
    recorded_by  text NOT NULL DEFAULT current_user
);

COMMENT ON TABLE ops.drop_volumes IS 'Per loaded drop: its volume beside the feed''s last good delivery, and whether it was held back from staging.';
COMMENT ON COLUMN ops.drop_volumes.measure IS 'rows (a snapshot: the records the partner holds) or rows_per_month (an increment: rows over the months since the previous delivery).';
COMMENT ON COLUMN ops.drop_volumes.value IS 'The drop''s measure.';
COMMENT ON COLUMN ops.drop_volumes.previous_drop_id IS 'The feed''s last good delivery before this one (by delivery date), compared against; null for the first.';
COMMENT ON COLUMN ops.drop_volumes.previous_value IS 'That delivery''s measure.';
COMMENT ON COLUMN ops.drop_volumes.max_shrink IS 'Share of the measure the contract lets a delivery lose; null when the feed is not guarded.';
COMMENT ON COLUMN ops.drop_volumes.held IS 'True when the drop shrank past max_shrink: kept out of staging until accepted in ops.drop_acceptances.';
COMMENT ON TABLE ops.drop_acceptances IS 'Held drops a person has accepted as a true delivery (gmoda drops accept): who, when and why.';
COMMENT ON COLUMN ops.drop_acceptances.accepted_by IS 'The person who accepted it (their login, or --by).';
COMMENT ON COLUMN ops.drop_acceptances.recorded_by IS 'Database role that recorded the acceptance (gmoda_loader).';

-- What staging leaves out: drops held back and not (yet) accepted.
CREATE OR REPLACE VIEW ops.drops_held_back AS
SELECT v.drop_id, v.feed_id, v.measure, v.value, v.previous_drop_id, v.previous_value, v.max_shrink, v.checked_at
FROM ops.drop_volumes v
WHERE v.held AND NOT EXISTS (SELECT FROM ops.drop_acceptances a WHERE a.drop_id = v.drop_id);
COMMENT ON VIEW ops.drops_held_back IS 'Drops held back by the volume guard and not accepted: in raw, left out of staging.';
