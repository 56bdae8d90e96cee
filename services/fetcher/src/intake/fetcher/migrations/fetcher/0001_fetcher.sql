-- The fetcher's own state: one UID checkpoint per inbox, and one row per fetched message with its
-- publish state, its outcome and the mailbox action still to do. Nobody else writes this schema.
CREATE TABLE fetcher.checkpoints (
    inbox_id           bigint PRIMARY KEY,
    uidvalidity        bigint NOT NULL CHECK (uidvalidity BETWEEN 1 AND 4294967295),
    -- Every UID up to this one has been looked at (fetched, or skipped by rule).
    last_uid           bigint NOT NULL DEFAULT 0 CHECK (last_uid BETWEEN 0 AND 4294967295),
    -- While set, UIDs up to here existed before the first connection: only unread ones are taken.
    initial_scan_until bigint CHECK (initial_scan_until BETWEEN 1 AND 4294967295),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE fetcher.messages (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    inbox_id         bigint NOT NULL,
    uidvalidity      bigint NOT NULL CHECK (uidvalidity BETWEEN 1 AND 4294967295),
    uid              bigint NOT NULL CHECK (uid BETWEEN 1 AND 4294967295),
    -- stored: raw bytes committed, `message.fetched` not yet confirmed; published: confirmed;
    -- processed: the ingestor's outcome arrived.
    state            text NOT NULL CHECK (state IN ('stored', 'published', 'processed')),
    raw_sha256       text NOT NULL CHECK (raw_sha256 ~ '^[0-9a-f]{64}$'),
    size             bigint NOT NULL CHECK (size >= 0),
    message_id       text,
    sender           text,
    subject          text,
    fetched_at       timestamptz NOT NULL DEFAULT now(),
    published_at     timestamptz,
    outcome          text,
    reason           text,
    processed_at     timestamptz,
    -- The mailbox action owed for this message, once its outcome says it is safe.
    action           text CHECK (action IN ('mark_read', 'delete')),
    action_state     text CHECK (action_state IN ('pending', 'done', 'abandoned')),
    action_attempts  integer NOT NULL DEFAULT 0,
    action_error     text,
    action_done_at   timestamptz,
    UNIQUE (inbox_id, uidvalidity, uid),
    CHECK ((action IS NULL) = (action_state IS NULL))
);

CREATE INDEX messages_unpublished ON fetcher.messages (inbox_id) WHERE state = 'stored';
CREATE INDEX messages_action_pending ON fetcher.messages (inbox_id) WHERE action_state = 'pending';
