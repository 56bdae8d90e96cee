-- API tokens issued through /api/v1/tokens (the admin token itself is INTAKE_ADMIN_TOKEN, never stored).
-- Only the SHA-256 of a token is kept: tokens are 256 random bits, so a plain hash cannot be reversed
-- and lets a presented token be found with one index lookup.
CREATE TABLE config.api_tokens (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    prefix        text NOT NULL,
    token_sha256  bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz
);
