-- OAuth2 (DESIGN §1): the connect flow's pending authorisations, and the mark that an inbox's grant
-- failed and needs a person to connect it again.
--
-- A state is stored only as its SHA-256: a database reader cannot complete someone's consent with it.
-- The PKCE verifier (RFC 7636) is encrypted under INTAKE_SECRET_KEY like the other secrets.
CREATE TABLE config.oauth2_states (
    state_sha256           bytea PRIMARY KEY CHECK (length(state_sha256) = 32),
    inbox_id               bigint NOT NULL REFERENCES config.inboxes (id) ON DELETE CASCADE,
    code_verifier_encrypted bytea NOT NULL,
    redirect_url           text NOT NULL,
    created_at             timestamptz NOT NULL DEFAULT now(),
    expires_at             timestamptz NOT NULL,
    used_at                timestamptz
);
CREATE INDEX oauth2_states_expires_idx ON config.oauth2_states (expires_at);

-- Set when a refresh failed for good (invalid_grant, revoked, no refresh token): config-api then
-- answers needs_reauth without asking the provider again until a new grant is connected. Kept here,
-- not only in config.inbox_status, because the fetcher's status reports may overwrite that row.
ALTER TABLE config.inboxes
    ADD COLUMN oauth2_reauth_reason text,
    ADD COLUMN oauth2_reauth_since timestamptz;
