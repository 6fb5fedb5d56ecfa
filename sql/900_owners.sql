-- Who owns what past raw. Runs after every other file, so it also covers the tables they create as the
-- administrator (the conformed tables of sql/2*).
--   staging onward: gmoda_transformer, whose steps set their comments and remake a staging table whose contract
--                   changed its columns, which only an owner may do
--   ops.feed_deliveries: gmoda_loader, which rebuilds it nightly from the ledger
-- Tables made by earlier versions, when every step ran as the administrator, are handed over here.
-- Idempotent: only objects with another owner are altered.
CALL ops.hand_over(ARRAY['staging', 'conformed', 'linked', 'synthetic', 'model', 'signposting', 'mart'], 'gmoda_transformer');
ALTER TABLE IF EXISTS ops.feed_deliveries OWNER TO gmoda_loader;
