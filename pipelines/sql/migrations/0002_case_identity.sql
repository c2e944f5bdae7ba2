-- Schema 2: the case identity each load used (issue 12). Additive: columns appended to import_batches,
-- in the order schema.sql lists them; older batches keep NULL (their identity was not recorded).
ALTER TABLE import_batches ADD COLUMN IF NOT EXISTS identity VARCHAR;
ALTER TABLE import_batches ADD COLUMN IF NOT EXISTS identity_reason VARCHAR;
ALTER TABLE import_batches ADD COLUMN IF NOT EXISTS rows_conflict BIGINT;
ALTER TABLE import_batches ADD COLUMN IF NOT EXISTS conflict_examples JSON;
