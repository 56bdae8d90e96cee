-- Issue 12: each stored message keeps the correlation id it is published with (a republish after a
-- crash sends the same one) and its IMAP INTERNALDATE, its arrival in the mailbox, which the
-- ingestor measures the delivery latency from. Both null on rows stored before this migration.
ALTER TABLE fetcher.messages ADD COLUMN correlation_id text, ADD COLUMN internal_date timestamptz;
