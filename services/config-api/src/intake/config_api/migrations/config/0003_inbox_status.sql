-- The health of each inbox (DESIGN §1): fed by `inbox.status` from the owning fetcher, and written
-- directly by config-api when an OAuth2 refresh fails (needs_reauth). The newest reported_at wins.
CREATE TABLE config.inbox_status (
    inbox_id              bigint PRIMARY KEY REFERENCES config.inboxes (id) ON DELETE CASCADE,
    state                 text NOT NULL CHECK (state IN ('ok', 'error', 'needs_reauth', 'disabled')),
    last_success_at       timestamptz,
    last_error            text,
    consecutive_failures  integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    push                  boolean,
    reported_at           timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL DEFAULT now()
);
