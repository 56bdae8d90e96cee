-- Messages the fetcher refuses as they are (over the size limit, or a FETCH answer it could not read
-- after several tries) are still published, with the reason in `rejected`; the blob then holds only
-- what could be read (the header). `fetch_attempts` counts failed reads of a UID that still exists,
-- so it is neither skipped silently nor retried for ever.
ALTER TABLE fetcher.messages ADD COLUMN rejected text;

CREATE TABLE fetcher.fetch_attempts (
    inbox_id     bigint NOT NULL,
    uidvalidity  bigint NOT NULL CHECK (uidvalidity BETWEEN 1 AND 4294967295),
    uid          bigint NOT NULL CHECK (uid BETWEEN 1 AND 4294967295),
    attempts     integer NOT NULL CHECK (attempts >= 1),
    last_error   text NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (inbox_id, uidvalidity, uid)
);
