-- The email log's `sender` filter by whole address and by domain (issue 5): substring search through
-- trigrams is slow for the parts every address shares (`@gmail.com`), so these two get their own
-- indexes, newest first like the list. The trigram index stays for other fragments.
CREATE INDEX email_log_sender_address_idx ON config.email_log (lower(sender), logged_at DESC, id DESC);
CREATE INDEX email_log_sender_domain_idx ON config.email_log (split_part(lower(sender), '@', -1), logged_at DESC, id DESC);
