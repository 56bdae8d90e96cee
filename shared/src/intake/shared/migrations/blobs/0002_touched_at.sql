-- Garbage collection of unreferenced blobs (shared/blob_collection.py). `touched_at` is when the blob
-- was last put: every put, also of content already stored, moves it (and takes the row's lock), so a
-- blob that a transaction in progress is about to refer to is never old enough to be collected.
-- A constant-per-statement default: existing rows get the time of this migration, without a rewrite.
ALTER TABLE blobs.blobs ADD COLUMN touched_at timestamptz NOT NULL DEFAULT now();
