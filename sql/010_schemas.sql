-- Warehouse schemas, one per layer of the platform (see DESIGN.md), plus `ops` for the platform's own
-- bookkeeping (the drop ledger) and the helper functions that checks run inside PostgreSQL.
-- Idempotent: re-running this file changes nothing.
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS conformed;
CREATE SCHEMA IF NOT EXISTS linked;
CREATE SCHEMA IF NOT EXISTS synthetic;
CREATE SCHEMA IF NOT EXISTS model;
CREATE SCHEMA IF NOT EXISTS signposting;
CREATE SCHEMA IF NOT EXISTS mart;
CREATE SCHEMA IF NOT EXISTS ops;

COMMENT ON SCHEMA raw IS 'Partner files as delivered: one append-only text table per feed, with lineage columns. Loader role only.';
COMMENT ON SCHEMA staging IS 'One typed, cleaned, deduplicated table per feed; direct identifiers replaced by pseudonyms.';
COMMENT ON SCHEMA conformed IS 'Common dimensions (date, geography, partner, setting) and facts across partners.';
COMMENT ON SCHEMA linked IS 'People and households linked across partners, with match probabilities.';
COMMENT ON SCHEMA synthetic IS 'Synthetic child-level datasets, safe to share.';
COMMENT ON SCHEMA model IS 'School-readiness features, model, evaluation and risk scores.';
COMMENT ON SCHEMA signposting IS 'Multi-agency view of families with children at risk.';
COMMENT ON SCHEMA mart IS 'Disclosure-controlled aggregates for Tableau and R.';
COMMENT ON SCHEMA ops IS 'Platform bookkeeping: the drop ledger and check helper functions.';
