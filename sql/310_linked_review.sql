-- The linkage's review queue (gmoda_assets/linkage/review.py): pairs scored near the threshold, and the
-- decisions reviewers make on them, which the next linkage run applies. The spec of linked.review_pairs holds
-- the descriptions that become its COMMENTs; this file keeps the types, constraints and grants.
-- Idempotent: re-running this file changes nothing.

-- The latest run's pairs to review, as the linkage wrote them (linked.review_pairs is what passed its checks).
CREATE TABLE IF NOT EXISTS linked.review_output (
    record_key_l       text NOT NULL,
    feed_id_l          text NOT NULL,
    person_key_l       integer NOT NULL,
    record_key_r       text NOT NULL,
    feed_id_r          text NOT NULL,
    person_key_r       integer NOT NULL,
    match_probability  double precision NOT NULL CHECK (match_probability BETWEEN 0 AND 1),
    match_weight       double precision NOT NULL,
    linked             boolean NOT NULL,
    evidence           jsonb NOT NULL,
    run_id             integer NOT NULL REFERENCES linked.model_runs (run_id),
    PRIMARY KEY (record_key_l, record_key_r)
);
COMMENT ON TABLE linked.review_output IS 'The latest linkage run''s pairs to review, before their checks; linked.review_pairs is what passed them.';

-- What passed the checks: the output's columns, then the latest decision on the pair.
CREATE TABLE IF NOT EXISTS linked.review_pairs (
    LIKE linked.review_output INCLUDING CONSTRAINTS,
    decision    text,
    decided_at  timestamptz,
    PRIMARY KEY (record_key_l, record_key_r)
);

-- Reviewers' decisions, appended (never updated: the latest per pair counts, and the log shows who decided
-- what). A pair may be named either way round.
CREATE TABLE IF NOT EXISTS linked.review_decisions (
    record_key_l  text NOT NULL,
    record_key_r  text NOT NULL CHECK (record_key_r <> record_key_l),
    decision      text NOT NULL CHECK (decision IN ('accept', 'reject')),
    decided_by    text NOT NULL DEFAULT current_user,
    decided_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (record_key_l, record_key_r, decided_at)
);
COMMENT ON TABLE linked.review_decisions IS 'Reviewers'' decisions on pairs of linked.review_pairs: accept (one person) or reject (two people); the latest per pair is applied by the next linkage run. Written by gmoda_linkage_reviewer.';
COMMENT ON COLUMN linked.review_decisions.record_key_l IS 'One record of the pair (record_key_l of linked.review_pairs).';
COMMENT ON COLUMN linked.review_decisions.record_key_r IS 'The other record of the pair.';
COMMENT ON COLUMN linked.review_decisions.decision IS 'accept: the two records are one person; reject: they are not.';
COMMENT ON COLUMN linked.review_decisions.decided_by IS 'The reviewer''s login.';
COMMENT ON COLUMN linked.review_decisions.decided_at IS 'When the decision was recorded.';

-- The reviewer reads the queue and appends decisions; nothing else of linked (not who is who in
-- linked.person_records, nor the model's runs).
GRANT USAGE ON SCHEMA linked TO gmoda_linkage_reviewer;
GRANT SELECT ON linked.review_pairs TO gmoda_linkage_reviewer;
-- Who decided and when are the server's to say, not the reviewer's.
GRANT SELECT, INSERT (record_key_l, record_key_r, decision) ON linked.review_decisions TO gmoda_linkage_reviewer;
