-- Web console sessions (issue 11). The browser's cookie holds a random session id and its HMAC; only the
-- SHA-256 of the id is stored here, so a copy of this table signs nobody in. A session opened with an
-- issued API token ends with it (ON DELETE CASCADE: revoking the token signs its sessions out); one
-- opened with the admin token keeps an HMAC of that token and ends when INTAKE_ADMIN_TOKEN changes.
CREATE TABLE config.console_sessions (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_sha256      bytea NOT NULL UNIQUE CHECK (length(session_sha256) = 32),
    api_token_id        bigint REFERENCES config.api_tokens (id) ON DELETE CASCADE,
    admin_token_mac     bytea CHECK (admin_token_mac IS NULL OR length(admin_token_mac) = 32),
    created_at          timestamptz NOT NULL DEFAULT now(),
    expires_at          timestamptz NOT NULL,
    CHECK ((api_token_id IS NULL) <> (admin_token_mac IS NULL))
);

CREATE INDEX console_sessions_expires_idx ON config.console_sessions (expires_at);
CREATE INDEX console_sessions_token_idx ON config.console_sessions (api_token_id);
