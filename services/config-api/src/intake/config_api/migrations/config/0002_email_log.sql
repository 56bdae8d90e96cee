-- The email log (DESIGN §1): one row per fetched message, keyed like the bus events by
-- (inbox_id, uidvalidity, uid), built from message.fetched and message.processed in either order.
-- No foreign key to config.inboxes: log rows outlive a deleted inbox, and events are never refused.
CREATE TABLE config.email_log (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    inbox_id      bigint NOT NULL,
    uidvalidity   bigint NOT NULL CHECK (uidvalidity BETWEEN 1 AND 4294967295),
    uid           bigint NOT NULL CHECK (uid BETWEEN 1 AND 4294967295),
    raw_sha256    text NOT NULL CHECK (raw_sha256 ~ '^[0-9a-f]{64}$'),
    message_id    text,
    sender        text,
    subject       text,
    size          bigint CHECK (size >= 0),
    -- When the fetcher fetched it; null while only message.processed has arrived.
    fetched_at    timestamptz,
    -- The list's sort key: fetched_at, or processed_at until message.fetched arrives.
    logged_at     timestamptz NOT NULL,
    processed_at  timestamptz,
    outcome       text NOT NULL DEFAULT 'pending' CHECK (outcome IN (
                      'pending', 'issue_created', 'issue_updated', 'ignored_sender', 'unmatched_ignored',
                      'auto_generated', 'duplicate', 'rejected', 'failed')),
    reason        text,
    issue_number  bigint,
    attempts      integer CHECK (attempts >= 1),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (inbox_id, uidvalidity, uid)
);

-- Keyset pagination newest first, alone and under the equality filters.
CREATE INDEX email_log_logged_idx ON config.email_log (logged_at DESC, id DESC);
CREATE INDEX email_log_inbox_logged_idx ON config.email_log (inbox_id, logged_at DESC, id DESC);
CREATE INDEX email_log_outcome_logged_idx ON config.email_log (outcome, logged_at DESC, id DESC);
