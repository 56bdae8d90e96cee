-- The email log at scale and its reprocess action (issue 5).
--
-- pg_trgm lets the `sender` and `q` (subject) substring filters use an index; it is a trusted
-- extension (PostgreSQL 13+), so the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

ALTER TABLE config.email_log
    -- message.fetched's `rejected`: the fetcher refused the message (too large) and stored only its header.
    ADD COLUMN fetch_rejected text,
    -- The last reprocess request and the outcome it replaced. While a reprocessed row is `pending`,
    -- `processed_at` keeps the replaced outcome's time, so a redelivery of that old outcome is told
    -- apart from the new one.
    ADD COLUMN reprocessed_at timestamptz,
    ADD COLUMN reprocessed_from text;

-- Both equality filters together, newest first.
CREATE INDEX email_log_inbox_outcome_logged_idx ON config.email_log (inbox_id, outcome, logged_at DESC, id DESC);
-- Substring search (ILIKE '%…%') on the sender address and the subject.
CREATE INDEX email_log_sender_trgm_idx ON config.email_log USING gin (sender gin_trgm_ops);
CREATE INDEX email_log_subject_trgm_idx ON config.email_log USING gin (subject gin_trgm_ops);
