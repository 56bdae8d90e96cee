-- Issues, their messages and attachments, and the outcome of every processed message; owned by the
-- ingestor. Other services read only the *_view views below (config-api serves the issues API from them).
CREATE TABLE tracker.issues (
    number                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title                    text NOT NULL,
    status                   text NOT NULL DEFAULT 'open',
    issue_type_id            bigint,
    language                 text,
    assigned_user_id         bigint,
    assigned_organisation_id bigint,
    requester_email          text,
    requester_name           text,
    inbox_id                 bigint NOT NULL,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tracker.messages (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    issue_number  bigint NOT NULL REFERENCES tracker.issues (number),
    inbox_id      bigint NOT NULL,
    uidvalidity   bigint NOT NULL,
    uid           bigint NOT NULL,
    message_id    text,
    from_address  text,
    from_name     text,
    to_addresses  text[] NOT NULL DEFAULT '{}',
    cc_addresses  text[] NOT NULL DEFAULT '{}',
    subject       text NOT NULL,
    sent_at       timestamptz,
    body_text     text NOT NULL,
    body_html     text,
    raw_sha256    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
-- DESIGN §2 "nothing twice": one Message-ID is stored once per inbox.
CREATE UNIQUE INDEX messages_inbox_message_id ON tracker.messages (inbox_id, message_id) WHERE message_id IS NOT NULL;
CREATE INDEX messages_issue_number ON tracker.messages (issue_number, id);

CREATE TABLE tracker.attachments (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_row_id  bigint NOT NULL REFERENCES tracker.messages (id),
    filename        text NOT NULL,
    content_type    text NOT NULL,
    size            bigint NOT NULL,
    sha256          text NOT NULL,   -- the key of the bytes in blobs.blobs
    inline          boolean NOT NULL DEFAULT false,
    content_id      text
);
CREATE INDEX attachments_message_row_id ON tracker.attachments (message_row_id, id);

-- The root Message-ID of each thread an issue was made from or appended with, so the other messages
-- of the thread join that issue even when they are processed first or at the same time.
CREATE TABLE tracker.threads (
    inbox_id         bigint NOT NULL,
    root_message_id  text NOT NULL,
    issue_number     bigint NOT NULL REFERENCES tracker.issues (number),
    PRIMARY KEY (inbox_id, root_message_id)
);

-- The idempotency record: what was done with each fetched message, re-emitted on redelivery.
CREATE TABLE tracker.outcomes (
    inbox_id      bigint NOT NULL,
    uidvalidity   bigint NOT NULL,
    uid           bigint NOT NULL,
    raw_sha256    text NOT NULL,
    message_id    text,
    outcome       text NOT NULL CHECK (outcome IN ('issue_created', 'issue_updated', 'ignored_sender',
                      'unmatched_ignored', 'auto_generated', 'duplicate', 'rejected', 'failed')),
    reason        text NOT NULL,
    issue_number  bigint,
    attempts      integer NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (inbox_id, uidvalidity, uid)
);

CREATE VIEW tracker.issue_view AS
SELECT number, title, status, issue_type_id, language, assigned_user_id, assigned_organisation_id,
       requester_email, requester_name, inbox_id, created_at, updated_at
FROM tracker.issues;

CREATE VIEW tracker.message_view AS
SELECT id, issue_number, message_id, from_address, from_name, to_addresses, cc_addresses, subject,
       sent_at, body_text, created_at
FROM tracker.messages;

CREATE VIEW tracker.attachment_view AS
SELECT id, message_row_id AS message_id, filename, content_type, size, sha256, inline, content_id
FROM tracker.attachments;
