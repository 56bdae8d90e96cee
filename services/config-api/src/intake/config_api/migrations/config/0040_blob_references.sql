-- The blobs config-api refers to: each email-log row's raw message. The blob garbage collector
-- (shared/blob_collection.py, run by the ingestor) reads this view, never the table; a raw message
-- is kept while a log row names it. Hash index: equality look-ups only, a quarter of a btree on 64 hex digits.
CREATE INDEX email_log_raw_sha256_idx ON config.email_log USING hash (raw_sha256);

CREATE VIEW config.blob_references AS
SELECT raw_sha256 AS sha256 FROM config.email_log;
