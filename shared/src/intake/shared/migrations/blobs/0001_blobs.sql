-- Content-addressed store for raw messages and attachments; the key is the SHA-256 of the content.
CREATE TABLE blobs.blobs (
    sha256     text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size       bigint NOT NULL CHECK (size >= 0),
    content    bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- The bytes are already compressed or random more often than not; keep them out of line uncompressed.
ALTER TABLE blobs.blobs ALTER COLUMN content SET STORAGE EXTERNAL;
