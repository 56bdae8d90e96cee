-- Fetcher replicas share the inboxes through leases (DESIGN §2 "One owner per inbox"). Times are the
-- database clock's, so replicas never compare their own clocks.

-- One row per running replica, refreshed with every lease renewal; a replica whose row has expired
-- is dead and no longer counts for the fair share.
CREATE TABLE fetcher.replicas (
    id           text PRIMARY KEY CHECK (id <> ''),
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);

-- At most one owner per inbox: the primary key makes a second row impossible, and a claim only
-- overwrites an expired row (see lease_repository.py).
CREATE TABLE fetcher.leases (
    inbox_id    bigint PRIMARY KEY,
    owner       text NOT NULL CHECK (owner <> ''),
    acquired_at timestamptz NOT NULL DEFAULT now(),
    renewed_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);

CREATE INDEX leases_owner ON fetcher.leases (owner);

-- A checkpoint moves only under a live lease of the replica writing it. The fetcher's connections
-- name their replica in the session setting `intake.fetcher_replica`; a connection without it (a
-- tool, a test, a migration) is not checked. Storing a message saves the checkpoint in the same
-- transaction, so an owner that lost its lease cannot store messages either.
CREATE FUNCTION fetcher.require_lease() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    replica text := current_setting('intake.fetcher_replica', true);
BEGIN
    IF replica IS NULL OR replica = '' THEN
        RETURN NEW;
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM fetcher.leases
        WHERE inbox_id = NEW.inbox_id AND owner = replica AND expires_at > clock_timestamp()
    ) THEN
        RAISE EXCEPTION 'replica % does not hold the lease on inbox %', replica, NEW.inbox_id
            USING ERRCODE = 'lock_not_available', HINT = 'the lease expired or moved to another replica';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER checkpoints_require_lease
    BEFORE INSERT OR UPDATE ON fetcher.checkpoints
    FOR EACH ROW EXECUTE FUNCTION fetcher.require_lease();
