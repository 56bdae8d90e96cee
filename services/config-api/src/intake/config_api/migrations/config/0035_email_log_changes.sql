-- The console's live email log (issue 11) polls for rows changed since a time, every second per open
-- page: `updated_at` needs its own index so that poll reads only the recent rows.
CREATE INDEX email_log_updated_idx ON config.email_log (updated_at);
