-- Storage lifecycle (issue 15). The blobs the fetcher refers to: each message row's raw bytes, read by
-- the blob garbage collector (shared/blob_collection.py) through this view only. Rows are pruned by
-- record_retention.py once they can no longer matter; the partial index finds the candidates.
CREATE INDEX messages_raw_sha256_idx ON fetcher.messages USING hash (raw_sha256);
CREATE INDEX messages_processed_at_idx ON fetcher.messages (processed_at) WHERE state = 'processed';
CREATE INDEX fetch_attempts_updated_at_idx ON fetcher.fetch_attempts (updated_at);

CREATE VIEW fetcher.blob_references AS
SELECT raw_sha256 AS sha256 FROM fetcher.messages;
