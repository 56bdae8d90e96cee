-- Storage lifecycle (issue 15). The blobs the tracker refers to: every issue message's raw bytes and
-- every attachment's content, kept as long as the issue. The blob garbage collector
-- (shared/blob_collection.py) reads this view only. `tracker.outcomes` (the dedupe keys) do not
-- count: they are pruned on their own schedule (outcome_retention.py) and need no bytes.
CREATE INDEX messages_raw_sha256_idx ON tracker.messages USING hash (raw_sha256);
CREATE INDEX attachments_sha256_idx ON tracker.attachments USING hash (sha256);
CREATE INDEX outcomes_processed_at_idx ON tracker.outcomes (processed_at);

CREATE VIEW tracker.blob_references AS
SELECT raw_sha256 AS sha256 FROM tracker.messages
UNION ALL
SELECT sha256 FROM tracker.attachments;
