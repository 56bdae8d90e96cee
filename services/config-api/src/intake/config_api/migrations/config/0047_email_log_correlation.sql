-- Issue 12: the correlation id the fetcher gave the message (AMQP header x-correlation-id), shown in the
-- log detail so a person can search every service's log for it. Null for rows logged before.
ALTER TABLE config.email_log ADD COLUMN correlation_id text;
